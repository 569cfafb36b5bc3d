package main

// The end-to-end benchmark behind `make bench`: wxsim (in this process) →
// `wxsync sync` (a subprocess, with its plugin) → ClickHouse, at several
// account sizes, beside the two stage floors measured on the same data in
// the same run. With WXSYNC_BENCH_OUT set it writes docs/benchmarks.md.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wxsync/wxsync/connector/wxsim"
	"github.com/wxsync/wxsync/plugin/host"
	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

// benchSizes are the account sizes measured; 1,000,000 is the one the
// targets are stated for, the others show how memory moves with N.
var benchSizes = []int{100_000, 1_000_000, 3_000_000}

// Targets checked and reported, and how the measurement is made.
const (
	benchRefN        = 1_000_000 // the size the RSS limit is stated for
	benchRSSLimitMiB = 200.0     // peak RSS limit of the host and of the plugin at benchRefN
	benchFlatGrowth  = 0.25      // "flat": peak at the largest N at most 25% above the peak at benchRefN
	benchRounds      = 3         // rounds of (fetch floor, insert floor, sync) per size; the best of each counts
	benchSamplePoll  = 50 * time.Millisecond
	benchMergeWait   = 30 * time.Second // longest wait for a quiet server before a step
)

// benchRound is one round at one account size: both floors, then the sync.
type benchRound struct {
	Wall         time.Duration // wxsync sync, start to exit
	FetchFloor   time.Duration // minimal HTTP client walking user/get
	InsertFloor  time.Duration // clickhouse-client INSERT ... FORMAT TabSeparated
	HostPeakKB   int64         // VmHWM of the host
	PluginPeakKB int64         // VmHWM of the plugin
	HostCPU      time.Duration // CPU time (user+system) of the host, as last sampled
	PluginCPU    time.Duration // CPU time of the plugin, as last sampled
	TreeCPU      time.Duration // CPU time of the host and the plugin it waited for, at exit
	Samples      int           // /proc samples taken while the host ran
	Load         float64       // 1-minute load average just before the sync
	Fixed        time.Duration // wxsync sync of an account with no followers, start to exit
}

// benchResult is every round at one account size. Wall times count at
// their best (least disturbed) round, each independently; peak RSS at its
// worst round.
type benchResult struct {
	N      int
	Rounds []benchRound
}

func (r benchResult) best(f func(benchRound) time.Duration) time.Duration { return bestOf(r.Rounds, f) }
func (r benchResult) peak(f func(benchRound) int64) int64                 { return peakOf(r.Rounds, f) }

// bestOf is the least of f over a benchmark's rounds (they hold at least
// one): the least disturbed round's time.
func bestOf[R any](rounds []R, f func(R) time.Duration) time.Duration {
	d := f(rounds[0])
	for _, x := range rounds[1:] {
		d = min(d, f(x))
	}
	return d
}

// peakOf is the largest of f over a benchmark's rounds: a peak RSS at its
// worst round.
func peakOf[R any](rounds []R, f func(R) int64) int64 {
	var kb int64
	for _, x := range rounds {
		kb = max(kb, f(x))
	}
	return kb
}

// secondsOf lists f of every round, in seconds.
func secondsOf[R any](rounds []R, f func(R) time.Duration) string {
	var s []string
	for _, x := range rounds {
		s = append(s, fmt.Sprintf("%.2f", f(x).Seconds()))
	}
	return strings.Join(s, ", ")
}

func (r benchResult) all(f func(benchRound) time.Duration) string { return secondsOf(r.Rounds, f) }

