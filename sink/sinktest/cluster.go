package sinktest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wxsync/wxsync/sink"
)

// The test cluster: started by `make cluster` (sink/devserver/cluster.sh),
// 2 shards x 2 replicas of ClickHouse with ZooKeeper on 127.0.0.1.
const (
	// EnvClusterDSN names a node of the test cluster (default
	// DefaultClusterDSN); its database part is replaced.
	EnvClusterDSN = "WXSYNC_CLUSTER_DSN"
	// EnvClusterDir is the folder cluster.sh keeps the cluster in (default
	// .clickhouse-cluster at the top of the module); tests that stop and
	// start nodes need it.
	EnvClusterDir = "WXSYNC_CLUSTER_DIR"
	// EnvRequireCluster, set to 1 (the Makefile's test target does), makes
	// a cluster that does not answer fail the cluster tests; otherwise they
	// are skipped, so that `go test ./...` without `make cluster` still
	// runs everything else.
	EnvRequireCluster = "WXSYNC_REQUIRE_CLUSTER"
	// EnvClusterPass, set to 0, skips the cluster tests: testservers runs
	// them with the first server of CLICKHOUSE_TEST_DSNS only, since they
	// use the cluster, not that server.
	EnvClusterPass = "WXSYNC_CLUSTER_PASS"
	// DefaultClusterDSN is the first node (shard 1, replica 1) of the
	// cluster that `make cluster` starts.
	DefaultClusterDSN = "clickhouse://127.0.0.1:29101/default"
	// ClusterName is the test cluster's name in <remote_servers>.
	ClusterName = "wxsync"
)

// ClusterNodes are the test cluster's servers, shard by shard.
var ClusterNodes = []string{"s1r1", "s1r2", "s2r1", "s2r2"}

// ClusterDSN returns the DSN of the cluster's first node with database db.
func ClusterDSN(tb testing.TB, db string) string {
	tb.Helper()
	base := os.Getenv(EnvClusterDSN)
	if base == "" {
		base = DefaultClusterDSN
	}
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("sinktest: %s does not parse as a URL", EnvClusterDSN)
	}
	u.Path = "/" + db
	return u.String()
}

// clusterLock serializes the tests that use the test cluster, across the
// test binaries `go test ./...` runs at once: a test that stops a node would
// make another's ON CLUSTER statements wait for it. It is an flock on a file
// of the cluster's folder, taken once per process (the tests of one
// package that use the cluster do not run in parallel) and released when
// the last test holding it ends.
var clusterLock struct {
	mu sync.Mutex
	n  int
	f  *os.File
}

