package sink

// Cluster mode (Config.Cluster): what differs from one server.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/wxsync/wxsync/schema"
)

// stringSettingsRevision is the first server revision to which clickhouse-go
// can send a setting that is not a number (DBMS_MIN_REVISION_WITH_SETTINGS_
// SERIALIZED_AS_STRINGS, ClickHouse 20.x). To an older server it can only
// send unsigned numbers: load_balancing must then come from the profile.
const stringSettingsRevision = 54429

// clusterSettings returns the session settings of a cluster sink, on top of
// the DSN's:
//
//   - insert_distributed_sync = 1: an INSERT into a Distributed table returns
//     once every shard has its rows (by default it returns once they are
//     queued on the node written to), so a cursor saved after it is never
//     ahead of rows on the shards.
//   - insert_deduplicate = 0: a replicated table would drop an insert block
//     identical to one of the last 100, which may be another run's (see
//     docs/architecture.md); every table is a ReplacingMergeTree keyed by
//     the row's key, so a retried block is collapsed by FINAL anyway, as on
//     one server.
//   - skip_unavailable_shards = 0 (the default, made explicit): a read with
//     a shard down fails instead of answering from the other shards.
//   - prefer_localhost_replica = 0: the shard of the server the sink is
//     connected to is read and written on the first replica alive too, as
//     every other shard (load_balancing = in_order), not on that server;
//     so a sink connected to any server of the cluster reads each shard
//     from the replica another one wrote it to.
//   - insert_quorum = Config.InsertQuorum when above 1.
//
// Only unsigned integer settings are set here: clickhouse-go writes every
// setting as an unsigned varint to 18.16, which reads signed ones
// (distributed_ddl_task_timeout) zigzag-encoded and string ones not at all.
func clusterSettings(cfg Config, from clickhouse.Settings) clickhouse.Settings {
	set := clickhouse.Settings{}
	for k, v := range from {
		set[k] = v
	}
	set["insert_distributed_sync"] = 1
	set["insert_deduplicate"] = 0
	set["skip_unavailable_shards"] = 0
	set["prefer_localhost_replica"] = 0
	if cfg.InsertQuorum > 1 {
		set["insert_quorum"] = cfg.InsertQuorum
	}
	return set
}

// checkCluster verifies what a cluster sink needs of the server it
// connects to: the cluster is in its <remote_servers>, and the session's
// load_balancing is in_order, so that the sink reads each shard from the
// replica it wrote to (the first one alive in the cluster's order; a
// random replica may not have fetched the last insert yet, and would give a
// stale cursor or a short count).
func (s *Sink) checkCluster(ctx context.Context) error {
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM system.clusters WHERE cluster = ?", s.cluster.Name).Scan(&n); err != nil {
		return fmt.Errorf("read system.clusters: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("cluster %q is not in the server's <remote_servers> (see SELECT DISTINCT cluster FROM system.clusters)", s.cluster.Name)
	}
	var lb string
	if err := s.conn.QueryRow(ctx, "SELECT value FROM system.settings WHERE name = 'load_balancing'").Scan(&lb); err != nil {
		return fmt.Errorf("read load_balancing: %w", err)
	}
	if lb != "in_order" {
		return fmt.Errorf("load_balancing is %q: a cluster sink needs in_order (set <load_balancing>in_order</load_balancing> in the profile of its user; see docs/cluster.md)", lb)
	}
	return nil
}

// openCluster opens the connection of a cluster sink: with
// load_balancing = in_order in its settings when the server can take a
// string setting from the driver; otherwise as is, and checkCluster then
// requires it from the user's profile.
func openCluster(opts *clickhouse.Options) (driver.Conn, error) {
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, err
	}
	v, err := conn.ServerVersion()
	if err != nil || v.Revision < stringSettingsRevision {
		return conn, nil // the caller's ping reports a failure
	}
	_ = conn.Close()
	opts.Settings["load_balancing"] = "in_order"
	return clickhouse.Open(opts)
}

// staleReplicaError is a cluster read that lacks what this Sink wrote:
// the shard was read on a replica that has not fetched the last inserts
// yet. ClickHouse ranks a shard's replicas by their recent errors before
// their order, and halves those counts as time passes, so for some
// minutes after a replica failed an insert and the read after it may be
// sent to different replicas of a shard. The replica fetches the rows in
// the background: Retryable takes the error as transient, and the read is
// tried again.
type staleReplicaError struct{ what string }

