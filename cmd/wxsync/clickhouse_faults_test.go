package main

// ClickHouse faults end to end: the server down when the run starts, and
// stopped and restarted in the middle of a run, within and beyond
// CLICKHOUSE_RETRY_TIME. Each test runs a ClickHouse server of its own
// (sinktest.StartServer: of the kind under test, on free ports, its data in
// a temporary folder) so that stopping it disturbs nothing else.

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

// disposableCH is a ClickHouse server of the test's own, of the kind
// under test (sinktest.StartServer: chDB-served in the pass on a current
// release, Debian's clickhouse-server in the 18.16 one); it is stopped
// when the test ends.
type disposableCH struct {
	t    *testing.T
	srv  *sinktest.Server
	port int
	sink *sink.Sink // the test's own connection (attach)
}

// startDisposableCH starts a ClickHouse server on free ports with its data
// in a temporary folder.
func startDisposableCH(t *testing.T) *disposableCH {
	t.Helper()
	c := &disposableCH{t: t, srv: sinktest.StartServer(t)}
	c.port = c.srv.Port
	t.Cleanup(func() { // before the server's own cleanup stops it
		if c.sink != nil {
			c.sink.Close()
		}
	})
	return c
}

// start starts the server again, in the same data folder; it returns once
// the server answers queries.
func (c *disposableCH) start() { c.t.Helper(); c.srv.Start() }

// stop stops the server; its port then refuses connections.
func (c *disposableCH) stop() { c.t.Helper(); c.srv.Stop() }

// holdLonger lets an API request stay held while the disposable server
// stops, which can take several seconds (the harness's timeouts are 5 s).
var holdLonger = []string{"WECHAT_HTTP_TIMEOUT=90s", "WECHAT_MAX_RETRY_TIME=3m"}

// dsn is the DSN of database db on this server.
func (c *disposableCH) dsn(db string) string { return c.srv.DSN(db) }

// attach points e at database db of this server: the host's DSN, and
// e.sink, through which the test's queries go, on a new connection (call it
// again after a restart: the old connections are dead).
func (c *disposableCH) attach(e *env, db string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sk, err := sink.Open(ctx, sink.Config{DSN: c.dsn(db)})
	if err != nil {
		c.t.Fatalf("connect to the disposable ClickHouse: %v", err)
	}
	if c.sink != nil {
		c.sink.Close()
	}
	c.sink, e.sink, e.dsn = sk, sk, c.dsn(db)
}

// ClickHouse down when the run starts (connection refused): exit 78 with
// one error line naming the server, no API call, nothing written; once it
// is back, a run is exact.
func TestClickHouseDownAtStart(t *testing.T) {
	t.Parallel()
	ch := startDisposableCH(t)
	ch.stop()
	e := newEnv(t, smallPages())
	const db = "wxsync_down_at_start"
	e.dsn = ch.dsn(db)

	r := e.sync(exitConfigErr, streamsAccount)
	line := regexp.MustCompile(fmt.Sprintf(`(?m)^wxsync: configuration error: ClickHouse: open clickhouse sink: ping 127\.0\.0\.1:%d .*connection refused$`, ch.port))
	if got := line.FindAllString(r.output, -1); len(got) != 1 {
		t.Fatalf("want one error line saying ClickHouse refused the connection; output:\n%s", r.output)
	}
	if !strings.Contains(r.output, "not recorded: ClickHouse was not reached") {
		t.Fatalf("the summary does not say the run is not recorded:\n%s", r.output)
	}
	if calls := e.sim.Calls(); len(calls) != 0 {
		t.Fatalf("a run that cannot reach ClickHouse called the API: %v", calls)
	}

	ch.start()
	ch.attach(e, db)
	if tables := e.tables(); len(tables) != 0 {
		t.Fatalf("the run created %q, want nothing written", tables)
	}
	e.sync(exitOK, streamsAccount)
	e.wantOneSnapshot(0)
	e.wantProfiles(e.sim.FollowerOpenIDs())
}

// ClickHouse stopped while page 3 is in flight and started again (same
// data) while the host retries: the run goes on, ends 0, and the followers
// and profiles are exact, in one snapshot.
func TestClickHouseRestartedMidRun(t *testing.T) {
	t.Parallel()
	ch := startDisposableCH(t)
	e := newEnv(t, smallPages())
	ch.attach(e, "wxsync_restarted")

	p, h := e.stopAtPage(3, append([]string{streamsAccount, "CLICKHOUSE_RETRY_TIME=2m"}, holdLonger...)...)
	ch.stop()
	h.Release()
	p.waitOutput(`msg="clickhouse write failed, retrying"`)
	ch.start()
	r := p.waitExit(exitOK)
	if !strings.Contains(r.output, `msg="clickhouse write succeeded after retries"`) {
		t.Fatalf("the output does not say a write succeeded after retries:\n%s", r.output)
	}

	ch.attach(e, "wxsync_restarted")
	e.wantOneSnapshot(0)
	e.wantProfiles(e.sim.FollowerOpenIDs())
	e.oneRun(r, "ok", exitOK)
}

// ClickHouse stopped while page 3 is in flight and kept down past
// CLICKHOUSE_RETRY_TIME: exit 75; the saved cursor is the one after page 2,
// with every follower and profile before it committed and none after; the
// rerun, with ClickHouse back, resumes there and is exact.
func TestClickHouseDownPastRetryTime(t *testing.T) {
	t.Parallel()
	ch := startDisposableCH(t)
	e := newEnv(t, smallPages())
	const db = "wxsync_down_too_long"
	ch.attach(e, db)
	ids := e.sim.FollowerOpenIDs()

	p, h := e.stopAtPage(3, append([]string{streamsAccount, "CLICKHOUSE_RETRY_TIME=3s"}, holdLonger...)...)
	// The users cursor of the pages before the held one is saved too
	// before the server goes.
	e.waitSavedStream(p, "users", 2000)
	ch.stop()
	h.Release()
	r := p.waitExit(exitTempFail)
	for _, want := range []string{
		"wxsync: stopped early, cursor saved; run again later to resume: stream followers: insert into ClickHouse failed; the cursor stays at the last committed page",
		"gave up after",
		"not recorded: writing to wxsync_runs failed",
	} {
		if !strings.Contains(r.output, want) {
			t.Fatalf("the output does not say %q:\n%s", want, r.output)
		}
	}
	e.idle()

	ch.start()
	ch.attach(e, db)
	snapshot, next := e.wantResumable(ids, 2)
	stored := e.storedProfiles()
	have := make([]string, 0, len(stored))
	for id := range stored {
		have = append(have, id)
	}
	wantSameSet(t, "wechat_users after exit 75", have, ids[:2000])
	e.wantProfilesOf(stored, ids[:2000])
	if runs := e.runs(e.sim.Options().AppID); len(runs) != 0 {
		t.Fatalf("wxsync_runs holds %+v, want no record of a run that could not write it", runs)
	}

	e.sim.ResetCalls()
	e.sync(exitOK, streamsAccount)
	e.wantUserGets(walkCursors(ids, 2000, 1000, smallPages().EndStyle))
	if got := userGets(e.sim.CallLog()); got[0] != next {
		t.Fatalf("the rerun began at %q, want the saved cursor %q", got[0], next)
	}
	e.wantOneSnapshot(snapshot)
	e.wantProfiles(ids)
}
