package sink_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"

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
	if n := s.FinalCounts(); n != 1 {
		t.Errorf("%d counts with FINAL, want 1 (wxC repeats openids)", n)
	}
	complete(t, s, "wxB", other, 2)
	if n := s.FinalCounts(); n != 1 {
		t.Errorf("%d counts with FINAL, want still 1 (wxB's openids are distinct)", n)
	}
}

// A snapshot this Sink began and wrote with distinct openids is counted
// without FINAL, across inserts and the tally's runs; one whose table
// holds a block twice (a retried insert that landed twice: here written
// again behind the Sink's back, with merges stopped so that it stays), or
// that another Sink began (a resumed snapshot), is counted with FINAL.
// Each count is exact.
func TestCompleteSnapshotCountsWithoutFinalWhenItCan(t *testing.T) {
	s := sinktest.Open(t, sink.Config{})
	ctx := sinktest.Context(t)
	s.SetTallyRun(3)
	if err := s.Conn().Exec(ctx, "SYSTEM STOP MERGES "+s.Database()+".wechat_followers"); err != nil {
		t.Fatal(err)
	}
	st := sinktest.Stream(t, schema.Followers)
	rec := func(ids ...string) arrow.Record {
		var rows [][]any
		for _, o := range ids {
			rows = append(rows, []any{o, t0})
		}
		return sinktest.Record(t, st, rows...)
	}
	clean := writeSnapshot(t, s, "wxA", "a1", "a2", "a3", "a4")
	r := rec("a5", "a6", "a7")
	insert(t, s, st, "wxA", clean, r)
	r.Release()
	complete(t, s, "wxA", clean, 7)
	if n := s.FinalCounts(); n != 0 {
		t.Fatalf("%d counts with FINAL of distinct openids, want 0", n)
	}

	twice := writeSnapshot(t, s, "wxA", "b1", "b2")
	err := s.Conn().Exec(ctx, fmt.Sprintf("INSERT INTO %s.wechat_followers (appid, snapshot_id, openid, fetched_at) SELECT appid, snapshot_id, openid, fetched_at FROM %s.wechat_followers WHERE snapshot_id = %d", s.Database(), s.Database(), twice))
	if err != nil {
		t.Fatal(err)
	}
	if got := sinktest.Rows(t, s, fmt.Sprintf("SELECT count() FROM %s.wechat_followers WHERE snapshot_id = %d", s.Database(), twice)); fmt.Sprint(got) != "[4]" {
		t.Fatalf("the snapshot holds %v rows before FINAL, want [4]", got)
	}
	complete(t, s, "wxA", twice, 2)
	if n := s.FinalCounts(); n != 1 {
		t.Errorf("%d counts with FINAL, want 1 (a block twice in the table)", n)
	}

	// The count without FINAL filters on snapshot_id alone. Rows of another
	// account under the same id (ids are unique across accounts: written
	// here behind the Sink's back) make it too large, and the count with
	// FINAL, which filters on appid, answers.
	shared := writeSnapshot(t, s, "wxA", "e1", "e2")
	err = s.Conn().Exec(ctx, fmt.Sprintf("INSERT INTO %s.wechat_followers (appid, snapshot_id, openid, fetched_at) SELECT 'wxZ', %d, 'e3', now()", s.Database(), shared))
	if err != nil {
		t.Fatal(err)
	}
	complete(t, s, "wxA", shared, 2)
	if n := s.FinalCounts(); n != 2 {
		t.Errorf("%d counts with FINAL, want 2 (another account's row under the snapshot's id)", n)
	}

	resumed := writeSnapshot(t, s, "wxB", "c1", "c2", "c3")
	other := sinktest.OpenLogged(t, s, sink.Config{})
	r = rec("c3", "c4")
	insert(t, other, st, "wxB", resumed, r)
	r.Release()
	complete(t, other, "wxB", resumed, 4)
	if n := other.FinalCounts(); n != 1 {
		t.Errorf("%d counts with FINAL of a snapshot begun by another Sink, want 1", n)
	}
}

// statementCount counts kinds.
func statementCount(kinds []string) map[string]int {
	out := map[string]int{}
	for _, k := range kinds {
		out[k]++
	}
	return out
}