func (r benchResult) Wall() time.Duration {
	return r.best(func(x benchRound) time.Duration { return x.Wall })
}
func (r benchResult) FetchFloor() time.Duration {
	return r.best(func(x benchRound) time.Duration { return x.FetchFloor })
}
func (r benchResult) InsertFloor() time.Duration {
	return r.best(func(x benchRound) time.Duration { return x.InsertFloor })
}
func (r benchResult) HostPeakKB() int64 {
	return r.peak(func(x benchRound) int64 { return x.HostPeakKB })
}
func (r benchResult) PluginPeakKB() int64 {
	return r.peak(func(x benchRound) int64 { return x.PluginPeakKB })
}
func (r benchResult) Fixed() time.Duration {
	return r.best(func(x benchRound) time.Duration { return x.Fixed })
}
func (r benchResult) floors() time.Duration { return r.FetchFloor() + r.InsertFloor() }
func (r benchResult) ratio() float64        { return r.Wall().Seconds() / r.floors().Seconds() }
func (r benchResult) rate() float64         { return float64(r.N) / r.Wall().Seconds() }
func benchMiB(kb int64) float64             { return float64(kb) / 1024 }

// BenchmarkSync measures a whole sync at each of benchSizes. Run it once
// (-benchtime 1x): `make bench`. ns/op is the best end-to-end wall time.
func BenchmarkSync(b *testing.B) {
	measured := map[int]benchResult{} // the last run of each size
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("followers=%d", n), func(b *testing.B) {
			var r benchResult
			for i := 0; i < b.N; i++ {
				r = benchSize(b, n)
			}
			b.ReportMetric(float64(r.Wall().Nanoseconds()), "ns/op")
			b.ReportMetric(r.rate(), "followers/s")
			b.ReportMetric(r.Wall().Seconds(), "wall_s")
			b.ReportMetric(r.FetchFloor().Seconds(), "fetch_floor_s")
			b.ReportMetric(r.InsertFloor().Seconds(), "insert_floor_s")
			b.ReportMetric(benchMiB(r.HostPeakKB()), "host_peak_MB")
			b.ReportMetric(benchMiB(r.PluginPeakKB()), "plugin_peak_MB")
			measured[n] = r
		})
	}
	var results []benchResult
	for _, n := range benchSizes {
		if r, ok := measured[n]; ok {
			results = append(results, r)
		}
	}
	out := os.Getenv("WXSYNC_BENCH_OUT")
	if out == "" || b.Failed() || len(results) == 0 {
		return
	}
	// The other benchmarks' sections stay as they are.
	report := benchReport(b, results)
	if old, err := os.ReadFile(out); err == nil {
		rest := string(old)
		for _, name := range benchSections {
			var section string
			if rest, section = benchCut(rest, name); section != "" {
				report = strings.TrimRight(report, "\n") + "\n\n" + section
			}
		}
	}
	if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
		b.Fatalf("write %s: %v", out, err)
	}
	b.Logf("wrote %s", out)
}

// benchSize measures an account of n followers in benchRounds rounds. Each
// round takes the fetch floor, the insert floor, then the end-to-end sync
// into a fresh database, each after ClickHouse has finished merging what
// the step before wrote; interleaving the three lets them meet the same
// conditions on a shared machine.
func benchSize(b *testing.B, n int) benchResult {
	b.StopTimer()
	opts := wxsim.DefaultOptions()
	opts.Followers = n
	sim, err := wxsim.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	tsv := benchWriteTSV(b, sim, n)
	r := benchResult{N: n}
	emptyOpts := wxsim.DefaultOptions()
	emptyOpts.Followers = 0
	for round := 1; round <= benchRounds; round++ {
		e := newEnv(b, opts)
		var x benchRound

		// The fixed cost of a run: a sync of an account with no followers.
		empty := newEnv(b, emptyOpts)
		benchWaitMerges(b, empty)
		x.Fixed = benchTimeSync(b, empty)
		benchDropDatabase(b, empty, empty.sink.Database())

		// (a) Fetch floor.
		benchWaitMerges(b, e)
		d, got, err := benchFetchFloor(e.api.URL, opts)
		if err != nil {
			b.Fatalf("fetch floor: %v", err)
		}
		if got != n {
			b.Fatalf("fetch floor walked %d openids, want %d", got, n)
		}
		x.FetchFloor = d

		// (b) Insert floor, into a database of its own, dropped after.
		x.InsertFloor = benchInsertFloor(b, e, tsv, n)

		// End to end, into e's empty database.
		e.sim.ResetQuota()
		benchWaitMerges(b, e)
		benchRunSync(b, e, &x)
		benchWantRows(b, e, e.sink.Database(), opts.AppID, n)
		benchDropDatabase(b, e, e.sink.Database())

		b.Logf("n=%d round %d: e2e %.2fs (%.0f followers/s), fetch floor %.2fs, insert floor %.2fs; host %.1f MiB %.2fs CPU, plugin %.1f MiB %.2fs CPU; %d samples, load %.2f",
			n, round, x.Wall.Seconds(), float64(n)/x.Wall.Seconds(), x.FetchFloor.Seconds(), x.InsertFloor.Seconds(),
			benchMiB(x.HostPeakKB), x.HostCPU.Seconds(), benchMiB(x.PluginPeakKB), x.PluginCPU.Seconds(), x.Samples, x.Load)
		r.Rounds = append(r.Rounds, x)
	}
	return r
}

