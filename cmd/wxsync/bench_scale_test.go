package main

// The scale benchmark behind `make bench-large`: BenchmarkScale syncs
// followers at 1M, 3M and 10M beside the fetch floor and two Native insert
// floors (rows in API order, and sorted by the key) measured in the same
// rounds, with ClickHouse's own CPU time from system.query_log.
// BenchmarkIncremental (bench_incremental_test.go) times the daily rerun.
// Each writes its own section of docs/benchmarks.md (benchSplice).

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxsync/wxsync/connector/wxsim"
	"github.com/wxsync/wxsync/sink"
)

// Targets of issue 12, checked at benchScaleJudged sizes.
const (
	benchScaleMaxRatio = 1.3 // sync / max(fetch floor, sorted insert floor)
	benchNativeBlock   = 65536
)

// benchScaleJudged are the sizes the ratio targets are stated for.
var benchScaleJudged = []int{1_000_000, 10_000_000}

// benchEnvInts reads a comma-separated list of sizes from name, def when unset.
func benchEnvInts(b *testing.B, name string, def []int) []int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("%s=%q: want positive numbers separated by commas", name, v)
		}
		out = append(out, n)
	}
	return out
}

// benchScaleOptions is wxsim at n followers with quotas that a large
// account's rounds do not exhaust (10M followers are 1,000 user/get pages).
func benchScaleOptions(n int) wxsim.Options {
	opts := wxsim.DefaultOptions()
	opts.Followers = n
	opts.Quotas[wxsim.PathUserGet] = 1_000_000
	opts.Quotas[wxsim.PathBatchGet] = 100_000_000
	opts.CallLogLimit = n/100 + n/10000 + 1000
	return opts
}

// chStats is ClickHouse's own account of a set of queries, from
// system.query_log (QueryFinish rows).
type chStats struct {
	OK       bool // the server keeps query_log
	Queries  uint64
	CPU      time.Duration // UserTimeMicroseconds + SystemTimeMicroseconds
	Duration time.Duration // sum of query_duration_ms
	ReadRows uint64
}

func (c chStats) String() string {
	if !c.OK {
		return "n/a"
	}
	return fmt.Sprintf("%.2f s CPU, %s rows read, %d queries", c.CPU.Seconds(), benchThousands(int(c.ReadRows)), c.Queries)
}

// benchLogQueries returns dsn asking the server to log its queries.
func benchLogQueries(dsn string) string {
	if strings.Contains(dsn, "?") {
		return dsn + "&log_queries=1"
	}
	return dsn + "?log_queries=1"
}

// benchCHStats sums what system.query_log says of the finished queries
// since start whose text names db (each run and floor has a database of
// its own). Background merges are not queries and are not counted.
func benchCHStats(b *testing.B, s *sink.Sink, db string, start time.Time) chStats {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Conn().Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		b.Fatalf("SYSTEM FLUSH LOGS: %v", err)
	}
	var exists uint8
	if err := s.Conn().QueryRow(ctx, "SELECT toUInt8(count() > 0) FROM system.tables WHERE database = 'system' AND name = 'query_log'").Scan(&exists); err != nil {
		b.Fatalf("look for system.query_log: %v", err)
	}
	if exists == 0 {
		return chStats{}
	}
	q := `SELECT count(), sum(query_duration_ms), sum(read_rows),
		sum(arraySum(arrayMap((n, v) -> if(n = 'UserTimeMicroseconds' OR n = 'SystemTimeMicroseconds', v, 0), ProfileEvents.Names, ProfileEvents.Values)))
		FROM system.query_log WHERE type = 2 AND event_date >= toDate(?) AND event_time >= ? AND position(query, ?) > 0`
	from := start.Add(-time.Second).UTC()
	var c chStats
	var ms, us uint64
	if err := s.Conn().QueryRow(ctx, q, from, from, db).Scan(&c.Queries, &ms, &c.ReadRows, &us); err != nil {
		b.Fatalf("read system.query_log: %v", err)
	}
	c.OK, c.Duration, c.CPU = true, time.Duration(ms)*time.Millisecond, time.Duration(us)*time.Microsecond
	return c
}

// scaleRound is one round at one size: the floors, then the sync.
type scaleRound struct {
	Sync           benchRound // wall time, peak RSS and CPU of host and plugin
	SyncCH         chStats
	Fetch          time.Duration
	InsertAPI      time.Duration // Native, rows in the API's order
	InsertAPICH    chStats
	InsertSorted   time.Duration // Native, rows sorted by the table's key
	InsertSortedCH chStats
	ServerCPU      time.Duration // the ClickHouse server process during the sync: queries and background merges; 0 if unknown
	SelfCPU        time.Duration // this test process during the sync: wxsim and the RSS sampler
}

