package sink_test

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

func equalLines(t testing.TB, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s:\ngot\n  %s\nwant\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func insert(t testing.TB, s *sink.Sink, st schema.Stream, appid string, snap uint64, recs ...arrow.Record) {
	t.Helper()
	want := 0
	for _, r := range recs {
		want += int(r.NumRows())
	}
	n, err := s.Insert(sinktest.Context(t), st, appid, snap, recs)
	if err != nil {
		t.Fatalf("Insert %s: %v", st.Name, err)
	}
	if n != want {
		t.Fatalf("Insert %s = %d rows, want %d", st.Name, n, want)
	}
}

var (
	t0 = time.Date(2024, 3, 1, 12, 30, 45, 0, time.UTC)
	t1 = time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC)
)

func TestInsertFollowersExactRows(t *testing.T) {
	s := sinktest.Open(t, sink.Config{})
	st := sinktest.Stream(t, schema.Followers)
	r1 := sinktest.Record(t, st, []any{"oA1", t0}, []any{"oA2", t0})
	r2 := sinktest.Record(t, st, []any{"oX", t1}, []any{"oA3", t1}, []any{"oA4 ünïcode '\\", t1}, []any{"oY", t1})
	defer r1.Release()
	defer r2.Release()
	sliced := r2.NewSlice(1, 3) // offsets into the arrays
	defer sliced.Release()
	insert(t, s, st, "wxapp1", 42, r1, sliced)
	got := sinktest.Rows(t, s, "SELECT * FROM "+s.Database()+".wechat_followers ORDER BY openid")
	equalLines(t, "followers", got, []string{
		`"wxapp1" 42 "oA1" 2024-03-01T12:30:45Z`,
		`"wxapp1" 42 "oA2" 2024-03-01T12:30:45Z`,
		`"wxapp1" 42 "oA3" 2025-12-31T23:59:59Z`,
		`"wxapp1" 42 "oA4 ünïcode '\\" 2025-12-31T23:59:59Z`,
	})
}

func TestInsertBlacklistExactRows(t *testing.T) {
	s := sinktest.Open(t, sink.Config{})
	st := sinktest.Stream(t, schema.Blacklist)
	r := sinktest.Record(t, st, []any{"b1", t0}, []any{"b2", t1})
	defer r.Release()
	insert(t, s, st, "wxapp1", 7, r)
	got := sinktest.Rows(t, s, "SELECT * FROM "+s.Database()+".wechat_blacklist ORDER BY openid")
	equalLines(t, "blacklist", got, []string{
		`"wxapp1" 7 "b1" 2024-03-01T12:30:45Z`,
		`"wxapp1" 7 "b2" 2025-12-31T23:59:59Z`,
	})
}

func usersRecords(t testing.TB, st schema.Stream) []arrow.Record {
	r1 := sinktest.Record(t, st,
		[]any{"o1", uint8(1), "zh_CN", t0, "u1", "VIP", int64(0), []uint32{2, 100, 4294967295}, "ADD_SCENE_QR_CODE", int64(98765), "campaign", t1},
		[]any{"o2", uint8(0), "", time.Unix(0, 0), "", "", int64(-1), []uint32{}, "", int64(0), "", t1},
	)
	r2 := sinktest.Record(t, st,
		[]any{"skipped", uint8(1), "en", t0, "", "", int64(1), []uint32{9}, "", int64(0), "", t0},
		[]any{"o3", uint8(1), "en", t1, "u3", "备注", int64(9223372036854775807), []uint32{1}, "ADD_SCENE_SEARCH", int64(-5), "", t0},
	)
	sliced := r2.NewSlice(1, 2)
	r2.Release()
	return []arrow.Record{r1, sliced}
}

func TestInsertUsersExactRows(t *testing.T) {
	s := sinktest.Open(t, sink.Config{})
	st := sinktest.Stream(t, schema.Users)
	recs := usersRecords(t, st)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	insert(t, s, st, "wxapp1", 0, recs...)
	got := sinktest.Rows(t, s, "SELECT * FROM "+s.Database()+".wechat_users ORDER BY openid")
	equalLines(t, "users", got, []string{
		`"wxapp1" "o1" 1 "zh_CN" 2024-03-01T12:30:45Z "u1" "VIP" 0 [2 100 4294967295] "ADD_SCENE_QR_CODE" 98765 "campaign" 2025-12-31T23:59:59Z`,
		`"wxapp1" "o2" 0 "" 1970-01-01T00:00:00Z "" "" -1 [] "" 0 "" 2025-12-31T23:59:59Z`,
		`"wxapp1" "o3" 1 "en" 2025-12-31T23:59:59Z "u3" "备注" 9223372036854775807 [1] "ADD_SCENE_SEARCH" -5 "" 2024-03-01T12:30:45Z`,
	})
}

