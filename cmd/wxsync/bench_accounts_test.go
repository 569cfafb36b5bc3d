package main

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wxsync/wxsync/connector/wxsim"
	"github.com/wxsync/wxsync/plugin/host"
)

// The accounts section of docs/benchmarks.md sits between these markers.
var (
	benchAccountsBegin = benchBegin("BenchmarkAccounts")
	benchAccountsEnd   = benchEnd("BenchmarkAccounts")
)

// BenchmarkAccounts syncs 1,000 small accounts (1,000 followers each, with
// their profiles) in one `wxsync sync --accounts`, 4 at once (the default), twice (each
// into an empty database): with the default, one plugin per account, then
// with 100 accounts a plugin. It reports the wall time, the API calls and the host's peak
// RSS; with WXSYNC_BENCH_OUT set it writes its section of
// docs/benchmarks.md. WXSYNC_BENCH_ACCOUNTS shrinks the list for a quick
// look.
func BenchmarkAccounts(b *testing.B) {
	n, followers := 1000, 1000
	if s := os.Getenv("WXSYNC_BENCH_ACCOUNTS"); s != "" {
		fmt.Sscanf(s, "%d", &n)
	}
	launch, fault := benchLaunchCost(b, 100), benchFaultCost(b)
	b.Logf("a plugin launched and stopped: %s of CPU in the plugin, %s in the host, %d page faults; a page fault costs %.1f µs",
		benchMs(launch.pluginCPU), benchMs(launch.hostCPU), launch.pluginFaults, float64(fault)/float64(time.Microsecond))
	var runs []accountsBench
	for _, per := range benchAccountsPerPluginEnv() {
		r := benchAccountsOnce(b, n, followers, per)
		b.Logf("%d accounts × %d followers, %d a plugin: %.1f s, %d API calls, host peak RSS %.1f MiB, load before %.2f; CPU per account: host and plugins %.1f ms (%d page faults), wxsim %.1f ms, rest of the machine %.1f ms, of which ClickHouse queries %.1f ms (%.1f queries)",
			n, followers, per, r.wall.Seconds(), r.calls, benchMiB(r.peakKB), r.load,
			benchPerAccountMs(r.hostCPU, n), r.faults/int64(n), benchPerAccountMs(r.simCPU, n), benchPerAccountMs(r.machineCPU-r.hostCPU-r.simCPU, n),
			benchPerAccountMs(r.ch.CPU, n), float64(r.ch.Queries)/float64(n))
		runs = append(runs, r)
	}
	b.ReportMetric(runs[0].wall.Seconds(), "wall-s")
	b.ReportMetric(float64(runs[0].calls), "api-calls")
	b.ReportMetric(benchMiB(runs[0].peakKB), "host-peak-MiB")
	if path := os.Getenv("WXSYNC_BENCH_OUT"); path != "" {
		if err := benchSplice(path, "BenchmarkAccounts", benchAccountsReport(n, followers, runs, launch, fault)); err != nil {
			b.Fatal(err)
		}
	}
}

// benchAccountsPerPlugin are the --accounts-per-plugin values measured,
// the default first; each is held against the targets.
var benchAccountsPerPlugin = []int{1, 100}

// benchAccountsPerPluginEnv is benchAccountsPerPlugin, or the one value of
// WXSYNC_BENCH_ACCOUNTS_PER_PLUGIN.
func benchAccountsPerPluginEnv() []int {
	if v, err := strconv.Atoi(os.Getenv("WXSYNC_BENCH_ACCOUNTS_PER_PLUGIN")); err == nil && v > 0 {
		return []int{v}
	}
	return benchAccountsPerPlugin
}

// benchAccountsParallel is the benchmark's --parallel
// (WXSYNC_BENCH_ACCOUNTS_PARALLEL overrides it).
func benchAccountsParallel() int {
	if v, err := strconv.Atoi(os.Getenv("WXSYNC_BENCH_ACCOUNTS_PARALLEL")); err == nil && v > 0 {
		return v
	}
	return host.DefaultParallel // ClickHouse, not the slots, bounds it: 8 measured slower than 4
}

// accountsBench is one measured `wxsync sync --accounts`.
type accountsBench struct {
	perPlugin int
	wall      time.Duration
	calls     int
	byPath    map[string]int
	peakKB    int64
	load      float64
	// CPU used during the run: by the host and its plugins (the host's
	// rusage, which counts the plugins it waited for), by the benchmark's
	// process (wxsim), and by the whole machine (/proc/stat); the rest of
	// the machine's is ClickHouse's, mostly.
	hostCPU, simCPU, machineCPU time.Duration
	// faults are the host's and its plugins' minor page faults.
	faults int64
	// ch is what system.query_log says of the run's queries.
	ch chStats
}