// LockCluster gives the test the test cluster to itself until it ends;
// OpenCluster, RequireCluster, KillNode and StartNode take it.
func LockCluster(tb testing.TB) {
	tb.Helper()
	if os.Getenv(EnvClusterPass) == "0" {
		tb.Skipf("sinktest: the cluster tests run in another server's pass (%s=0)", EnvClusterPass)
	}
	clusterLock.mu.Lock()
	defer clusterLock.mu.Unlock()
	if clusterLock.n == 0 {
		f, err := os.OpenFile(filepath.Join(clusterDir(tb), "tests.lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			clusterUnavailable(tb, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			tb.Fatalf("sinktest: lock the test cluster: %v", err)
		}
		clusterLock.f = f
	}
	clusterLock.n++
	tb.Cleanup(func() {
		clusterLock.mu.Lock()
		defer clusterLock.mu.Unlock()
		if clusterLock.n--; clusterLock.n == 0 {
			_ = clusterLock.f.Close() // releases the flock
			clusterLock.f = nil
		}
	})
}

// OpenCluster opens a Sink in cluster mode (cfg.Cluster = ClusterName) on a
// new database of the test cluster, migrated, and drops the database ON
// CLUSTER when the test ends. cfg.DSN is replaced.
func OpenCluster(tb testing.TB, cfg sink.Config) *sink.Sink {
	tb.Helper()
	LockCluster(tb)
	db := DatabaseName(tb)
	cfg.DSN = ClusterDSN(tb, db)
	cfg.Cluster = ClusterName
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := sink.Open(ctx, cfg)
	if err != nil {
		clusterUnavailable(tb, err)
	}
	tb.Cleanup(func() { DropClusterDatabase(tb, db) })
	if err := s.Migrate(ctx); err != nil {
		_ = s.Close()
		tb.Fatalf("sinktest: migrate %s on the cluster: %v", db, err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// DropClusterDatabase drops database db ON CLUSTER (with its replicated
// tables' ZooKeeper nodes). Every node must be up.
func DropClusterDatabase(tb testing.TB, db string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := sink.Open(ctx, sink.Config{DSN: ClusterDSN(tb, "default")})
	if err != nil {
		tb.Errorf("sinktest: drop cluster database %s: %v", db, err)
		return
	}
	defer d.Close()
	if err := d.Conn().Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS `%s` ON CLUSTER `%s`", db, ClusterName)); err != nil {
		tb.Errorf("sinktest: drop cluster database %s: %v", db, err)
	}
}

// clusterUnavailable fails or skips the test because the cluster cannot
// be used.
func clusterUnavailable(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv(EnvRequireCluster) != "1" {
		tb.Skipf("sinktest: the test cluster does not answer (start it with `make cluster`; %s=1 makes this a failure): %v", EnvRequireCluster, err)
	}
	tb.Fatalf("sinktest: the test cluster does not answer: %v\nstart it with `make cluster`", err)
}

// RequireCluster skips or fails the test (see EnvRequireCluster) unless
// the test cluster answers.
func RequireCluster(tb testing.TB) {
	tb.Helper()
	LockCluster(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := sink.Open(ctx, sink.Config{DSN: ClusterDSN(tb, "default"), Cluster: ClusterName})
	if err != nil {
		clusterUnavailable(tb, err)
	}
	_ = s.Close()
}

// ClusterNodeDSN returns the DSN of one node of the test cluster with
// database db (for reading one replica's local tables).
func ClusterNodeDSN(tb testing.TB, node, db string) string {
	tb.Helper()
	for i, n := range ClusterNodes {
		if n == node {
			u, err := url.Parse(ClusterDSN(tb, db))
			if err != nil {
				tb.Fatal(err)
			}
			var port int
			if _, err := fmt.Sscanf(u.Port(), "%d", &port); err != nil {
				tb.Fatalf("sinktest: cluster DSN port: %v", err)
			}
			u.Host = fmt.Sprintf("%s:%d", u.Hostname(), port+i) // nodes listen on consecutive ports
			return u.String()
		}
	}
	tb.Fatalf("sinktest: no cluster node %s", node)
	return ""
}

// KillNode SIGKILLs one node of the test cluster (a crash: its data stays)
// and restarts it when the test ends, if the test has not.
func KillNode(tb testing.TB, node string) {
	tb.Helper()
	LockCluster(tb)
	clusterScript(tb, "kill-node", node)
	tb.Cleanup(func() { clusterScript(tb, "start-node", node) })
}

// StartNode starts a node of the test cluster that KillNode stopped and
// waits until it answers.
func StartNode(tb testing.TB, node string) {
	tb.Helper()
	clusterScript(tb, "start-node", node)
}

// clusterDir returns the folder of the test cluster.
func clusterDir(tb testing.TB) string {
	tb.Helper()
	if dir := os.Getenv(EnvClusterDir); dir != "" {
		return dir
	}
	root, err := moduleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(root, ".clickhouse-cluster")
}

// clusterScript runs sink/devserver/cluster.sh cmd DIR node.
func clusterScript(tb testing.TB, cmd, node string) {
	tb.Helper()
	root, err := moduleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(root, "sink", "devserver", "cluster.sh"), cmd, clusterDir(tb), node).CombinedOutput()
	if err != nil {
		tb.Fatalf("sinktest: cluster.sh %s %s: %v\n%s", cmd, node, err, out)
	}
}

// moduleRoot returns the folder of go.mod, above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", fmt.Errorf("sinktest: no go.mod above the working directory")
		}
		dir = up
	}
}

// UntilCaughtUp calls caughtUp (which syncs replicas and compares what
// they hold) until it reports true, for at most a minute, and returns its
// last answer. SYSTEM SYNC REPLICA is not enough on its own: a replica of
// ClickHouse 18.16 killed while it fetched a part sets the part aside when
// it starts again and fetches it about 10 s later, after SYNC REPLICA has
// returned.
func UntilCaughtUp(tb testing.TB, caughtUp func() bool) bool {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for !caughtUp() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(500 * time.Millisecond) // the poll's interval, not a wait for an event
	}
	return true
}
