package main

// The integration harness: the real host and plugin binaries, built once,
// run against wxsim (in this process) and a real ClickHouse database of the
// test's own. Used by the end-to-end tests and the benchmark.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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
	// The same build as `make build` (the Makefile's BUILD_ENV and BUILD_FLAGS).
	build := exec.Command("go", "build", "-tags", "grpcnotrace", "-o", dir+string(os.PathSeparator),
		"github.com/wxsync/wxsync/cmd/wxsync", "github.com/wxsync/wxsync/cmd/wxsync-source-wechat")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
		os.Exit(1)
	}
	binDir = dir
	code := sinktest.Run(m) // names the ClickHouse server and records it for `make test`
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
	// hostEnv is added to every host's environment (a cluster's settings).
	hostEnv []string
	// cluster: the database is on the test cluster (newClusterEnv).
	cluster bool
	// gate, when set, sees every API request before wxsim does. Set it
	// through setGate: the requests come from other processes, so the race
	// detector sees no order between a plain assignment and the handler.
	gate   func(r *http.Request)
	gateMu sync.Mutex
	// serving counts the API requests being served (see idle).
	serving sync.WaitGroup
}

// newEnv starts wxsim with opts (from wxsim.DefaultOptions) and opens an
// empty database; both are gone when the test ends.
func newEnv(tb testing.TB, opts wxsim.Options) *env {
	tb.Helper()
	e := newSimEnv(tb, opts)
	e.sink = sinktest.OpenEmpty(tb, sink.Config{})
	e.dsn = sinktest.DSN(tb, e.sink.Database())
	return e
}

// newSimEnv starts wxsim with opts; the caller sets the database.
func newSimEnv(tb testing.TB, opts wxsim.Options) *env {
	tb.Helper()
	sim, err := wxsim.New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	e := &env{t: tb, sim: sim}
	e.api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.serving.Add(1)
		defer e.serving.Done()
		e.gateMu.Lock()
		gate := e.gate
		e.gateMu.Unlock()
		if gate != nil {
			gate(r)
		}
		sim.ServeHTTP(w, r)
	}))
	tb.Cleanup(e.api.Close)
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
		"WXSYNC_STREAMS=followers", // tests of other streams say so in extra
	}, append(slices.Clone(e.hostEnv), extra...)...)
}

// command returns `wxsync args...` ready to start, stderr captured.
func (e *env) command(stderr *bytes.Buffer, extraEnv []string, args ...string) *exec.Cmd {
	// Publish what the test set up (e.gate and what it captures) to the
	// handlers of the requests this process will make: the handler
	// acquires gateMu before reading e.gate.
	e.gateMu.Lock()
	e.gateMu.Unlock() //nolint:staticcheck // an empty critical section on purpose
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

// setGate sets e.gate (nil: none).
func (e *env) setGate(gate func(r *http.Request)) {
	e.gateMu.Lock()
	defer e.gateMu.Unlock()
	e.gate = gate
}

// idle waits until wxsim has answered (or aborted) every API request it
// received. Call it only when no host or plugin is running, so that no new
// request can arrive meanwhile.
func (e *env) idle() { e.serving.Wait() }

// hold holds one API request: see holdUserGet.
type hold struct {
	reached chan struct{} // closed when the request arrives
	release chan struct{} // closed by Release
	once    sync.Once
}

// holdUserGet makes the k-th user/get request from now on (1-based) wait
// in the gate: h.reached is closed when it arrives, and wxsim answers it
// once h.Release is called, or not at all when its client goes away first.
// Other requests pass. It replaces e.gate; set it before starting a host.
func (e *env) holdUserGet(k int) *hold {
	h := &hold{reached: make(chan struct{}), release: make(chan struct{})}
	var n atomic.Int64
	e.setGate(func(r *http.Request) {
		if r.URL.Path != wxsim.PathUserGet || n.Add(1) != int64(k) {
			return
		}
		close(h.reached)
		select {
		case <-h.release:
		case <-r.Context().Done():
		}
	})
	e.t.Cleanup(h.Release) // before the API server closes: it waits for the handler
	return h
}

// Release lets the held request through (if it is still there).
func (h *hold) Release() { h.once.Do(func() { close(h.release) }) }

// wait blocks until the held request has arrived, or fails the test if p
// exits first.
func (h *hold) wait(p *proc) {
	p.t.Helper()
	select {
	case <-h.reached:
	case <-p.exited:
		p.t.Fatalf("wxsync exited %d before the held request arrived; output:\n%s", p.cmd.ProcessState.ExitCode(), p.out.String())
	}
}

// procTimeout bounds how long a test waits for a host process; it is a
// safety net against hangs, not a timing assertion.
const procTimeout = 2 * time.Minute

// proc is a host process started by start.
type proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	out    *watchedOutput
	exited chan struct{} // closed once the process has exited and its output is read
}