// benchTimeSync runs `wxsync sync` for the followers stream and returns
// its wall time, start to exit.
func benchTimeSync(b *testing.B, e *env) time.Duration {
	var out bytes.Buffer
	cmd := e.command(&out, []string{"WXSYNC_STREAMS=followers"}, "sync")
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		b.Fatalf("wxsync sync: %v; output:\n%s", err, out.String())
	}
	return wall
}

// benchRunSync runs `wxsync sync` for the followers stream (timed as the
// benchmark's op) while sampling the host and its plugin every
// benchSamplePoll: peak RSS and CPU time.
func benchRunSync(b *testing.B, e *env, r *benchRound) {
	benchRunStreams(b, e, r, "followers")
}

// benchRunStreams is benchRunSync for the given WXSYNC_STREAMS.
func benchRunStreams(b *testing.B, e *env, r *benchRound, streams string) {
	var out bytes.Buffer
	cmd := e.command(&out, []string{"WXSYNC_STREAMS=" + streams}, "sync")
	r.Load = benchLoadAvg()
	b.StartTimer()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatalf("start wxsync: %v", err)
	}
	exited := make(chan struct{})
	var werr error
	go func() {
		werr = cmd.Wait()
		r.Wall = time.Since(start)
		close(exited)
	}()
	host, plugin := cmd.Process.Pid, 0
	tick := time.NewTicker(benchSamplePoll)
	defer tick.Stop()
	for done := false; !done; {
		if plugin == 0 {
			plugin = benchPluginChild(host)
		}
		if kb, cpu, ok := benchProcSample(host); ok {
			r.HostPeakKB, r.HostCPU = max(r.HostPeakKB, kb), cpu
			r.Samples++
		}
		if plugin != 0 {
			if kb, cpu, ok := benchProcSample(plugin); ok {
				r.PluginPeakKB, r.PluginCPU = max(r.PluginPeakKB, kb), cpu
			}
		}
		select {
		case <-exited:
			done = true
		case <-tick.C:
		}
	}
	b.StopTimer()
	r.TreeCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if werr != nil || cmd.ProcessState.ExitCode() != exitOK {
		b.Fatalf("wxsync sync: %v; output:\n%s", werr, out.String())
	}
	if plugin == 0 || r.PluginPeakKB == 0 || r.HostPeakKB == 0 {
		b.Fatalf("no RSS sample of the host (%d kB) or its plugin (pid %d, %d kB); output:\n%s", r.HostPeakKB, plugin, r.PluginPeakKB, out.String())
	}
}

// benchProcSample returns a process's peak resident set size (VmHWM, kB)
// and the CPU time it has used; false once it has exited.
func benchProcSample(pid int) (kb int64, cpu time.Duration, ok bool) {
	kb, ok = benchVmHWM(pid)
	if !ok {
		return 0, 0, false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// Fields after the command name (which may hold spaces): state is
	// field 3, utime and stime fields 14 and 15, in clock ticks (USER_HZ,
	// 100 on Linux).
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 13 {
		return 0, 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return kb, time.Duration(ut+st) * 10 * time.Millisecond, true
}

// benchLoadAvg returns the 1-minute load average, -1 if unknown.
func benchLoadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	l, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return l
}

// benchVmHWM returns a process's peak resident set size in kB, false once it
// has exited.
func benchVmHWM(pid int) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb, err == nil
		}
	}
	return 0, false // a zombie has no memory lines
}

