package sink_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

// writeSnapshot begins a snapshot of followers for appid and inserts the
// openids in it (fetched at t0).
func writeSnapshot(t *testing.T, s *sink.Sink, appid string, openids ...string) uint64 {
	t.Helper()
	st := sinktest.Stream(t, schema.Followers)
	id, err := s.BeginSnapshot(sinktest.Context(t), appid, st.Name)
	if err != nil {
		t.Fatal(err)
	}
	if len(openids) > 0 {
		var rows [][]any
		for _, o := range openids {
			rows = append(rows, []any{o, t0})
		}
		r := sinktest.Record(t, st, rows...)
		defer r.Release()
		insert(t, s, st, appid, id, r)
	}
	return id
}

func complete(t *testing.T, s *sink.Sink, appid string, id uint64, wantRows uint64) {
	t.Helper()
	rows, err := s.CompleteSnapshot(sinktest.Context(t), appid, schema.Followers, id, int64(wantRows))
	if err != nil {
		t.Fatalf("CompleteSnapshot(%s, %d): %v", appid, id, err)
	}
	if rows != wantRows {
		t.Fatalf("CompleteSnapshot(%s, %d) = %d rows, want %d", appid, id, rows, wantRows)
	}
}

func currentView(t *testing.T, s *sink.Sink) []string {
	t.Helper()
	return sinktest.Rows(t, s, "SELECT appid, openid, snapshot_id FROM "+s.Database()+".wechat_followers_current ORDER BY appid, openid")
}

func TestSnapshotLifecycle(t *testing.T) {
	s := sinktest.Open(t, sink.Config{})
	ctx := sinktest.Context(t)
	before := uint64(time.Now().UnixNano())
	s1 := writeSnapshot(t, s, "wxA", "o1", "o2")
	if s1 < before {
		t.Errorf("snapshot id %d is older than the clock (%d)", s1, before)
	}
	// A second batch of the same snapshot repeats o2: rows counts distinct openids.
	r := sinktest.Record(t, sinktest.Stream(t, schema.Followers), []any{"o2", t1}, []any{"o3", t1})
	defer r.Release()
	insert(t, s, sinktest.Stream(t, schema.Followers), "wxA", s1, r)

	if got := currentView(t, s); len(got) != 0 {
		t.Fatalf("current view shows an incomplete snapshot: %v", got)
	}
	complete(t, s, "wxA", s1, 3)
	id := func(v uint64) string { return fmt.Sprint(v) }
	equalLines(t, "current after s1", currentView(t, s), []string{
		`"wxA" "o1" ` + id(s1), `"wxA" "o2" ` + id(s1), `"wxA" "o3" ` + id(s1),
	})

	// A newer snapshot being written does not hide or replace s1.
	s2 := writeSnapshot(t, s, "wxA", "n1")
	if s2 <= s1 {
		t.Fatalf("snapshot ids do not increase: %d then %d", s1, s2)
	}
	equalLines(t, "current while s2 is written", currentView(t, s), []string{
		`"wxA" "o1" ` + id(s1), `"wxA" "o2" ` + id(s1), `"wxA" "o3" ` + id(s1),
	})
	// Another account's complete snapshot shows beside it.
	b1 := writeSnapshot(t, s, "wxB", "b1")
	complete(t, s, "wxB", b1, 1)
	complete(t, s, "wxA", s2, 1)
	equalLines(t, "current after s2", currentView(t, s), []string{
		`"wxA" "n1" ` + id(s2), `"wxB" "b1" ` + id(b1),
	})

	snaps, err := s.ListSnapshots(ctx, "wxA", schema.Followers)
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 2 || snaps[0].ID != s2 || snaps[1].ID != s1 {
		t.Fatalf("ListSnapshots = %+v", snaps)
	}
	sn := snaps[1]
	if sn.Status != sink.SnapshotComplete || sn.Rows != 3 || sn.ReportedTotal != 3 || sn.AppID != "wxA" || sn.Stream != "followers" ||
		sn.StartedAt.IsZero() || sn.FinishedAt.Before(sn.StartedAt) || time.Since(sn.FinishedAt) > time.Minute {
		t.Errorf("snapshot row %+v", sn)
	}
	// The blacklist view is separate and empty.
	if got := sinktest.Rows(t, s, "SELECT * FROM "+s.Database()+".wechat_blacklist_current"); len(got) != 0 {
		t.Errorf("blacklist current: %v", got)
	}

	// Errors: unknown snapshot, Latest stream, negative total.
	if _, err := s.CompleteSnapshot(ctx, "wxA", schema.Followers, 12345, 0); err == nil || !strings.Contains(err.Error(), "no such snapshot") {
		t.Errorf("CompleteSnapshot of an unknown id: %v", err)
	}
	if _, err := s.CompleteSnapshot(ctx, "wxB", schema.Followers, s2, 0); err == nil {
		t.Errorf("CompleteSnapshot of another account's snapshot succeeded")
	}
	if _, err := s.BeginSnapshot(ctx, "wxA", schema.Users); err == nil {
		t.Errorf("BeginSnapshot of a Latest stream succeeded")
	}
	if _, err := s.CompleteSnapshot(ctx, "wxA", schema.Followers, s2, -1); err == nil {
		t.Errorf("negative reported total accepted")
	}
}