// benchAccountsOnce syncs n fresh accounts into a fresh database with
// perPlugin accounts a plugin, checks every account exact, and measures.
func benchAccountsOnce(b *testing.B, n, followers, perPlugin int) accountsBench {
	e := newManyEnv(b)
	e.dsn = benchLogQueries(e.dsn)
	var entries []map[string]string
	for i := range n {
		entries = append(entries, e.addAccount(i, followers, "secret", func(o *wxsim.Options) { o.PageSize = wxsim.MaxPageSize }))
	}
	list := e.writeList(entries)
	r := accountsBench{perPlugin: perPlugin, load: benchLoadAvg()}
	var out bytes.Buffer
	cmd := exec.Command(filepath.Join(binDir, "wxsync"), "sync", "--accounts", list,
		"--parallel", fmt.Sprint(benchAccountsParallel()), "--accounts-per-plugin", fmt.Sprint(perPlugin))
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "WECHAT_API_BASE=" + e.api.URL, "CLICKHOUSE_DSN=" + e.dsn,
		"WXSYNC_STREAMS=followers,users", "WXSYNC_LOG_LEVEL=" + cmp.Or(os.Getenv("WXSYNC_BENCH_LOG"), "warn")}, e.env...)
	cmd.Stdout, cmd.Stderr = &out, &out
	start, self0, machine0 := time.Now(), benchSelfCPU(b), benchMachineCPU(b)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-tick.C:
			if kb, ok := benchVmHWM(cmd.Process.Pid); ok {
				r.peakKB = max(r.peakKB, kb)
			}
		}
	}
	r.wall = time.Since(start)
	r.simCPU, r.machineCPU = benchSelfCPU(b)-self0, benchMachineCPU(b)-machine0
	if err != nil {
		b.Fatalf("wxsync sync --accounts: %v\n%s", err, out.String())
	}
	r.hostCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.faults = ru.Minflt
	}
	if os.Getenv("WXSYNC_BENCH_LOG") != "" {
		b.Log(out.String())
	}
	r.ch = benchCHStats(b, e.sink, e.sink.Database(), start)
	var ids []int
	for i := range n {
		ids = append(ids, i)
	}
	e.wantExact(ids)
	r.byPath = e.multi.Calls()
	for _, c := range r.byPath {
		r.calls += c
	}
	return r
}

// benchAccountsWhere says where the CPU of one plugin per account goes,
// against the run with the most accounts a plugin: the machine's CPU per
// account bounds the wall time from below on its 2 cores.
func benchAccountsWhere(p func(string, ...any), n int, runs []accountsBench, launch launchCost, fault time.Duration) {
	one, many := runs[0], slices.MaxFunc(runs, func(a, b accountsBench) int { return cmp.Compare(a.perPlugin, b.perPlugin) })
	p("\nWhere the CPU goes. Each run keeps both cores busy: the machine's CPU over the run ÷ 2 cores is %.1f s at %d a plugin\n",
		one.machineCPU.Seconds()/2, one.perPlugin)
	p("(measured %.1f s; %.0f ms of CPU per account)", one.wall.Seconds(), benchPerAccountMs(one.machineCPU, n))
	if many.perPlugin == one.perPlugin {
		p(".\n")
		return
	}
	p(" and %.1f s at %d a plugin (measured %.1f s; %.0f ms per account).\n",
		many.machineCPU.Seconds()/2, many.perPlugin, many.wall.Seconds(), benchPerAccountMs(many.machineCPU, n))
	p("The host and its plugins use %.1f ms per account at %d a plugin and %.1f ms at %d: a plugin of its own costs an\n",
		benchPerAccountMs(one.hostCPU, n), one.perPlugin, benchPerAccountMs(many.hostCPU, n), many.perPlugin)
	p("account %.1f ms more, with %s page faults more. Measured in the same run:\n",
		benchPerAccountMs(one.hostCPU-many.hostCPU, n), benchThousands(int((one.faults-many.faults)/int64(n))))
	p("- launching a plugin and stopping it, with nothing synced (a process, its Go runtime and packages, the mutual-TLS\n")
	p("  handshake), costs %s of CPU in the plugin and %s in the host, with %s page faults;\n",
		benchMs(launch.pluginCPU), benchMs(launch.hostCPU), benchThousands(int(launch.pluginFaults)))
	p("- a page fault (the first write to a page of fresh memory) costs %.1f µs of CPU on this virtual machine, so the\n",
		float64(fault)/float64(time.Microsecond))
	p("  extra faults alone come to %.1f ms per account: a new process touches its memory for the first time.\n",
		float64(one.faults-many.faults)/float64(n)*float64(fault)/float64(time.Millisecond))
	if one.ch.OK {
		p("ClickHouse ran %.1f queries per account at %d a plugin, %.1f ms of their CPU (`system.query_log`); most of the\n",
			float64(one.ch.Queries)/float64(n), one.perPlugin, benchPerAccountMs(one.ch.CPU, n))
		p("rest of the machine's %.1f ms per account is its background merges of the parts those inserts make.\n",
			benchPerAccountMs(one.machineCPU-one.hostCPU-one.simCPU, n))
	}
}

