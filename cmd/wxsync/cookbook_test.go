package main

// The SQL cookbook (docs/sql.md) is tested here: every ```sql block runs,
// as written but for the account, against a database filled by two real
// syncs of a simulated account, and its answer must equal the truth
// computed from wxsim.

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/wxsync/wxsync/connector/wxsim"
)

// cookbookPath is docs/sql.md, seen from this package's directory.
const cookbookPath = "../../docs/sql.md"

// cookbookAppID is the account placeholder every query of the cookbook
// filters on; the test puts the simulated account's AppID in its place.
const cookbookAppID = "'wx_your_appid'"

// cookbookQueries is every query of the cookbook, in the order of the
// document. A block added, removed or renamed there fails the test until
// it is listed here and has a checker in cookbookCheckers.
var cookbookQueries = []string{
	"followers_per_snapshot",
	"follower_changes",
	"follower_changes_summary",
	"profile_coverage",
	"language_breakdown",
	"subscribe_scene_breakdown",
	"qr_campaigns",
	"daily_new_followers",
	"tag_membership",
	"unionid_coverage",
	"blacklist_size",
	"blacklisted_followers",
}

// liveCookbookQueries are the cookbook's queries of the follow events
// (wxsync listen): TestListenWalkWhilePushing runs them, this test leaves
// them out.
var liveCookbookQueries = []string{"live_follows_per_hour", "live_follower_count", "live_qr_conversions"}

// cookbookQuery is one ```sql block of the cookbook and the id of the
// <!-- query: id --> comment before it.
type cookbookQuery struct {
	id   string
	line int // of the ```sql line
	sql  string
}

var queryMarkerRE = regexp.MustCompile(`^<!--\s*query:\s*([a-z0-9_]+)\s*-->$`)

// parseCookbook returns the ```sql blocks of the markdown file at path.
// Every block must follow its own <!-- query: id --> comment, and every
// such comment must be followed by a block.
func parseCookbook(t *testing.T, path string) []cookbookQuery {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out     []cookbookQuery
		pending string // id of a marker not yet followed by its block
		pendAt  int
		cur     *cookbookQuery
		fence   bool // inside a fenced block that is not sql
		seen    = map[string]bool{}
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case cur != nil:
			if trimmed == "```" {
				out = append(out, *cur)
				cur = nil
				continue
			}
			cur.sql += line + "\n"
		case fence:
			if trimmed == "```" {
				fence = false
			}
		case trimmed == "```sql":
			if pending == "" {
				t.Fatalf("%s:%d: a ```sql block without a <!-- query: id --> comment before it", path, n)
			}
			cur = &cookbookQuery{id: pending, line: n}
			pending = ""
		case strings.HasPrefix(trimmed, "```"):
			fence = true
		case strings.HasPrefix(trimmed, "<!--") && strings.Contains(trimmed, "query"):
			m := queryMarkerRE.FindStringSubmatch(trimmed)
			if m == nil {
				t.Fatalf("%s:%d: malformed query marker %q (want <!-- query: id -->)", path, n, trimmed)
			}
			if pending != "" {
				t.Fatalf("%s:%d: query marker %q follows marker %q (line %d) that has no ```sql block", path, n, m[1], pending, pendAt)
			}
			if seen[m[1]] {
				t.Fatalf("%s:%d: query id %q used twice", path, n, m[1])
			}
			seen[m[1]] = true
			pending, pendAt = m[1], n
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil || fence {
		t.Fatalf("%s: a fenced block is not closed", path)
	}
	if pending != "" {
		t.Fatalf("%s:%d: query marker %q has no ```sql block after it", path, pendAt, pending)
	}
	return out
}

// cookbookResult is what a query answered: its column names, and every
// value as a string (Date as 2006-01-02, DateTime as 2006-01-02 15:04:05
// in UTC, numbers as Go prints them).
type cookbookResult struct {
	cols []string
	rows [][]string
}