func TestInsertTagsExactRows(t *testing.T) {
	s := sinktest.Open(t, sink.Config{})
	st := sinktest.Stream(t, schema.Tags)
	r := sinktest.Record(t, st,
		[]any{uint32(2), "星标组", uint64(0), t0},
		[]any{uint32(100), "vip", uint64(18446744073709551615), t1},
	)
	defer r.Release()
	insert(t, s, st, "wxapp2", 0, r)
	got := sinktest.Rows(t, s, "SELECT * FROM "+s.Database()+".wechat_tags ORDER BY id")
	equalLines(t, "tags", got, []string{
		`"wxapp2" 2 "星标组" 0 2024-03-01T12:30:45Z`,
		`"wxapp2" 100 "vip" 18446744073709551615 2025-12-31T23:59:59Z`,
	})
}

func TestInsertTwiceDedups(t *testing.T) {
	s := sinktest.Open(t, sink.Config{})
	users := sinktest.Stream(t, schema.Users)
	recs := usersRecords(t, users)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	insert(t, s, users, "wxapp1", 0, recs...)
	insert(t, s, users, "wxapp1", 0, recs...)
	// A newer fetch of o1 wins over the older ones.
	newer := sinktest.Record(t, users, []any{"o1", uint8(0), "en", t0, "", "", int64(0), []uint32{}, "", int64(0), "", t1.Add(time.Hour)})
	defer newer.Release()
	insert(t, s, users, "wxapp1", 0, newer)
	db := s.Database()
	if n := sinktest.Count(t, s, "SELECT count() FROM "+db+".wechat_users FINAL"); n != 3 {
		t.Fatalf("FINAL count = %d, want 3", n)
	}
	equalLines(t, "o1 after the newer fetch", sinktest.Rows(t, s, "SELECT subscribe, language, fetched_at FROM "+db+".wechat_users FINAL WHERE openid = 'o1'"),
		[]string{`0 "en" 2026-01-01T00:59:59Z`})

	followers := sinktest.Stream(t, schema.Followers)
	f := sinktest.Record(t, followers, []any{"a", t0}, []any{"b", t0})
	defer f.Release()
	insert(t, s, followers, "wxapp1", 5, f)
	insert(t, s, followers, "wxapp1", 5, f)
	equalLines(t, "followers FINAL", sinktest.Rows(t, s, "SELECT appid, snapshot_id, openid FROM "+db+".wechat_followers FINAL ORDER BY openid"),
		[]string{`"wxapp1" 5 "a"`, `"wxapp1" 5 "b"`})
}

