package schema

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// LocalSuffix is appended to a table's name to name its local, replicated
// table on a cluster; the Distributed table over it keeps the table's own
// name, so that views and queries are the same on one server and on a
// cluster.
const LocalSuffix = "_local"

// Defaults of Cluster's ZooKeeper path and replica name.
const (
	// DefaultZKPath is the ZooKeeper path of a replicated table. {shard}
	// is a macro of the server's config; {database} and {table} are filled
	// by ClusterTables itself, because ClickHouse 18.16 knows no such macros.
	DefaultZKPath = "/clickhouse/tables/{shard}/{database}/{table}"
	// DefaultReplica is the replica name: the {replica} macro.
	DefaultReplica = "{replica}"
)

// Cluster says how tables are created on a ClickHouse cluster: ON CLUSTER,
// the Replicated form of the engine, and a Distributed table in front.
type Cluster struct {
	// Name is the cluster's name in the servers' <remote_servers>.
	Name string
	// ZKPath is the ZooKeeper path template (default DefaultZKPath).
	ZKPath string
	// Replica is the replica name template (default DefaultReplica).
	Replica string
}

// WithDefaults returns c with an empty ZKPath and Replica defaulted.
func (c Cluster) WithDefaults() Cluster {
	if c.ZKPath == "" {
		c.ZKPath = DefaultZKPath
	}
	if c.Replica == "" {
		c.Replica = DefaultReplica
	}
	return c
}

// Validate reports whether c (defaulted) can be written into DDL: a plain
// cluster name, and templates without quotes. The ZooKeeper path must
// name {table}, or every table would share one path.
func (c Cluster) Validate() error {
	c = c.WithDefaults()
	var errs []error
	if !isClusterName(c.Name) {
		errs = append(errs, fmt.Errorf("cluster name %q: want letters, digits, _, . and -", c.Name))
	}
	if !isTemplate(c.ZKPath) || !strings.HasPrefix(c.ZKPath, "/") {
		errs = append(errs, fmt.Errorf("ZooKeeper path %q: want an absolute path without quotes or backslashes", c.ZKPath))
	} else if !strings.Contains(c.ZKPath, "{table}") {
		errs = append(errs, fmt.Errorf("ZooKeeper path %q must contain {table}: every table needs a path of its own", c.ZKPath))
	}
	if !isTemplate(c.Replica) {
		errs = append(errs, fmt.Errorf("replica name %q: want no quotes or backslashes", c.Replica))
	}
	return errors.Join(errs...)
}

// OnCluster returns the " ON CLUSTER `name`" clause.
func (c Cluster) OnCluster() string { return " ON CLUSTER `" + c.Name + "`" }

// ShardKey returns the columns that pick a row's shard: ShardBy, or all of
// OrderBy when it is empty.
func (s Stream) ShardKey() []string {
	if len(s.ShardBy) > 0 {
		return s.ShardBy
	}
	return s.OrderBy
}

// ClusterTables returns the two statements that create the stream's table
// on cluster c in database db, in the order they must run: the local table
// <table>_local on every host ON CLUSTER, with the Replicated form of the
// single-server engine (same columns, partitioning and sorting key: both
// come from createTable), and the Distributed table under the table's own
// name, sharded by cityHash64 of ShardKey.
func (s Stream) ClusterTables(db string, c Cluster) (local, dist string, err error) {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return "", "", err
	}
	qdb, err := Ident(db)
	if err != nil {
		return "", "", err
	}
	localName := s.Table + LocalSuffix
	if _, err := Ident(localName); err != nil {
		return "", "", err
	}
	for _, k := range s.ShardKey() {
		if !slices.Contains(s.OrderBy, k) {
			return "", "", fmt.Errorf("stream %s: shard key column %s is not in ORDER BY: versions of a key could land on different shards", s.Name, k)
		}
	}
	path := strings.NewReplacer("{database}", db, "{table}", s.Table).Replace(c.ZKPath)
	engine := fmt.Sprintf("ReplicatedReplacingMergeTree('%s', '%s'", path, c.Replica)
	if s.Version != "" {
		engine += fmt.Sprintf(", `%s`", s.Version)
	}
	engine += ")"
	local, err = s.createTable(fmt.Sprintf("%s.`%s`%s", qdb, localName, c.OnCluster()), engine)
	if err != nil {
		return "", "", err
	}
	dist = fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.`%s`%s AS %s.`%s`\nENGINE = Distributed('%s', '%s', '%s', cityHash64(%s))",
		qdb, s.Table, c.OnCluster(), qdb, localName, c.Name, db, localName, quoteList(s.ShardKey()))
	return local, dist, nil
}