// benchPluginChild returns the pid of hostPID's plugin child, 0 if not started yet.
func benchPluginChild(hostPID int) int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", hostPID))
	for _, tf := range tasks {
		b, _ := os.ReadFile(tf)
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); strings.HasSuffix(exe, host.PluginBinary) {
				return pid
			}
		}
	}
	return 0
}

// benchFetchFloor walks user/get the way the simplest client would: one token,
// then page after page along next_openid, each body decoded into a struct
// with a []string and dropped. It returns the wall time and the openids seen.
func benchFetchFloor(base string, o wxsim.Options) (time.Duration, int, error) {
	hc := &http.Client{}
	get := func(u string, v any) error {
		resp, err := hc.Get(u)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		err = json.NewDecoder(resp.Body).Decode(v)
		_, _ = io.Copy(io.Discard, resp.Body)
		return err
	}
	start := time.Now()
	var tok struct {
		AccessToken string `json:"access_token"`
		ErrCode     int    `json:"errcode"`
	}
	err := get(base+"/cgi-bin/token?"+url.Values{"grant_type": {"client_credential"}, "appid": {o.AppID}, "secret": {o.Secret}}.Encode(), &tok)
	if err != nil || tok.ErrCode != 0 {
		return 0, 0, fmt.Errorf("token: %v (errcode %d)", err, tok.ErrCode)
	}
	seen, next := 0, ""
	for {
		var p struct {
			ErrCode int `json:"errcode"`
			Data    struct {
				OpenID []string `json:"openid"`
			} `json:"data"`
			NextOpenID string `json:"next_openid"`
		}
		q := url.Values{"access_token": {tok.AccessToken}}
		if next != "" {
			q.Set("next_openid", next)
		}
		if err := get(base+"/cgi-bin/user/get?"+q.Encode(), &p); err != nil || p.ErrCode != 0 {
			return 0, 0, fmt.Errorf("user/get after %q: %v (errcode %d)", next, err, p.ErrCode)
		}
		seen += len(p.Data.OpenID)
		if len(p.Data.OpenID) == 0 || p.NextOpenID == "" {
			return time.Since(start), seen, nil
		}
		next = p.NextOpenID
	}
}

