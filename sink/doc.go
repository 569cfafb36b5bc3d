// Package sink writes what a source plugin sends into ClickHouse: it owns
// the ClickHouse connection (native protocol; LZ4 to a remote server), the migration of the
// database, on one server or a cluster (tables from package schema, the wechat_snapshots and
// wxsync_state tables, the *_current views and wechat_followers_live), the insertion of Arrow
// record batches (sent sorted by each table's key, so that ClickHouse
// does not sort them), the snapshot life cycle with its pruning and its
// counts (without FINAL when the tally of a snapshot's openids, kept in an
// unlinked temporary file, proves the answer), the
// stored sync state (the resumable cursor of each account and stream), the
// run records (wxsync_runs), the sealed credentials (wxsync_credentials:
// it stores and loads the host's ciphertext, never a value in clear), the
// lookups of which profiles are fresh (FreshProfiles per page, or a
// FreshSet loaded once per run), and the parsing and password redaction
// of its DSN (ParseDSN, RedactDSN: the one place they are written).
//
// It must not touch: WeChat or its API (connector/), the plugin protocol
// (plugin/; it takes only the run statuses from plugin/kind's table), or
// the definition of columns. Every stream column and its DDL
// come from package schema; the sink never writes a stream's column list of
// its own. Its two bookkeeping tables are declared here, once, as
// schema.Stream values so that they share the DDL generator.
//
// # Compatibility
//
// Everything runs on ClickHouse 18.16 and on current releases: no
// LowCardinality, DateTime64, Map, TTL or ADD COLUMN IF NOT EXISTS, and no
// INSERT ... VALUES through Exec (it hangs on 18.16 with clickhouse-go v2).
// Every write goes through conn.PrepareBatch with an explicit column list
// and is appended column by column with typed slices. Values are always
// bound as parameters; identifiers are validated with schema.Ident.
//
// The connection itself is opened without a database (the server's default
// one), so that Migrate can create the configured database; every
// statement names its tables as database.table.
//
// # Snapshots
//
// Each Snapshot stream (followers, blacklist) stores one complete copy of
// its list per snapshot, one partition per snapshot_id. wechat_snapshots
// records every snapshot, the newest version of a row winning. Its
// complete column is a status:
//
//	0  in progress (or abandoned, when older than the newest complete one)
//	1  complete
//	2  pruned: was complete, its partition has been dropped (retention)
//	3  abandoned: never completed, its partition has been dropped
//
// Rows of pruned snapshots stay in wechat_snapshots as history. The
// <table>_current views show, for every account, the snapshot with the
// highest id among those with complete = 1, so a newer snapshot that is
// still being written never hides the last complete one.
//
// # Cluster mode
//
// With Config.Cluster set, Migrate creates every table ON CLUSTER as a
// Replicated local table (<table>_local, DDL from schema.Stream.ClusterTables)
// behind a Distributed table of the table's own name, and the views ON
// CLUSTER with GLOBAL IN; every other statement is the same as on one server.
// The session makes distributed inserts synchronous, turns off replicated
// block deduplication and reads and writes each shard on its first replica
// alive (cluster.go says why). Migrate sends no ON CLUSTER statement when
// every object exists, and bounds each one by Config.DDLTimeout.
//
// # Retries
//
// A write that fails for a transient reason (connection refused or reset,
// server restarting, too many parts) is retried with exponential backoff
// for up to Config.InsertMaxElapsed, with a fresh batch each time. This is
// idempotent because every table is a ReplacingMergeTree keyed by the row's
// key. Schema and type errors are not retried. A batch is never dropped
// silently: the final error says how many rows were not committed.
package sink
