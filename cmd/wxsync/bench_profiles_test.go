package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxsync/wxsync/connector/source"
	"github.com/wxsync/wxsync/connector/wxsim"
)

// benchProfileLatencies are the wxsim latencies the profile benchmark runs
// at: none, and 50 ms per call, closer to the real API from far away.
var benchProfileLatencies = []time.Duration{0, 50 * time.Millisecond}

// profileBench is one measured sync of followers and their profiles.
type profileBench struct {
	Latency      time.Duration
	Followers    int
	Wall         time.Duration // the whole `wxsync sync`
	Calls        int           // batchget calls
	ProfilePhase time.Duration // first to last batchget call's arrival
	Load         float64       // 1-minute load average just before the sync
}

// callsPerSecond is the batchget rate over the profile phase.
func (p profileBench) callsPerSecond() float64 {
	if p.Calls < 2 || p.ProfilePhase <= 0 {
		return 0
	}
	return float64(p.Calls-1) / p.ProfilePhase.Seconds()
}

// target is what the profile phase must sustain at a latency above zero:
// 0.9 × concurrency / latency calls per second.
func (p profileBench) target() float64 {
	if p.Latency <= 0 {
		return 0
	}
	return 0.9 * float64(source.DefaultConcurrency) / p.Latency.Seconds()
}

// BenchmarkProfiles syncs 1,000,000 followers with their profiles (the
// users stream: batchget, 100 a call, 8 in flight) at each of
// benchProfileLatencies, and with WXSYNC_BENCH_OUT set writes its section
// of docs/benchmarks.md (see benchSplice). WXSYNC_BENCH_PROFILE_FOLLOWERS
// shrinks the account for a quick look.
func BenchmarkProfiles(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("WXSYNC_BENCH_PROFILE_FOLLOWERS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("WXSYNC_BENCH_PROFILE_FOLLOWERS %q: want a positive number", s)
		}
		n = v
	}
	measured := map[time.Duration]profileBench{} // the last run at each latency
	for _, lat := range benchProfileLatencies {
		b.Run(fmt.Sprintf("latency=%s", lat), func(b *testing.B) {
			var p profileBench
			for i := 0; i < b.N; i++ {
				p = benchProfiles(b, n, lat)
			}
			b.ReportMetric(p.Wall.Seconds(), "wall_s")
			b.ReportMetric(float64(p.Calls), "batchget_calls")
			b.ReportMetric(p.callsPerSecond(), "calls/s")
			measured[lat] = p
		})
	}
	var results []profileBench
	for _, lat := range benchProfileLatencies {
		if p, ok := measured[lat]; ok {
			results = append(results, p)
		}
	}
	out := os.Getenv("WXSYNC_BENCH_OUT")
	if out == "" || b.Failed() || len(results) != len(benchProfileLatencies) {
		return
	}
	if err := benchSplice(out, "BenchmarkProfiles", benchProfilesReport(results)); err != nil {
		b.Fatalf("write %s: %v", out, err)
	}
	b.Logf("wrote the profiles section of %s", out)
}

// benchProfiles runs one `wxsync sync` of followers and users against a
// fresh account and database, and checks every profile landed.
func benchProfiles(b *testing.B, n int, lat time.Duration) profileBench {
	b.StopTimer()
	opts := wxsim.DefaultOptions()
	opts.Followers, opts.Latency = n, lat
	opts.CallLogLimit = n/100 + n/10000 + 100 // every call of the run
	e := newEnv(b, opts)
	benchWaitMerges(b, e)
	var out bytes.Buffer
	cmd := e.command(&out, []string{"WXSYNC_STREAMS=followers,users"}, "sync")
	load := benchLoadAvg()
	b.StartTimer()
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatalf("wxsync sync: %v\n%s", err, out.String())
	}
	p := profileBench{Latency: lat, Followers: n, Wall: wall, Load: load}
	var first, last time.Time
	for _, c := range e.sim.CallLog() {
		if c.Path != wxsim.PathBatchGet {
			continue
		}
		if p.Calls == 0 {
			first = c.Time
		}
		last = c.Time
		p.Calls++
	}
	p.ProfilePhase = last.Sub(first)
	if want := (n + 99) / 100; p.Calls != want {
		b.Fatalf("%d batchget calls, want %d", p.Calls, want)
	}
	if got := e.query("SELECT count() AS x FROM {db}.wechat_users FINAL WHERE appid = ?", opts.AppID); len(got) != 1 || got[0] != strconv.Itoa(n) {
		b.Fatalf("wechat_users holds %v profiles, want %d", got, n)
	}
	b.Logf("latency %s: %d followers with profiles in %.1fs; %d batchget calls, %.0f calls/s over the profile phase (%.1fs)",
		lat, n, wall.Seconds(), p.Calls, p.callsPerSecond(), p.ProfilePhase.Seconds())
	benchDropDatabase(b, e, e.sink.Database())
	return p
}