// benchWriteTSV writes the account's n follower rows, as the insert floor
// inserts them, into a temporary TSV file and returns its path.
func benchWriteTSV(b *testing.B, sim *wxsim.Server, n int) string {
	path := filepath.Join(b.TempDir(), "followers.tsv")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	appid := sim.Options().AppID
	fetched := time.Now().UTC().Format(time.DateTime)
	for i := range n {
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", appid, 1, sim.OpenID(uint64(i)), fetched)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// benchInsertFloor times clickhouse-client inserting the TSV file of n
// rows into a fresh wechat_followers table. The database is dropped before
// it returns.
func benchInsertFloor(b *testing.B, e *env, tsv string, n int) time.Duration {
	d, _ := benchClientInsert(b, e, tsv, "TabSeparated", n, false)
	return d
}

// benchClientInsert times clickhouse-client inserting the file at path, in
// format, of n rows into a fresh wechat_followers table, checks the rows,
// and with stats returns ClickHouse's own account of it (the query logged).
// The database is dropped before it returns.
func benchClientInsert(b *testing.B, e *env, path, format string, n int, stats bool) (time.Duration, chStats) {
	fs := sinktest.Open(b, sink.Config{})
	db := fs.Database()
	defer benchDropDatabase(b, e, db)
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	args, err := benchClientArgs()
	if err != nil {
		b.Fatal(err)
	}
	if stats {
		args = append(args, "--log_queries=1")
	}
	args = append(args, "--query", "INSERT INTO `"+db+"`.wechat_followers (appid, snapshot_id, openid, fetched_at) FORMAT "+format)
	cmd := exec.Command("clickhouse-client", args...)
	var out bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f, &out, &out
	benchWaitMerges(b, e)
	start := time.Now()
	err = cmd.Run()
	d := time.Since(start)
	if err != nil {
		b.Fatalf("clickhouse-client: %v: %s", err, out.String())
	}
	benchWantRows(b, e, db, e.sim.Options().AppID, n)
	if !stats {
		return d, chStats{}
	}
	return d, benchCHStats(b, e.sink, db, start)
}

// benchDropDatabase drops db now rather than when the benchmark ends, so
// that its rows and merges weigh on nothing that follows.
func benchDropDatabase(b *testing.B, e *env, db string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.sink.Conn().Exec(ctx, "DROP DATABASE IF EXISTS `"+db+"`"); err != nil {
		b.Errorf("drop %s: %v", db, err)
	}
}

// benchClientArgs returns the clickhouse-client flags that reach the test server.
func benchClientArgs() ([]string, error) {
	u, err := url.Parse(sinktest.BaseDSN())
	if err != nil {
		return nil, fmt.Errorf("%s does not parse as a URL", sinktest.EnvDSN)
	}
	port := u.Port()
	if port == "" {
		port = "9000"
	}
	args := []string{"--host", u.Hostname(), "--port", port}
	if u.User != nil {
		if name := u.User.Username(); name != "" {
			args = append(args, "--user", name)
		}
		if pw, ok := u.User.Password(); ok {
			args = append(args, "--password", pw)
		}
	}
	return args, nil
}

// benchWantRows fails unless db.wechat_followers holds exactly n rows of appid,
// n distinct openids.
func benchWantRows(b *testing.B, e *env, db, appid string, n int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var rows, distinct uint64
	q := "SELECT count(), uniqExact(openid) FROM `" + db + "`.wechat_followers WHERE appid = ?"
	if err := e.sink.Conn().QueryRow(ctx, q, appid).Scan(&rows, &distinct); err != nil {
		b.Fatalf("count rows in %s: %v", db, err)
	}
	if rows != uint64(n) || distinct != uint64(n) {
		b.Fatalf("%s.wechat_followers holds %d rows, %d distinct openids; want %d", db, rows, distinct, n)
	}
}

// benchWaitMerges waits, up to benchMergeWait, until ClickHouse runs no
// merge, then has the kernel write out every dirty page (sync(2)), so that
// the background work of one step does not slow the next: a step that
// wrote 100 MB of parts left them for the kernel's flusher to write some
// 30 s later, into the next step. On a server others use too it may not
// get there: it goes on regardless.
func benchWaitMerges(b *testing.B, e *env) {
	b.Helper()
	defer syscall.Sync()
	deadline := time.Now().Add(benchMergeWait)
	for {
		var running uint64
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := e.sink.Conn().QueryRow(ctx, "SELECT count() FROM system.merges").Scan(&running)
		cancel()
		if err != nil {
			b.Fatalf("system.merges: %v", err)
		}
		if running == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// benchReport renders docs/benchmarks.md from the results of one run.
func benchReport(b *testing.B, results []benchResult) string {
	var s strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&s, format, args...) }
	p("# Benchmarks\n\n")
	p("Written by `make bench` (`cmd/wxsync/bench_test.go`, `BenchmarkSync`) on %s. Every number below\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	p("was measured in that one run; do not edit this file by hand, run `make bench` again.\n\n")
	benchReportMachine(b, p)
	benchReportResults(p, results)
	benchReportTargets(p, results)
	benchReportMethod(p)
	return s.String()
}

// benchReportMachine writes the machine's section.
func benchReportMachine(b *testing.B, p func(string, ...any)) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	chVersion, err := sinktest.OpenEmpty(b, sink.Config{}).ServerVersion(ctx)
	if err != nil {
		chVersion = "unknown (" + err.Error() + ")"
	}
	p("## Machine\n\n| | |\n|---|---|\n")
	p("| CPU | %s |\n", benchCPUModel())
	p("| cores | %d (runtime.NumCPU) |\n", runtime.NumCPU())
	p("| memory | %s |\n", benchMemTotal())
	p("| OS | %s |\n", benchOSName())
	p("| Go | %s %s/%s |\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	p("| wxsync | %s |\n", benchRevision())
	server := "?"
	if u, err := url.Parse(sinktest.BaseDSN()); err == nil {
		server = u.Host
	}
	p("| ClickHouse | %s, at %s |\n\n", chVersion, server)

}

// benchReportResults writes a table per size.
func benchReportResults(p func(string, ...any), results []benchResult) {
	p("## Results\n\n")
	p("Each size was measured in %d rounds (fetch floor, insert floor, sync). Times are the best round of\n", benchRounds)
	p("each measure, taken independently; peak RSS is the worst round. The last column lists every round.\n\n")
	for _, r := range results {
		secs := r.all
		mibs := func(f func(benchRound) int64) string {
			var out []string
			for _, x := range r.Rounds {
				out = append(out, fmt.Sprintf("%.1f", benchMiB(f(x))))
			}
			return strings.Join(out, ", ")
		}
		var loads []string
		for _, x := range r.Rounds {
			loads = append(loads, fmt.Sprintf("%.2f", x.Load))
		}
		p("### %s followers\n\n", benchThousands(r.N))
		p("| measure | value | rounds |\n|---|---:|---|\n")
		p("| end-to-end wall time (`wxsync sync`) | %.2f s | %s |\n", r.Wall().Seconds(), secs(func(x benchRound) time.Duration { return x.Wall }))
		p("| followers/s end to end | %s | |\n", benchThousands(int(r.rate()+0.5)))
		p("| fetch floor | %.2f s | %s |\n", r.FetchFloor().Seconds(), secs(func(x benchRound) time.Duration { return x.FetchFloor }))
		p("| insert floor | %.2f s | %s |\n", r.InsertFloor().Seconds(), secs(func(x benchRound) time.Duration { return x.InsertFloor }))
		p("| sum of floors | %.2f s | |\n", r.floors().Seconds())
		p("| e2e / sum of floors | %.2f | |\n", r.ratio())
		p("| fixed cost of a run (a sync of an account with no followers) | %.2f s | %s |\n", r.Fixed().Seconds(), secs(func(x benchRound) time.Duration { return x.Fixed }))
		p("| (e2e − fixed cost) / sum of floors | %.2f | |\n", (r.Wall()-r.Fixed()).Seconds()/r.floors().Seconds())
		p("| host peak RSS | %.1f MiB | %s |\n", benchMiB(r.HostPeakKB()), mibs(func(x benchRound) int64 { return x.HostPeakKB }))
		p("| plugin peak RSS | %.1f MiB | %s |\n", benchMiB(r.PluginPeakKB()), mibs(func(x benchRound) int64 { return x.PluginPeakKB }))
		p("| host CPU time (user+system), s | | %s |\n", secs(func(x benchRound) time.Duration { return x.HostCPU }))
		p("| plugin CPU time (user+system), s | | %s |\n", secs(func(x benchRound) time.Duration { return x.PluginCPU }))
		p("| 1-minute load average before the sync | | %s |\n\n", strings.Join(loads, ", "))
	}

}

// benchReportTargets writes the targets and whether they hold.
func benchReportTargets(p func(string, ...any), results []benchResult) {
	p("## Targets\n\n| target | measured | holds |\n|---|---|---|\n")
	for _, r := range results {
		p("| e2e wall time ≤ sum of floors at %s | %.2f s vs %.2f s (ratio %.2f) | %s |\n",
			benchThousands(r.N), r.Wall().Seconds(), r.floors().Seconds(), r.ratio(), benchYesNo(r.Wall() <= r.floors()))
	}
	var ref *benchResult
	for i := range results {
		if results[i].N == benchRefN {
			ref = &results[i]
		}
	}
	if ref != nil {
		host, plugin := benchMiB(ref.HostPeakKB()), benchMiB(ref.PluginPeakKB())
		p("| host peak RSS < %.0f MiB at %s | %.1f MiB | %s |\n", benchRSSLimitMiB, benchThousands(ref.N), host, benchYesNo(host < benchRSSLimitMiB))
		p("| plugin peak RSS < %.0f MiB at %s | %.1f MiB | %s |\n", benchRSSLimitMiB, benchThousands(ref.N), plugin, benchYesNo(plugin < benchRSSLimitMiB))
	} else {
		p("| peak RSS < %.0f MiB at %s | not measured in this run | — |\n", benchRSSLimitMiB, benchThousands(benchRefN))
	}
	if len(results) > 1 {
		// Judged from benchRefN (or the smallest size, without it) to the
		// largest; every size is listed.
		base, hi := results[0], results[len(results)-1]
		if ref != nil && ref.N < hi.N {
			base = *ref
		}
		for _, m := range []struct {
			name string
			kb   func(benchResult) int64
		}{{"host", benchResult.HostPeakKB}, {"plugin", benchResult.PluginPeakKB}} {
			var all []string
			for _, r := range results {
				all = append(all, fmt.Sprintf("%.1f", benchMiB(m.kb(r))))
			}
			growth := float64(m.kb(hi))/float64(m.kb(base)) - 1
			p("| %s peak RSS flat as N grows: at %s at most %.0f%% above %s | %s MiB (%+.0f%%) | %s |\n",
				m.name, benchThousands(hi.N), benchFlatGrowth*100, benchThousands(base.N), strings.Join(all, " → "), growth*100, benchYesNo(growth <= benchFlatGrowth))
		}
	}

}

// benchReportMethod writes how the benchmark measures.
func benchReportMethod(p func(string, ...any)) {
	p("\n## How measured\n\n")
	p("- One `go test ./cmd/wxsync -run '^$' -bench . -benchtime 1x` run (`make bench`) measures every size\n")
	p("  in turn, in %d rounds each. Every round uses a fresh wxsim account (default options: 10,000 openids\n", benchRounds)
	p("  per page, seed 1) and fresh databases on the ClickHouse server of `CLICKHOUSE_DSN`. wxsim runs inside\n")
	p("  the test process (`httptest`, plain HTTP on 127.0.0.1) and shares the machine's %d cores with\n", runtime.NumCPU())
	p("  everything else, for the floors and the sync alike. Before each step the benchmark waits (up to\n")
	p("  %v) until `system.merges` is empty, then has the kernel write out dirty pages (`sync(2)`), and it\n", benchMergeWait)
	p("  drops each database once measured.\n")
	p("- **Fetch floor**: a minimal Go client (`net/http`, `encoding/json`) gets one classic token, then\n")
	p("  walks `GET /cgi-bin/user/get` along `next_openid`, decoding each page into a struct holding a\n")
	p("  `[]string` and discarding it; wall time from the token request to the last page.\n")
	p("- **Insert floor**: the same N rows `(appid, snapshot_id, openid, fetched_at)`, written once per size\n")
	p("  as TSV into a temporary file, piped into `clickhouse-client --query \"INSERT INTO db.wechat_followers\n")
	p("  (appid, snapshot_id, openid, fetched_at) FORMAT TabSeparated\"` on a freshly created table; wall\n")
	p("  time of that clickhouse-client process, start to exit.\n")
	p("- **End to end**: `wxsync sync` (built by TestMain) with `WXSYNC_STREAMS=followers`, the stream the\n")
	p("  floors cover, runs as a subprocess against wxsim and an empty database; wall time from process\n")
	p("  start to exit (table creation, plugin launch, token, every page, every insert and cursor save,\n")
	p("  snapshot completion). followers/s = N / that time. Each round fails the benchmark unless\n")
	p("  `wechat_followers` then holds exactly N rows and N distinct openids (the floor's table too).\n")
	p("- **Peak RSS**: `VmHWM` of `/proc/<pid>/status`, polled every %v while the host runs, for the host\n", benchSamplePoll)
	p("  and for the plugin (found as the host's child through `/proc/<host>/task/*/children`); VmHWM is a\n")
	p("  high-water mark, so the last sample before exit holds the peak. MiB = 2^20 bytes. CPU time is\n")
	p("  utime+stime of `/proc/<pid>/stat` at the last sample (it misses at most the last %v).\n", benchSamplePoll)
	p("- The machine is not isolated: the load averages show what else was running. Wall times compare\n")
	p("  only within one run, where the floors and the sync, interleaved round by round, met like\n")
	p("  conditions; the best of %d rounds is the one least disturbed.\n", benchRounds)
	p("- **Targets**: the sync should take no longer than the two floors one after the other (fetching and\n")
	p("  inserting overlap, hiding the plugin's, Arrow's and gRPC's own costs); host and plugin should each\n")
	p("  stay under %.0f MiB at %s followers and be flat as N grows, taken to mean that the peak at the\n", benchRSSLimitMiB, benchThousands(benchRefN))
	p("  largest N is at most %.0f%% above the peak at %s. Smaller accounts are listed, not judged: their\n", benchFlatGrowth*100, benchThousands(benchRefN))
	p("  sync ends before the host's batches (up to %s rows) and heap reach their steady size.\n", benchThousands(host.DefaultFlushRows))
	p("- **Fixed cost**: every round also times a sync of an account with no followers (into a fresh\n")
	p("  database): starting the host, checking the tables, launching and handshaking the plugin, the\n")
	p("  token, one empty page, the snapshot's bookkeeping and the run record. The floors have no such cost,\n")
	p("  so at small N, where it is most of a run, the sync can lose to them; (e2e − fixed cost) / sum of\n")
	p("  floors shows how the pipeline itself compares.\n")
}

func benchYesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// benchThousands formats n with comma separators.
func benchThousands(n int) string {
	s := strconv.Itoa(n)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// benchRevision names the commit measured, and whether the work tree
// differed from it. docs/benchmarks.md does not count: the benchmarks
// write it, so one run's first section would make the next one's look
// measured on changed code.
func benchRevision() string {
	rev, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown (not a git work tree)"
	}
	s := "commit " + strings.TrimSpace(string(rev))
	top, _ := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	status := exec.Command("git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)docs/benchmarks.md")
	status.Dir = strings.TrimSpace(string(top))
	if st, err := status.Output(); err == nil && len(st) > 0 {
		s += " with uncommitted changes"
	}
	return s
}

func benchCPUModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func benchMemTotal() string {
	b, _ := os.ReadFile("/proc/meminfo")
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	return "unknown"
}

func benchOSName() string {
	name := runtime.GOOS
	b, _ := os.ReadFile("/etc/os-release")
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "PRETTY_NAME="); ok {
			name = strings.Trim(v, `"`)
		}
	}
	if k, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		name += ", Linux " + strings.TrimSpace(string(k))
	}
	return name
}