// machineCPU is the CPU time every process on the machine spent on the
// sync: host and plugin, the ClickHouse server, and wxsim's process.
func (x scaleRound) machineCPU() time.Duration { return x.Sync.TreeCPU + x.ServerCPU + x.SelfCPU }

// merges is the ClickHouse server's CPU time during the sync that its
// queries did not account for: background merges, mostly.
func (x scaleRound) merges() time.Duration { return max(0, x.ServerCPU-x.SyncCH.CPU) }

// scaleResult is every round at one size.
type scaleResult struct {
	N      int
	Rounds []scaleRound
}

func (r scaleResult) best(f func(scaleRound) time.Duration) time.Duration { return bestOf(r.Rounds, f) }
func (r scaleResult) peak(f func(scaleRound) int64) int64                 { return peakOf(r.Rounds, f) }

func (r scaleResult) Wall() time.Duration {
	return r.best(func(x scaleRound) time.Duration { return x.Sync.Wall })
}
func (r scaleResult) Fetch() time.Duration {
	return r.best(func(x scaleRound) time.Duration { return x.Fetch })
}
func (r scaleResult) InsertAPI() time.Duration {
	return r.best(func(x scaleRound) time.Duration { return x.InsertAPI })
}
func (r scaleResult) InsertSorted() time.Duration {
	return r.best(func(x scaleRound) time.Duration { return x.InsertSorted })
}
func (r scaleResult) HostPeakKB() int64 {
	return r.peak(func(x scaleRound) int64 { return x.Sync.HostPeakKB })
}
func (r scaleResult) PluginPeakKB() int64 {
	return r.peak(func(x scaleRound) int64 { return x.Sync.PluginPeakKB })
}

// ratio is sync / max(fetch floor, sorted insert floor).
func (r scaleResult) ratio() float64 {
	return r.Wall().Seconds() / max(r.Fetch(), r.InsertSorted()).Seconds()
}

// BenchmarkScale measures a followers sync at 1M, 3M and 10M followers
// (WXSYNC_BENCH_SCALE_SIZES overrides) in WXSYNC_BENCH_ROUNDS rounds (2):
// `make bench-large`. With WXSYNC_BENCH_OUT it writes its section of
// docs/benchmarks.md.
func BenchmarkScale(b *testing.B) {
	sizes := benchEnvInts(b, "WXSYNC_BENCH_SCALE_SIZES", []int{1_000_000, 3_000_000, 10_000_000})
	rounds := benchEnvInts(b, "WXSYNC_BENCH_ROUNDS", []int{2})[0]
	var results []scaleResult
	for _, n := range sizes {
		b.Run(fmt.Sprintf("followers=%d", n), func(b *testing.B) {
			var r scaleResult
			for i := 0; i < b.N; i++ {
				r = benchScaleSize(b, n, rounds)
			}
			b.ReportMetric(float64(r.Wall().Nanoseconds()), "ns/op")
			b.ReportMetric(r.ratio(), "ratio")
			results = append(results, r)
		})
	}
	out := os.Getenv("WXSYNC_BENCH_OUT")
	if out == "" || b.Failed() || len(results) == 0 {
		return
	}
	if err := benchSplice(out, "BenchmarkScale", benchScaleReport(results, rounds)); err != nil {
		b.Fatalf("write %s: %v", out, err)
	}
	b.Logf("wrote the scale section of %s", out)
}