// benchPerAccountMs is d shared among n accounts, in milliseconds.
func benchPerAccountMs(d time.Duration, n int) float64 {
	return float64(d) / float64(time.Millisecond) / float64(n)
}

// benchAccountsReport renders the accounts section of docs/benchmarks.md.
func benchAccountsReport(n, followers int, runs []accountsBench, launch launchCost, fault time.Duration) string {
	var s strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&s, format, args...) }
	p("%s\n## Many accounts\n\n", benchAccountsBegin)
	p("Written by `BenchmarkAccounts` (`cmd/wxsync/bench_accounts_test.go`) in `make bench` (or `make bench-accounts`) on %s,\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	p("on the machine above (wxsync %s). %s\n\n", benchRevision(), benchDataFS())
	p("One `wxsync sync --accounts` of %s accounts of %s followers each (followers and users streams),\n", benchThousands(n), benchThousands(followers))
	p("`--parallel %d`, into an empty database, once per `--accounts-per-plugin` value; wxsim (`Multi`) runs in the\n", benchAccountsParallel())
	p("benchmark's process. The default, one plugin per account, pays a plugin launch (a process, its Go runtime,\n")
	p("a mutual-TLS handshake) per account, launched while the account before it runs.\n\n")
	p("| measure |")
	for _, r := range runs {
		p(" %d a plugin |", r.perPlugin)
	}
	p(" target |\n|---|")
	for range runs {
		p("---:|")
	}
	p("---|\n")
	row := func(name, target string, cell func(accountsBench) string) {
		p("| %s |", name)
		for _, r := range runs {
			p(" %s |", cell(r))
		}
		p(" %s |\n", target)
	}
	first := runs[0]
	held := func(ok func(accountsBench) bool) string {
		var out []string
		for _, r := range runs {
			out = append(out, fmt.Sprintf("%s at %d a plugin", benchYesNo(ok(r)), r.perPlugin))
		}
		return strings.Join(out, ", ")
	}
	row("wall time", "under 120 s: "+held(func(r accountsBench) bool { return r.wall < 2*time.Minute }),
		func(r accountsBench) string { return fmt.Sprintf("%.1f s", r.wall.Seconds()) })
	row("accounts/s", "", func(r accountsBench) string { return fmt.Sprintf("%.1f", float64(n)/r.wall.Seconds()) })
	row("API calls", "", func(r accountsBench) string { return benchThousands(r.calls) })
	paths := make([]string, 0, len(first.byPath))
	for path := range first.byPath {
		paths = append(paths, path)
	}
	slices.Sort(paths)
	for _, path := range paths {
		row("— "+path, "", func(r accountsBench) string { return benchThousands(r.byPath[path]) })
	}
	row("host peak RSS (VmHWM, sampled every 100 ms)", "under 300 MiB: "+held(func(r accountsBench) bool { return r.peakKB < 300*1024 }),
		func(r accountsBench) string { return fmt.Sprintf("%.1f MiB", benchMiB(r.peakKB)) })
	row("CPU per account: host and its plugins", "", func(r accountsBench) string {
		return fmt.Sprintf("%.1f ms", benchPerAccountMs(r.hostCPU, n))
	})
	row("page faults per account: host and its plugins", "", func(r accountsBench) string { return benchThousands(int(r.faults) / n) })
	row("CPU per account: wxsim", "", func(r accountsBench) string { return fmt.Sprintf("%.1f ms", benchPerAccountMs(r.simCPU, n)) })
	row("CPU per account: the rest of the machine (ClickHouse, mostly)", "", func(r accountsBench) string {
		return fmt.Sprintf("%.1f ms", benchPerAccountMs(r.machineCPU-r.hostCPU-r.simCPU, n))
	})
	row("ClickHouse queries per account, their CPU (system.query_log)", "", func(r accountsBench) string {
		if !r.ch.OK {
			return "n/a"
		}
		return fmt.Sprintf("%.1f, %.1f ms", float64(r.ch.Queries)/float64(n), benchPerAccountMs(r.ch.CPU, n))
	})
	row("1-minute load average before", "", func(r accountsBench) string { return fmt.Sprintf("%.2f", r.load) })
	p("\nEvery account's `wechat_followers_current` and `wechat_users` were then checked against wxsim: exact.\n")
	benchAccountsWhere(p, n, runs, launch, fault)
	p("The load average before a run is other work on the machine's 2 cores; it slows every figure of that run.\n")
	p("%s\n", benchAccountsEnd)
	return s.String()
}