// Each benchmark other than BenchmarkSync writes its own section of
// docs/benchmarks.md, between markers named after it, so that each can
// rewrite its part of the file, run together or alone; BenchmarkSync
// rewrites the rest and keeps every section.
func benchBegin(name string) string { return "<!-- " + name + ": begin -->" }
func benchEnd(name string) string   { return "<!-- " + name + ": end -->" }

// benchSections are the benchmarks with a section of their own, in the
// order the file lists them.
var benchSections = []string{"BenchmarkProfiles", "BenchmarkScale", "BenchmarkIncremental", "BenchmarkListen", "BenchmarkAccounts"}

// benchSplice puts section (markers included) in place of name's section
// of the file at path; without one, the sections are put back in the
// order of benchSections, after the rest.
func benchSplice(path, name, section string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	rest := string(old)
	have := map[string]string{}
	for _, n := range benchSections {
		var sec string
		rest, sec = benchCut(rest, n)
		have[n] = sec
	}
	have[name] = strings.TrimRight(section, "\n") + "\n"
	out := strings.TrimRight(rest, "\n") + "\n"
	for _, n := range benchSections {
		if have[n] != "" {
			out += "\n" + have[n]
		}
	}
	return os.WriteFile(path, []byte(out), 0o644)
}

// benchCut splits doc into what lies outside name's section and the
// section itself (markers included), "" when it has none.
func benchCut(doc, name string) (rest, section string) {
	i := strings.Index(doc, benchBegin(name))
	j := strings.Index(doc, benchEnd(name))
	if i < 0 || j < i {
		return doc, ""
	}
	j += len(benchEnd(name))
	return doc[:i] + strings.TrimLeft(doc[j:], "\n"), strings.TrimRight(doc[i:j], "\n") + "\n"
}

// benchProfilesReport renders the profiles section of docs/benchmarks.md.
func benchProfilesReport(results []profileBench) string {
	var s strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&s, format, args...) }
	p("%s\n## Profiles\n\n", benchBegin("BenchmarkProfiles"))
	p("Written by `BenchmarkProfiles` (`cmd/wxsync/bench_profiles_test.go`) in `make bench` on %s, on the\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	p("machine above (wxsync %s).\n\n", benchRevision())
	p("One `wxsync sync` of the followers and users streams into an empty database: the follower walk and,\n")
	p("riding it, every profile through `user/info/batchget` (100 openids a call, %d calls in flight by\n", source.DefaultConcurrency)
	p("default). wxsim runs in the benchmark's process and holds every call for its latency before answering.\n\n")
	p("| wxsim latency | followers | wall time | batchget calls | profile phase | calls/s | target (0.9 × %d / latency) | holds | load before |\n", source.DefaultConcurrency)
	p("|---|---:|---:|---:|---:|---:|---:|---|---:|\n")
	for _, r := range results {
		target, holds := "", "(not judged)"
		if t := r.target(); t > 0 {
			target, holds = fmt.Sprintf("%.0f", t), benchYesNo(r.callsPerSecond() >= t)
		}
		p("| %s | %s | %.1f s | %s | %.1f s | %.0f | %s | %s | %.2f |\n", r.Latency, benchThousands(r.Followers), r.Wall.Seconds(),
			benchThousands(r.Calls), r.ProfilePhase.Seconds(), r.callsPerSecond(), target, holds, r.Load)
	}
	p("\nThe profile phase runs from the arrival of the first batchget call at wxsim to the arrival of the\n")
	p("last; calls/s = (calls − 1) / that time. Each run fails the benchmark unless it made exactly\n")
	p("ceil(N / 100) batchget calls and `wechat_users` then holds N profiles. \"load before\" is the\n")
	p("1-minute load average just before the sync.\n%s\n", benchEnd("BenchmarkProfiles"))
	return s.String()
}
