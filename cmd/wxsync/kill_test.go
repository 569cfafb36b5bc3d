package main

// SIGKILL of the host at random points of the follower walk and of the
// profile pipeline, each followed by a rerun, until a run ends 0: the
// cursor is never ahead of what is committed, and the end result is exact.

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wxsync/wxsync/connector/wxsim"
	"github.com/wxsync/wxsync/sink"
)

// Environment of TestSyncHostKilledAtRandomPoints (`make killtest` runs it
// with 20 points).
const (
	envKillSeed   = "WXSYNC_KILL_SEED"   // the seed of the points; default: the clock, logged
	envKillPoints = "WXSYNC_KILL_POINTS" // how many kills; default 3
)

// killsPerAccount bounds the kills of one account before a run is let
// finish; the next points go to a fresh account.
const killsPerAccount = 3

// killOptions is a cheap account for many kills: 1,750 followers in 7
// pages of 250 (8 user/get calls), whose profiles take 18 batchget calls,
// with a carry of 50 after every odd page; each call takes 10 ms, as a
// real one takes longer.
func killOptions() wxsim.Options {
	o := wxsim.DefaultOptions()
	o.Followers, o.PageSize = 1750, 250
	o.Latency = 10 * time.Millisecond
	return o
}

// How a run is killed once its kill point's request has arrived.
type killWhen int

const (
	// killPassing: the request goes on to be answered; the kill lands
	// wherever the host and plugin then are.
	killPassing killWhen = iota
	// killHeld: at once, the request held.
	killHeld
	// killCommitting (user/get): the request held, as soon as the host
	// writes the commit line trigger (an INSERT or a saved cursor) for the
	// pages before it, so the kill lands inside a commit; or, if it has
	// none to write, once it has saved the cursor after those pages.
	killCommitting
	// killSettled (user/get): the request held, once the host has saved
	// the cursor after the pages before it.
	killSettled
)

// killPoint is where a run is killed: when the n-th request of the run to
// path arrives, and then as when says.
type killPoint struct {
	path    string
	n       int
	when    killWhen
	trigger string // killCommitting: what the host writes as it commits
}

func (k killPoint) String() string {
	switch k.when {
	case killHeld:
		return fmt.Sprintf("while %s #%d is held", k.path, k.n)
	case killCommitting:
		return fmt.Sprintf("while %s #%d is held, at the host's next %q", k.path, k.n, k.trigger)
	case killSettled:
		return fmt.Sprintf("while %s #%d is held, the pages before it committed", k.path, k.n)
	}
	return fmt.Sprintf("as %s #%d goes through", k.path, k.n)
}

// commitTriggers are lines the host writes (at debug level) as it commits:
// the start of an insert into a stream's table or into wxsync_state, and
// a saved cursor.
var commitTriggers = []string{
	"INSERT INTO `{db}`.`wechat_followers`",
	"INSERT INTO `{db}`.`wechat_users`",
	"INSERT INTO `{db}`.`wxsync_state`",
	`msg="cursor saved" stream=followers `,
	`msg="cursor saved" stream=users `,
}

// randomKillPoint draws a point that every fresh run of killOptions
// reaches: one of its 8 user/get or 18 batchget requests.
func randomKillPoint(rng *rand.Rand) killPoint {
	if rng.IntN(2) == 0 {
		k := killPoint{path: wxsim.PathUserGet, n: 1 + rng.IntN(8), when: killWhen(rng.IntN(4))}
		if k.when == killCommitting {
			k.trigger = commitTriggers[rng.IntN(len(commitTriggers))]
		}
		return k
	}
	return killPoint{path: wxsim.PathBatchGet, n: 1 + rng.IntN(18), when: killWhen(rng.IntN(2))}
}

// killEnvInt reads a non-negative integer from the environment.
func killEnvInt(t *testing.T, name string, def uint64) uint64 {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: want a non-negative integer", name, s)
	}
	return n
}

