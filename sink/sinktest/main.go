package sinktest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/wxsync/wxsync/sink"
)

// EnvSeen names a file to which Run appends one line per test binary that
// ran against a ClickHouse server: "<package> <server version>". `make
// test` reads it to prove that every package that uses ClickHouse ran
// against every server (a missing line means those tests were skipped).
const EnvSeen = "WXSYNC_TEST_SEEN"

// Run runs the tests of a package that uses ClickHouse; call it from
// TestMain and pass its result to os.Exit. It asks the server of BaseDSN
// for its version first and prints it, so that the output of a failing
// package names the server it failed on, and after the tests appends the
// package and version to the file named by WXSYNC_TEST_SEEN. When the
// server does not answer it records nothing: the tests then fail, or skip
// when WXSYNC_SKIP_CLICKHOUSE=1, and the missing record fails `make test`.
func Run(m *testing.M) int {
	version, err := probe()
	if err != nil {
		fmt.Printf("sinktest: no ClickHouse at %s: %v\n", Redacted(), err)
		return m.Run()
	}
	fmt.Printf("sinktest: testing against ClickHouse %s at %s\n", version, Redacted())
	code := m.Run()
	if code == 0 {
		if err := recordSeen(version); err != nil {
			fmt.Fprintf(os.Stderr, "sinktest: record the server version: %v\n", err)
			return 1
		}
	}
	return code
}

// Redacted returns BaseDSN with its password hidden.
func Redacted() string { return RedactDSN(BaseDSN()) }

// RedactDSN returns dsn with its password hidden ("(unparsable DSN)" when
// it does not parse: it may hold a password).
func RedactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return u.Redacted()
}

// ServerVersion returns the version of the server of BaseDSN.
func ServerVersion(ctx context.Context) (string, error) {
	s, err := sink.Open(ctx, sink.Config{DSN: BaseDSN()})
	if err != nil {
		return "", err
	}
	defer s.Close()
	return s.ServerVersion(ctx)
}

func probe() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return ServerVersion(ctx)
}

// recordSeen appends "<package> <version>" to the file of EnvSeen, if set.
func recordSeen(version string) error {
	path := os.Getenv(EnvSeen)
	if path == "" {
		return nil
	}
	pkg := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		pkg = strings.TrimSuffix(bi.Path, ".test")
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "%s %s\n", pkg, version); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ServedByChDB reports whether the test server is the chDB library served
// by sink/devserver/chdb-server (its keep-alive query is running). Such a
// server aborts as a whole when a login over the native protocol fails,
// which a ClickHouse server does not: a test of a rejected login runs
// against a server of its own (StartServer), or every test after it would
// lose the shared one.
func ServedByChDB(tb testing.TB) bool {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := sink.Open(ctx, sink.Config{DSN: BaseDSN()})
	if err != nil {
		unavailable(tb, err)
	}
	defer s.Close()
	var n uint64
	q := "SELECT count() FROM system.processes WHERE query LIKE '%sleepEachRow(1) FROM numbers(" + chdbKeepAliveRows + ")%'" +
		" AND query NOT LIKE '%system.processes%'"
	if err := s.Conn().QueryRow(ctx, q).Scan(&n); err != nil {
		tb.Fatalf("sinktest: %s: %v", q, err)
	}
	return n > 0
}

// chdbKeepAliveRows is KEEPALIVE_ROWS of sink/devserver/chdb-server.c.
const chdbKeepAliveRows = "315360000"