func (e *staleReplicaError) Error() string {
	return e.what + " (read on a replica that has not fetched the last inserts yet)"
}

// ddl runs an ON CLUSTER statement, waiting at most Config.DDLTimeout for
// the hosts to report. A host that is down does not hang the run: the
// statement stays queued in ZooKeeper, the host runs it when it is back, and
// the timeout is an error (retryable) only for the statement that needed it.
func (s *Sink) ddl(ctx context.Context, q string, args ...any) error {
	deadline := time.Now().Add(s.cfg.DDLTimeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if err := s.conn.Exec(ctx, q, args...); err != nil {
		// The driver's read deadline is the context's: its i/o timeout may
		// come before the context reports its end.
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			return fmt.Errorf("%w: not every host of cluster %s answered within %s (ClickHouse runs the statement on the others when they are back): %v",
				context.DeadlineExceeded, s.cluster.Name, s.cfg.DDLTimeout, err)
		}
		return err
	}
	return nil
}

// clusterObject is an object Migrate manages on a cluster and the
// statement that creates it.
type clusterObject struct {
	name string // in the sink's database
	ddl  string
}

// clusterDDL returns the statements that create every table and view on
// the cluster, and the name of each object they create.
func (s *Sink) clusterDDL() ([]clusterObject, error) {
	var out []clusterObject
	for _, st := range tables() {
		local, dist, err := st.ClusterTables(s.db, *s.cluster)
		if err != nil {
			return nil, err
		}
		out = append(out, clusterObject{st.Table + schema.LocalSuffix, local}, clusterObject{st.Table, dist})
	}
	for _, st := range schema.All() {
		if st.Kind != schema.Snapshot {
			continue
		}
		v, err := currentViewDDL(s.db, st, s.cluster)
		if err != nil {
			return nil, err
		}
		out = append(out, clusterObject{st.CurrentView, v})
	}
	live, err := liveViewDDL(s.db, s.cluster)
	if err != nil {
		return nil, err
	}
	return append(out, clusterObject{schema.FollowersLiveView, live}), nil
}

// migrateCluster is Migrate on a cluster. When every object already exists
// on the server the sink is connected to, with every column, it runs no
// ON CLUSTER statement at all: a run must not wait for a replica that is
// down. Otherwise it creates the database and each missing object ON
// CLUSTER (IF NOT EXISTS, so a host that has one already is not disturbed),
// and adds missing columns to the local tables (the replicas copy the
// ALTER) and recreates the Distributed table in front of each, which holds
// no data.
func (s *Sink) migrateCluster(ctx context.Context) error {
	objs, err := s.clusterDDL()
	if err != nil {
		return err
	}
	have, err := s.existingObjects(ctx)
	if err != nil {
		return err
	}
	missingCols, err := s.clusterMissingColumns(ctx, have)
	if err != nil {
		return err
	}
	missing := false
	for _, o := range objs {
		missing = missing || !have[o.name]
	}
	if !missing && len(missingCols) == 0 {
		return nil
	}
	if err := s.ddl(ctx, "CREATE DATABASE IF NOT EXISTS "+s.qdb+s.cluster.OnCluster()); err != nil {
		return fmt.Errorf("create database %s on cluster %s: %w", s.db, s.cluster.Name, err)
	}
	for _, o := range objs {
		if have[o.name] {
			continue
		}
		if err := s.ddl(ctx, o.ddl); err != nil {
			return fmt.Errorf("create %s on cluster %s: %w", o.name, s.cluster.Name, err)
		}
	}
	return s.addClusterColumns(ctx, missingCols)
}

// existingObjects returns the tables and views of the sink's database on
// the server it is connected to.
func (s *Sink) existingObjects(ctx context.Context) (map[string]bool, error) {
	rows, err := s.conn.Query(ctx, "SELECT name FROM system.tables WHERE database = ?", s.db)
	if err != nil {
		return nil, fmt.Errorf("list tables of %s: %w", s.db, err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("list tables of %s: %w", s.db, err)
		}
		have[name] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables of %s: %w", s.db, err)
	}
	return have, nil
}

// tableColumnsToAdd are the columns a table lacks, as ALTER clauses.
type tableColumnsToAdd struct {
	st  schema.Stream
	add []string
}

