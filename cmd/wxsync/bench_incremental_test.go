package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/wxsync/wxsync/connector/wxsim"
	"github.com/wxsync/wxsync/schema"
)

// Targets of issue 12 for the daily rerun, judged at the largest size
// against the smallest (1M and 10M by default).
const (
	benchNewEvery     = 1000 // one follower in this many has no profile yet (0.1% new)
	benchPageSize     = 10_000
	benchDecisionMax  = 1.5 // per-page decision at 10M / at 1M
	benchRerunMax     = 1.3 // rerun wall / followers-only sync wall
	benchOldPages     = 3   // pages timed with the old per-page lookup (FreshProfiles)
	benchUsersMaxAge  = 168 * time.Hour
	benchSeedRowBatch = 100_000
)

// incrResult is the daily rerun of one account.
type incrResult struct {
	N, New         int
	FollowersOnly  benchRound // followers-only sync of the same account
	FollowersCH    chStats
	Rerun          benchRound // followers and users, 0.1% new followers, every other profile fresh
	RerunCH        chStats
	BatchGetCalls  int
	BatchGetIDs    int
	Load           time.Duration // LoadFreshProfiles
	FreshLen       int
	Pages          []time.Duration // per-page decision with the FreshSet, sorted
	OldPage        time.Duration   // mean per-page cost of FreshProfiles over benchOldPages pages
	FollowersLoad  float64
	SeedDuration   time.Duration
	NeedFromFilter int
	Synced         bool         // the two syncs ran (not WXSYNC_BENCH_INCR_SYNC=0)
	Rounds         []incrResult // every round, when this is their combination (combineIncr)
}

// combineIncr combines rounds of one size as BenchmarkScale does: each
// wall time and the per-page decision at its best round, taken
// independently, peak RSS at its worst.
func combineIncr(rounds []incrResult) incrResult {
	r := rounds[0]
	for _, x := range rounds[1:] {
		if x.Rerun.Wall < r.Rerun.Wall {
			r.Rerun, r.RerunCH, r.BatchGetCalls, r.BatchGetIDs = x.Rerun, x.RerunCH, x.BatchGetCalls, x.BatchGetIDs
		}
		if x.FollowersOnly.Wall < r.FollowersOnly.Wall {
			r.FollowersOnly, r.FollowersCH = x.FollowersOnly, x.FollowersCH
		}
		if x.pageQuantile(0.5) < r.pageQuantile(0.5) {
			r.Pages, r.Load, r.FreshLen, r.OldPage = x.Pages, x.Load, x.FreshLen, x.OldPage
		}
	}
	r.Rerun.HostPeakKB = peakOf(rounds, func(x incrResult) int64 { return x.Rerun.HostPeakKB })
	r.Rerun.PluginPeakKB = peakOf(rounds, func(x incrResult) int64 { return x.Rerun.PluginPeakKB })
	r.FollowersOnly.HostPeakKB = peakOf(rounds, func(x incrResult) int64 { return x.FollowersOnly.HostPeakKB })
	r.FollowersOnly.PluginPeakKB = peakOf(rounds, func(x incrResult) int64 { return x.FollowersOnly.PluginPeakKB })
	r.Rounds = rounds
	return r
}

// walls lists f of every round, in seconds.
func (r incrResult) walls(f func(incrResult) time.Duration) string { return secondsOf(r.Rounds, f) }

func (r incrResult) pageQuantile(q float64) time.Duration {
	if len(r.Pages) == 0 {
		return 0
	}
	return r.Pages[min(int(q*float64(len(r.Pages))), len(r.Pages)-1)]
}

