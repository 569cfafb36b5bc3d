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
// benchProfileLatencies, and with WXSYNC_BENCH_OUT set writes
// docs/benchmarks-profiles.md beside it. WXSYNC_BENCH_PROFILE_FOLLOWERS
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
	out = strings.TrimSuffix(out, ".md") + "-profiles.md"
	if err := os.WriteFile(out, []byte(benchProfilesReport(results)), 0o644); err != nil {
		b.Fatalf("write %s: %v", out, err)
	}
	b.Logf("wrote %s", out)
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
	b.StartTimer()
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatalf("wxsync sync: %v\n%s", err, out.String())
	}
	p := profileBench{Latency: lat, Followers: n, Wall: wall}
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

// benchProfilesReport renders docs/benchmarks-profiles.md.
func benchProfilesReport(results []profileBench) string {
	var s strings.Builder
	fmt.Fprintf(&s, "# Benchmarks: profiles\n\nWritten by `make bench` (`cmd/wxsync/bench_profiles_test.go`, `BenchmarkProfiles`) on %s, on the machine\ndescribed in [benchmarks.md](benchmarks.md). Every number was measured in that run.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	s.WriteString("One `wxsync sync` of the followers and users streams into an empty database: the follower walk and,\nriding it, every profile through `user/info/batchget` (100 openids a call, 8 calls in flight by\ndefault). wxsim runs in the benchmark's process and adds its latency to every call.\n\n")
	s.WriteString("| wxsim latency | followers | wall time | batchget calls | profile phase | calls/s | target (0.9 × 8 / latency) | holds |\n|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, p := range results {
		target, holds := "", "(not judged)"
		if t := p.target(); t > 0 {
			target, holds = fmt.Sprintf("%.0f", t), benchYesNo(p.callsPerSecond() >= t)
		}
		fmt.Fprintf(&s, "| %s | %s | %.1f s | %s | %.1f s | %.0f | %s | %s |\n", p.Latency, benchThousands(p.Followers), p.Wall.Seconds(),
			benchThousands(p.Calls), p.ProfilePhase.Seconds(), p.callsPerSecond(), target, holds)
	}
	s.WriteString("\nThe profile phase runs from the arrival of the first batchget call at wxsim to the arrival of the\nlast; calls/s = (calls − 1) / that time. Each run fails the benchmark unless it made exactly\nceil(N / 100) batchget calls and `wechat_users` then holds N profiles.\n")
	return s.String()
}
