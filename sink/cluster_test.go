package sink_test

// Cluster mode against the test cluster of `make cluster`: 2 shards x 2
// replicas of ClickHouse 18.16 with ZooKeeper. The tests that stop nodes
// restart them before they end.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

// nodeSink opens a plain (single-server) Sink on one node of the cluster,
// to read what that replica holds in its local tables.
func nodeSink(t *testing.T, node, db string) *sink.Sink {
	t.Helper()
	s, err := sink.Open(sinktest.Context(t), sink.Config{DSN: sinktest.ClusterNodeDSN(t, node, db)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// syncReplicas waits until every node's replica of table's local table has
// fetched what the others hold (SYSTEM SYNC REPLICA), so that a count through
// the Distributed table does not depend on the replica it reads: after a node
// restarts, a read can fail over from the replica a run wrote to. It syncs
// again until both replicas of each shard hold as many rows
// (sinktest.UntilCaughtUp).
func syncReplicas(t *testing.T, db, table string) {
	t.Helper()
	local := fmt.Sprintf("`%s`.`%s`", db, table+schema.LocalSuffix)
	nodes := make([]*sink.Sink, len(sinktest.ClusterNodes))
	for i, node := range sinktest.ClusterNodes {
		nodes[i] = nodeSink(t, node, db)
	}
	var counts []uint64
	agree := sinktest.UntilCaughtUp(t, func() bool {
		counts = make([]uint64, len(nodes))
		for i, n := range nodes {
			if err := n.Conn().Exec(sinktest.Context(t), "SYSTEM SYNC REPLICA "+local); err != nil {
				t.Fatalf("SYSTEM SYNC REPLICA %s on %s: %v", local, sinktest.ClusterNodes[i], err)
			}
			counts[i] = sinktest.Count(t, n, "SELECT count() FROM "+local)
		}
		// ClusterNodes is s1r1, s1r2, s2r1, s2r2: two replicas a shard.
		return counts[0] == counts[1] && counts[2] == counts[3]
	})
	if !agree {
		t.Fatalf("%s: the replicas of a shard still differ after a minute: %v hold %v rows", table, sinktest.ClusterNodes, counts)
	}
}

// localCount returns the rows of table's local table on node (no FINAL).
func localCount(t *testing.T, node, db, table string) uint64 {
	t.Helper()
	var n uint64
	q := fmt.Sprintf("SELECT count() FROM `%s`.`%s`", db, table+schema.LocalSuffix)
	if err := nodeSink(t, node, db).Conn().QueryRow(sinktest.Context(t), q).Scan(&n); err != nil {
		t.Fatalf("%s on %s: %v", q, node, err)
	}
	return n
}

func followerRows(t *testing.T, st schema.Stream, openids ...string) [][]any {
	t.Helper()
	var rows [][]any
	for _, o := range openids {
		rows = append(rows, []any{o, t0})
	}
	return rows
}

func manyOpenIDs(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%05d", prefix, i)
	}
	return out
}

func TestClusterDDL(t *testing.T) {
	s := sinktest.OpenCluster(t, sink.Config{})
	db := s.Database()
	fresh := sinktest.DatabaseName(t)
	// Dropped after KillNode's cleanup has restarted the node (LIFO).
	t.Cleanup(func() { sinktest.DropClusterDatabase(t, fresh) })
	for _, node := range sinktest.ClusterNodes {
		got := sinktest.Rows(t, nodeSink(t, node, db), "SELECT name, engine FROM system.tables WHERE database = ? ORDER BY name", db)
		want := []string{
			`"wechat_blacklist" "Distributed"`, `"wechat_blacklist_current" "View"`, `"wechat_blacklist_local" "ReplicatedReplacingMergeTree"`,
			`"wechat_follow_events" "Distributed"`, `"wechat_follow_events_local" "ReplicatedReplacingMergeTree"`,
			`"wechat_followers" "Distributed"`, `"wechat_followers_current" "View"`, `"wechat_followers_live" "View"`, `"wechat_followers_local" "ReplicatedReplacingMergeTree"`,
			`"wechat_snapshots" "Distributed"`, `"wechat_snapshots_local" "ReplicatedReplacingMergeTree"`,
			`"wechat_tags" "Distributed"`, `"wechat_tags_local" "ReplicatedReplacingMergeTree"`,
			`"wechat_users" "Distributed"`, `"wechat_users_local" "ReplicatedReplacingMergeTree"`,
			`"wxsync_credentials" "Distributed"`, `"wxsync_credentials_local" "ReplicatedReplacingMergeTree"`,
			`"wxsync_runs" "Distributed"`, `"wxsync_runs_local" "ReplicatedReplacingMergeTree"`,
			`"wxsync_state" "Distributed"`, `"wxsync_state_local" "ReplicatedReplacingMergeTree"`,
		}
		equalLines(t, "tables on "+node, got, want)
	}
	// Each replica registered under its own name, per shard, at the
	// documented path.
	got := sinktest.Rows(t, nodeSink(t, "s2r2", db), "SELECT zookeeper_path, replica_name FROM system.replicas WHERE database = ? AND table = 'wechat_users_local'", db)
	equalLines(t, "replica of wechat_users on s2r2", got, []string{fmt.Sprintf(`"/clickhouse/tables/02/%s/wechat_users" "s2r2"`, db)})

	// With the tables there, Migrate runs no ON CLUSTER statement: with a
	// replica down and a DDL timeout of 1 s, one would fail.
	sinktest.KillNode(t, "s2r2")
	again, err := sink.Open(sinktest.Context(t), sink.Config{DSN: sinktest.ClusterDSN(t, db), Cluster: sinktest.ClusterName, DDLTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if err := again.Migrate(sinktest.Context(t)); err != nil {
		t.Fatalf("Migrate of an existing database with a replica down: %v", err)
	}

	// A database still to create, with a replica down: Migrate gives up
	// after the DDL timeout (it does not hang for 180 s), retryably.
	s2, err := sink.Open(sinktest.Context(t), sink.Config{DSN: sinktest.ClusterDSN(t, fresh), Cluster: sinktest.ClusterName, DDLTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	err = s2.Migrate(sinktest.Context(t))
	if err == nil || !sink.Retryable(err) || !strings.Contains(err.Error(), "not every host of cluster wxsync answered within 2s") {
		t.Fatalf("Migrate with a replica down: %v, want a retryable DDL timeout", err)
	}
	sinktest.StartNode(t, "s2r2")
	// The replica back first runs the statements queued while it was down.
	s3, err := sink.Open(sinktest.Context(t), sink.Config{DSN: sinktest.ClusterDSN(t, fresh), Cluster: sinktest.ClusterName})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if err := s3.Migrate(sinktest.Context(t)); err != nil {
		t.Fatalf("Migrate once the replica is back: %v", err)
	}
}

// Every version of a key lands on one shard, so FINAL through the
// Distributed table (applied per shard) is exact, and the current view too.
func TestClusterFinalExact(t *testing.T) {
	s := sinktest.OpenCluster(t, sink.Config{})
	db := s.Database()
	st := sinktest.Stream(t, schema.Followers)
	ids := manyOpenIDs("o", 2000)
	id := writeSnapshot(t, s, "wxA", ids[:1200]...)
	// The same openids again, in other batches: versions of the same keys.
	for _, part := range [][]string{ids[1000:], ids[:300]} {
		r := sinktest.Record(t, st, followerRows(t, st, part...)...)
		insert(t, s, st, "wxA", id, r)
		r.Release()
	}
	complete(t, s, "wxA", id, 2000)
	var n uint64
	if err := s.Conn().QueryRow(sinktest.Context(t), "SELECT count() FROM "+db+".wechat_followers_current WHERE appid = 'wxA'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2000 {
		t.Fatalf("current view holds %d rows, want 2000", n)
	}
	// The rows are spread over both shards, and no openid is on both.
	s1 := sinktest.Rows(t, nodeSink(t, "s1r1", db), "SELECT DISTINCT openid FROM "+db+".wechat_followers_local ORDER BY openid")
	s2 := sinktest.Rows(t, nodeSink(t, "s2r1", db), "SELECT DISTINCT openid FROM "+db+".wechat_followers_local ORDER BY openid")
	if len(s1) == 0 || len(s2) == 0 || len(s1)+len(s2) != 2000 {
		t.Fatalf("shard 1 holds %d openids, shard 2 %d: want both some, 2000 in all, none on both", len(s1), len(s2))
	}

	// Profiles: three versions of each, newest wins through FINAL.
	users := sinktest.Stream(t, schema.Users)
	for v := 0; v < 3; v++ {
		var rows [][]any
		for _, o := range ids[:500] {
			rows = append(rows, []any{o, uint8(1), fmt.Sprintf("lang%d", v), t0, "", "", int64(0), []uint32{}, "", int64(0), "", t0.Add(time.Duration(v) * time.Hour)})
		}
		r := sinktest.Record(t, users, rows...)
		insert(t, s, users, "wxA", 0, r)
		r.Release()
	}
	got := sinktest.Rows(t, s, "SELECT language, count() FROM "+db+".wechat_users FINAL GROUP BY language")
	equalLines(t, "profiles FINAL", got, []string{`"lang2" 500`})
}

// Insert returns only once the rows are on their shards: right after it,
// one replica of each shard holds that shard's rows (an asynchronous
// Distributed insert would still have them queued on the server written
// to).
func TestClusterCommitMeansOnTheShards(t *testing.T) {
	s := sinktest.OpenCluster(t, sink.Config{})
	db := s.Database()
	writeSnapshot(t, s, "wxA", manyOpenIDs("p", 3000)...)
	var sum uint64
	for _, shard := range [][2]string{{"s1r1", "s1r2"}, {"s2r1", "s2r2"}} {
		sum += max(localCount(t, shard[0], db, "wechat_followers"), localCount(t, shard[1], db, "wechat_followers"))
	}
	if sum != 3000 {
		t.Fatalf("the shards hold %d rows right after Insert, want 3000", sum)
	}
}

// With CLICKHOUSE_INSERT_QUORUM=2 every replica holds an insert when it
// returns: the cursor saved is read back through any server of the
// cluster, whichever replica it asks.
func TestClusterInsertQuorum(t *testing.T) {
	s := sinktest.OpenCluster(t, sink.Config{InsertQuorum: 2})
	db := s.Database()
	id := writeSnapshot(t, s, "wxA", manyOpenIDs("p", 3000)...)
	if err := s.SaveState(sinktest.Context(t), "wxA", schema.Followers, sink.State{SnapshotID: id, Cursor: []byte("p02999")}); err != nil {
		t.Fatal(err)
	}
	for _, shard := range [][2]string{{"s1r1", "s1r2"}, {"s2r1", "s2r2"}} {
		a, b := localCount(t, shard[0], db, "wechat_followers"), localCount(t, shard[1], db, "wechat_followers")
		if a == 0 || a != b {
			t.Errorf("replicas %s and %s hold %d and %d rows right after a quorum insert", shard[0], shard[1], a, b)
		}
	}
	for _, node := range sinktest.ClusterNodes {
		other, err := sink.Open(sinktest.Context(t), sink.Config{DSN: sinktest.ClusterNodeDSN(t, node, db), Cluster: sinktest.ClusterName})
		if err != nil {
			t.Fatal(err)
		}
		st, ok, err := other.LoadState(sinktest.Context(t), "wxA", schema.Followers)
		other.Close()
		if err != nil || !ok || st.SnapshotID != id || string(st.Cursor) != "p02999" {
			t.Fatalf("state read through %s: %+v %v %v", node, st, ok, err)
		}
	}
}

// A replica down: inserts go to the other replica of its shard; the
// replica catches up when it is back.
func TestClusterReplicaDown(t *testing.T) {
	s := sinktest.OpenCluster(t, sink.Config{InsertMaxElapsed: 5 * time.Second})
	db := s.Database()
	sinktest.KillNode(t, "s2r1")
	id := writeSnapshot(t, s, "wxA", manyOpenIDs("q", 1000)...)
	complete(t, s, "wxA", id, 1000)
	if err := s.SaveState(sinktest.Context(t), "wxA", schema.Followers, sink.State{}); err != nil {
		t.Fatal(err)
	}
	onS2 := localCount(t, "s2r2", db, "wechat_followers")
	onS1 := max(localCount(t, "s1r1", db, "wechat_followers"), localCount(t, "s1r2", db, "wechat_followers"))
	if onS2 == 0 || onS1+onS2 != 1000 {
		t.Fatalf("with s2r1 down, s2r2 holds %d rows; want shard 2's part of 1000", onS2)
	}
	sinktest.StartNode(t, "s2r1")
	n := nodeSink(t, "s2r1", db)
	for _, table := range []string{"wechat_followers_local", "wechat_snapshots_local", "wxsync_state_local"} {
		if err := n.Conn().Exec(sinktest.Context(t), fmt.Sprintf("SYSTEM SYNC REPLICA `%s`.`%s`", db, table)); err != nil {
			t.Fatalf("SYSTEM SYNC REPLICA %s: %v", table, err)
		}
	}
	if got := localCount(t, "s2r1", db, "wechat_followers"); got != onS2 {
		t.Fatalf("s2r1 caught up to %d rows, s2r2 has %d", got, onS2)
	}
}

// A whole shard down: the insert fails, after the retry limit, as rows not
// committed, and the cursor stays where it was; once the shard is back the
// same insert lands once.
func TestClusterShardDown(t *testing.T) {
	s := sinktest.OpenCluster(t, sink.Config{InsertMaxElapsed: 2 * time.Second})
	st := sinktest.Stream(t, schema.Followers)
	id := writeSnapshot(t, s, "wxA", "a", "b")
	if err := s.SaveState(sinktest.Context(t), "wxA", schema.Followers, sink.State{SnapshotID: id, Cursor: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	sinktest.KillNode(t, "s2r1")
	sinktest.KillNode(t, "s2r2")
	page := manyOpenIDs("r", 500)
	r := sinktest.Record(t, st, followerRows(t, st, page...)...)
	defer r.Release()
	_, err := s.Insert(sinktest.Context(t), st, "wxA", id, []arrow.Record{r})
	var nc *sink.NotCommittedError
	if !errors.As(err, &nc) || nc.Rows != 500 || !strings.Contains(err.Error(), "gave up after") {
		t.Fatalf("insert with shard 2 down: %v, want rows not committed after retries", err)
	}
	sinktest.StartNode(t, "s2r1")
	sinktest.StartNode(t, "s2r2")
	// Both replicas restarted: let them catch up before reading.
	for _, table := range []string{"wxsync_state", "wechat_snapshots", "wechat_followers"} {
		syncReplicas(t, s.Database(), table)
	}
	got, ok, err := s.LoadState(sinktest.Context(t), "wxA", schema.Followers)
	if err != nil || !ok || string(got.Cursor) != "b" {
		t.Fatalf("state after the failed insert: %+v %v %v, want cursor b", got, ok, err)
	}
	// Shard 1 may hold part of the failed insert; the retry lands it once.
	insert(t, s, st, "wxA", id, r)
	syncReplicas(t, s.Database(), "wechat_followers")
	complete(t, s, "wxA", id, 502)
}

// Two runs writing identical blocks: a replicated table would drop the
// second as a duplicate of the first (block deduplication). With equal
// versions, that changes which version wins; the sink turns deduplication
// off, so the cluster answers as one server does: the last write wins.
func TestClusterIdenticalBlocksOfTwoRuns(t *testing.T) {
	s := sinktest.OpenCluster(t, sink.Config{})
	db := s.Database()
	users := sinktest.Stream(t, schema.Users)
	profile := func(remark string) [][]any {
		return [][]any{{"o1", uint8(1), "zh_CN", t0, "", remark, int64(0), []uint32{}, "", int64(0), "", t0}}
	}
	for i, remark := range []string{"first", "second", "first"} {
		// Each write as its own run: its own Sink, as another process would.
		run, err := sink.Open(sinktest.Context(t), sink.Config{DSN: sinktest.ClusterDSN(t, db), Cluster: sinktest.ClusterName})
		if err != nil {
			t.Fatal(err)
		}
		r := sinktest.Record(t, users, profile(remark)...)
		insert(t, run, users, "wxA", 0, r)
		r.Release()
		run.Close()
		syncReplicas(t, db, "wechat_users")
		if got := sinktest.Rows(t, s, "SELECT count() FROM "+db+".wechat_users"); got[0] != fmt.Sprint(i+1) {
			t.Fatalf("after run %d wechat_users holds %s rows, want %d: a block was dropped", i+1, got[0], i+1)
		}
	}
	equalLines(t, "profile FINAL", sinktest.Rows(t, s, "SELECT remark FROM "+db+".wechat_users FINAL"), []string{`"first"`})
}

// Retention drops a snapshot's partition on every shard.
func TestClusterRetention(t *testing.T) {
	s := sinktest.OpenCluster(t, sink.Config{Retention: 1})
	db := s.Database()
	s1 := writeSnapshot(t, s, "wxA", manyOpenIDs("s", 200)...)
	complete(t, s, "wxA", s1, 200)
	s2 := writeSnapshot(t, s, "wxA", manyOpenIDs("t", 100)...)
	complete(t, s, "wxA", s2, 100)
	for _, node := range sinktest.ClusterNodes {
		n := nodeSink(t, node, db)
		if err := n.Conn().Exec(sinktest.Context(t), fmt.Sprintf("SYSTEM SYNC REPLICA `%s`.wechat_followers_local", db)); err != nil {
			t.Fatal(err)
		}
		got := sinktest.Rows(t, n, "SELECT DISTINCT partition_id FROM system.parts WHERE database = ? AND table = 'wechat_followers_local' AND active", db)
		equalLines(t, "partitions on "+node, got, []string{fmt.Sprintf("%q", fmt.Sprint(s2))})
	}
}

// A snapshot completed while a shard is read on a replica that has not
// fetched what this Sink wrote (after a replica fails, ClickHouse may read
// a shard on another replica than the one it wrote): the snapshot's row
// seems missing, or its count short. CompleteSnapshot retries until it
// reads every row this Sink wrote, and never records a short count.
func TestClusterCompleteSnapshotWaitsForAStaleReplica(t *testing.T) {
	for _, c := range []struct{ table, firstErr string }{
		{"wechat_followers", "the count found 0 of the 200 rows written into snapshot"},
		{"wechat_snapshots", "no such snapshot"},
	} {
		t.Run(c.table, func(t *testing.T) { completeOnStaleReplica(t, c.table, c.firstErr) })
	}
}

// completeOnStaleReplica completes a snapshot of 200 followers while the
// replica that holds the last insert into table is down and the other
// replica of its shard has not fetched it.
func completeOnStaleReplica(t *testing.T, table, firstErr string) {
	w := &retryWatch{failed: make(chan struct{})}
	s := sinktest.OpenCluster(t, sink.Config{Logger: slog.New(w)})
	db := s.Database()
	// No replica fetches table from another: what is written on one
	// stays there.
	fetches := func(verb string) {
		for _, node := range sinktest.ClusterNodes {
			q := fmt.Sprintf("SYSTEM %s FETCHES `%s`.`%s`", verb, db, table+schema.LocalSuffix)
			if err := nodeSink(t, node, db).Conn().Exec(sinktest.Context(t), q); err != nil {
				t.Fatalf("%s on %s: %v", q, node, err)
			}
		}
	}
	fetches("STOP")
	openids := manyOpenIDs("f", 200)
	if table == "wechat_followers" {
		// Every openid on shard 2, so that the stale replica has none.
		openids = openidsOnShard2(t, s, "wxA", 200)
	}
	id := writeSnapshot(t, s, "wxA", openids...)
	for _, other := range []string{"wechat_followers", "wechat_snapshots", "wxsync_state"} {
		if other != table {
			syncReplicas(t, db, other)
		}
	}
	var holders []string
	for _, node := range sinktest.ClusterNodes {
		if localCount(t, node, db, table) > 0 {
			holders = append(holders, node)
		}
	}
	if len(holders) != 1 {
		t.Fatalf("the last insert into %s is on %v, want one replica", table, holders)
	}
	written := holders[0]
	t.Logf("the last insert into %s is on %s only", table, written)
	completer := s // it holds the tally of what it wrote
	if written == "s1r1" {
		// The node s enters the cluster through: complete through the
		// other replica of the shard (a Sink without the tally).
		var err error
		completer, err = sink.Open(sinktest.Context(t), sink.Config{DSN: sinktest.ClusterNodeDSN(t, "s1r2", db),
			Cluster: sinktest.ClusterName, Logger: slog.New(w)})
		if err != nil {
			t.Fatal(err)
		}
		defer completer.Close()
	}
	sinktest.KillNode(t, written)
	type result struct {
		rows uint64
		err  error
	}
	done := make(chan result, 1)
	go func() {
		rows, err := completer.CompleteSnapshot(sinktest.Context(t), "wxA", schema.Followers, id, 200)
		done <- result{rows, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("CompleteSnapshot with %s down = %d, %v without a retry", written, r.rows, r.err)
	case <-w.failed:
	}
	if !strings.Contains(w.firstErr, firstErr) || !strings.Contains(w.firstErr, "has not fetched the last inserts") {
		t.Errorf("first retried error: %q, want %q on a stale replica", w.firstErr, firstErr)
	}
	sinktest.StartNode(t, written)
	fetches("START")
	if r := <-done; r.err != nil || r.rows != 200 {
		t.Fatalf("CompleteSnapshot = %d, %v; want 200 rows", r.rows, r.err)
	}
	syncReplicas(t, db, "wechat_snapshots")
	equalLines(t, "snapshot row", sinktest.Rows(t, s, "SELECT complete, rows FROM "+db+".wechat_snapshots FINAL WHERE snapshot_id = ?", id), []string{"1 200"})
}

// openidsOnShard2 returns n openids of appid whose rows (sharded by
// cityHash64(appid, openid)) are on shard 2.
func openidsOnShard2(t *testing.T, s *sink.Sink, appid string, n int) []string {
	t.Helper()
	var out []string
	for _, o := range manyOpenIDs("f", 4*n) {
		if len(out) < n && sinktest.Count(t, s, "SELECT toUInt64(cityHash64(?, ?) % 2)", appid, o) == 1 {
			out = append(out, o)
		}
	}
	if len(out) < n {
		t.Fatalf("%d of %d openids on shard 2", len(out), n)
	}
	return out
}

// On a cluster the snapshot list may be stale, so an in-progress snapshot
// older than the newest complete one may be complete: it keeps its
// partition while fewer than Retention complete snapshots are newer, then
// is dropped as abandoned.
func TestClusterRetentionKeepsAnInProgressSnapshotWhileItMayBeComplete(t *testing.T) {
	s := sinktest.OpenCluster(t, sink.Config{Retention: 2})
	db := s.Database()
	partitions := func(want ...uint64) {
		t.Helper()
		syncReplicas(t, db, "wechat_followers")
		var lines []string
		for _, id := range want {
			lines = append(lines, fmt.Sprintf("%q", fmt.Sprint(id)))
		}
		for _, node := range sinktest.ClusterNodes {
			got := sinktest.Rows(t, nodeSink(t, node, db), "SELECT DISTINCT partition_id FROM system.parts WHERE database = ? AND table = 'wechat_followers_local' AND active ORDER BY partition_id", db)
			equalLines(t, "partitions on "+node, got, lines)
		}
	}
	// 100 openids a snapshot: rows on both shards.
	s1 := writeSnapshot(t, s, "wxA", manyOpenIDs("a", 100)...) // never completed
	s2 := writeSnapshot(t, s, "wxA", manyOpenIDs("b", 100)...)
	complete(t, s, "wxA", s2, 100)
	partitions(s1, s2)
	s3 := writeSnapshot(t, s, "wxA", manyOpenIDs("c", 100)...)
	complete(t, s, "wxA", s3, 100)
	partitions(s2, s3)
	syncReplicas(t, db, "wechat_snapshots")
	equalLines(t, "s1's status", sinktest.Rows(t, s, "SELECT complete FROM "+db+".wechat_snapshots FINAL WHERE snapshot_id = ?", s1),
		[]string{fmt.Sprint(sink.SnapshotAbandoned)})
}

func TestClusterConfigErrors(t *testing.T) {
	sinktest.RequireCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := sink.Open(ctx, sink.Config{DSN: sinktest.ClusterDSN(t, "default"), Cluster: "no_such_cluster"})
	if err == nil || !strings.Contains(err.Error(), `cluster "no_such_cluster" is not in the server's <remote_servers>`) {
		t.Errorf("unknown cluster: %v", err)
	}
	dsn := strings.Replace(sinktest.ClusterDSN(t, "default"), "://", "://random_replica@", 1)
	_, err = sink.Open(ctx, sink.Config{DSN: dsn, Cluster: sinktest.ClusterName})
	if err == nil || !strings.Contains(err.Error(), `load_balancing is "random"`) {
		t.Errorf("load_balancing random: %v", err)
	}
	if err := (sink.Config{InsertQuorum: 2}).Validate(); err == nil {
		t.Error("an insert quorum without a cluster was accepted")
	}
}

// A column the local tables lack (a table of an older wxsync) is added ON
// CLUSTER to every replica, and the Distributed table in front is
// recreated with it.
func TestClusterMigrateAddsColumns(t *testing.T) {
	s := sinktest.OpenCluster(t, sink.Config{})
	db := s.Database()
	ctx := sinktest.Context(t)
	for _, q := range []string{
		"ALTER TABLE `" + db + "`.wxsync_runs_local ON CLUSTER wxsync DROP COLUMN error",
		"DROP TABLE `" + db + "`.wxsync_runs ON CLUSTER wxsync",
		"CREATE TABLE `" + db + "`.wxsync_runs ON CLUSTER wxsync AS `" + db + "`.wxsync_runs_local ENGINE = Distributed(wxsync, `" + db + "`, wxsync_runs_local, cityHash64(appid))",
	} {
		if err := s.Conn().Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, node := range sinktest.ClusterNodes {
		got := sinktest.Rows(t, nodeSink(t, node, db), "SELECT table, type FROM system.columns WHERE database = ? AND name = 'error' ORDER BY table", db)
		equalLines(t, "column error on "+node, got, []string{`"wxsync_runs" "String"`, `"wxsync_runs_local" "String"`})
	}
	if err := s.RecordRun(ctx, sink.Run{ID: "r1", AppID: "wxA", Status: sink.RunOK, Error: "none"}); err != nil {
		t.Fatal(err)
	}
	equalLines(t, "runs", sinktest.Rows(t, s, "SELECT run_id, error FROM `"+db+"`.wxsync_runs"), []string{`"r1" "none"`})
}