// BenchmarkIncremental times the daily rerun at 1M and 10M followers
// (WXSYNC_BENCH_INCR_SIZES overrides): every follower but one in
// benchNewEvery already has a fresh profile; the rerun (followers and
// users) is timed beside a followers-only sync of the same account, and
// the per-page profile decision of the FreshSet (sink.LoadFreshProfiles)
// is timed in this process over the account's pages, beside the old
// per-page lookup. A rerun fetches the new profiles, after which none is
// new, so each of the WXSYNC_BENCH_ROUNDS rounds (2) seeds an account of
// its own. `make bench-large`. WXSYNC_BENCH_INCR_SYNC=0 times the decision
// only, without the syncs.
func BenchmarkIncremental(b *testing.B) {
	sizes := benchEnvInts(b, "WXSYNC_BENCH_INCR_SIZES", []int{1_000_000, 10_000_000})
	rounds := benchEnvInts(b, "WXSYNC_BENCH_ROUNDS", []int{2})[0]
	syncs := os.Getenv("WXSYNC_BENCH_INCR_SYNC") != "0"
	var results []incrResult
	for _, n := range sizes {
		b.Run(fmt.Sprintf("followers=%d", n), func(b *testing.B) {
			var r incrResult
			for i := 0; i < b.N; i++ {
				var all []incrResult
				for range rounds {
					all = append(all, benchIncremental(b, n, syncs))
				}
				r = combineIncr(all)
			}
			b.ReportMetric(float64(r.Rerun.Wall.Nanoseconds()), "ns/op")
			b.ReportMetric(float64(r.pageQuantile(0.5).Microseconds()), "page_decision_µs")
			results = append(results, r)
		})
	}
	out := os.Getenv("WXSYNC_BENCH_OUT")
	if out == "" || b.Failed() || len(results) == 0 {
		return
	}
	if err := benchSplice(out, "BenchmarkIncremental", benchIncrementalReport(results)); err != nil {
		b.Fatalf("write %s: %v", out, err)
	}
	b.Logf("wrote the incremental section of %s", out)
}

// benchIncremental measures one account of n followers.
func benchIncremental(b *testing.B, n int, syncs bool) incrResult {
	b.StopTimer()
	opts := benchScaleOptions(n)
	e := newEnv(b, opts)
	e.dsn = benchLogQueries(e.dsn)
	r := incrResult{N: n}
	start := time.Now()
	r.New = benchSeedProfiles(b, e, n)
	r.SeedDuration = time.Since(start)
	benchWaitMerges(b, e)
	benchDecision(b, e, &r)
	if !syncs {
		b.Logf("n=%d: FreshSet of %d loaded in %.2fs, page decision median %v p90 %v (old lookup %v a page)",
			n, r.FreshLen, r.Load.Seconds(), r.pageQuantile(0.5), r.pageQuantile(0.9), r.OldPage)
		benchDropDatabase(b, e, e.sink.Database())
		return r
	}
	r.Synced = true
	benchWaitMerges(b, e)
	start = time.Now()
	benchRunStreams(b, e, &r.FollowersOnly, "followers")
	r.FollowersCH = benchCHStats(b, e.sink, e.sink.Database(), start)

	e.sim.ResetQuota()
	e.sim.ResetCalls()
	benchWaitMerges(b, e)
	start = time.Now()
	benchRunStreams(b, e, &r.Rerun, "followers,users")
	r.RerunCH = benchCHStats(b, e.sink, e.sink.Database(), start)
	sizes := wxsim.BatchGetSizes(e.sim.CallLog())
	r.BatchGetCalls = len(sizes)
	for _, s := range sizes {
		r.BatchGetIDs += s
	}
	if r.BatchGetIDs != r.New {
		b.Fatalf("the rerun asked batchget for %d profiles in %d calls; %d followers had none", r.BatchGetIDs, r.BatchGetCalls, r.New)
	}
	if got := e.query("SELECT count() AS x FROM {db}.wechat_users FINAL WHERE appid = ?", opts.AppID); len(got) != 1 || got[0] != fmt.Sprint(n) {
		b.Fatalf("wechat_users holds %v profiles, want %d", got, n)
	}
	if got := e.query("SELECT count() AS x FROM {db}.wechat_followers_current WHERE appid = ?", opts.AppID); len(got) != 1 || got[0] != fmt.Sprint(n) {
		b.Fatalf("wechat_followers_current holds %v followers, want %d", got, n)
	}
	b.Logf("n=%d: rerun %.2fs (ClickHouse %s) vs followers-only %.2fs (%s); %d batchget calls for %d new; FreshSet of %d loaded in %.2fs, page decision median %v p90 %v (old lookup %v a page); host %.1f/%.1f MiB %.2f/%.2f s CPU, plugin %.1f/%.1f MiB %.2f/%.2f s CPU; load %.2f/%.2f",
		n, r.Rerun.Wall.Seconds(), r.RerunCH, r.FollowersOnly.Wall.Seconds(), r.FollowersCH, r.BatchGetCalls, r.New, r.FreshLen, r.Load.Seconds(),
		r.pageQuantile(0.5), r.pageQuantile(0.9), r.OldPage, benchMiB(r.Rerun.HostPeakKB), benchMiB(r.FollowersOnly.HostPeakKB), r.Rerun.HostCPU.Seconds(), r.FollowersOnly.HostCPU.Seconds(),
		benchMiB(r.Rerun.PluginPeakKB), benchMiB(r.FollowersOnly.PluginPeakKB), r.Rerun.PluginCPU.Seconds(), r.FollowersOnly.PluginCPU.Seconds(), r.Rerun.Load, r.FollowersOnly.Load)
	benchDropDatabase(b, e, e.sink.Database())
	return r
}