// benchScaleSize measures an account of n followers in the given number
// of rounds, each: fetch floor, Native insert in API order, Native insert
// sorted, sync, every step after ClickHouse has stopped merging and the
// kernel has written out what the step before wrote (benchWaitMerges).
func benchScaleSize(b *testing.B, n, rounds int) scaleResult {
	b.StopTimer()
	opts := benchScaleOptions(n)
	sim, err := wxsim.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	apiFile, sortedFile := benchWriteNativeFiles(b, sim, n)
	r := scaleResult{N: n}
	for round := 1; round <= rounds; round++ {
		e := newEnv(b, opts)
		e.dsn = benchLogQueries(e.dsn)
		var x scaleRound
		benchWaitMerges(b, e)
		d, got, err := benchFetchFloor(e.api.URL, opts)
		if err != nil || got != n {
			b.Fatalf("fetch floor: %d openids of %d: %v", got, n, err)
		}
		x.Fetch = d
		benchWaitMerges(b, e)
		x.InsertAPI, x.InsertAPICH = benchNativeInsert(b, e, apiFile, n)
		benchWaitMerges(b, e)
		x.InsertSorted, x.InsertSortedCH = benchNativeInsert(b, e, sortedFile, n)

		e.sim.ResetQuota()
		benchWaitMerges(b, e)
		server0, self0 := benchServerCPU(), benchSelfCPU(b)
		start := time.Now()
		benchRunSync(b, e, &x.Sync)
		if server1 := benchServerCPU(); server0 > 0 && server1 > 0 {
			x.ServerCPU = server1 - server0
		}
		x.SelfCPU = benchSelfCPU(b) - self0
		benchWantRows(b, e, e.sink.Database(), opts.AppID, n)
		x.SyncCH = benchCHStats(b, e.sink, e.sink.Database(), start)
		benchDropDatabase(b, e, e.sink.Database())

		b.Logf("n=%d round %d: sync %.2fs (ClickHouse %s); fetch floor %.2fs; Native insert API order %.2fs (%s), sorted %.2fs (%s); host %.1f MiB, plugin %.1f MiB; load %.2f",
			n, round, x.Sync.Wall.Seconds(), x.SyncCH, x.Fetch.Seconds(), x.InsertAPI.Seconds(), x.InsertAPICH,
			x.InsertSorted.Seconds(), x.InsertSortedCH, benchMiB(x.Sync.HostPeakKB), benchMiB(x.Sync.PluginPeakKB), x.Sync.Load)
		r.Rounds = append(r.Rounds, x)
	}
	return r
}

// benchServerCPU returns the CPU time (user + system) the ClickHouse server
// that `make` started (its pid file in WXSYNC_BENCH_CH_DIR) has used so far;
// 0 when unknown.
func benchServerCPU() time.Duration {
	dir := os.Getenv("WXSYNC_BENCH_CH_DIR")
	if dir == "" {
		return 0
	}
	for _, f := range []string{"clickhouse.pid", "server.pid"} {
		raw, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil {
			continue
		}
		if _, cpu, ok := benchProcSample(pid); ok {
			return cpu
		}
	}
	return 0
}

// benchWriteNativeFiles writes the account's n follower rows in ClickHouse's
// Native format twice: in the API's order, and sorted by openid (the
// varying part of wechat_followers' key). It returns both paths.
func benchWriteNativeFiles(b *testing.B, sim *wxsim.Server, n int) (api, sorted string) {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = sim.OpenID(uint64(i))
	}
	dir := b.TempDir()
	api, sorted = filepath.Join(dir, "api.native"), filepath.Join(dir, "sorted.native")
	at := uint32(time.Now().Unix())
	if err := benchWriteNative(api, sim.Options().AppID, ids, at); err != nil {
		b.Fatal(err)
	}
	slices.Sort(ids)
	if err := benchWriteNative(sorted, sim.Options().AppID, ids, at); err != nil {
		b.Fatal(err)
	}
	return api, sorted
}

