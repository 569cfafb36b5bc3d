package sinktest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
)

// EnvChDBDir names the folder of sink/devserver/chdb.sh whose libchdb.so
// StartServer uses for a server of its own (default: .clickhouse-26 at the
// root of the module, where `make test` fetches it).
const EnvChDBDir = "WXSYNC_CHDB_DIR"

// Server is a ClickHouse server of one test's own, on free ports, its data
// in a temporary folder, so that a test may stop it, restart it or make it
// fail without disturbing the shared test server. It is stopped when the
// test ends.
type Server struct {
	tb         testing.TB
	script     string   // sink/devserver/clickhouse.sh or chdb.sh
	env        []string // added to the script's environment
	Dir        string   // data, logs and pid files
	Port, HTTP int      // native and HTTP ports
	Kind       string   // "chDB" or "clickhouse-server"
}

// StartServer starts a server of the same kind as the one under test
// (BaseDSN): a chDB-served one when the server under test is chDB-served
// (ServedByChDB), else Debian's clickhouse-server (sink/devserver/clickhouse.sh;
// the test is skipped when that is not installed). env is added to the
// start script's environment (see the scripts for what they read).
func StartServer(tb testing.TB, env ...string) *Server {
	tb.Helper()
	root, err := moduleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{tb: tb, Dir: filepath.Join(tb.TempDir(), "ch"), Port: FreePort(tb), HTTP: FreePort(tb), env: env}
	if ServedByChDB(tb) {
		lib, err := chdbLibrary(root)
		if err != nil {
			tb.Fatalf("sinktest: a chDB server of the test's own: %v", err)
		}
		s.Kind, s.script = "chDB", filepath.Join(root, "sink", "devserver", "chdb.sh")
		s.env = append(s.env, "CHDB_LIB="+lib)
	} else {
		for _, bin := range []string{"clickhouse-server", "clickhouse-client"} {
			if _, err := exec.LookPath(bin); err != nil {
				tb.Skipf("%s is not installed: %v", bin, err)
			}
		}
		s.Kind, s.script = "clickhouse-server", filepath.Join(root, "sink", "devserver", "clickhouse.sh")
	}
	tb.Cleanup(func() {
		if out, err := s.command("stop", s.Dir).CombinedOutput(); err != nil {
			tb.Errorf("sinktest: stop the test's own ClickHouse: %v\n%s", err, out)
		}
	})
	s.Start()
	tb.Logf("sinktest: a %s of the test's own on 127.0.0.1:%d", s.Kind, s.Port)
	return s
}

// Start starts the server (again, on the same data); it returns once the
// server answers.
func (s *Server) Start() {
	s.tb.Helper()
	if out, err := s.command("start", s.Dir, fmt.Sprint(s.Port), fmt.Sprint(s.HTTP)).CombinedOutput(); err != nil {
		s.tb.Fatalf("sinktest: start the test's own %s on port %d: %v\n%s", s.Kind, s.Port, err, out)
	}
}

// Stop stops the server; its port then refuses connections.
func (s *Server) Stop() {
	s.tb.Helper()
	if out, err := s.command("stop", s.Dir).CombinedOutput(); err != nil {
		s.tb.Fatalf("sinktest: stop the test's own %s: %v\n%s", s.Kind, err, out)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "server.pid")); err == nil {
		s.tb.Fatalf("sinktest: the test's own %s did not stop", s.Kind)
	}
}

// DSN returns the DSN of database db on the server.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("clickhouse://127.0.0.1:%d/%s", s.Port, db)
}

func (s *Server) command(args ...string) *exec.Cmd {
	cmd := exec.Command("bash", append([]string{s.script}, args...)...)
	cmd.Env = append(os.Environ(), s.env...)
	return cmd
}

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// chdbLibrary finds the libchdb.so that chdb.sh fetched into the folder of
// EnvChDBDir.
func chdbLibrary(root string) (string, error) {
	dir := os.Getenv(EnvChDBDir)
	if dir == "" {
		dir = filepath.Join(root, ".clickhouse-26")
	}
	libs, _ := filepath.Glob(filepath.Join(dir, "lib", "*", "libchdb.so"))
	if len(libs) == 0 {
		return "", fmt.Errorf("no lib/*/libchdb.so in %s: set %s to the folder of `make clickhouse-current` (CH26_DIR)", dir, EnvChDBDir)
	}
	sort.Strings(libs)
	return libs[len(libs)-1], nil
}
