package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/wxsync/wxsync/schema"
)

// Names of the sink's bookkeeping tables.
const (
	// SnapshotsTable records every snapshot of every Snapshot stream.
	SnapshotsTable = "wechat_snapshots"
	// StateTable holds the resumable cursor of each (appid, stream).
	StateTable = "wxsync_state"
	// RunsTable records every run of `wxsync sync`, failed ones included.
	RunsTable = "wxsync_runs"
)

// Values of wechat_snapshots.complete.
const (
	// SnapshotInProgress marks a snapshot being written, or abandoned when
	// it is older than the newest complete one.
	SnapshotInProgress uint8 = 0
	// SnapshotComplete marks a complete snapshot whose rows are kept.
	SnapshotComplete uint8 = 1
	// SnapshotPruned marks a complete snapshot dropped by retention.
	SnapshotPruned uint8 = 2
	// SnapshotAbandoned marks an incomplete snapshot whose rows were
	// dropped because a newer snapshot completed.
	SnapshotAbandoned uint8 = 3
)

// dateTime is the Arrow type that schema maps to DateTime.
func dateTime() arrow.DataType {
	return &arrow.TimestampType{Unit: arrow.Second, TimeZone: "UTC"}
}

// snapshotsTable describes wechat_snapshots as a schema.Stream, so that
// its DDL comes from schema.Stream.CreateTable like every other table.
func snapshotsTable() schema.Stream {
	u64 := arrow.PrimitiveTypes.Uint64
	str := arrow.BinaryTypes.String
	return schema.Stream{
		Name: SnapshotsTable, Table: SnapshotsTable, Kind: schema.Latest,
		Doc: "Every snapshot of a Snapshot stream: when it started and finished, its row count, and whether it is complete.",
		Schema: arrow.NewSchema([]arrow.Field{
			{Name: "appid", Type: str},
			{Name: "stream", Type: str},
			{Name: "snapshot_id", Type: u64},
			{Name: "started_at", Type: dateTime()},
			{Name: "finished_at", Type: dateTime()},
			{Name: "reported_total", Type: u64},
			{Name: "rows", Type: u64},
			{Name: "complete", Type: arrow.PrimitiveTypes.Uint8},
			{Name: "version", Type: u64},
		}, nil),
		OrderBy: []string{"appid", "stream", "snapshot_id"},
		Version: "version",
	}
}

// stateTable describes wxsync_state as a schema.Stream.
func stateTable() schema.Stream {
	u64 := arrow.PrimitiveTypes.Uint64
	str := arrow.BinaryTypes.String
	return schema.Stream{
		Name: StateTable, Table: StateTable, Kind: schema.Latest,
		Doc: "The resumable cursor of each (appid, stream), the newest version winning.",
		Schema: arrow.NewSchema([]arrow.Field{
			{Name: "appid", Type: str},
			{Name: "stream", Type: str},
			{Name: "snapshot_id", Type: u64},
			{Name: "cursor", Type: str},
			{Name: "updated_at", Type: dateTime()},
			{Name: "version", Type: u64},
		}, nil),
		OrderBy: []string{"appid", "stream"},
		Version: "version",
	}
}

// runsTable describes wxsync_runs as a schema.Stream. Per-stream and
// per-path figures are parallel arrays (streams[i] wrote rows[i]), which
// ClickHouse 18.16 has; it has no Map.
func runsTable() schema.Stream {
	u64 := arrow.PrimitiveTypes.Uint64
	str := arrow.BinaryTypes.String
	return schema.Stream{
		Name: RunsTable, Table: RunsTable, Kind: schema.Latest,
		Doc: "One row per run of `wxsync sync`: when, how it ended, rows per stream, API calls per path, quota left.",
		Schema: arrow.NewSchema([]arrow.Field{
			{Name: "run_id", Type: str},
			{Name: "appid", Type: str},
			{Name: "started_at", Type: dateTime()},
			{Name: "finished_at", Type: dateTime()},
			{Name: "status", Type: str},
			{Name: "exit_code", Type: arrow.PrimitiveTypes.Uint8},
			{Name: "streams", Type: arrow.ListOf(str)},
			{Name: "rows", Type: arrow.ListOf(u64)},
			{Name: "snapshot_ids", Type: arrow.ListOf(u64)},
			{Name: "api_paths", Type: arrow.ListOf(str)},
			{Name: "api_calls", Type: arrow.ListOf(u64)},
			{Name: "quota_paths", Type: arrow.ListOf(str)},
			{Name: "quota_remain", Type: arrow.ListOf(u64)},
			{Name: "error", Type: str},
		}, nil),
		OrderBy: []string{"appid", "started_at", "run_id"},
	}
}

