package main

// The integration harness: the real host and plugin binaries, built once,
// run against wxsim (in this process) and a real ClickHouse database of the
// test's own. Used by the end-to-end tests and the benchmark.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wxsync/wxsync/connector/wxsim"
	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

// binDir holds the wxsync and wxsync-source-wechat binaries built by TestMain.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wxsync-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-o", dir+string(os.PathSeparator),
		"github.com/wxsync/wxsync/cmd/wxsync", "github.com/wxsync/wxsync/cmd/wxsync-source-wechat")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one account in wxsim and one ClickHouse database.
type env struct {
	t    testing.TB
	sim  *wxsim.Server
	api  *httptest.Server
	sink *sink.Sink
	dsn  string
	// gate, when set, sees every API request before wxsim does.
	gate func(r *http.Request)
}

// newEnv starts wxsim with opts (from wxsim.DefaultOptions) and opens an
// empty database; both are gone when the test ends.
func newEnv(tb testing.TB, opts wxsim.Options) *env {
	tb.Helper()
	sim, err := wxsim.New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	e := &env{t: tb, sim: sim}
	e.api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.gate != nil {
			e.gate(r)
		}
		sim.ServeHTTP(w, r)
	}))
	tb.Cleanup(e.api.Close)
	e.sink = sinktest.OpenEmpty(tb, sink.Config{})
	e.dsn = sinktest.DSN(tb, e.sink.Database())
	return e
}

// environ is the host's environment: the account, the API and the database,
// with retries short enough for tests.
func (e *env) environ(extra ...string) []string {
	o := e.sim.Options()
	return append([]string{
		"PATH=" + os.Getenv("PATH"),
		"WECHAT_APPID=" + o.AppID,
		"WECHAT_SECRET=" + o.Secret,
		"WECHAT_API_BASE=" + e.api.URL,
		"CLICKHOUSE_DSN=" + e.dsn,
		"WECHAT_MAX_RETRY_TIME=5s",
		"WECHAT_HTTP_TIMEOUT=5s",
		"CLICKHOUSE_RETRY_TIME=5s",
	}, extra...)
}

// command returns `wxsync args...` ready to start, stderr captured.
func (e *env) command(stderr *bytes.Buffer, extraEnv []string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(binDir, "wxsync"), args...)
	cmd.Env = e.environ(extraEnv...)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	return cmd
}

// result is how a run of the host ended.
type result struct {
	code   int
	output string
}

// run runs `wxsync args...` to the end.
func (e *env) run(extraEnv []string, args ...string) result {
	e.t.Helper()
	var out bytes.Buffer
	cmd := e.command(&out, extraEnv, args...)
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		e.t.Fatalf("run wxsync: %v", err)
	}
	return result{code: cmd.ProcessState.ExitCode(), output: out.String()}
}

// sync runs `wxsync sync` and fails the test unless it exits with want.
func (e *env) sync(want int, extraEnv ...string) result {
	e.t.Helper()
	r := e.run(extraEnv, "sync")
	if r.code != want {
		e.t.Fatalf("wxsync sync exited %d, want %d; output:\n%s", r.code, want, r.output)
	}
	return r
}

// query returns the first column of every row of a query, as strings.
func (e *env) query(q string, args ...any) []string {
	e.t.Helper()
	q = strings.ReplaceAll(q, "{db}", "`"+e.sink.Database()+"`")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := e.sink.Conn().Query(ctx, "SELECT toString(x) FROM ("+q+")", args...)
	if err != nil {
		e.t.Fatalf("query %s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// current returns the openids of the account's latest complete snapshot,
// sorted.
func (e *env) current() []string {
	return e.query("SELECT openid AS x FROM {db}.wechat_followers_current WHERE appid = ? ORDER BY x", e.sim.Options().AppID)
}

// wantCurrent fails the test unless the current snapshot holds exactly
// wxsim's followers.
func (e *env) wantCurrent() {
	e.t.Helper()
	want := e.sim.FollowerOpenIDs()
	slices.Sort(want)
	got := e.current()
	if !slices.Equal(got, want) {
		e.t.Fatalf("wechat_followers_current holds %d openids, wxsim has %d followers (first difference: %s)",
			len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(got, want []string) string {
	for i := 0; i < min(len(got), len(want)); i++ {
		if got[i] != want[i] {
			return fmt.Sprintf("at %d got %s, want %s", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(got), len(want))
}

// pluginPID returns the pid of the plugin process started by host pid
// (its child may hang off any of the host's threads).
func pluginPID(t testing.TB, host int) int {
	t.Helper()
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", host))
	for _, tf := range tasks {
		b, _ := os.ReadFile(tf)
		for _, f := range strings.Fields(string(b)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err != nil {
				continue
			}
			if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); strings.HasSuffix(exe, "wxsync-source-wechat") {
				return pid
			}
		}
	}
	t.Fatalf("no plugin process under host %d", host)
	return 0
}

// sendSignal sends sig to pid.
func sendSignal(t testing.TB, pid int, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("kill -%d %d: %v", sig, pid, err)
	}
}