func TestInsertRejectsBadBatches(t *testing.T) {
	s := sinktest.Open(t, sink.Config{})
	ctx := sinktest.Context(t)
	users := sinktest.Stream(t, schema.Users)
	followers := sinktest.Stream(t, schema.Followers)
	good := sinktest.Record(t, followers, []any{"ok", t0})
	defer good.Release()
	wrongStream := sinktest.Record(t, users, []any{"o1", uint8(1), "", t0, "", "", int64(0), []uint32{}, "", int64(0), "", t1})
	defer wrongStream.Release()
	withNull := sinktest.Record(t, followers, []any{"x", t0}, []any{nil, t0})
	defer withNull.Release()
	// Same names, a different type: fetched_at in milliseconds.
	msSchema := arrow.NewSchema([]arrow.Field{
		{Name: "openid", Type: arrow.BinaryTypes.String},
		{Name: "fetched_at", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
	}, nil)
	ms, err := sinktest.BuildRecord(msSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Release()
	// The full schema, sink-filled columns included, is not a source batch.
	full, err := sinktest.BuildRecord(followers.Schema, []any{"app", uint64(1), "o", t0})
	if err != nil {
		t.Fatal(err)
	}
	defer full.Release()

	for name, tc := range map[string]struct {
		st   schema.Stream
		snap uint64
		recs []arrow.Record
		want string
	}{
		"users batch into followers": {followers, 1, []arrow.Record{good, wrongStream}, "schema mismatch"},
		"followers batch into users": {users, 0, []arrow.Record{good}, "schema mismatch"},
		"null openid":                {followers, 1, []arrow.Record{good, withNull}, "null"},
		"millisecond timestamps":     {followers, 1, []arrow.Record{ms}, "fetched_at"},
		"sink-filled columns sent":   {followers, 1, []arrow.Record{full}, "schema mismatch"},
		"snapshot stream without id": {followers, 0, []arrow.Record{good}, "snapshot id"},
		"nil record":                 {followers, 1, []arrow.Record{good, nil}, "nil"},
	} {
		t.Run(name, func(t *testing.T) {
			n, err := s.Insert(ctx, tc.st, "wxapp1", tc.snap, tc.recs)
			if err == nil {
				t.Fatalf("Insert succeeded with %d rows", n)
			}
			if n != 0 || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Insert = %d, %v; want 0 and an error about %q", n, err, tc.want)
			}
			t.Log(err)
		})
	}
	if _, err := s.Insert(ctx, followers, "", 1, []arrow.Record{good}); err == nil {
		t.Error("empty appid accepted")
	}
	for _, table := range []string{"wechat_followers", "wechat_users"} {
		if n := sinktest.Count(t, s, "SELECT count() FROM "+s.Database()+"."+table); n != 0 {
			t.Errorf("%s has %d rows after rejected inserts", table, n)
		}
	}
	// An empty insert writes nothing and is no error.
	if n, err := s.Insert(ctx, followers, "wxapp1", 1, nil); n != 0 || err != nil {
		t.Errorf("empty Insert = %d, %v", n, err)
	}
	var nce *sink.NotCommittedError
	if _, err := s.Insert(ctx, followers, "wxapp1", 1, []arrow.Record{withNull}); errors.As(err, &nce) {
		t.Errorf("a rejected batch reported as not committed (it was never sent): %v", err)
	}
}

// A batch larger than one block goes out as several blocks of one INSERT:
// every row arrives, once, in a single part.
func TestInsertLargeBatchIsOnePart(t *testing.T) {
	s := sinktest.Open(t, sink.Config{})
	st := sinktest.Stream(t, schema.Followers)
	ctx := sinktest.Context(t)
	if err := s.Conn().Exec(ctx, "SYSTEM STOP MERGES "+s.Database()+".wechat_followers"); err != nil {
		t.Fatal(err)
	}
	var recs []arrow.Record
	for r := range 4 {
		rows := make([][]any, 15000)
		for i := range rows {
			rows[i] = []any{fmt.Sprintf("o%027d", r*len(rows)+i), t0}
		}
		rec := sinktest.Record(t, st, rows...)
		defer rec.Release()
		recs = append(recs, rec)
	}
	insert(t, s, st, "wxapp1", 3, recs...)
	if n := sinktest.Count(t, s, "SELECT uniqExact(openid) FROM "+s.Database()+".wechat_followers WHERE appid = 'wxapp1' AND snapshot_id = 3"); n != 60000 {
		t.Fatalf("%d distinct openids, want 60000", n)
	}
	if n := sinktest.Count(t, s, "SELECT count() FROM "+s.Database()+".wechat_followers"); n != 60000 {
		t.Fatalf("%d rows, want 60000", n)
	}
	if n := sinktest.Count(t, s, "SELECT count() FROM system.parts WHERE database = ? AND table = 'wechat_followers' AND active", s.Database()); n != 1 {
		t.Fatalf("the insert made %d parts, want 1", n)
	}
}

// TestInsertWithEachCompression: a sink inserts and reads with each
// compression its DSN can ask for (compress=...), into the same table.
func TestInsertWithEachCompression(t *testing.T) {
	base := sinktest.Open(t, sink.Config{})
	users := sinktest.Stream(t, schema.Users)
	var want []string
	for _, c := range []string{"false", "none", "zstd", "lz4", "true"} {
		u, err := url.Parse(sinktest.DSN(t, base.Database()))
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("compress", c)
		u.RawQuery = q.Encode()
		s, err := sink.Open(sinktest.Context(t), sink.Config{DSN: u.String()})
		if err != nil {
			t.Fatalf("compress=%s: %v", c, err)
		}
		r := sinktest.Record(t, users, []any{"o-" + c, uint8(1), "zh_CN", t0, "", c, int64(0), []uint32{}, "", int64(0), "", t0})
		insert(t, s, users, "wxA", 0, r)
		r.Release()
		got := sinktest.Rows(t, s, "SELECT openid, remark FROM "+base.Database()+".wechat_users WHERE openid = 'o-"+c+"'")
		s.Close()
		if len(got) != 1 || got[0] != `"o-`+c+`" "`+c+`"` {
			t.Fatalf("compress=%s: read back %q", c, got)
		}
		want = append(want, "o-"+c)
	}
	slices.Sort(want)
	got := sinktest.Rows(t, base, "SELECT openid FROM "+base.Database()+".wechat_users ORDER BY openid")
	for i := range got {
		got[i] = strings.Trim(got[i], `"`)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("wechat_users holds %q, want %q", got, want)
	}
}
