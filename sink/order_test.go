package sink_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

// logTable creates st's table in s's (unmigrated) database as a Log table,
// which keeps rows in the order they arrived: what the sink sent is then
// what a SELECT reads back.
func logTable(t *testing.T, s *sink.Sink, st schema.Stream) {
	t.Helper()
	var cols []string
	for _, f := range st.Schema.Fields() {
		ct, err := schema.ColumnType(f.Type)
		if err != nil {
			t.Fatal(err)
		}
		cols = append(cols, "`"+f.Name+"` "+ct)
	}
	q := fmt.Sprintf("CREATE TABLE %s.%s (%s) ENGINE = Log", s.Database(), st.Table, strings.Join(cols, ", "))
	if err := s.Conn().Exec(sinktest.Context(t), q); err != nil {
		t.Fatal(err)
	}
}

// Followers arrive at ClickHouse sorted by openid, over several blocks of
// one insert and several record batches, every row once, each openid with
// its own fetched_at.
func TestInsertSendsRowsInKeyOrder(t *testing.T) {
	ids := map[string]func(rng *rand.Rand, k int) string{
		// A shared prefix, then keys whose first 8 bytes after it often
		// tie, of several lengths (a key that is a prefix of another).
		"lengths differ": func(rng *rand.Rand, k int) string {
			return fmt.Sprintf("oPfx12%08d", rng.IntN(20000))[:6+rng.IntN(9)] + fmt.Sprintf("%d", k)
		},
		// 28 bytes each, as WeChat's are (the sink then moves their bytes,
		// not only their headers), some repeated.
		"one length": func(rng *rand.Rand, k int) string { return fmt.Sprintf("oPfx12%022d", rng.IntN(20000)) },
	}
	for name, id := range ids {
		t.Run(name, func(t *testing.T) { checkKeyOrder(t, id) })
	}
}

func checkKeyOrder(t *testing.T, newID func(rng *rand.Rand, k int) string) {
	s := sinktest.OpenEmpty(t, sink.Config{})
	st := sinktest.Stream(t, schema.Followers)
	logTable(t, s, st)
	rng := rand.New(rand.NewPCG(1, 2))
	var want []string
	var recs []arrow.Record
	for r := range 3 {
		rows := make([][]any, 15000)
		for i := range rows {
			k := r*len(rows) + i
			id := newID(rng, k)
			ts := t0.Add(time.Duration(k) * time.Second)
			rows[i] = []any{id, ts}
			want = append(want, fmt.Sprintf("%q %s", id, ts.Format(time.RFC3339)))
		}
		rec := sinktest.Record(t, st, rows...)
		defer rec.Release()
		recs = append(recs, rec)
	}
	// Equal openids (there are some) keep the order they were sent in.
	slices.SortStableFunc(want, func(a, b string) int { return strings.Compare(strings.Fields(a)[0], strings.Fields(b)[0]) })
	insert(t, s, st, "wxapp1", 9, recs...)
	got := sinktest.Rows(t, s, "SELECT openid, fetched_at FROM "+s.Database()+".wechat_followers")
	if len(got) != len(want) {
		t.Fatalf("%d rows arrived, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("row %d arrived as %s, want %s (rows around it: %q)", i, got[i], want[i], got[max(i-2, 0):min(i+3, len(got))])
		}
	}
	if n := sinktest.Count(t, s, "SELECT count() FROM "+s.Database()+".wechat_followers WHERE appid = 'wxapp1' AND snapshot_id = 9"); n != uint64(len(want)) {
		t.Fatalf("%d rows carry the appid and snapshot id, want %d", n, len(want))
	}
}

