// Package schema defines every stream wxsync moves: its Arrow schema, the
// ClickHouse table it lands in, and the DDL derived from that schema.
//
// It is the single source of truth for columns. The plugin builds record
// batches from SourceSchema, the sink creates tables from CreateTable (on
// one server) or ClusterTables (on a cluster: the Replicated form of the
// same DDL plus a Distributed table sharded by ShardKey), and neither
// writes a column list of its own.
//
// The follow_events stream (Pushed) arrives by push through wxsync listen;
// All and Names list only the streams a sync walks.
//
// It owns no I/O: no network, no ClickHouse connection, no WeChat calls.
package schema