// benchSeedProfiles stores a fresh profile (fetched an hour ago) for every
// follower of the account but one in benchNewEvery, as a previous run
// would have, and returns how many have none.
func benchSeedProfiles(b *testing.B, e *env, n int) int {
	st, err := schema.Lookup(schema.Users)
	if err != nil {
		b.Fatal(err)
	}
	at := arrow.Timestamp(time.Now().Add(-time.Hour).Unix())
	bld := array.NewRecordBuilder(memory.NewGoAllocator(), st.SourceSchema())
	defer bld.Release()
	ctx := context.Background()
	if err := e.sink.Migrate(ctx); err != nil { // the tables a previous run made
		b.Fatal(err)
	}
	newIDs := 0
	for lo := 0; lo < n; lo += benchSeedRowBatch {
		for i := lo; i < min(lo+benchSeedRowBatch, n); i++ {
			if i%benchNewEvery == 0 {
				newIDs++
				continue
			}
			benchAppendProfile(bld, e.sim.OpenID(uint64(i)), at)
		}
		rec := bld.NewRecord()
		_, err := e.sink.Insert(ctx, st, e.sim.Options().AppID, 0, []arrow.Record{rec})
		rec.Release()
		if err != nil {
			b.Fatalf("seed profiles: %v", err)
		}
	}
	return newIDs
}

// benchAppendProfile appends one profile row of the users stream.
func benchAppendProfile(bld *array.RecordBuilder, openid string, at arrow.Timestamp) {
	bld.Field(0).(*array.StringBuilder).Append(openid)
	bld.Field(1).(*array.Uint8Builder).Append(1)
	bld.Field(2).(*array.StringBuilder).Append("zh_CN")
	bld.Field(3).(*array.TimestampBuilder).Append(at - 86400)
	bld.Field(4).(*array.StringBuilder).Append("")
	bld.Field(5).(*array.StringBuilder).Append("")
	bld.Field(6).(*array.Int64Builder).Append(0)
	lb := bld.Field(7).(*array.ListBuilder)
	lb.Append(true)
	lb.ValueBuilder().(*array.Uint32Builder).Append(2)
	bld.Field(8).(*array.StringBuilder).Append("ADD_SCENE_SEARCH")
	bld.Field(9).(*array.Int64Builder).Append(0)
	bld.Field(10).(*array.StringBuilder).Append("")
	bld.Field(11).(*array.TimestampBuilder).Append(at)
}

// benchDecision times the profile decision of a rerun in this process:
// loading the FreshSet once, then, page by page of the follower list, the
// openids that need a profile (FreshSet.Need, what the host's filter
// does with it); and
// the old per-page lookup, FreshProfiles, over benchOldPages pages.
func benchDecision(b *testing.B, e *env, r *incrResult) {
	ctx := context.Background()
	appid := e.sim.Options().AppID
	since := time.Now().Add(-benchUsersMaxAge)
	start := time.Now()
	fs, err := e.sink.LoadFreshProfiles(ctx, appid, since)
	r.Load = time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	r.FreshLen = fs.Len()
	page := make([]string, 0, benchPageSize)
	var old []int
	for k := range benchOldPages {
		old = append(old, k*((r.N-1)/benchPageSize)/max(benchOldPages-1, 1))
	}
	for lo := 0; lo < r.N; lo += benchPageSize {
		page = page[:0]
		for i := lo; i < min(lo+benchPageSize, r.N); i++ {
			page = append(page, e.sim.OpenID(uint64(i)))
		}
		t := time.Now()
		need := fs.Need(page)
		r.Pages = append(r.Pages, time.Since(t))
		r.NeedFromFilter += len(need)
		if slices.Contains(old, lo/benchPageSize) {
			t := time.Now()
			if _, err := e.sink.FreshProfiles(ctx, appid, page, since); err != nil {
				b.Fatal(err)
			}
			r.OldPage += time.Since(t) / benchOldPages
		}
	}
	slices.Sort(r.Pages)
	if r.NeedFromFilter != r.New || r.FreshLen != r.N-r.New {
		b.Fatalf("FreshSet of %d: %d followers need a profile; want %d of %d", r.FreshLen, r.NeedFromFilter, r.New, r.N)
	}
}