// Profiles arrive sorted by openid with every column of a row kept
// together; two rows of one openid keep the order they came in.
func TestInsertUsersInKeyOrderStable(t *testing.T) {
	s := sinktest.OpenEmpty(t, sink.Config{})
	st := sinktest.Stream(t, schema.Users)
	logTable(t, s, st)
	row := func(openid, remark string, tags []uint32) []any {
		return []any{openid, uint8(1), "zh_CN", t0, "u-" + openid, remark, int64(len(remark)), tags, "ADD_SCENE_SEARCH", int64(7), "qr-" + openid, t1}
	}
	r1 := sinktest.Record(t, st, row("oC", "first", []uint32{3}), row("oA", "a", []uint32{}), row("oB", "second", []uint32{1, 2}))
	r2 := sinktest.Record(t, st, row("oB", "third", []uint32{9}), row("oC", "fourth", []uint32{4, 5, 6}))
	defer r1.Release()
	defer r2.Release()
	insert(t, s, st, "wxapp1", 0, r1, r2)
	got := sinktest.Rows(t, s, "SELECT openid, unionid, remark, groupid, tagid_list, qr_scene_str FROM "+s.Database()+".wechat_users")
	equalLines(t, "users in the order sent", got, []string{
		`"oA" "u-oA" "a" 1 [] "qr-oA"`,
		`"oB" "u-oB" "second" 6 [1 2] "qr-oB"`,
		`"oB" "u-oB" "third" 5 [9] "qr-oB"`,
		`"oC" "u-oC" "first" 5 [3] "qr-oC"`,
		`"oC" "u-oC" "fourth" 6 [4 5 6] "qr-oC"`,
	})
}

// Of two fetches of one profile with the same fetched_at in one insert,
// the one sent last is the one wechat_users keeps, as before the sink
// sorted (ClickHouse's own sort is stable too).
func TestInsertSortedKeepsLastOfEqualVersions(t *testing.T) {
	s := sinktest.Open(t, sink.Config{})
	st := sinktest.Stream(t, schema.Users)
	row := func(openid, remark string) []any {
		return []any{openid, uint8(1), "zh_CN", t0, "", remark, int64(0), []uint32{}, "", int64(0), "", t1}
	}
	r := sinktest.Record(t, st, row("oZ", "z"), row("oB", "older"), row("oA", "a"), row("oB", "newer"))
	defer r.Release()
	insert(t, s, st, "wxapp1", 0, r)
	db := s.Database()
	if err := s.Conn().Exec(sinktest.Context(t), "OPTIMIZE TABLE "+db+".wechat_users FINAL"); err != nil {
		t.Fatal(err)
	}
	equalLines(t, "wechat_users after merging", sinktest.Rows(t, s, "SELECT openid, remark FROM "+db+".wechat_users ORDER BY openid"),
		[]string{`"oA" "a"`, `"oB" "newer"`, `"oZ" "z"`})
}

// Tags are keyed by a number: sorted by it, every column following.
func TestSortByKeyNumericKey(t *testing.T) {
	st := sinktest.Stream(t, schema.Tags)
	cols := []any{
		[]string{"app", "app", "app", "app"},
		[]uint32{100, 2, 4294967295, 7},
		[]string{"hundred", "two", "max", "seven"},
		[]uint64{100, 2, 1, 7},
		[]time.Time{t0, t1, t0.Add(time.Hour), t1.Add(time.Hour)},
	}
	if err := sink.SortByKey(st, cols, 4); err != nil {
		t.Fatal(err)
	}
	if got := cols[1].([]uint32); !slices.Equal(got, []uint32{2, 7, 100, 4294967295}) {
		t.Fatalf("ids %v", got)
	}
	if got := cols[2].([]string); !slices.Equal(got, []string{"two", "seven", "hundred", "max"}) {
		t.Fatalf("names %q", got)
	}
	if got := cols[3].([]uint64); !slices.Equal(got, []uint64{2, 7, 100, 1}) {
		t.Fatalf("counts %v", got)
	}
	if got := cols[4].([]time.Time); !got[0].Equal(t1) || !got[1].Equal(t1.Add(time.Hour)) || !got[2].Equal(t0) || !got[3].Equal(t0.Add(time.Hour)) {
		t.Fatalf("fetched_at %v", got)
	}
}