func TestSnapshotIDsAboveExisting(t *testing.T) {
	s := sinktest.Open(t, sink.Config{})
	ctx := sinktest.Context(t)
	// A snapshot id from the future (another host's clock) raises the floor.
	future := uint64(time.Now().Add(time.Hour).UnixNano())
	b, err := s.Conn().PrepareBatch(ctx, "INSERT INTO "+s.Database()+".wechat_snapshots (appid, stream, snapshot_id, version)")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []any{[]string{"other"}, []string{"followers"}, []uint64{future}, []uint64{1}} {
		if err := b.Column(i).Append(v); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	prev := future
	for i := 0; i < 5; i++ {
		id, err := s.BeginSnapshot(ctx, "wxA", schema.Blacklist)
		if err != nil {
			t.Fatal(err)
		}
		if id <= prev {
			t.Fatalf("snapshot id %d not above %d", id, prev)
		}
		prev = id
	}
}

// snapshotIDs returns the snapshot ids present in wechat_followers for appid.
func snapshotIDs(t *testing.T, s *sink.Sink, appid string) []uint64 {
	t.Helper()
	rows, err := s.Conn().Query(sinktest.Context(t), "SELECT DISTINCT snapshot_id FROM "+s.Database()+".wechat_followers WHERE appid = ? ORDER BY snapshot_id", appid)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var id uint64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}

func TestSnapshotRetention(t *testing.T) {
	s := sinktest.Open(t, sink.Config{Retention: 2})
	ctx := sinktest.Context(t)
	// Another account, with more complete snapshots than A will keep.
	b1 := writeSnapshot(t, s, "wxB", "b")
	complete(t, s, "wxB", b1, 1)
	b2 := writeSnapshot(t, s, "wxB", "b", "c")
	complete(t, s, "wxB", b2, 2)
	bOpen := writeSnapshot(t, s, "wxB", "x") // B's in-progress snapshot, older than A's

	s1 := writeSnapshot(t, s, "wxA", "a1")
	complete(t, s, "wxA", s1, 1)
	s2 := writeSnapshot(t, s, "wxA", "a2", "a2b") // abandoned
	s3 := writeSnapshot(t, s, "wxA", "a3")
	complete(t, s, "wxA", s3, 1)
	s4 := writeSnapshot(t, s, "wxA", "a4")
	complete(t, s, "wxA", s4, 1)
	if got, want := snapshotIDs(t, s, "wxA"), []uint64{s3, s4}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after s4: snapshots %v, want %v (s1 pruned, s2 abandoned)", got, want)
	}
	s5 := writeSnapshot(t, s, "wxA", "a5")
	s6 := writeSnapshot(t, s, "wxA", "a6") // in progress, newer than s5
	complete(t, s, "wxA", s5, 1)

	if got, want := snapshotIDs(t, s, "wxA"), []uint64{s4, s5, s6}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("snapshots of wxA %v, want %v", got, want)
	}
	if got, want := snapshotIDs(t, s, "wxB"), []uint64{b1, b2, bOpen}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("snapshots of wxB %v, want %v (untouched)", got, want)
	}
	equalLines(t, "current", currentView(t, s), []string{
		fmt.Sprintf(`"wxA" "a5" %d`, s5), fmt.Sprintf(`"wxB" "b" %d`, b2), fmt.Sprintf(`"wxB" "c" %d`, b2),
	})
	// The partitions themselves are gone, not just hidden.
	rows, err := s.Conn().Query(ctx, "SELECT DISTINCT partition_id FROM system.parts WHERE database = ? AND table = 'wechat_followers' AND active = 1", s.Database())
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	rows.Close()
	sort.Strings(parts)
	want := []string{fmt.Sprint(b1), fmt.Sprint(b2), fmt.Sprint(bOpen), fmt.Sprint(s4), fmt.Sprint(s5), fmt.Sprint(s6)}
	sort.Strings(want)
	if strings.Join(parts, ",") != strings.Join(want, ",") {
		t.Errorf("partitions %v, want %v", parts, want)
	}
	// The history stays, marked.
	snaps, err := s.ListSnapshots(ctx, "wxA", schema.Followers)
	if err != nil {
		t.Fatal(err)
	}
	var status []string
	for _, sn := range snaps {
		status = append(status, fmt.Sprintf("%d:%d", sn.ID, sn.Status))
	}
	wantStatus := []string{
		fmt.Sprintf("%d:%d", s6, sink.SnapshotInProgress), fmt.Sprintf("%d:%d", s5, sink.SnapshotComplete),
		fmt.Sprintf("%d:%d", s4, sink.SnapshotComplete), fmt.Sprintf("%d:%d", s3, sink.SnapshotPruned),
		fmt.Sprintf("%d:%d", s2, sink.SnapshotAbandoned), fmt.Sprintf("%d:%d", s1, sink.SnapshotPruned),
	}
	if strings.Join(status, " ") != strings.Join(wantStatus, " ") {
		t.Errorf("statuses %v, want %v", status, wantStatus)
	}
	// Completing a pruned snapshot is refused; pruning again changes nothing.
	if _, err := s.CompleteSnapshot(ctx, "wxA", schema.Followers, s3, 1); err == nil {
		t.Error("completing a pruned snapshot succeeded")
	}
	if err := s.Prune(ctx, "wxA", schema.Followers); err != nil {
		t.Fatal(err)
	}
	if got, want := snapshotIDs(t, s, "wxA"), []uint64{s4, s5, s6}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after a second Prune: %v, want %v", got, want)
	}
}

// rows counts each openid once, whether it repeats within a batch or
// across batches, merged or not.
func TestCompleteSnapshotCountsEachOpenIDOnce(t *testing.T) {
	s := sinktest.Open(t, sink.Config{})
	if err := s.Conn().Exec(sinktest.Context(t), "SYSTEM STOP MERGES "+s.Database()+".wechat_followers"); err != nil {
		t.Fatal(err)
	}
	other := writeSnapshot(t, s, "wxB", "d1", "x9")
	id := writeSnapshot(t, s, "wxC", "d1", "d2", "d1")
	r := sinktest.Record(t, sinktest.Stream(t, schema.Followers), []any{"d2", t1}, []any{"d3", t1})
	defer r.Release()
	insert(t, s, sinktest.Stream(t, schema.Followers), "wxC", id, r)
	complete(t, s, "wxC", id, 3)
	complete(t, s, "wxB", other, 2)
}