// runCookbookQuery runs q and returns its answer.
func runCookbookQuery(t *testing.T, conn driver.Conn, q string) cookbookResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := conn.Query(ctx, q)
	if err != nil {
		t.Fatalf("query failed: %v\n%s", err, q)
	}
	defer rows.Close()
	res := cookbookResult{cols: rows.Columns()}
	types := rows.ColumnTypes()
	for rows.Next() {
		vals := make([]any, len(types))
		for i, ct := range types {
			vals[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(vals...); err != nil {
			t.Fatalf("scan: %v\n%s", err, q)
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			rv := reflect.ValueOf(v).Elem()
			if rv.Kind() == reflect.Pointer { // Nullable: current releases make a scalar subquery Nullable
				if rv.IsNil() {
					row[i] = "NULL"
					continue
				}
				rv = rv.Elem()
			}
			v := rv.Interface()
			if tm, ok := v.(time.Time); ok {
				if types[i].DatabaseTypeName() == "Date" {
					row[i] = tm.Format(time.DateOnly)
				} else {
					row[i] = tm.UTC().Format(time.DateTime)
				}
				continue
			}
			row[i] = fmt.Sprint(v)
		}
		res.rows = append(res.rows, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("query failed: %v\n%s", err, q)
	}
	return res
}

// cbPct is an expected percentage: 100*num/den rounded to 2 decimals.
type cbPct struct{ num, den int }

// matches reports whether s is 100*num/den rounded to two decimals.
func (p cbPct) matches(s string) bool {
	got, err := strconv.ParseFloat(s, 64)
	if err != nil || p.den == 0 {
		return false
	}
	want := 100 * float64(p.num) / float64(p.den)
	return math.Abs(got*100-math.Round(want*100)) < 1e-6
}

func (p cbPct) String() string {
	return fmt.Sprintf("round(100*%d/%d, 2) = %.2f", p.num, p.den, 100*float64(p.num)/float64(p.den))
}

// wantCookbookResult fails the test unless got has exactly the columns cols and
// the rows want, in order. A cell of want is a string (compared exactly),
// an integer (compared in decimal) or a cbPct.
func wantCookbookResult(t *testing.T, got cookbookResult, cols []string, want [][]any) {
	t.Helper()
	if !slices.Equal(got.cols, cols) {
		t.Fatalf("columns %q, want %q", got.cols, cols)
	}
	if len(got.rows) != len(want) {
		t.Errorf("%d rows, want %d", len(got.rows), len(want))
	}
	bad := 0
	for i := range min(len(got.rows), len(want)) {
		for j, w := range want[i] {
			g := got.rows[i][j]
			var ok bool
			switch w := w.(type) {
			case cbPct:
				ok = w.matches(g)
			case string:
				ok = g == w
			case int:
				ok = g == strconv.Itoa(w)
			default:
				t.Fatalf("expected cell of type %T", w)
			}
			if !ok {
				t.Errorf("row %d (%v) column %s: got %q, want %v", i+1, got.rows[i], cols[j], g, w)
				if bad++; bad == 10 {
					t.Fatal("too many differences")
				}
			}
		}
	}
}

// cookbookTruth is what the cookbook's queries must answer, from wxsim.
type cookbookTruth struct {
	// snapshotTotals are the follower counts at the first and second sync.
	snapshotTotals [2]int
	// startedBy and finishedBy bound the snapshots' timestamps.
	startedBy, finishedBy time.Time
	// before and after are the followers at the first and second sync.
	before, after []string
	// profiles are the current followers' profiles.
	profiles map[string]wxsim.Profile
	tags     []wxsim.Tag
	// blacklist is the blacklist at the second sync.
	blacklist []string
	// stored holds the openids in wechat_followers of each snapshot id,
	// sorted.
	stored map[uint64][]string
}

// current returns the current followers' profiles in openid order.
func (tr *cookbookTruth) current() []wxsim.Profile {
	out := make([]wxsim.Profile, 0, len(tr.after))
	for _, id := range cbSorted(tr.after) {
		out = append(out, tr.profiles[id])
	}
	return out
}

// breakdown counts the current followers by key, ordered as the
// cookbook's breakdowns are: most followers first, then by key. Each row is
// key, count, share of all current followers.
func (tr *cookbookTruth) breakdown(key func(wxsim.Profile) string) [][]any {
	counts := map[string]int{}
	for _, p := range tr.current() {
		counts[key(p)]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(a, b)
	})
	var out [][]any
	for _, k := range keys {
		out = append(out, []any{k, counts[k], cbPct{counts[k], len(tr.after)}})
	}
	return out
}

// cbMinus returns the elements of a not in b, sorted.
func cbMinus(a, b []string) []string {
	in := make(map[string]bool, len(b))
	for _, s := range b {
		in[s] = true
	}
	var out []string
	for _, s := range a {
		if !in[s] {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// cbIntersect returns the elements of a also in b, sorted.
func cbIntersect(a, b []string) []string { return cbMinus(a, cbMinus(a, b)) }

// cbSorted returns a sorted copy of ids.
func cbSorted(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

func cbDateTime(unix int64) string { return time.Unix(unix, 0).UTC().Format(time.DateTime) }

// cookbookCheckers checks each query's answer against the truth.
var cookbookCheckers = map[string]func(t *testing.T, e *env, got cookbookResult, tr *cookbookTruth){
	"followers_per_snapshot": func(t *testing.T, e *env, got cookbookResult, tr *cookbookTruth) {
		wantCookbookResult(t, got, []string{"snapshot_id", "started_at", "finished_at", "reported_total", "rows", "rows_minus_reported"}, [][]any{
			{got.cell(0, 0), got.cell(0, 1), got.cell(0, 2), tr.snapshotTotals[0], len(tr.before), len(tr.before) - tr.snapshotTotals[0]},
			{got.cell(1, 0), got.cell(1, 1), got.cell(1, 2), tr.snapshotTotals[1], len(tr.after), len(tr.after) - tr.snapshotTotals[1]},
		})
		// The ids and times are not known in advance: the ids must be
		// those of the two follower lists, the times in order and within
		// the test.
		for i, ids := range [][]string{tr.before, tr.after} {
			id, err := strconv.ParseUint(got.cell(i, 0), 10, 64)
			if err != nil {
				t.Fatalf("snapshot_id %q: %v", got.cell(i, 0), err)
			}
			if stored := tr.stored[id]; !slices.Equal(stored, cbSorted(ids)) {
				t.Errorf("snapshot %d holds %d openids, not the %d followers of sync %d (%s)", id, len(stored), len(ids), i+1, firstDiff(stored, cbSorted(ids)))
			}
			lo := tr.startedBy.Add(-time.Second).UTC().Format(time.DateTime)
			hi := tr.finishedBy.Add(time.Second).UTC().Format(time.DateTime)
			started, finished := got.cell(i, 1), got.cell(i, 2)
			if started < lo || started > finished || finished > hi {
				t.Errorf("snapshot %d: started_at %s, finished_at %s, want %s <= started <= finished <= %s", id, started, finished, lo, hi)
			}
		}
	},
	"follower_changes": func(t *testing.T, e *env, got cookbookResult, tr *cookbookTruth) {
		var want [][]any
		for _, id := range cbMinus(tr.after, tr.before) {
			want = append(want, []any{id, "followed"})
		}
		for _, id := range cbMinus(tr.before, tr.after) {
			want = append(want, []any{id, "unfollowed"})
		}
		wantCookbookResult(t, got, []string{"openid", "change"}, want)
	},
	"follower_changes_summary": func(t *testing.T, e *env, got cookbookResult, tr *cookbookTruth) {
		added, removed := len(cbMinus(tr.after, tr.before)), len(cbMinus(tr.before, tr.after))
		wantCookbookResult(t, got, []string{"new_followers", "unfollows", "net_change"}, [][]any{{added, removed, added - removed}})
	},
	"profile_coverage": func(t *testing.T, e *env, got cookbookResult, tr *cookbookTruth) {
		n := len(tr.after)
		wantCookbookResult(t, got, []string{"current_followers", "with_profile", "without_profile"}, [][]any{{n, n, 0}})
	},
	"language_breakdown": func(t *testing.T, e *env, got cookbookResult, tr *cookbookTruth) {
		wantCookbookResult(t, got, []string{"language", "followers", "pct"}, tr.breakdown(func(p wxsim.Profile) string { return p.Language }))
	},
	"subscribe_scene_breakdown": func(t *testing.T, e *env, got cookbookResult, tr *cookbookTruth) {
		wantCookbookResult(t, got, []string{"subscribe_scene", "followers", "pct"}, tr.breakdown(func(p wxsim.Profile) string { return p.SubscribeScene }))
	},
	"qr_campaigns": func(t *testing.T, e *env, got cookbookResult, tr *cookbookTruth) {
		type campaign struct {
			n           int
			first, last int64
		}
		camps := map[string]*campaign{}
		for _, p := range tr.current() {
			if p.QRSceneStr == "" {
				continue
			}
			c := camps[p.QRSceneStr]
			if c == nil {
				c = &campaign{first: p.SubscribeTime, last: p.SubscribeTime}
				camps[p.QRSceneStr] = c
			}
			c.n++
			c.first, c.last = min(c.first, p.SubscribeTime), max(c.last, p.SubscribeTime)
		}
		var want [][]any
		for name, c := range camps {
			want = append(want, []any{name, c.n, cbDateTime(c.first), cbDateTime(c.last)})
		}
		slices.SortFunc(want, func(a, b []any) int {
			if a[1] != b[1] {
				return b[1].(int) - a[1].(int)
			}
			return strings.Compare(a[0].(string), b[0].(string))
		})
		if len(want) < 2 {
			t.Fatalf("the simulated account has %d QR campaigns: too few to test", len(want))
		}
		wantCookbookResult(t, got, []string{"qr_scene_str", "followers", "first_subscribed", "last_subscribed"}, want)
	},
	"daily_new_followers": func(t *testing.T, e *env, got cookbookResult, tr *cookbookTruth) {
		days := map[string]int{}
		for _, p := range tr.current() {
			days[time.Unix(p.SubscribeTime, 0).UTC().Format(time.DateOnly)]++
		}
		var want [][]any
		for d, n := range days {
			want = append(want, []any{d, n})
		}
		slices.SortFunc(want, func(a, b []any) int { return strings.Compare(a[0].(string), b[0].(string)) })
		wantCookbookResult(t, got, []string{"day", "followers"}, want)
	},
	"tag_membership": func(t *testing.T, e *env, got cookbookResult, tr *cookbookTruth) {
		members := map[int]int{}
		for _, p := range tr.current() {
			for _, id := range p.TagIDList {
				members[id]++
			}
		}
		tags := slices.Clone(tr.tags)
		slices.SortFunc(tags, func(a, b wxsim.Tag) int { return a.ID - b.ID })
		var want [][]any
		for _, tg := range tags {
			if members[tg.ID] != tg.Count {
				t.Fatalf("wxsim: tag %d counts %d, its current followers' profiles %d", tg.ID, tg.Count, members[tg.ID])
			}
			want = append(want, []any{tg.ID, tg.Name, members[tg.ID], tg.Count, members[tg.ID] - tg.Count})
		}
		wantCookbookResult(t, got, []string{"tag_id", "name", "members", "reported_count", "difference"}, want)
	},
	"unionid_coverage": func(t *testing.T, e *env, got cookbookResult, tr *cookbookTruth) {
		with := 0
		for _, p := range tr.current() {
			if p.UnionID != "" {
				with++
			}
		}
		n := len(tr.after)
		wantCookbookResult(t, got, []string{"followers", "with_unionid", "pct"}, [][]any{{n, with, cbPct{with, n}}})
	},
	"blacklist_size": func(t *testing.T, e *env, got cookbookResult, tr *cookbookTruth) {
		wantCookbookResult(t, got, []string{"blacklisted", "still_following"}, [][]any{{len(tr.blacklist), len(cbIntersect(tr.blacklist, tr.after))}})
	},
	"blacklisted_followers": func(t *testing.T, e *env, got cookbookResult, tr *cookbookTruth) {
		var want [][]any
		for _, id := range cbIntersect(tr.blacklist, tr.after) {
			p := tr.profiles[id]
			want = append(want, []any{id, cbDateTime(p.SubscribeTime), p.Remark})
		}
		wantCookbookResult(t, got, []string{"openid", "subscribe_time", "remark"}, want)
	},
}

// cell returns the value at row i, column j, or "" when there is none.
func (r cookbookResult) cell(i, j int) string {
	if i < len(r.rows) && j < len(r.rows[i]) {
		return r.rows[i][j]
	}
	return ""
}

// TestCookbookQueriesMatchTruth syncs a simulated account twice, with
// followers coming and going in between, and runs every query of
// docs/sql.md against the result.
func TestCookbookQueriesMatchTruth(t *testing.T) {
	queries := slices.DeleteFunc(parseCookbook(t, cookbookPath), func(q cookbookQuery) bool { return slices.Contains(liveCookbookQueries, q.id) })
	ids := make([]string, len(queries))
	for i, q := range queries {
		ids[i] = q.id
	}
	if !slices.Equal(ids, cookbookQueries) {
		t.Fatalf("%s has the queries\n  %s\nthe test knows\n  %s\nupdate cookbookQueries and cookbookCheckers with the document",
			cookbookPath, strings.Join(ids, " "), strings.Join(cookbookQueries, " "))
	}
	for _, id := range cookbookQueries {
		if cookbookCheckers[id] == nil {
			t.Fatalf("no checker for query %s", id)
		}
	}
	if len(cookbookCheckers) != len(cookbookQueries) {
		t.Fatalf("%d checkers for %d queries", len(cookbookCheckers), len(cookbookQueries))
	}
	for _, q := range queries {
		if !strings.Contains(q.sql, cookbookAppID) {
			t.Fatalf("%s:%d: query %s does not filter on the account %s", cookbookPath, q.line, q.id, cookbookAppID)
		}
	}

	single := cookbookRun(t, newEnv(t, cookbookAccount()), queries)

	// The same account synced into a cluster answers every query alike,
	// but for the snapshot ids and times, which no two runs share.
	t.Run("cluster", func(t *testing.T) {
		clustered := cookbookRun(t, newClusterEnv(t, cookbookAccount()), queries)
		if len(clustered) != len(single) {
			t.Fatalf("%d answers on the cluster, %d on one server", len(clustered), len(single))
		}
		for id, a := range single {
			b := clustered[id]
			if id == "followers_per_snapshot" {
				a, b = a.without(0, 1, 2), b.without(0, 1, 2)
			}
			if len(a.rows) == 0 || !reflect.DeepEqual(a, b) {
				t.Errorf("%s: %d rows on the cluster, %d on one server, or they differ (first rows %.300v / %.300v)", id, len(b.rows), len(a.rows), b.rows, a.rows)
			}
		}
	})
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// cookbookAccount is the simulated account of the cookbook test: 23,000
// followers, 300 of them blacklisted.
func cookbookAccount() wxsim.Options {
	o := wxsim.DefaultOptions()
	o.Followers, o.Blacklisted = 23000, 300
	return o
}

// without returns r without the columns cols (by index).
func (r cookbookResult) without(cols ...int) cookbookResult {
	drop := func(row []string) []string {
		var out []string
		for j, v := range row {
			if !slices.Contains(cols, j) {
				out = append(out, v)
			}
		}
		return out
	}
	out := cookbookResult{cols: drop(r.cols)}
	for _, row := range r.rows {
		out.rows = append(out.rows, drop(row))
	}
	return out
}

// cookbookRun syncs e's account twice, with followers coming and going in
// between, checks the stored account is exact, runs every query against
// the result, checks each answer against the truth, and returns the
// answers by query id.
func cookbookRun(t *testing.T, e *env, queries []cookbookQuery) map[string]cookbookResult {
	t.Helper()
	o := e.sim.Options()
	const streams = "WXSYNC_STREAMS=followers,users,tags,blacklist"
	tr := &cookbookTruth{startedBy: time.Now()}
	tr.snapshotTotals[0] = e.sim.Total()
	tr.before = e.sim.FollowerOpenIDs()
	e.sync(exitOK, streams)
	added, removed := e.sim.AddFollowers(500), e.sim.RemoveFollowers(200)
	tr.snapshotTotals[1] = e.sim.Total()
	tr.after = e.sim.FollowerOpenIDs()
	// A full refresh fetches every profile again: wechat_users then holds
	// two versions of most profiles, which FINAL or argMax must fold.
	e.sim.ResetCalls()
	e.sync(exitOK, streams, "WXSYNC_FULL_REFRESH=true")
	tr.finishedBy = time.Now()
	e.wantCurrent()
	e.wantBlacklist(2)
	e.wantTags()
	stored := e.storedProfiles()
	e.wantProfilesOf(stored, e.sim.FollowerOpenIDs())

	// The changes are AddFollowers and RemoveFollowers; a few of the
	// removed may be among the just added.
	if got, want := cbMinus(tr.after, tr.before), cbMinus(added, removed); !slices.Equal(got, want) {
		t.Fatalf("wxsim: %d new followers, want the %d added and not removed", len(got), len(want))
	}
	if got, want := cbMinus(tr.before, tr.after), cbMinus(removed, added); !slices.Equal(got, want) {
		t.Fatalf("wxsim: %d followers gone, want the %d removed that were not just added", len(got), len(want))
	}
	tr.profiles = make(map[string]wxsim.Profile, len(tr.after))
	for _, id := range tr.after {
		p, ok := e.sim.Profile(id)
		if !ok || p.Subscribe != 1 {
			t.Fatalf("wxsim: no profile for follower %s", id)
		}
		tr.profiles[id] = p
	}
	tr.tags = e.sim.Tags()
	tr.blacklist = e.sim.BlacklistOpenIDs()
	if n := len(cbIntersect(tr.blacklist, tr.after)); n == 0 || n == len(tr.blacklist) {
		t.Fatalf("wxsim: %d of %d blacklisted still follow: choose a seed where some, not all, do", n, len(tr.blacklist))
	}

	if got, want := e.sim.Calls()[wxsim.PathBatchGet], (len(tr.after)+99)/100; got != want {
		t.Fatalf("the full refresh made %d batchget calls, want %d (every follower's profile)", got, want)
	}
	tr.stored = map[uint64][]string{}
	for _, sid := range e.query("SELECT DISTINCT snapshot_id AS x FROM {db}.wechat_followers") {
		id, err := strconv.ParseUint(sid, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		tr.stored[id] = e.query("SELECT DISTINCT openid AS x FROM {db}.wechat_followers WHERE snapshot_id = ? ORDER BY x", id)
	}

	// The queries name their tables without a database, as an analyst
	// runs them: this connection's default database is the test's.
	opts, err := clickhouse.ParseDSN(e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	appid := o.AppID
	if strings.ContainsAny(appid, `'\`) {
		t.Fatalf("appid %q needs quoting", appid)
	}
	// Beside the queries' answers, the stored account itself: every
	// profile (those of followers who left included), the current
	// followers and blacklist.
	results := map[string]cookbookResult{
		"stored profiles":   {cols: []string{"openid", "profile"}},
		"current followers": {cols: []string{"openid"}},
		"current blacklist": {cols: []string{"openid"}},
	}
	for _, id := range cbSorted(mapKeys(stored)) {
		r := results["stored profiles"]
		r.rows = append(r.rows, []string{id, fmt.Sprintf("%+v", stored[id])})
		results["stored profiles"] = r
	}
	for name, q := range map[string]string{
		"current followers": "SELECT openid AS x FROM {db}.wechat_followers_current WHERE appid = ? ORDER BY x",
		"current blacklist": "SELECT openid AS x FROM {db}.wechat_blacklist_current WHERE appid = ? ORDER BY x",
	} {
		r := results[name]
		for _, id := range e.query(q, appid) {
			r.rows = append(r.rows, []string{id})
		}
		results[name] = r
	}
	for _, q := range queries {
		t.Run(q.id, func(t *testing.T) {
			sql := strings.ReplaceAll(q.sql, cookbookAppID, "'"+appid+"'")
			got := runCookbookQuery(t, conn, sql)
			results[q.id] = got
			cookbookCheckers[q.id](t, e, got, tr)
		})
	}
	return results
}