func wantStatements(t *testing.T, what string, got []string, want map[string]int) {
	t.Helper()
	if g := statementCount(got); fmt.Sprint(g) != fmt.Sprint(want) {
		t.Errorf("%s: statements %v, want %v", what, g, want)
	}
}

// Beginning and completing a snapshot costs: the snapshot id floor read
// once per Sink, one row per begin; one list read (the status check and
// the pruning both use it), the count and one row per completion; and no
// look at the table's partitions while no snapshot can be dropped.
func TestSnapshotStatements(t *testing.T) {
	base := sinktest.Open(t, sink.Config{Retention: 1})
	s := sinktest.OpenLogged(t, base, sink.Config{Retention: 1})
	ctx := sinktest.Context(t)
	log := sinktest.NewQueryLog(t, s)
	a1 := writeSnapshot(t, s, "wxA")
	b1 := writeSnapshot(t, s, "wxB")
	wantStatements(t, "two begins", log.Statements(t), map[string]int{
		"SELECT max wechat_snapshots": 1, "INSERT wechat_snapshots": 2})

	log.Mark(t)
	complete(t, s, "wxA", a1, 0)
	wantStatements(t, "a first completion", log.Statements(t), map[string]int{
		"SELECT wechat_snapshots": 1, "SELECT wechat_followers": 1, "INSERT wechat_snapshots": 1})

	// A second complete snapshot puts the first beyond retention: its
	// partition (it has none: no rows) is looked up, and it is marked.
	a2 := writeSnapshot(t, s, "wxA")
	log.Mark(t)
	complete(t, s, "wxA", a2, 0)
	wantStatements(t, "a completion that prunes", log.Statements(t), map[string]int{
		"SELECT wechat_snapshots": 1, "SELECT wechat_followers": 1, "INSERT wechat_snapshots": 2, "SELECT parts": 1})
	// A snapshot marked pruned stays a candidate: its partition may have
	// survived a crash between the drop and the mark.
	log.Mark(t)
	if err := s.Prune(ctx, "wxA", schema.Followers); err != nil {
		t.Fatal(err)
	}
	wantStatements(t, "Prune with a pruned snapshot", log.Statements(t), map[string]int{
		"SELECT wechat_snapshots": 1, "SELECT parts": 1})
	log.Mark(t)
	if err := s.Prune(ctx, "wxB", schema.Followers); err != nil {
		t.Fatal(err)
	}
	wantStatements(t, "Prune with nothing to drop", log.Statements(t), map[string]int{"SELECT wechat_snapshots": 1})

	snaps, err := base.ListSnapshots(ctx, "", schema.Followers)
	if err != nil {
		t.Fatal(err)
	}
	var status []string
	for _, sn := range snaps {
		status = append(status, fmt.Sprintf("%s %v %d", sn.AppID, sn.ID == a2 || sn.ID == b1, sn.Status))
	}
	want := []string{
		fmt.Sprintf("wxA true %d", sink.SnapshotComplete), fmt.Sprintf("wxB true %d", sink.SnapshotInProgress),
		fmt.Sprintf("wxA false %d", sink.SnapshotPruned),
	}
	if strings.Join(status, ", ") != strings.Join(want, ", ") {
		t.Errorf("snapshots %v, want %v", status, want)
	}
}

// partitions returns the active partitions of wechat_followers, sorted.
func partitions(t *testing.T, s *sink.Sink) []string {
	t.Helper()
	return sinktest.Rows(t, s, "SELECT DISTINCT partition_id FROM system.parts WHERE database = ? AND table = 'wechat_followers' AND active = 1 ORDER BY partition_id", s.Database())
}

func quoted(ids ...uint64) []string {
	var out []string
	for _, id := range ids {
		out = append(out, fmt.Sprintf("%q", fmt.Sprint(id)))
	}
	sort.Strings(out)
	return out
}