// clusterMissingColumns returns, per existing local table, the ALTER
// clauses of the columns it lacks; a column of another type is an error,
// as on one server.
func (s *Sink) clusterMissingColumns(ctx context.Context, have map[string]bool) ([]tableColumnsToAdd, error) {
	var out []tableColumnsToAdd
	var errs []error
	for _, st := range tables() {
		local := st.Table + schema.LocalSuffix
		if !have[local] {
			continue
		}
		cols, err := s.tableColumns(ctx, local)
		if err != nil {
			return nil, err
		}
		add, err := missingColumns(s.db, local, st, cols)
		if err != nil {
			errs = append(errs, err)
		}
		if len(add) > 0 {
			out = append(out, tableColumnsToAdd{st, add})
		}
	}
	return out, errors.Join(errs...)
}

// addClusterColumns adds the columns of missing to the local tables ON
// CLUSTER and recreates the Distributed table over each with the new
// columns.
func (s *Sink) addClusterColumns(ctx context.Context, missing []tableColumnsToAdd) error {
	for _, m := range missing {
		st := m.st
		local := st.Table + schema.LocalSuffix
		for _, add := range m.add {
			q := fmt.Sprintf("ALTER TABLE %s.`%s`%s ADD COLUMN %s", s.qdb, local, s.cluster.OnCluster(), add)
			if err := s.ddl(ctx, q); err != nil {
				return fmt.Errorf("table %s: add column %s on cluster %s: %w", local, add, s.cluster.Name, err)
			}
			s.log.Info("clickhouse column added", "database", s.db, "table", local, "column", add, "cluster", s.cluster.Name)
		}
		// ALTER of a Distributed table ON CLUSTER fails over a replicated
		// cluster on 18.16 (code 371); it holds no data, so recreate it.
		_, dist, err := st.ClusterTables(s.db, *s.cluster)
		if err != nil {
			return err
		}
		if err := s.ddl(ctx, fmt.Sprintf("DROP TABLE IF EXISTS %s.`%s`%s", s.qdb, st.Table, s.cluster.OnCluster())); err != nil {
			return fmt.Errorf("recreate %s on cluster %s: %w", st.Table, s.cluster.Name, err)
		}
		if err := s.ddl(ctx, dist); err != nil {
			return fmt.Errorf("recreate %s on cluster %s: %w", st.Table, s.cluster.Name, err)
		}
	}
	return nil
}

// partitionsSource returns the table that holds table's partitions and the
// FROM clause that lists them: the table itself in system.parts on one
// server; on a cluster, the local table in system.parts of one replica of
// every shard (the first alive).
func (s *Sink) partitionsSource(table string) (holder, from string) {
	if s.cluster == nil {
		return table, "system.parts"
	}
	return table + schema.LocalSuffix, fmt.Sprintf("cluster('%s', system, parts)", s.cluster.Name)
}

// dropPartition drops partition pid of table. On a cluster it drops it
// from the local table ON CLUSTER: one replica of each shard runs it and
// the other replicas copy it from the replication log, a replica that is
// down when it is back. If that replica leads its shard's replication the
// statement fails until ZooKeeper has expired its session; the caller's
// retry then lists the partitions again and drops only what is left.
func (s *Sink) dropPartition(ctx context.Context, table, pid string) error {
	if s.cluster == nil {
		return s.conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s.`%s` DROP PARTITION ID ?", s.qdb, table), pid)
	}
	return s.ddl(ctx, fmt.Sprintf("ALTER TABLE %s.`%s`%s DROP PARTITION ID ?", s.qdb, table+schema.LocalSuffix, s.cluster.OnCluster()), pid)
}

// globalIn is the IN of a subquery over an external or Distributed table,
// evaluated once by the server the sink is connected to: GLOBAL IN on a
// cluster (a shard knows neither the sink's external tables nor may it
// query a Distributed table again), IN on one server.
func (s *Sink) globalIn() string {
	if s.cluster == nil {
		return "IN"
	}
	return "GLOBAL IN"
}

// clusterClause returns " ON CLUSTER `name`" on a cluster, "" otherwise.
func clusterClause(c *schema.Cluster) string {
	if c == nil {
		return ""
	}
	return c.OnCluster()
}
