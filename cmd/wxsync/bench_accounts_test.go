package main

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxsync/wxsync/connector/wxsim"
)

// The accounts section of docs/benchmarks.md sits between these markers.
var (
	benchAccountsBegin = benchBegin("BenchmarkAccounts")
	benchAccountsEnd   = benchEnd("BenchmarkAccounts")
)

// BenchmarkAccounts syncs 1,000 small accounts (1,000 followers each, with
// their profiles) in one `wxsync sync --accounts`, 8 at once, and reports
// the wall time, the API calls and the host's peak RSS; with
// WXSYNC_BENCH_OUT set it writes its section of docs/benchmarks.md.
// WXSYNC_BENCH_ACCOUNTS shrinks the list for a quick look.
func BenchmarkAccounts(b *testing.B) {
	n, followers, parallel := 1000, 1000, 8
	if s := os.Getenv("WXSYNC_BENCH_ACCOUNTS"); s != "" {
		fmt.Sscanf(s, "%d", &n)
	}
	e := newManyEnv(b)
	var entries []map[string]string
	for i := range n {
		entries = append(entries, e.addAccount(i, followers, "secret", func(o *wxsim.Options) { o.PageSize = wxsim.MaxPageSize }))
	}
	list := e.writeList(entries)
	load := benchLoadAvg()
	var out bytes.Buffer
	cmd := exec.Command(filepath.Join(binDir, "wxsync"), "sync", "--accounts", list, "--parallel", fmt.Sprint(parallel))
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "WECHAT_API_BASE=" + e.api.URL, "CLICKHOUSE_DSN=" + e.dsn,
		"WXSYNC_STREAMS=followers,users", "WXSYNC_LOG_LEVEL=" + cmp.Or(os.Getenv("WXSYNC_BENCH_LOG"), "warn")}, e.env...)
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var peakKB int64
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
				peakKB = max(peakKB, kb)
			}
		}
	}
	wall := time.Since(start)
	if err != nil {
		b.Fatalf("wxsync sync --accounts: %v\n%s", err, out.String())
	}
	var ids []int
	for i := range n {
		ids = append(ids, i)
	}
	e.wantExact(ids)
	calls := 0
	for _, c := range e.multi.Calls() {
		calls += c
	}
	b.ReportMetric(wall.Seconds(), "wall-s")
	b.ReportMetric(float64(calls), "api-calls")
	b.ReportMetric(benchMiB(peakKB), "host-peak-MiB")
	if os.Getenv("WXSYNC_BENCH_LOG") != "" {
		b.Log(out.String())
	}
	b.Logf("%d accounts × %d followers: %.1f s, %d API calls, host peak RSS %.1f MiB", n, followers, wall.Seconds(), calls, benchMiB(peakKB))
	if path := os.Getenv("WXSYNC_BENCH_OUT"); path != "" {
		section := benchAccountsReport(n, followers, parallel, wall, calls, e.multi.Calls(), peakKB, load)
		if err := benchSplice(path, "BenchmarkAccounts", section); err != nil {
			b.Fatal(err)
		}
	}
}

// benchAccountsReport renders the accounts section of docs/benchmarks.md.
func benchAccountsReport(n, followers, parallel int, wall time.Duration, calls int, byPath map[string]int, peakKB int64, load float64) string {
	var s strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&s, format, args...) }
	p("%s\n## Many accounts\n\n", benchAccountsBegin)
	p("Written by `BenchmarkAccounts` (`cmd/wxsync/bench_accounts_test.go`) in `make bench` (or `make bench-accounts`) on %s,\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	p("on the machine above (wxsync %s).\n\n", benchRevision())
	p("One `wxsync sync --accounts` of %s accounts of %s followers each (followers and users streams),\n", benchThousands(n), benchThousands(followers))
	p("`--parallel %d` (one plugin per slot, reused across its accounts), into an empty database; wxsim (`Multi`) runs in the benchmark's process.\n\n", parallel)
	p("| measure | value | target |\n|---|---:|---:|\n")
	p("| wall time | %.1f s | under 120 s: %s |\n", wall.Seconds(), benchYesNo(wall < 2*time.Minute))
	p("| accounts/s | %.1f | |\n", float64(n)/wall.Seconds())
	p("| API calls | %s | |\n", benchThousands(calls))
	paths := make([]string, 0, len(byPath))
	for path := range byPath {
		paths = append(paths, path)
	}
	slices.Sort(paths)
	for _, path := range paths {
		p("| — %s | %s | |\n", path, benchThousands(byPath[path]))
	}
	p("| host peak RSS (VmHWM, sampled every 100 ms) | %.1f MiB | under 300 MiB: %s |\n", benchMiB(peakKB), benchYesNo(peakKB < 300*1024))
	p("| 1-minute load average before | %.2f | |\n\n", load)
	p("Every account's `wechat_followers_current` and `wechat_users` were then checked against wxsim: exact.\n")
	p("The load average before the run is other work on the machine's 2 cores; it slows every figure above.\n")
	p("%s\n", benchAccountsEnd)
	return s.String()
}
