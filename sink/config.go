package sink

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/wxsync/wxsync/schema"
)

// Defaults of Config.
const (
	// DefaultDSN is the ClickHouse used when Config.DSN is empty.
	DefaultDSN = "clickhouse://127.0.0.1:9000/default"
	// DefaultRetention is the number of complete snapshots kept per
	// (appid, stream) when Config.Retention is zero.
	DefaultRetention = 7
	// DefaultInsertMaxElapsed is how long a failing write is retried when
	// Config.InsertMaxElapsed is zero.
	DefaultInsertMaxElapsed = 2 * time.Minute
	// DefaultDDLTimeout bounds how long an ON CLUSTER statement waits for
	// every host when Config.DDLTimeout is zero.
	DefaultDDLTimeout = time.Minute
)

// Config configures a Sink. Zero values mean the defaults.
type Config struct {
	// DSN locates ClickHouse and names the database, for example
	// clickhouse://user:pass@host:9000/db?secure=true. Only the native
	// protocol is accepted. Default DefaultDSN.
	DSN string
	// Retention is how many complete snapshots are kept per (appid,
	// stream); older ones are pruned. Default DefaultRetention, at least 1.
	Retention int
	// InsertMaxElapsed is how long a failing insert or state write is
	// retried with exponential backoff before giving up. Default
	// DefaultInsertMaxElapsed.
	InsertMaxElapsed time.Duration
	// Logger receives the sink's and the driver's log. Default: discard.
	Logger *slog.Logger

	// Cluster, when set, is the name of a cluster in the servers'
	// <remote_servers>: every table is then created ON CLUSTER as a
	// Replicated local table (<table>_local) with a Distributed table in
	// front under the table's own name, and every insert waits until its
	// rows are on their shards. Empty: one server, plain tables.
	Cluster string
	// ZKPath is the ZooKeeper path template of the replicated tables
	// (default schema.DefaultZKPath); the sink fills {database} and
	// {table}, the servers the other macros.
	ZKPath string
	// Replica is the replica name template (default schema.DefaultReplica).
	Replica string
	// InsertQuorum, when above 1, makes every insert wait until that many
	// replicas of each shard hold the rows (ClickHouse's insert_quorum).
	// 0 or 1: one replica per shard, the others copy in the background.
	InsertQuorum int
	// DDLTimeout bounds how long an ON CLUSTER statement waits for every
	// host (distributed_ddl_task_timeout). Default DefaultDDLTimeout.
	DDLTimeout time.Duration
}

// cluster returns the schema.Cluster of c, nil when c is single-server.
func (c Config) cluster() *schema.Cluster {
	if c.Cluster == "" {
		return nil
	}
	cl := schema.Cluster{Name: c.Cluster, ZKPath: c.ZKPath, Replica: c.Replica}.WithDefaults()
	return &cl
}

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	return Config{
		DSN:              DefaultDSN,
		Retention:        DefaultRetention,
		InsertMaxElapsed: DefaultInsertMaxElapsed,
		Logger:           slog.New(slog.DiscardHandler),
		ZKPath:           schema.DefaultZKPath,
		Replica:          schema.DefaultReplica,
		DDLTimeout:       DefaultDDLTimeout,
	}
}

// withDefaults returns c with its zero fields replaced by the defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.DSN == "" {
		c.DSN = d.DSN
	}
	if c.Retention == 0 {
		c.Retention = d.Retention
	}
	if c.InsertMaxElapsed == 0 {
		c.InsertMaxElapsed = d.InsertMaxElapsed
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	if c.ZKPath == "" {
		c.ZKPath = d.ZKPath
	}
	if c.Replica == "" {
		c.Replica = d.Replica
	}
	if c.DDLTimeout == 0 {
		c.DDLTimeout = d.DDLTimeout
	}
	return c
}

// Validate reports whether c, with its zero fields defaulted, is usable: a
// DSN that parses (native protocol, valid database name), Retention >= 1,
// a positive InsertMaxElapsed, and on a cluster a valid cluster name, ZooKeeper
// path and replica, and an insert quorum of 0 to 16. Its errors never contain the password.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Retention < 1 {
		errs = append(errs, fmt.Errorf("retention must be at least 1, got %d", c.Retention))
	}
	if c.InsertMaxElapsed < 0 {
		errs = append(errs, fmt.Errorf("insert max elapsed must be positive, got %s", c.InsertMaxElapsed))
	}
	if _, _, err := parseDSN(c.DSN); err != nil {
		errs = append(errs, err)
	}
	if cl := c.cluster(); cl != nil {
		if err := cl.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.InsertQuorum < 0 || c.InsertQuorum > 16 {
		errs = append(errs, fmt.Errorf("insert quorum must be 0 to 16, got %d", c.InsertQuorum))
	}
	if c.InsertQuorum > 1 && c.Cluster == "" {
		errs = append(errs, errors.New("an insert quorum needs a cluster (replicated tables)"))
	}
	if c.DDLTimeout < time.Second {
		errs = append(errs, fmt.Errorf("DDL timeout must be at least 1s, got %s", c.DDLTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sink config: %w", err)
	}
	return nil
}
