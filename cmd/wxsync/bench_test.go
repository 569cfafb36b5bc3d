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
	"testing"
	"time"

	"github.com/wxsync/wxsync/connector/wxsim"
	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

// benchSizes are the account sizes measured; 1,000,000 is the one the
// targets are stated for, the others show how memory moves with N.
var benchSizes = []int{100_000, 1_000_000, 3_000_000}

// Targets checked and reported.
const (
	benchRefN        = 1_000_000 // the size the RSS limit is stated for
	benchRSSLimitMiB = 200.0     // peak RSS limit of the host and of the plugin at benchRefN
	benchFlatGrowth  = 0.25      // "flat": peak at the largest N at most 25% above the smallest N's
	benchSamplePoll  = 50 * time.Millisecond
	benchMergeWait   = 5 * time.Minute
)

// benchResult is one measurement at one account size.
type benchResult struct {
	N            int
	Wall         time.Duration // wxsync sync, start to exit
	FetchFloor   time.Duration // minimal HTTP client walking user/get
	InsertFloor  time.Duration // clickhouse-client INSERT ... FORMAT TabSeparated
	HostPeakKB   int64         // VmHWM of the host
	PluginPeakKB int64         // VmHWM of the plugin
	HostCPU      time.Duration // CPU time (user+system) of the host, as last sampled
	PluginCPU    time.Duration // CPU time of the plugin, as last sampled
	Samples      int           // /proc samples taken while the host ran
	Load         float64       // 1-minute load average just before the sync
}

func (r benchResult) floors() time.Duration { return r.FetchFloor + r.InsertFloor }
func (r benchResult) ratio() float64        { return r.Wall.Seconds() / r.floors().Seconds() }
func (r benchResult) rate() float64         { return float64(r.N) / r.Wall.Seconds() }
func benchMiB(kb int64) float64             { return float64(kb) / 1024 }

