package sink_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

func TestStateRoundTrip(t *testing.T) {
	s := sinktest.Open(t, sink.Config{})
	ctx := sinktest.Context(t)
	if st, ok, err := s.LoadState(ctx, "wxA", "followers"); err != nil || ok {
		t.Fatalf("LoadState of nothing = %+v, %v, %v", st, ok, err)
	}
	// Arbitrary bytes: NUL, invalid UTF-8, quotes, backslashes, newlines.
	var all []byte
	for b := 0; b < 256; b++ {
		all = append(all, byte(b))
	}
	cursors := [][]byte{
		[]byte(`{"next_openid":"oABC","page":3}`),
		all,
		[]byte("'\\\"\n\x00\xff\xfe?"),
		[]byte("?"),
	}
	updated := time.Date(2025, 6, 7, 8, 9, 10, 999, time.UTC)
	var lastVersion uint64
	for i, c := range cursors {
		want := sink.State{SnapshotID: uint64(1000 + i), Cursor: c, UpdatedAt: updated}
		if err := s.SaveState(ctx, "wxA", "followers", want); err != nil {
			t.Fatal(err)
		}
		got, ok, err := s.LoadState(ctx, "wxA", "followers")
		if err != nil || !ok {
			t.Fatalf("LoadState #%d = %v, %v", i, ok, err)
		}
		if got.SnapshotID != want.SnapshotID || !bytes.Equal(got.Cursor, c) || !got.UpdatedAt.Equal(updated.Truncate(time.Second)) || got.UpdatedAt.Location() != time.UTC {
			t.Fatalf("LoadState #%d = %+v, want %+v", i, got, want)
		}
		rows, err := s.ListStates(ctx, "wxA")
		if err != nil || len(rows) != 1 {
			t.Fatalf("ListStates = %+v, %v", rows, err)
		}
		if rows[0].Version <= lastVersion {
			t.Fatalf("version %d does not increase over %d", rows[0].Version, lastVersion)
		}
		lastVersion = rows[0].Version
	}

	// Many saves in a tight loop, same second and identical UpdatedAt:
	// the last one wins.
	for i := 0; i < 50; i++ {
		if err := s.SaveState(ctx, "wxA", "users", sink.State{Cursor: []byte(fmt.Sprint(i)), UpdatedAt: updated}); err != nil {
			t.Fatal(err)
		}
	}
	if got, ok, err := s.LoadState(ctx, "wxA", "users"); err != nil || !ok || string(got.Cursor) != "49" || got.SnapshotID != 0 {
		t.Fatalf("after 50 saves: %+v, %v, %v", got, ok, err)
	}

	// A second Sink (another host process) continues the versions.
	s2, err := sink.Open(ctx, sink.Config{DSN: sinktest.DSN(t, s.Database())})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.SaveState(ctx, "wxA", "users", sink.State{Cursor: []byte("from s2")}); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.LoadState(ctx, "wxA", "users"); err != nil || string(got.Cursor) != "from s2" || time.Since(got.UpdatedAt) > time.Minute {
		t.Fatalf("after a save by a second Sink: %+v, %v", got, err)
	}

	if err := s.SaveState(ctx, "wxB", "tags", sink.State{Cursor: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	// Reset: LoadState reports nothing, ListStates shows the empty row.
	if err := s.ResetState(ctx, "wxA", "followers"); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.LoadState(ctx, "wxA", "followers"); err != nil || ok || got.SnapshotID != 0 || got.Cursor != nil {
		t.Fatalf("LoadState after reset = %+v, %v, %v", got, ok, err)
	}
	all2, err := s.ListStates(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range all2 {
		keys = append(keys, fmt.Sprintf("%s/%s:%d:%q", r.AppID, r.Stream, r.SnapshotID, r.Cursor))
	}
	if got, want := fmt.Sprint(keys), `[wxA/followers:0:"" wxA/users:0:"from s2" wxB/tags:0:"b"]`; got != want {
		t.Fatalf("ListStates(\"\") = %s, want %s", got, want)
	}
	if rows, err := s.ListStates(ctx, "wxB"); err != nil || len(rows) != 1 || rows[0].Stream != "tags" {
		t.Fatalf("ListStates(wxB) = %+v, %v", rows, err)
	}
	// Keys are bound as parameters: quotes and question marks are data.
	odd := `wx'"\?) OR 1=1 --`
	if err := s.SaveState(ctx, odd, "followers", sink.State{SnapshotID: 9, Cursor: []byte("c")}); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.LoadState(ctx, odd, "followers"); err != nil || !ok || got.SnapshotID != 9 {
		t.Fatalf("LoadState(%q) = %+v, %v, %v", odd, got, ok, err)
	}
	if rows, err := s.ListStates(ctx, odd); err != nil || len(rows) != 1 || rows[0].AppID != odd {
		t.Fatalf("ListStates(%q) = %+v, %v", odd, rows, err)
	}
	if err := s.SaveState(ctx, "", "followers", sink.State{}); err == nil {
		t.Error("SaveState with an empty appid succeeded")
	}
}

// SaveState reads a key's newest version once per Sink: not at all after
// LoadState, once for a key it never loaded. A save by another Sink in
// between is still outrun: the last save wins.
func TestSaveStateReadsVersionOncePerKey(t *testing.T) {
	a := sinktest.Open(t, sink.Config{})
	ctx := sinktest.Context(t)
	b, err := sink.Open(ctx, sink.Config{DSN: sinktest.DSN(t, a.Database())})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, err := sink.Open(ctx, sink.Config{DSN: sinktest.DSN(t, a.Database())}) // only looks
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	save := func(s *sink.Sink, stream, cursor string) {
		t.Helper()
		if err := s.SaveState(ctx, "wxA", stream, sink.State{SnapshotID: 7, Cursor: []byte(cursor)}); err != nil {
			t.Fatal(err)
		}
	}
	want := func(stream, cursor string) {
		t.Helper()
		st, ok, err := c.LoadState(ctx, "wxA", stream)
		if err != nil || !ok || string(st.Cursor) != cursor {
			t.Fatalf("%s state = %q, %v, %v; want %q", stream, st.Cursor, ok, err, cursor)
		}
	}
	if _, _, err := a.LoadState(ctx, "wxA", "followers"); err != nil {
		t.Fatal(err)
	}
	save(a, "followers", "a1")
	save(a, "followers", "a2")
	if n := a.VersionReads(); n != 0 {
		t.Fatalf("%d version reads after LoadState, want 0", n)
	}
	save(a, "users", "u1") // never loaded by a: one read
	save(a, "users", "u2")
	if n := a.VersionReads(); n != 1 {
		t.Fatalf("%d version reads, want 1 (users, once)", n)
	}
	want("users", "u2")

	save(b, "followers", "b1") // another writer, which reads the newest version
	want("followers", "b1")
	save(a, "followers", "a3") // a knows only its own "a2", yet wins
	want("followers", "a3")
	if n := b.VersionReads(); n != 1 {
		t.Fatalf("b made %d version reads, want 1", n)
	}
}

// LoadStates reads several streams of one account in one go: present
// states only (a reset one and a missing one are absent), and it tells
// the Sink every key's newest version, so that SaveStates of those keys
// reads none. SaveStates writes one row per key, each above the key's
// stored versions; a Sink that knows none of the keys reads them all in
// one query.
func TestLoadStatesAndSaveStates(t *testing.T) {
	a := sinktest.Open(t, sink.Config{})
	ctx := sinktest.Context(t)
	// Parts stay as inserted, so that they count the inserts.
	if err := a.Conn().Exec(ctx, "SYSTEM STOP MERGES "+a.Database()+".wxsync_state"); err != nil {
		t.Fatal(err)
	}
	openB := func() *sink.Sink {
		t.Helper()
		s, err := sink.Open(ctx, sink.Config{DSN: sinktest.DSN(t, a.Database())})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	if err := a.SaveState(ctx, "wxA", "followers", sink.State{SnapshotID: 7, Cursor: []byte("f1")}); err != nil {
		t.Fatal(err)
	}
	if err := a.ResetState(ctx, "wxA", "blacklist"); err != nil {
		t.Fatal(err)
	}
	if err := a.SaveState(ctx, "wxB", "users", sink.State{Cursor: []byte("other account")}); err != nil {
		t.Fatal(err)
	}
	b := openB()
	got, err := b.LoadStates(ctx, "wxA", []string{"followers", "users", "blacklist"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["followers"].SnapshotID != 7 || string(got["followers"].Cursor) != "f1" {
		t.Fatalf("LoadStates = %+v, want only followers (7, f1)", got)
	}
	if err := b.SaveStates(ctx, "wxA", []sink.StreamState{
		{Stream: "followers", State: sink.State{SnapshotID: 7, Cursor: []byte("f2")}},
		{Stream: "users", State: sink.State{Cursor: []byte("u1")}},
		{Stream: "blacklist"},
	}); err != nil {
		t.Fatal(err)
	}
	if n := b.VersionReads(); n != 0 {
		t.Errorf("%d version reads after LoadStates, want 0", n)
	}
	// Exactly one new row per key, each the key's newest.
	raw := "SELECT appid, stream, snapshot_id, cursor FROM " + a.Database() + ".wxsync_state ORDER BY appid, stream, version"
	equalLines(t, "wxsync_state", sinktest.Rows(t, a, raw), []string{
		`"wxA" "blacklist" 0 ""`, `"wxA" "blacklist" 0 ""`,
		`"wxA" "followers" 7 "f1"`, `"wxA" "followers" 7 "f2"`,
		`"wxA" "users" 0 "u1"`,
		`"wxB" "users" 0 "other account"`,
	})
	// One insert for the three keys: they share one part.
	if parts := sinktest.Rows(t, a, "SELECT count() FROM system.parts WHERE database = ? AND table = 'wxsync_state' AND active = 1", a.Database()); len(parts) != 1 || parts[0] != "4" {
		t.Errorf("wxsync_state has %v active parts, want 4 (three single saves, one SaveStates)", parts)
	}

	// A Sink that knows none of the keys reads their versions once, for
	// all of them, and still wins.
	c := openB()
	if err := c.SaveStates(ctx, "wxA", []sink.StreamState{
		{Stream: "followers", State: sink.State{SnapshotID: 8}},
		{Stream: "users", State: sink.State{Cursor: []byte("u2")}},
	}); err != nil {
		t.Fatal(err)
	}
	if n := c.VersionReads(); n != 1 {
		t.Errorf("%d version reads for two unknown keys, want 1", n)
	}
	got, err = a.LoadStates(ctx, "wxA", []string{"followers", "users", "blacklist", "tags"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["followers"].SnapshotID != 8 || got["followers"].Cursor != nil || string(got["users"].Cursor) != "u2" {
		t.Fatalf("LoadStates after c's save = %+v", got)
	}

	// Refused: a stream twice, an empty appid or stream; nothing written.
	before := sinktest.Rows(t, a, raw)
	for _, bad := range [][]sink.StreamState{
		{{Stream: "users", State: sink.State{Cursor: []byte("x")}}, {Stream: "users"}},
		{{Stream: ""}},
	} {
		if err := a.SaveStates(ctx, "wxA", bad); err == nil {
			t.Errorf("SaveStates(%+v) succeeded", bad)
		}
	}
	if err := a.SaveStates(ctx, "", []sink.StreamState{{Stream: "users"}}); err == nil {
		t.Error("SaveStates with an empty appid succeeded")
	}
	if _, err := a.LoadStates(ctx, "", []string{"users"}); err == nil {
		t.Error("LoadStates with an empty appid succeeded")
	}
	equalLines(t, "wxsync_state after refused saves", sinktest.Rows(t, a, raw), before)
}