// A partition beyond retention that holds another account's rows is kept,
// rows and all, and its snapshot stays complete (to be tried again).
func TestPruneKeepsPartitionWithAnotherAccountsRows(t *testing.T) {
	s := sinktest.Open(t, sink.Config{Retention: 1})
	st := sinktest.Stream(t, schema.Followers)
	a1 := writeSnapshot(t, s, "wxA", "a")
	r := sinktest.Record(t, st, []any{"b", t0})
	defer r.Release()
	insert(t, s, st, "wxB", a1, r) // wxB's row in a1's partition
	complete(t, s, "wxA", a1, 1)
	a2 := writeSnapshot(t, s, "wxA", "a")
	complete(t, s, "wxA", a2, 1)
	equalLines(t, "partitions", partitions(t, s), quoted(a1, a2))
	equalLines(t, "rows", sinktest.Rows(t, s, "SELECT appid, openid, snapshot_id = ? FROM "+s.Database()+".wechat_followers ORDER BY appid, snapshot_id", a1),
		[]string{`"wxA" "a" 1`, `"wxA" "a" 0`, `"wxB" "b" 1`})
	snaps, err := s.ListSnapshots(sinktest.Context(t), "wxA", schema.Followers)
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 2 || snaps[1].ID != a1 || snaps[1].Status != sink.SnapshotComplete {
		t.Errorf("snapshots %+v, want a1 still complete", snaps)
	}
}

// A snapshot marked pruned whose partition survived (a crash between the
// drop and the mark) loses its partition at the next pruning, by Prune or
// by CompleteSnapshot, and is not marked again.
func TestPruneDropsSurvivingPartitionOfMarkedSnapshot(t *testing.T) {
	s := sinktest.Open(t, sink.Config{Retention: 1})
	ctx := sinktest.Context(t)
	a1 := writeSnapshot(t, s, "wxA", "a", "b")
	if err := s.WriteSnapshotRow(ctx, "wxA", schema.Followers, a1, t0, sink.SnapshotPruned); err != nil {
		t.Fatal(err)
	}
	b1 := writeSnapshot(t, s, "wxB", "a")
	if err := s.WriteSnapshotRow(ctx, "wxB", schema.Followers, b1, t0, sink.SnapshotAbandoned); err != nil {
		t.Fatal(err)
	}
	rowsOf := func() []string {
		return sinktest.Rows(t, s, "SELECT appid, snapshot_id IN (?, ?), complete, version FROM "+s.Database()+".wechat_snapshots FINAL WHERE snapshot_id IN (?, ?) ORDER BY appid", a1, b1, a1, b1)
	}
	marked := rowsOf()
	if len(marked) != 2 || !strings.HasPrefix(marked[0], fmt.Sprintf(`"wxA" 1 %d `, sink.SnapshotPruned)) || !strings.HasPrefix(marked[1], fmt.Sprintf(`"wxB" 1 %d `, sink.SnapshotAbandoned)) {
		t.Fatalf("snapshot rows %v", marked)
	}
	a2 := writeSnapshot(t, s, "wxA", "c")
	complete(t, s, "wxA", a2, 1)
	equalLines(t, "partitions after completing a2", partitions(t, s), quoted(a2, b1))
	if err := s.Prune(ctx, "wxB", schema.Followers); err != nil {
		t.Fatal(err)
	}
	equalLines(t, "partitions after Prune of wxB", partitions(t, s), quoted(a2))
	equalLines(t, "snapshot rows of a1 and b1 (not marked again)", rowsOf(), marked)
}

// Concurrent first BeginSnapshots of a Sink read the snapshot id floor
// once, and their ids are distinct.
func TestConcurrentBeginSnapshotsReadTheFloorOnce(t *testing.T) {
	base := sinktest.Open(t, sink.Config{})
	s := sinktest.OpenLogged(t, base, sink.Config{})
	ctx := sinktest.Context(t)
	log := sinktest.NewQueryLog(t, s)
	ids := make(chan uint64, 4)
	errs := make(chan error, 4)
	for i := range 4 {
		go func() {
			id, err := s.BeginSnapshot(ctx, fmt.Sprintf("wx%d", i), schema.Followers)
			ids <- id
			errs <- err
		}()
	}
	seen := map[uint64]bool{}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		seen[<-ids] = true
	}
	if len(seen) != 4 {
		t.Errorf("snapshot ids %v, want 4 distinct", seen)
	}
	wantStatements(t, "four concurrent begins", log.Statements(t), map[string]int{
		"SELECT max wechat_snapshots": 1, "INSERT wechat_snapshots": 4})
}