// start starts `wxsync args...` and returns at once. Its combined output
// can be awaited line by line (waitOutput). The process is killed when the
// test ends, if it still runs.
func (e *env) start(extraEnv []string, args ...string) *proc {
	e.t.Helper()
	var unused bytes.Buffer
	return startProc(e.t, e.command(&unused, extraEnv, args...))
}

// startProc starts cmd (a wxsync command) as start does.
func startProc(tb testing.TB, cmd *exec.Cmd) *proc {
	tb.Helper()
	p := &proc{t: tb, cmd: cmd, out: newWatchedOutput(), exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start wxsync: %v", err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// wait waits for the process to exit and returns how it ended (code -1:
// killed by a signal).
func (p *proc) wait() result {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(procTimeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
		p.t.Fatalf("wxsync did not exit within %v; killed; output:\n%s", procTimeout, p.out.String())
	}
	return result{code: p.cmd.ProcessState.ExitCode(), output: p.out.String()}
}

// waitExit waits for the process to exit and fails the test unless it
// exited with want.
func (p *proc) waitExit(want int) result {
	p.t.Helper()
	r := p.wait()
	if r.code != want {
		p.t.Fatalf("wxsync exited %d, want %d; output:\n%s", r.code, want, r.output)
	}
	return r
}

// waitOutput blocks until the process has written s, or fails the test if
// it exits without writing it.
func (p *proc) waitOutput(s string) { p.waitOutputN(s, 1) }

// waitOutputN blocks until the process has written s n times, or fails the
// test if it exits first.
func (p *proc) waitOutputN(s string, n int) {
	p.t.Helper()
	for {
		found, changed := p.out.contains(s, n)
		if found {
			return
		}
		select {
		case <-changed:
		case <-p.exited:
			if found, _ := p.out.contains(s, n); found {
				return
			}
			p.t.Fatalf("wxsync exited %d without writing %q %d times; output:\n%s", p.cmd.ProcessState.ExitCode(), s, n, p.out.String())
		}
	}
}

// waitSaved blocks until the host running in p has saved the followers
// cursor after fetched followers: it checks wxsync_state each time the host
// logs (at debug level) that it saved a followers cursor.
func (e *env) waitSaved(p *proc, fetched int) {
	e.t.Helper()
	e.waitSavedStream(p, "followers", fetched)
}

// waitSavedStream is waitSaved for stream's cursor. It counts the saves it
// has seen rather than trusting a count taken from another stream: a
// commit saves only each stream's newest checkpoint, so two streams'
// numbers of saves can differ.
func (e *env) waitSavedStream(p *proc, stream string, fetched int) {
	e.t.Helper()
	for n := 1; ; n++ {
		p.waitOutputN(`msg="cursor saved" stream=`+stream+` `, n)
		if st, ok := e.stateOf(stream); ok && st.Cursor.Fetched == int64(fetched) {
			return
		}
	}
}

// watchedOutput is an io.Writer that keeps what is written and lets a
// reader wait for more.
type watchedOutput struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func newWatchedOutput() *watchedOutput { return &watchedOutput{changed: make(chan struct{})} }

func (w *watchedOutput) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(b)
	close(w.changed)
	w.changed = make(chan struct{})
	return len(b), nil
}

// contains reports whether s was written n times, and returns a channel
// closed on the next write.
func (w *watchedOutput) contains(s string, n int) (bool, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Count(w.buf.String(), s) >= n, w.changed
}

func (w *watchedOutput) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitProcessExit waits for the process behind pidfd to exit (it need not
// be our child), failing the test after procTimeout.
func waitProcessExit(t testing.TB, pidfd int, pid int) {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(procTimeout/time.Millisecond))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("poll pidfd of %d: %v", pid, err)
		}
		if n == 0 {
			t.Fatalf("process %d still runs %v after its parent was killed: an orphan", pid, procTimeout)
		}
		return
	}
}

// userGets returns the cursor (next_openid) sent by each user/get call in
// log, in order.
func userGets(log []wxsim.Call) []string {
	var out []string
	for _, c := range log {
		if c.Path == wxsim.PathUserGet {
			out = append(out, c.Cursor)
		}
	}
	return out
}