// benchIncrementalReport renders BenchmarkIncremental's section of
// docs/benchmarks.md.
func benchIncrementalReport(results []incrResult) string {
	var s strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&s, format, args...) }
	p("%s\n## Incremental rerun: followers and profiles, 0.1%% new\n\n", benchBegin("BenchmarkIncremental"))
	p("Written by `BenchmarkIncremental` (`cmd/wxsync/bench_incremental_test.go`, `make bench-large`) on %s,\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	p("on the machine above (wxsync %s). Every follower but one in %d has a profile fetched an hour\n", benchRevision(), benchNewEvery)
	p("ago. %d rounds per size, each on an account of its own: a followers-only sync of the account, then the daily\n", len(results[0].Rounds))
	p("rerun (`WXSYNC_STREAMS=followers,users`). Times are the best round of each measure, taken independently, RSS the worst.\n")
	p("The per-page decision is timed in the benchmark's process: `sink.LoadFreshProfiles` once, then for\n")
	p("each page of %s openids of the follower list, the openids whose profile is not fresh. %s\n\n", benchThousands(benchPageSize), benchDataFS())
	p("| measure |")
	for _, r := range results {
		p(" %s |", benchThousands(r.N))
	}
	p("\n|---|")
	for range results {
		p("---:|")
	}
	p("\n")
	row := func(name string, f func(incrResult) string) {
		p("| %s |", name)
		for _, r := range results {
			p(" %s |", f(r))
		}
		p("\n")
	}
	synced := func(f func(incrResult) string) func(incrResult) string {
		return func(r incrResult) string {
			if !r.Synced {
				return "not run"
			}
			return f(r)
		}
	}
	row("followers without a profile", func(r incrResult) string { return benchThousands(r.New) })
	row("rerun wall time (rounds)", synced(func(r incrResult) string {
		return fmt.Sprintf("%.2f s (%s)", r.Rerun.Wall.Seconds(), r.walls(func(x incrResult) time.Duration { return x.Rerun.Wall }))
	}))
	row("followers-only sync wall time (rounds)", synced(func(r incrResult) string {
		return fmt.Sprintf("%.2f s (%s)", r.FollowersOnly.Wall.Seconds(), r.walls(func(x incrResult) time.Duration { return x.FollowersOnly.Wall }))
	}))
	row("rerun / followers-only", synced(func(r incrResult) string {
		return fmt.Sprintf("%.2f", r.Rerun.Wall.Seconds()/r.FollowersOnly.Wall.Seconds())
	}))
	row("batchget calls (profiles asked)", synced(func(r incrResult) string {
		return fmt.Sprintf("%s (%s)", benchThousands(r.BatchGetCalls), benchThousands(r.BatchGetIDs))
	}))
	row("ClickHouse, rerun's queries", synced(func(r incrResult) string { return r.RerunCH.String() }))
	row("ClickHouse, followers-only sync", synced(func(r incrResult) string { return r.FollowersCH.String() }))
	row("FreshSet: profiles, load time", func(r incrResult) string {
		return fmt.Sprintf("%s, %.2f s", benchThousands(r.FreshLen), r.Load.Seconds())
	})
	row("per-page decision, median / p90 / max", func(r incrResult) string {
		return fmt.Sprintf("%v / %v / %v", r.pageQuantile(0.5).Round(time.Microsecond), r.pageQuantile(0.9).Round(time.Microsecond), r.Pages[len(r.Pages)-1].Round(time.Microsecond))
	})
	row("old per-page lookup (FreshProfiles), mean of 3 pages", func(r incrResult) string { return r.OldPage.Round(time.Millisecond).String() })
	row("host peak RSS, rerun / followers-only", synced(func(r incrResult) string {
		return fmt.Sprintf("%.1f / %.1f MiB", benchMiB(r.Rerun.HostPeakKB), benchMiB(r.FollowersOnly.HostPeakKB))
	}))
	row("plugin peak RSS, rerun / followers-only", synced(func(r incrResult) string {
		return fmt.Sprintf("%.1f / %.1f MiB", benchMiB(r.Rerun.PluginPeakKB), benchMiB(r.FollowersOnly.PluginPeakKB))
	}))
	row("host / plugin CPU time, rerun; followers-only", synced(func(r incrResult) string {
		return fmt.Sprintf("%.2f / %.2f s; %.2f / %.2f s", r.Rerun.HostCPU.Seconds(), r.Rerun.PluginCPU.Seconds(), r.FollowersOnly.HostCPU.Seconds(), r.FollowersOnly.PluginCPU.Seconds())
	}))
	row("1-minute load before rerun / followers-only", synced(func(r incrResult) string {
		return fmt.Sprintf("%.2f / %.2f", r.Rerun.Load, r.FollowersOnly.Load)
	}))
	benchIncrementalTargets(p, results)
	p("\nEach rerun fails the benchmark unless it asked batchget for exactly the followers without a profile,\n")
	p("`wechat_users` then holds N profiles and the current snapshot N followers. The per-page decision in\n")
	p("this table is the FreshSet's, which the rerun's profile filter loads once (on its first page) and\n")
	p("then asks for every page. The set holds 8 bytes per fresh profile, so the rerun's host RSS grows\n")
	p("with the account: that is the price of a per-page decision that does not.\n%s\n", benchEnd("BenchmarkIncremental"))
	return s.String()
}