// tables returns every table Migrate manages: the streams', then the
// bookkeeping ones.
func tables() []schema.Stream {
	return append(append(schema.All(), schema.Pushed()...), snapshotsTable(), stateTable(), runsTable(), credentialsTable())
}

// CurrentViewDDL returns the CREATE VIEW IF NOT EXISTS statement of the
// Snapshot stream st's current view in database db on one server: for every
// account, the rows of its newest complete snapshot.
func CurrentViewDDL(db string, st schema.Stream) (string, error) {
	return currentViewDDL(db, st, nil)
}

// currentViewDDL is CurrentViewDDL, ON CLUSTER c when c is not nil. On a
// cluster the view reads the Distributed tables, and its subquery is a
// GLOBAL IN: run once, by the server the view is queried on, and sent to
// the shards (a plain IN over a Distributed table inside a query over
// another is refused, distributed_product_mode = deny). FINAL is applied
// per shard, which is exact because each table is sharded by a subset of
// its sorting key (schema.Stream.ShardBy).
func currentViewDDL(db string, st schema.Stream, c *schema.Cluster) (string, error) {
	if st.Kind != schema.Snapshot || st.CurrentView == "" {
		return "", fmt.Errorf("stream %s has no current view", st.Name)
	}
	qdb, err := schema.Ident(db)
	if err != nil {
		return "", err
	}
	qview, err := schema.Ident(st.CurrentView)
	if err != nil {
		return "", err
	}
	qtable, err := schema.Ident(st.Table)
	if err != nil {
		return "", err
	}
	// The stream name is a literal of the DDL; Ident guarantees it needs
	// no escaping.
	if _, err := schema.Ident(st.Name); err != nil {
		return "", err
	}
	in := "IN"
	if c != nil {
		in = "GLOBAL IN"
	}
	return fmt.Sprintf("CREATE VIEW IF NOT EXISTS %s.%s%s AS\n"+
		"SELECT %s\nFROM %s.%s FINAL\n"+
		"WHERE (`appid`, `snapshot_id`) %s (\n"+
		"    SELECT `appid`, max(`snapshot_id`) FROM %s.`%s` FINAL\n"+
		"    WHERE `stream` = '%s' AND `complete` = %d\n"+
		"    GROUP BY `appid`)",
		qdb, qview, clusterClause(c), strings.Join(st.Columns(), ", "), qdb, qtable, in,
		qdb, SnapshotsTable, st.Name, SnapshotComplete), nil
}