// walkCalls is the number of user/get calls a clean walk of n followers
// takes with pages of size in end style style.
func walkCalls(n, size int, style wxsim.EndStyle) int {
	pages := (n + size - 1) / size
	if n == 0 || style == wxsim.EndCountZero {
		return pages + 1
	}
	return pages
}

// savedCursor is the followers cursor as the plugin saves it (the host
// treats it as opaque; the tests read it).
type savedCursor struct {
	Next     string `json:"next_openid"`
	Fetched  int64  `json:"fetched"`
	Total    int64  `json:"total"`
	Restarts int    `json:"restarts"`
	// Carry is what the users stream still has to fetch (fewer than 100).
	Carry []string `json:"carry"`
}

// savedState is the followers row of wxsync_state.
type savedState struct {
	SnapshotID uint64
	Cursor     savedCursor
	RawCursor  string
}

// state returns the followers stream's row of wxsync_state (FINAL); ok is
// false when there is no row at all.
func (e *env) state() (st savedState, ok bool) {
	e.t.Helper()
	return e.stateOf("followers")
}

// stateOf returns stream's row of wxsync_state (FINAL), as state does.
func (e *env) stateOf(stream string) (st savedState, ok bool) {
	e.t.Helper()
	rows := e.rows("SELECT snapshot_id, cursor FROM {db}.wxsync_state FINAL WHERE appid = ? AND stream = ?", e.sim.Options().AppID, stream)
	switch len(rows) {
	case 0:
		return st, false
	case 1:
	default:
		e.t.Fatalf("wxsync_state FINAL has %d %s rows, want at most 1", len(rows), stream)
	}
	if _, err := fmt.Sscan(rows[0][0], &st.SnapshotID); err != nil {
		e.t.Fatal(err)
	}
	st.RawCursor = rows[0][1]
	if st.RawCursor != "" {
		if err := json.Unmarshal([]byte(st.RawCursor), &st.Cursor); err != nil {
			e.t.Fatalf("saved cursor %q: %v", st.RawCursor, err)
		}
	}
	return st, true
}

// snapshotRow is a row of wechat_snapshots FINAL.
type snapshotRow struct {
	ID            uint64
	Complete      uint8
	Rows          uint64
	ReportedTotal uint64
}