// benchWriteNative writes wechat_followers rows (appid, snapshot_id 1,
// openid, fetched_at) for ids, in that order, as Native blocks of
// benchNativeBlock rows: per block the column and row counts, then per
// column its name, its type and its values (a String as a varint length
// and its bytes, UInt64 and DateTime little-endian).
func benchWriteNative(path, appid string, ids []string, at uint32) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	var buf []byte
	str := func(s string) { buf = binary.AppendUvarint(buf, uint64(len(s))); buf = append(buf, s...) }
	for lo := 0; lo < len(ids); lo += benchNativeBlock {
		block := ids[lo:min(lo+benchNativeBlock, len(ids))]
		buf = binary.AppendUvarint(buf[:0], 4)
		buf = binary.AppendUvarint(buf, uint64(len(block)))
		str("appid")
		str("String")
		for range block {
			str(appid)
		}
		str("snapshot_id")
		str("UInt64")
		for range block {
			buf = binary.LittleEndian.AppendUint64(buf, 1)
		}
		str("openid")
		str("String")
		for _, id := range block {
			str(id)
		}
		str("fetched_at")
		str("DateTime")
		for range block {
			buf = binary.LittleEndian.AppendUint32(buf, at)
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// benchNativeInsert times clickhouse-client inserting the Native file of n
// rows into a fresh wechat_followers table, and returns ClickHouse's own
// account of it. The database is dropped before it returns.
func benchNativeInsert(b *testing.B, e *env, path string, n int) (time.Duration, chStats) {
	return benchClientInsert(b, e, path, "Native", n, true)
}

// benchScaleReport renders BenchmarkScale's section of docs/benchmarks.md.
func benchScaleReport(results []scaleResult, rounds int) string {
	var s strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&s, format, args...) }
	p("%s\n## Scale: followers at 1M, 3M and 10M\n\n", benchBegin("BenchmarkScale"))
	p("Written by `BenchmarkScale` (`cmd/wxsync/bench_scale_test.go`, `make bench-large`) on %s, on the\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	p("machine above (wxsync %s). %d rounds per size; times are the best round of each measure, taken\n", benchRevision(), rounds)
	p("independently, RSS the worst; \"rounds\" lists every round. ClickHouse CPU is user + system time of\n")
	p("the queries (`system.query_log`, `ProfileEvents` UserTimeMicroseconds + SystemTimeMicroseconds), not\n")
	p("counting background merges. %s\n\n", benchDataFS())
	for _, r := range results {
		benchScaleTable(p, r)
	}
	p("### Targets (issue 12)\n\n| target | measured | holds |\n|---|---|---|\n")
	for _, r := range results {
		if !slices.Contains(benchScaleJudged, r.N) {
			continue
		}
		floor := max(r.Fetch(), r.InsertSorted())
		p("| sync / max(fetch floor, sorted insert floor) ≤ %.1f at %s | %.2f s / %.2f s = %.2f | %s |\n", benchScaleMaxRatio,
			benchThousands(r.N), r.Wall().Seconds(), floor.Seconds(), r.ratio(), benchYesNo(r.ratio() <= benchScaleMaxRatio))
		sum := r.Fetch() + r.InsertAPI()
		p("| sync < fetch floor + insert floor in API order at %s | %.2f s vs %.2f s | %s |\n",
			benchThousands(r.N), r.Wall().Seconds(), sum.Seconds(), benchYesNo(r.Wall() < sum))
	}
	benchScaleRSS(p, results)
	benchScaleBudget(p, results)
	p("\nFloors: the fetch floor is the minimal client of `BenchmarkSync`; each insert floor pipes the same N\n")
	p("rows `(appid, snapshot_id, openid, fetched_at)`, written once per size as a Native file (blocks of\n")
	p("%s rows), into `clickhouse-client --query \"INSERT INTO db.wechat_followers ... FORMAT Native\"` on a\n", benchThousands(benchNativeBlock))
	p("fresh table: once in the API's order, once sorted by openid. The sync is `wxsync sync` with\n")
	p("`WXSYNC_STREAMS=followers` into an empty database. Each round fails unless every table then holds\n")
	p("exactly N rows and N distinct openids. Each step starts once ClickHouse runs no merge and the kernel\n")
	p("has written out the pages the step before left dirty (`sync(2)`). The load average is the 1-minute one\n")
	p("just before the sync.\n%s\n", benchEnd("BenchmarkScale"))
	return s.String()
}

// benchScaleTable renders one size's table.
func benchScaleTable(p func(string, ...any), r scaleResult) {
	secs := func(f func(scaleRound) time.Duration) string { return secondsOf(r.Rounds, f) }
	list := func(f func(scaleRound) string) string {
		var out []string
		for _, x := range r.Rounds {
			out = append(out, f(x))
		}
		return strings.Join(out, "; ")
	}
	p("### %s followers\n\n| measure | value | rounds |\n|---|---:|---|\n", benchThousands(r.N))
	p("| sync wall time | %.2f s | %s |\n", r.Wall().Seconds(), secs(func(x scaleRound) time.Duration { return x.Sync.Wall }))
	p("| fetch floor | %.2f s | %s |\n", r.Fetch().Seconds(), secs(func(x scaleRound) time.Duration { return x.Fetch }))
	p("| Native insert floor, API order | %.2f s | %s |\n", r.InsertAPI().Seconds(), secs(func(x scaleRound) time.Duration { return x.InsertAPI }))
	p("| Native insert floor, sorted | %.2f s | %s |\n", r.InsertSorted().Seconds(), secs(func(x scaleRound) time.Duration { return x.InsertSorted }))
	p("| sync / max(fetch, sorted insert) | %.2f | |\n", r.ratio())
	p("| ClickHouse, sync's queries | | %s |\n", list(func(x scaleRound) string { return x.SyncCH.String() }))
	p("| ClickHouse, insert in API order | | %s |\n", list(func(x scaleRound) string { return x.InsertAPICH.String() }))
	p("| ClickHouse, sorted insert | | %s |\n", list(func(x scaleRound) string { return x.InsertSortedCH.String() }))
	p("| host peak RSS | %.1f MiB | %s |\n", benchMiB(r.HostPeakKB()), list(func(x scaleRound) string { return fmt.Sprintf("%.1f", benchMiB(x.Sync.HostPeakKB)) }))
	p("| plugin peak RSS | %.1f MiB | %s |\n", benchMiB(r.PluginPeakKB()), list(func(x scaleRound) string { return fmt.Sprintf("%.1f", benchMiB(x.Sync.PluginPeakKB)) }))
	p("| host / plugin CPU time, s | | %s |\n", list(func(x scaleRound) string {
		return fmt.Sprintf("%.2f / %.2f", x.Sync.HostCPU.Seconds(), x.Sync.PluginCPU.Seconds())
	}))
	p("| CPU time during the sync, s: host + plugin / ClickHouse server (its queries + the rest) / wxsim's process | | %s |\n", list(func(x scaleRound) string {
		return fmt.Sprintf("%.2f / %.2f (%.2f + %.2f) / %.2f", x.Sync.TreeCPU.Seconds(), x.ServerCPU.Seconds(), x.SyncCH.CPU.Seconds(), x.merges().Seconds(), x.SelfCPU.Seconds())
	}))
	p("| all of it / %d cores: the shortest the sync could take | | %s |\n", runtime.NumCPU(), list(func(x scaleRound) string {
		return fmt.Sprintf("%.2f s", x.machineCPU().Seconds()/float64(runtime.NumCPU()))
	}))
	p("| 1-minute load average before the sync | | %s |\n\n", list(func(x scaleRound) string { return fmt.Sprintf("%.2f", x.Sync.Load) }))
}

// benchScaleBudget renders, for each judged size, where the CPU of its
// fastest sync went: a sync that keeps both cores busy takes at least the
// machine's CPU time over the cores, whatever the pipeline's shape.
func benchScaleBudget(p func(string, ...any), results []scaleResult) {
	cores := float64(runtime.NumCPU())
	p("\nCPU time of the fastest sync, against the floor (max of fetch and sorted insert):\n\n")
	p("| followers | host + plugin | ClickHouse: queries + the rest | wxsim | all / %.0f cores | ÷ floor | without the rest, ÷ floor |\n|---|---:|---:|---:|---:|---:|---:|\n", cores)
	for _, r := range results {
		if !slices.Contains(benchScaleJudged, r.N) {
			continue
		}
		x := r.Rounds[0]
		for _, y := range r.Rounds[1:] {
			if y.Sync.Wall < x.Sync.Wall {
				x = y
			}
		}
		if x.ServerCPU == 0 {
			continue
		}
		floor := max(r.Fetch(), r.InsertSorted()).Seconds()
		all := x.machineCPU().Seconds() / cores
		p("| %s | %.2f s | %.2f + %.2f s | %.2f s | %.2f s | %.2f | %.2f |\n", benchThousands(r.N), x.Sync.TreeCPU.Seconds(),
			x.SyncCH.CPU.Seconds(), x.merges().Seconds(), x.SelfCPU.Seconds(), all, all/floor, (all-x.merges().Seconds()/cores)/floor)
	}
	p("\n\"The rest\" is the server's CPU time during the sync that its queries do not account for: background\n")
	p("merges of the snapshot's parts, mostly. The floors run one stage with the machine to themselves; the\n")
	p("sync runs every stage at once on the same cores, so where \"÷ floor\" is above the target no pipeline\n")
	p("can meet it without less CPU time.\n")
}

// benchScaleRSS renders the memory targets: under the limit at the
// largest size, and flat from 1M to it.
func benchScaleRSS(p func(string, ...any), results []scaleResult) {
	hi := results[len(results)-1]
	base := results[0]
	for _, r := range results {
		if r.N == benchRefN {
			base = r
		}
	}
	for _, m := range []struct {
		name string
		kb   func(scaleResult) int64
	}{{"host", scaleResult.HostPeakKB}, {"plugin", scaleResult.PluginPeakKB}} {
		mib := benchMiB(m.kb(hi))
		p("| %s peak RSS < %.0f MiB at %s | %.1f MiB | %s |\n", m.name, benchRSSLimitMiB, benchThousands(hi.N), mib, benchYesNo(mib < benchRSSLimitMiB))
		if base.N < hi.N {
			var all []string
			for _, r := range results {
				all = append(all, fmt.Sprintf("%.1f", benchMiB(m.kb(r))))
			}
			growth := float64(m.kb(hi))/float64(m.kb(base)) - 1
			p("| %s peak RSS flat: at %s at most %.0f%% above %s | %s MiB (%+.0f%%) | %s |\n", m.name, benchThousands(hi.N),
				benchFlatGrowth*100, benchThousands(base.N), strings.Join(all, " → "), growth*100, benchYesNo(growth <= benchFlatGrowth))
		}
	}
}