// BenchmarkSync measures a whole sync at each of benchSizes. Run it once
// (-benchtime 1x): `make bench`. ns/op is the end-to-end wall time.
func BenchmarkSync(b *testing.B) {
	measured := map[int]benchResult{} // the last run of each size
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("followers=%d", n), func(b *testing.B) {
			var r benchResult
			for i := 0; i < b.N; i++ {
				r = benchSyncOnce(b, n)
			}
			b.ReportMetric(r.rate(), "followers/s")
			b.ReportMetric(r.Wall.Seconds(), "wall_s")
			b.ReportMetric(r.FetchFloor.Seconds(), "fetch_floor_s")
			b.ReportMetric(r.InsertFloor.Seconds(), "insert_floor_s")
			b.ReportMetric(benchMiB(r.HostPeakKB), "host_peak_MB")
			b.ReportMetric(benchMiB(r.PluginPeakKB), "plugin_peak_MB")
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
	if err := os.WriteFile(out, []byte(benchReport(b, results)), 0o644); err != nil {
		b.Fatalf("write %s: %v", out, err)
	}
	b.Logf("wrote %s", out)
}

// benchSyncOnce measures one account of n followers: the fetch floor, the
// insert floor, then the end-to-end sync, each after ClickHouse has
// finished merging what the previous step wrote.
func benchSyncOnce(b *testing.B, n int) benchResult {
	b.StopTimer()
	opts := wxsim.DefaultOptions()
	opts.Followers = n
	e := newEnv(b, opts)
	r := benchResult{N: n}

	// (a) Fetch floor.
	e.sim.ResetQuota()
	benchWaitMerges(b, e)
	d, got, err := benchFetchFloor(e.api.URL, opts)
	if err != nil {
		b.Fatalf("fetch floor: %v", err)
	}
	if got != n {
		b.Fatalf("fetch floor walked %d openids, want %d", got, n)
	}
	r.FetchFloor = d

	// (b) Insert floor, into a database of its own, dropped before the sync.
	r.InsertFloor = benchInsertFloor(b, e, n)

	// End to end.
	e.sim.ResetQuota()
	benchWaitMerges(b, e)
	benchRunSync(b, e, &r)
	benchWantRows(b, e, e.sink.Database(), opts.AppID, n)
	b.Logf("n=%d: e2e %.2fs (%.0f followers/s), fetch floor %.2fs, insert floor %.2fs; host %.1f MiB %.2fs CPU, plugin %.1f MiB %.2fs CPU; %d samples, load %.2f",
		n, r.Wall.Seconds(), r.rate(), r.FetchFloor.Seconds(), r.InsertFloor.Seconds(),
		benchMiB(r.HostPeakKB), r.HostCPU.Seconds(), benchMiB(r.PluginPeakKB), r.PluginCPU.Seconds(), r.Samples, r.Load)
	return r
}

// benchRunSync runs `wxsync sync` for the followers stream (timed as the
// benchmark's op) while sampling the host and its plugin every
// benchSamplePoll: peak RSS and CPU time.
func benchRunSync(b *testing.B, e *env, r *benchResult) {
	var out bytes.Buffer
	cmd := e.command(&out, []string{"WXSYNC_STREAMS=followers"}, "sync")
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

// benchPluginChild returns the pid of host's plugin child, 0 if not started yet.
func benchPluginChild(host int) int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", host))
	for _, tf := range tasks {
		b, _ := os.ReadFile(tf)
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); strings.HasSuffix(exe, PluginBinary) {
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

// benchInsertFloor writes the account's n rows as TSV into a temporary file,
// then times clickhouse-client inserting it into a fresh wechat_followers
// table. The database is dropped before it returns.
func benchInsertFloor(b *testing.B, e *env, n int) time.Duration {
	fs := sinktest.Open(b, sink.Config{})
	db := fs.Database()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := fs.Conn().Exec(ctx, "DROP DATABASE IF EXISTS `"+db+"`"); err != nil {
			b.Errorf("drop %s: %v", db, err)
		}
	}()
	appid := e.sim.Options().AppID
	path := filepath.Join(b.TempDir(), "followers.tsv")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fetched := time.Now().UTC().Format(time.DateTime)
	for i := range n {
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", appid, 1, e.sim.OpenID(uint64(i)), fetched)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		b.Fatal(err)
	}
	defer f.Close()

	args, err := benchClientArgs()
	if err != nil {
		b.Fatal(err)
	}
	args = append(args, "--query", "INSERT INTO `"+db+"`.wechat_followers (appid, snapshot_id, openid, fetched_at) FORMAT TabSeparated")
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
	benchWantRows(b, e, db, appid, n)
	return d
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

// benchWaitMerges waits until ClickHouse runs no merge, so that one step's
// background work does not slow the next.
func benchWaitMerges(b *testing.B, e *env) {
	b.Helper()
	deadline := time.Now().Add(benchMergeWait)
	for {
		var running uint64
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := e.sink.Conn().QueryRow(ctx, "SELECT count() FROM system.merges").Scan(&running)
		cancel()
		if err != nil {
			b.Fatalf("system.merges: %v", err)
		}
		if running == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("ClickHouse still runs %d merges after %v", running, benchMergeWait)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// benchReport renders docs/benchmarks.md from what was measured.
func benchReport(b *testing.B, results []benchResult) string {
	var s strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&s, format, args...) }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	chVersion, err := sinktest.OpenEmpty(b, sink.Config{}).ServerVersion(ctx)
	if err != nil {
		chVersion = "unknown (" + err.Error() + ")"
	}

	p("# Benchmarks\n\n")
	p("Written by `make bench` (`cmd/wxsync/bench_test.go`, `BenchmarkSync`) on %s. Every number below\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	p("was measured in that one run; do not edit this file by hand, run `make bench` again.\n\n")

	p("## Machine\n\n| | |\n|---|---|\n")
	p("| CPU | %s |\n", benchCPUModel())
	p("| cores | %d (runtime.NumCPU) |\n", runtime.NumCPU())
	p("| memory | %s |\n", benchMemTotal())
	p("| OS | %s |\n", benchOSName())
	p("| Go | %s %s/%s |\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	p("| ClickHouse | %s |\n\n", chVersion)

	p("## Results\n\n")
	for _, r := range results {
		p("### %s followers\n\n", benchThousands(r.N))
		p("| measure | value |\n|---|---:|\n")
		p("| end-to-end wall time (`wxsync sync`) | %.2f s |\n", r.Wall.Seconds())
		p("| followers/s end to end | %s |\n", benchThousands(int(r.rate()+0.5)))
		p("| fetch floor | %.2f s |\n", r.FetchFloor.Seconds())
		p("| insert floor | %.2f s |\n", r.InsertFloor.Seconds())
		p("| sum of floors | %.2f s |\n", r.floors().Seconds())
		p("| e2e / sum of floors | %.2f |\n", r.ratio())
		p("| host peak RSS | %.1f MiB |\n", benchMiB(r.HostPeakKB))
		p("| plugin peak RSS | %.1f MiB |\n", benchMiB(r.PluginPeakKB))
		p("| host CPU time (user+system) | %.2f s |\n", r.HostCPU.Seconds())
		p("| plugin CPU time (user+system) | %.2f s |\n", r.PluginCPU.Seconds())
		p("| 1-minute load average before the sync | %.2f |\n\n", r.Load)
	}

	p("## Targets\n\n| target | measured | holds |\n|---|---|---|\n")
	for _, r := range results {
		p("| e2e wall time ≤ sum of floors at %s | %.2f s vs %.2f s (ratio %.2f) | %s |\n",
			benchThousands(r.N), r.Wall.Seconds(), r.floors().Seconds(), r.ratio(), benchYesNo(r.Wall <= r.floors()))
	}
	var ref *benchResult
	for i := range results {
		if results[i].N == benchRefN {
			ref = &results[i]
		}
	}
	if ref != nil {
		p("| host peak RSS < %.0f MiB at %s | %.1f MiB | %s |\n", benchRSSLimitMiB, benchThousands(ref.N), benchMiB(ref.HostPeakKB), benchYesNo(benchMiB(ref.HostPeakKB) < benchRSSLimitMiB))
		p("| plugin peak RSS < %.0f MiB at %s | %.1f MiB | %s |\n", benchRSSLimitMiB, benchThousands(ref.N), benchMiB(ref.PluginPeakKB), benchYesNo(benchMiB(ref.PluginPeakKB) < benchRSSLimitMiB))
	} else {
		p("| peak RSS < %.0f MiB at %s | not measured in this run | — |\n", benchRSSLimitMiB, benchThousands(benchRefN))
	}
	if len(results) > 1 {
		lo, hi := results[0], results[len(results)-1]
		for _, m := range []struct {
			name   string
			lo, hi int64
		}{{"host", lo.HostPeakKB, hi.HostPeakKB}, {"plugin", lo.PluginPeakKB, hi.PluginPeakKB}} {
			growth := float64(m.hi)/float64(m.lo) - 1
			p("| %s peak RSS flat from %s to %s followers (growth ≤ %.0f%%) | %.1f → %.1f MiB (%+.0f%%) | %s |\n",
				m.name, benchThousands(lo.N), benchThousands(hi.N), benchFlatGrowth*100, benchMiB(m.lo), benchMiB(m.hi), growth*100, benchYesNo(growth <= benchFlatGrowth))
		}
	}

	p("\n## How measured\n\n")
	p("- One `go test ./cmd/wxsync -run '^$' -bench . -benchtime 1x` run (`make bench`) measures every size\n")
	p("  in turn, each on a fresh wxsim account (default options: 10,000 openids per page, seed 1) and fresh\n")
	p("  databases on the local ClickHouse server. wxsim runs inside the test process (`httptest`, plain\n")
	p("  HTTP on 127.0.0.1) and shares the machine's %d cores with everything else, for the floors and the\n", runtime.NumCPU())
	p("  end-to-end run alike. Before each step the benchmark waits until `system.merges` is empty.\n")
	p("- **Fetch floor**: a minimal Go client (`net/http`, `encoding/json`) gets one classic token, then\n")
	p("  walks `GET /cgi-bin/user/get` along `next_openid`, decoding each page into a struct holding a\n")
	p("  `[]string` and discarding it; wall time from the token request to the last page.\n")
	p("- **Insert floor**: the same N rows `(appid, snapshot_id, openid, fetched_at)`, written beforehand as\n")
	p("  TSV into a temporary file, piped into `clickhouse-client --query \"INSERT INTO db.wechat_followers\n")
	p("  (appid, snapshot_id, openid, fetched_at) FORMAT TabSeparated\"` on a freshly created table; wall\n")
	p("  time of that clickhouse-client process (start to exit). That database is dropped before the sync.\n")
	p("- **End to end**: `wxsync sync` (built by TestMain) runs as a subprocess against wxsim and an empty\n")
	p("  database; wall time from process start to exit (table creation, plugin launch, token, every page,\n")
	p("  every insert, snapshot completion). followers/s = N / that time. Afterwards the benchmark fails\n")
	p("  unless `wechat_followers` holds exactly N rows and N distinct openids.\n")
	p("- **Peak RSS**: `VmHWM` of `/proc/<pid>/status`, polled every %v while the host runs, for the host\n", benchSamplePoll)
	p("  and for the plugin (found as the host's child through `/proc/<host>/task/*/children`); VmHWM is a\n")
	p("  high-water mark, so the last sample before exit holds the peak. MiB = 2^20 bytes. CPU time is\n")
	p("  utime+stime of `/proc/<pid>/stat` at the last sample (it misses at most the last %v).\n", benchSamplePoll)
	p("- The machine is not isolated: the load average shows what else was running. Wall times are only\n")
	p("  comparable within one run, where the floors and the sync met the same conditions.\n")
	p("- **Targets**: the end-to-end run should take no longer than the two floors one after the other\n")
	p("  (fetching and inserting overlap, hiding the plugin's, Arrow's and gRPC's own costs); host and\n")
	p("  plugin should each stay under %.0f MiB at %s followers and be flat as N grows, which is taken to\n", benchRSSLimitMiB, benchThousands(benchRefN))
	p("  mean the peak at the largest N is at most %.0f%% above the peak at the smallest.\n", benchFlatGrowth*100)
	return s.String()
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