// snapshots returns the account's followers snapshots (FINAL), oldest first.
func (e *env) snapshots() []snapshotRow {
	e.t.Helper()
	var out []snapshotRow
	for _, r := range e.rows("SELECT snapshot_id, complete, rows, reported_total FROM {db}.wechat_snapshots FINAL WHERE appid = ? AND stream = 'followers' ORDER BY snapshot_id", e.sim.Options().AppID) {
		var s snapshotRow
		if _, err := fmt.Sscan(strings.Join(r, " "), &s.ID, &s.Complete, &s.Rows, &s.ReportedTotal); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// snapshotIDs returns the distinct openids stored for snapshot id (FINAL), sorted.
func (e *env) snapshotOpenIDs(id uint64) []string {
	return e.query("SELECT openid AS x FROM {db}.wechat_followers FINAL WHERE appid = ? AND snapshot_id = ? ORDER BY x", e.sim.Options().AppID, id)
}

// tables returns the tables and views in the test's database, sorted.
func (e *env) tables() []string {
	return e.query("SELECT name AS x FROM system.tables WHERE database = ? ORDER BY x", e.sink.Database())
}

// rows returns every row of a query, each column as a string.
func (e *env) rows(q string, args ...any) [][]string {
	e.t.Helper()
	q = strings.ReplaceAll(q, "{db}", "`"+e.sink.Database()+"`")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := e.sink.Conn().Query(ctx, q, args...)
	if err != nil {
		e.t.Fatalf("query %s: %v", q, err)
	}
	defer rows.Close()
	n := len(rows.Columns())
	var out [][]string
	for rows.Next() {
		vals := make([]any, n)
		for i, ct := range rows.ColumnTypes() {
			vals[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(vals...); err != nil {
			e.t.Fatalf("query %s: %v", q, err)
		}
		row := make([]string, n)
		for i, v := range vals {
			row[i] = fmt.Sprint(reflect.ValueOf(v).Elem().Interface())
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// count returns the single number a count query answers.
func (e *env) count(q string, args ...any) uint64 {
	e.t.Helper()
	got := e.query(q, args...)
	if len(got) != 1 {
		e.t.Fatalf("query %s: %d rows, want 1", q, len(got))
	}
	var n uint64
	if _, err := fmt.Sscan(got[0], &n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// sorted returns a sorted copy of ids.
func sorted(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// smallPages is an account of 5,500 followers listed 1,000 a page: six
// pages, cheap to walk, with a cursor worth saving after each.
func smallPages() wxsim.Options {
	o := wxsim.DefaultOptions()
	o.Followers, o.PageSize = 5500, 1000
	return o
}

// debug is the environment that makes the host log each saved cursor
// (waitSaved).
var debug = []string{"WXSYNC_LOG_LEVEL=debug"}

// wantOneSnapshot fails the test unless the account has exactly one
// followers snapshot, id (0: any), complete, holding exactly the current
// followers, and no saved state. It returns the snapshot's id.
func (e *env) wantOneSnapshot(id uint64) uint64 {
	e.t.Helper()
	e.wantCurrent()
	n := uint64(e.sim.Total())
	snaps := e.snapshots()
	if len(snaps) != 1 || (id != 0 && snaps[0].ID != id) || snaps[0].Complete != 1 || snaps[0].Rows != n || snaps[0].ReportedTotal != n {
		e.t.Fatalf("wechat_snapshots = %+v, want one complete snapshot (id %d) of %d rows", snaps, id, n)
	}
	if st, ok := e.state(); ok && (st.SnapshotID != 0 || st.RawCursor != "") {
		e.t.Fatalf("wxsync_state after a complete sync = %+v, want it cleared", st)
	}
	return snaps[0].ID
}

// wantResumable fails the test unless the account has one snapshot in
// progress whose saved cursor is the one after page pages (of size
// PageSize) of ids, with every row before it committed. It returns the
// snapshot's id and the saved next_openid.
func (e *env) wantResumable(ids []string, pages int) (uint64, string) {
	e.t.Helper()
	fetched := min(pages*e.sim.Options().PageSize, len(ids))
	st, ok := e.state()
	want := savedCursor{Next: ids[fetched-1], Fetched: int64(fetched), Total: int64(len(ids))}
	if !ok || st.SnapshotID == 0 || !reflect.DeepEqual(st.Cursor, want) {
		e.t.Fatalf("wxsync_state = %+v (found %v), want snapshot in progress with cursor %+v", st, ok, want)
	}
	snaps := e.snapshots()
	if n := len(snaps); n == 0 || snaps[n-1].ID != st.SnapshotID || snaps[n-1].Complete != 0 {
		e.t.Fatalf("wechat_snapshots = %+v, want the newest (%d) in progress", snaps, st.SnapshotID)
	}
	if got, want := e.snapshotOpenIDs(st.SnapshotID), sorted(ids[:fetched]); !slices.Equal(got, want) {
		e.t.Fatalf("snapshot %d holds %d openids, want the first %d pages (%d): %s", st.SnapshotID, len(got), pages, len(want), firstDiff(got, want))
	}
	return st.SnapshotID, st.Cursor.Next
}

// wantUserGets fails the test unless the user/get calls since the last
// ResetCalls sent exactly these cursors.
func (e *env) wantUserGets(want []string) {
	e.t.Helper()
	if got := userGets(e.sim.CallLog()); !slices.Equal(got, want) {
		e.t.Fatalf("user/get calls sent cursors %q, want %q", got, want)
	}
}

// walkCursors is the cursors a clean walk of ids sends, from after
// followers on ("" = from the start), in pages of size.
func walkCursors(ids []string, after, size int, style wxsim.EndStyle) []string {
	out := []string{""}
	if after > 0 {
		out[0] = ids[after-1]
	}
	for pos := after; pos < len(ids); {
		pos = min(pos+size, len(ids))
		if pos == len(ids) && style == wxsim.EndEmptyNext {
			break // the last page says so itself
		}
		out = append(out, ids[pos-1])
	}
	return out
}

// stopAtPage starts a sync whose user/get call k is held, and returns once
// that call has arrived and the host has committed the pages before it, so
// the saved cursor is the one after page k-1.
func (e *env) stopAtPage(k int, extraEnv ...string) (*proc, *hold) {
	e.t.Helper()
	h := e.holdUserGet(k)
	p := e.start(append(slices.Clone(debug), extraEnv...), "sync")
	h.wait(p)
	e.waitSaved(p, (k-1)*e.sim.Options().PageSize)
	return p, h
}

// runRecords returns "status exit_code" of each run in wxsync_runs.
func (e *env) runRecords() []string {
	return e.query("SELECT concat(status, ' ', toString(exit_code)) AS x FROM {db}.wxsync_runs ORDER BY started_at, x")
}