// benchIncrementalTargets renders the targets, the largest size judged
// against the smallest.
func benchIncrementalTargets(p func(string, ...any), results []incrResult) {
	lo, hi := results[0], results[len(results)-1]
	p("\n| target | measured | holds |\n|---|---|---|\n")
	if lo.N < hi.N {
		ratio := float64(hi.pageQuantile(0.5)) / float64(lo.pageQuantile(0.5))
		p("| per-page decision (median) at %s within %.1f× of %s | %v vs %v (%.2f×) | %s |\n", benchThousands(hi.N), benchDecisionMax,
			benchThousands(lo.N), hi.pageQuantile(0.5).Round(time.Microsecond), lo.pageQuantile(0.5).Round(time.Microsecond), ratio, benchYesNo(ratio <= benchDecisionMax))
	}
	if !hi.Synced {
		p("| rerun wall, RSS of the rerun at %s | not run (WXSYNC_BENCH_INCR_SYNC=0) | — |\n", benchThousands(hi.N))
		return
	}
	ratio := hi.Rerun.Wall.Seconds() / hi.FollowersOnly.Wall.Seconds()
	p("| rerun wall within %.1f× of a followers-only sync at %s | %.2f s vs %.2f s (%.2f×) | %s |\n", benchRerunMax, benchThousands(hi.N),
		hi.Rerun.Wall.Seconds(), hi.FollowersOnly.Wall.Seconds(), ratio, benchYesNo(ratio <= benchRerunMax))
	for _, m := range []struct {
		name string
		kb   func(incrResult) int64
	}{{"host", func(r incrResult) int64 { return r.Rerun.HostPeakKB }}, {"plugin", func(r incrResult) int64 { return r.Rerun.PluginPeakKB }}} {
		mib := benchMiB(m.kb(hi))
		p("| %s peak RSS of the rerun < %.0f MiB at %s | %.1f MiB | %s |\n", m.name, benchRSSLimitMiB, benchThousands(hi.N), mib, benchYesNo(mib < benchRSSLimitMiB))
		if lo.N < hi.N && lo.Synced {
			growth := float64(m.kb(hi))/float64(m.kb(lo)) - 1
			p("| %s peak RSS of the rerun flat: at %s at most %.0f%% above %s | %.1f → %.1f MiB (%+.0f%%) | %s |\n", m.name, benchThousands(hi.N),
				benchFlatGrowth*100, benchThousands(lo.N), benchMiB(m.kb(lo)), mib, growth*100, benchYesNo(growth <= benchFlatGrowth))
		}
	}
}