// runKilledAt runs a sync of followers and users that is SIGKILLed at pt,
// resuming a snapshot of which from followers are fetched. It returns
// false, after checking that the run ended 0, when the run ended before
// pt; else it returns once the host and its plugin are dead and every API
// request is answered.
func (e *env) runKilledAt(pt killPoint, from int) (killed bool) {
	t := e.t
	t.Helper()
	var (
		first, proceed, reached, release    = make(chan struct{}), make(chan struct{}), make(chan struct{}), make(chan struct{})
		firstOnce, proceedOnce, releaseOnce sync.Once
		seen                                atomic.Int64
	)
	letProceed := func() { proceedOnce.Do(func() { close(proceed) }) }
	letGo := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(letProceed) // before the API server closes: it waits for the handlers
	t.Cleanup(letGo)
	e.setGate(func(r *http.Request) {
		// The run's first request waits until the test knows the plugin.
		firstOnce.Do(func() {
			close(first)
			<-proceed
		})
		if r.URL.Path != pt.path || seen.Add(1) != int64(pt.n) {
			return
		}
		close(reached)
		if pt.when == killPassing {
			return
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer e.setGate(nil)

	p := e.start(append([]string{streamsAccount}, debug...), "sync")
	select {
	case <-first:
	case <-p.exited:
		t.Fatalf("wxsync exited %d before its first API request; output:\n%s", p.cmd.ProcessState.ExitCode(), p.out.String())
	}
	plugin := pluginPID(t, p.cmd.Process.Pid)
	pidfd, err := unix.PidfdOpen(plugin, 0)
	if err != nil {
		t.Fatalf("pidfd_open(%d): %v", plugin, err)
	}
	defer unix.Close(pidfd)
	letProceed()

	select {
	case <-reached:
	case <-p.exited:
		r := p.wait()
		if r.code != exitOK {
			t.Fatalf("wxsync exited %d, want 0 or killed at %v; output:\n%s", r.code, pt, r.output)
		}
		return false
	}
	if pt.when == killCommitting || pt.when == killSettled {
		trigger := strings.ReplaceAll(pt.trigger, "{db}", e.sink.Database())
		e.waitCommitted(p, min(from+(pt.n-1)*e.sim.Options().PageSize, e.sim.Total()), trigger)
	}
	if err := syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		t.Fatalf("kill -9 %d: %v", p.cmd.Process.Pid, err)
	}
	r := p.wait()
	switch r.code {
	case -1: // killed
	case exitOK: // the last request went through and the host finished before the signal
		t.Logf("the run ended 0 before the kill %v landed", pt)
	default:
		t.Fatalf("wxsync exited %d, want killed at %v; output:\n%s", r.code, pt, r.output)
	}
	waitProcessExit(t, pidfd, plugin)
	letGo()
	e.idle()
	return true
}

// waitCommitted blocks until the host running in p has saved the
// followers cursor after fetched followers (none: at once) or, with
// trigger, until it writes trigger once more than it had, whichever comes
// first.
func (e *env) waitCommitted(p *proc, fetched int, trigger string) {
	e.t.Helper()
	const saved = `msg="cursor saved" stream=followers `
	base := -1
	if trigger != "" {
		base = strings.Count(p.out.String(), trigger)
	}
	checked := -1 // saved cursors when the state was last checked
	safety := time.After(procTimeout)
	for {
		_, changed := p.out.contains("", 0)
		out := p.out.String()
		if base >= 0 && strings.Count(out, trigger) > base {
			return
		}
		if n := strings.Count(out, saved); n > checked {
			checked = n
			if st, ok := e.state(); fetched == 0 || ok && st.Cursor.Fetched == int64(fetched) {
				return
			}
		}
		select {
		case <-changed:
		case <-p.exited:
			e.t.Fatalf("wxsync exited %d while a request was held; output:\n%s", p.cmd.ProcessState.ExitCode(), p.out.String())
		case <-safety: // a safety net against a hang, not a timing assertion
			e.t.Fatalf("the host neither wrote %q nor saved the cursor after %d followers within %v; output:\n%s", trigger, fetched, procTimeout, out)
		}
	}
}

// wantCursorNotAhead fails the test unless every follower before the saved
// followers cursor is in its snapshot, and every profile of those
// followers, but the ones the cursor carries, is in wechat_users; and
// unless every stored openid is a follower and every stored profile is
// wxsim's. ids is the follower list in listing order. It returns a
// description of the saved cursor, for the log.
func (e *env) wantCursorNotAhead(ids []string) string {
	e.t.Helper()
	profiles := e.storedProfiles()
	stored := make([]string, 0, len(profiles))
	for id := range profiles {
		stored = append(stored, id)
	}
	e.wantProfilesOf(profiles, stored) // fails on a profile wxsim does not have
	st, ok := e.state()
	if !ok || st.SnapshotID == 0 {
		return fmt.Sprintf("no snapshot in progress, %d profiles", len(profiles))
	}
	fetched := int(st.Cursor.Fetched)
	if fetched > len(ids) || (fetched > 0 && ids[fetched-1] != st.Cursor.Next) {
		e.t.Fatalf("saved cursor %+v does not match the list of %d followers", st.Cursor, len(ids))
	}
	inSnapshot := map[string]bool{}
	for _, id := range e.snapshotOpenIDs(st.SnapshotID) {
		inSnapshot[id] = true
	}
	follower := map[string]bool{}
	for _, id := range ids {
		follower[id] = true
	}
	for id := range inSnapshot {
		if !follower[id] {
			e.t.Fatalf("snapshot %d holds %s, not a follower", st.SnapshotID, id)
		}
	}
	carried := map[string]bool{}
	for _, id := range st.Cursor.Carry {
		carried[id] = true
	}
	for i, id := range ids[:fetched] {
		if !inSnapshot[id] {
			e.t.Fatalf("the saved cursor is after %d followers, but follower #%d (%s) is not in snapshot %d", fetched, i, id, st.SnapshotID)
		}
		if _, ok := profiles[id]; !ok && !carried[id] {
			e.t.Fatalf("the saved cursor is after %d followers, but the profile of follower #%d (%s) is neither committed nor carried", fetched, i, id)
		}
	}
	return fmt.Sprintf("cursor after %d followers (%d carried); %d in the snapshot, %d profiles", fetched, len(st.Cursor.Carry), len(inSnapshot), len(profiles))
}

// wantExactAccount fails the test unless the account's current followers
// and profiles are exactly wxsim's, every snapshot is complete and no
// cursor is left.
func (e *env) wantExactAccount() {
	e.t.Helper()
	e.wantCurrent()
	snaps := e.snapshots()
	var newestComplete uint64
	for _, s := range snaps {
		if s.Complete == sink.SnapshotComplete {
			newestComplete = max(newestComplete, s.ID)
		}
	}
	for _, s := range snaps {
		// On a cluster, an unfinished snapshot older than the newest
		// complete one is kept until Retention complete ones are newer:
		// the list may have been read on a replica that lacks its last row.
		if s.Complete == sink.SnapshotInProgress && !(e.cluster && s.ID < newestComplete) {
			e.t.Fatalf("snapshot %+v is incomplete after a run that ended 0", s)
		}
	}
	if f, u := e.accountState(); f != "" || u != "" {
		e.t.Fatalf("cursors left after a run that ended 0: followers %q, users %q", f, u)
	}
	e.wantProfiles(e.sim.FollowerOpenIDs())
}

// SIGKILL of the host at WXSYNC_KILL_POINTS random points (seeded by
// WXSYNC_KILL_SEED, logged so that a failure can be replayed): when the
// k-th user/get or the j-th batchget request of a run arrives, held there
// or let through, and for user/get also as the host commits the pages
// before it, or once it has. After each kill the cursor is not ahead of the
// committed followers and profiles, and the next run resumes from it; it
// is killed in turn at the next point (up to killsPerAccount times per
// account) until a run ends 0, and then the followers and profiles are
// exact.
func TestSyncHostKilledAtRandomPoints(t *testing.T) {
	t.Parallel()
	seed := killEnvInt(t, envKillSeed, uint64(time.Now().UnixNano()))
	n := int(killEnvInt(t, envKillPoints, 3))
	t.Logf("replay with %s=%d %s=%d", envKillSeed, seed, envKillPoints, n)
	rng := rand.New(rand.NewPCG(seed, 0x6b696c6c))
	points := make([]killPoint, n)
	for i := range points {
		points[i] = randomKillPoint(rng)
	}

	var e *env
	var ids []string
	kills := 0 // of the current account
	finish := func() {
		if e == nil {
			return
		}
		if kills > 0 {
			e.sync(exitOK, streamsAccount)
		}
		e.wantExactAccount()
		e = nil
	}
	for i := 0; i < len(points); {
		pt := points[i]
		fresh := e == nil
		var resumeAt string
		from := 0
		if fresh {
			e, kills = newEnv(t, killOptions()), 0
			ids = e.sim.FollowerOpenIDs()
		} else if st, ok := e.state(); ok {
			resumeAt, from = st.Cursor.Next, int(st.Cursor.Fetched)
		}
		e.sim.ResetCalls()
		killed := e.runKilledAt(pt, from)
		if gets := userGets(e.sim.CallLog()); resumeAt != "" && len(gets) > 0 && gets[0] != resumeAt {
			t.Fatalf("kill point %d (%v): the run began at next_openid %q, want the saved %q", i+1, pt, gets[0], resumeAt)
		}
		if !killed {
			// The run ended 0 before the point: the account is done, and
			// the point goes to a fresh one, whose first run reaches it.
			if fresh {
				t.Fatalf("kill point %d/%d (%v): not reached by a fresh run", i+1, n, pt)
			}
			e.wantExactAccount()
			e = nil
			continue
		}
		kills++
		t.Logf("kill point %d/%d: %v (kill %d of this account): %s", i+1, n, pt, kills, e.wantCursorNotAhead(ids))
		i++
		if kills == killsPerAccount {
			finish()
		}
	}
	finish()
	if t.Failed() {
		t.Logf("replay with %s=%d %s=%d", envKillSeed, seed, envKillPoints, n)
	}
}