// benchDataFS says what filesystem holds the data of the ClickHouse server
// that `make` started (WXSYNC_BENCH_CH_DIR, set by the Makefile): ext4 with
// or without a journal matters to a server that creates and deletes part
// files by the thousand (sink/devserver/datafs.sh). Empty when unknown.
func benchDataFS() string {
	dir := os.Getenv("WXSYNC_BENCH_CH_DIR")
	if dir == "" {
		return ""
	}
	out, err := exec.Command("findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", dir).Output()
	f := strings.Fields(string(out))
	if err != nil || len(f) != 2 {
		return ""
	}
	src, fstype := f[0], f[1]
	if fstype != "ext4" {
		return fmt.Sprintf("ClickHouse's data is on %s (%s).", fstype, src)
	}
	journal := "without a journal"
	if jbd, err := os.ReadDir("/proc/fs/jbd2"); err == nil {
		for _, e := range jbd {
			if strings.HasPrefix(e.Name(), filepath.Base(src)+"-") {
				journal = "with a journal"
			}
		}
	}
	where := src
	if strings.HasPrefix(filepath.Base(src), "loop") {
		where = "an image file on the machine's disk, " + src
	}
	return fmt.Sprintf("ClickHouse's data is on ext4 %s (%s; sink/devserver/datafs.sh says why).", journal, where)
}