// Migrate brings the database up to the schema. It is idempotent: it
// creates the database, every stream table, wechat_snapshots, wxsync_state,
// wxsync_runs and the current views when missing, and adds the columns an
// existing table lacks (ALTER TABLE ... ADD COLUMN). A column whose type differs
// from the schema's is an error: Migrate never changes a type. Columns the
// schema does not know are left alone. An existing view is not replaced.
//
// On a cluster (Config.Cluster) every object is created ON CLUSTER: see
// migrateCluster.
func (s *Sink) Migrate(ctx context.Context) error {
	if s.cluster != nil {
		if err := s.migrateCluster(ctx); err != nil {
			return fmt.Errorf("migrate %s: %w", s.db, err)
		}
		return nil
	}
	if err := s.conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+s.qdb); err != nil {
		return fmt.Errorf("migrate: create database %s: %w", s.db, err)
	}
	// The tables are independent, and so are the current views: each
	// group's statements run at once, on connections of the pool, which
	// saves most of their round trips (a first run creates eight tables).
	tabs := tables()
	if err := eachAtOnce(len(tabs), func(i int) error { return s.migrateTable(ctx, tabs[i]) }); err != nil {
		return fmt.Errorf("migrate %s: %w", s.db, err)
	}
	var snaps []schema.Stream
	for _, st := range schema.All() {
		if st.Kind == schema.Snapshot {
			snaps = append(snaps, st)
		}
	}
	err := eachAtOnce(len(snaps), func(i int) error {
		ddl, err := CurrentViewDDL(s.db, snaps[i])
		if err != nil {
			return err
		}
		if err := s.conn.Exec(ctx, ddl); err != nil {
			return fmt.Errorf("create view %s: %w", snaps[i].CurrentView, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate %s: %w", s.db, err)
	}
	ddl, err := LiveViewDDL(s.db)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", s.db, err)
	}
	if err := s.conn.Exec(ctx, ddl); err != nil {
		return fmt.Errorf("migrate %s: create view %s: %w", s.db, schema.FollowersLiveView, err)
	}
	return nil
}

// eachAtOnce runs f(0) … f(n-1) concurrently and returns their errors
// joined, in index order (nil when all succeed).
func eachAtOnce(n int, f func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = f(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// migrateTable creates st's table when missing and adds missing columns.
func (s *Sink) migrateTable(ctx context.Context, st schema.Stream) error {
	qtable, err := schema.Ident(st.Table)
	if err != nil {
		return fmt.Errorf("table of stream %s: %w", st.Name, err)
	}
	ddl, err := st.CreateTable(s.db)
	if err != nil {
		return err
	}
	if err := s.conn.Exec(ctx, ddl); err != nil {
		return fmt.Errorf("create table %s: %w", st.Table, err)
	}
	have, err := s.tableColumns(ctx, st.Table)
	if err != nil {
		return err
	}
	add, err := missingColumns(s.db, st.Table, st, have)
	errs := []error{err}
	for _, a := range add {
		alter := fmt.Sprintf("ALTER TABLE %s.%s ADD COLUMN %s", s.qdb, qtable, a)
		if err := s.conn.Exec(ctx, alter); err != nil {
			errs = append(errs, fmt.Errorf("table %s: add column %s: %w", st.Table, a, err))
			continue
		}
		s.log.Info("clickhouse column added", "database", s.db, "table", st.Table, "column", a)
	}
	return errors.Join(errs...)
}

// missingColumns compares the columns table has (name to type) with st's
// schema: it returns the "`name` Type" clause of each column the table
// lacks, and an error for each column whose type differs.
func missingColumns(db, table string, st schema.Stream, have map[string]string) ([]string, error) {
	var (
		add  []string
		errs []error
	)
	for _, f := range st.Schema.Fields() {
		want, err := schema.ColumnType(f.Type)
		if err != nil {
			return nil, fmt.Errorf("table %s column %s: %w", table, f.Name, err)
		}
		got, ok := have[f.Name]
		switch {
		case !ok:
			qcol, err := schema.Ident(f.Name)
			if err != nil {
				return nil, fmt.Errorf("table %s: %w", table, err)
			}
			add = append(add, qcol+" "+want)
		case got != want:
			errs = append(errs, fmt.Errorf("table %s.%s column %s has type %s but the schema wants %s: migrate never changes a column's type; alter or recreate the table by hand",
				db, table, f.Name, got, want))
		}
	}
	return add, errors.Join(errs...)
}

// tableColumns returns the columns of table in the sink's database, name
// to type, from system.columns.
func (s *Sink) tableColumns(ctx context.Context, table string) (map[string]string, error) {
	rows, err := s.conn.Query(ctx, "SELECT name, type FROM system.columns WHERE database = ? AND table = ?", s.db, table)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", table, err)
	}
	defer rows.Close()
	cols := make(map[string]string)
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, fmt.Errorf("read columns of %s: %w", table, err)
		}
		cols[name] = typ
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", table, err)
	}
	return cols, nil
}
