package main

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wxsync/wxsync/connector/wxsim"
)

func TestSyncExactFollowerSet(t *testing.T) {
	for _, n := range []int{0, 1, 9999, 10000, 10001, 23000} {
		for _, style := range []wxsim.EndStyle{wxsim.EndCountZero, wxsim.EndEmptyNext} {
			t.Run(fmt.Sprintf("n=%d/%v", n, style), func(t *testing.T) {
				opts := wxsim.DefaultOptions()
				opts.Followers, opts.EndStyle = n, style
				e := newEnv(t, opts)
				e.sync(exitOK)
				e.wantCurrent()
			})
		}
	}
}

func TestWalkCursorsHelper(t *testing.T) {
	ids := []string{"a", "b", "c", "d", "e"}
	for _, c := range []struct {
		after, size int
		style       wxsim.EndStyle
		want        []string
	}{
		{0, 2, wxsim.EndCountZero, []string{"", "b", "d", "e"}},
		{0, 2, wxsim.EndEmptyNext, []string{"", "b", "d"}},
		{2, 2, wxsim.EndCountZero, []string{"b", "d", "e"}},
		{0, 5, wxsim.EndCountZero, []string{"", "e"}},
		{0, 5, wxsim.EndEmptyNext, []string{""}},
	} {
		if got := walkCursors(ids, c.after, c.size, c.style); !slices.Equal(got, c.want) || len(got) != walkCalls(len(ids)-c.after, c.size, c.style) {
			t.Errorf("walkCursors(%d, %d, %v) = %q, want %q", c.after, c.size, c.style, got, c.want)
		}
	}
}

// Pages that repeat the previous page's tail and some of their own openids
// land as one row per follower.
func TestSyncDuplicatePages(t *testing.T) {
	opts := wxsim.DefaultOptions()
	opts.Followers = 23000
	opts.Faults = []wxsim.Fault{{Path: wxsim.PathUserGet, Call: 2, Times: 2, Kind: wxsim.FaultDuplicates}}
	e := newEnv(t, opts)
	e.sync(exitOK)
	id := e.wantOneSnapshot(0)
	if n := e.count("SELECT count() AS x FROM {db}.wechat_followers FINAL WHERE snapshot_id = ?", id); n != 23000 {
		t.Errorf("wechat_followers FINAL holds %d rows of snapshot %d, want 23000 (one per follower)", n, id)
	}
	if cursors := userGets(e.sim.CallLog()); slices.Index(cursors, "") != 0 || slices.Index(cursors[1:], "") != -1 {
		t.Errorf("user/get cursors %q: want one walk from the start", cursors)
	}
}

// Followers added and removed while the walk pages: it neither restarts
// nor fails, and the snapshot holds everyone who followed throughout.
func TestSyncTotalDrift(t *testing.T) {
	for _, style := range []wxsim.EndStyle{wxsim.EndCountZero, wxsim.EndEmptyNext} {
		t.Run(style.String(), func(t *testing.T) {
			t.Parallel()
			opts := smallPages()
			opts.EndStyle = style
			opts.Churn = wxsim.Churn{AfterCalls: 2, Add: 400, Remove: 300}
			e := newEnv(t, opts)
			initial := e.sim.FollowerOpenIDs()
			e.sync(exitOK)

			added, removed := e.sim.Churned()
			if len(added) != 400 || len(removed) != 300 {
				t.Fatalf("churn: %d added, %d removed, want 400 and 300", len(added), len(removed))
			}
			if cursors := userGets(e.sim.CallLog()); slices.Index(cursors, "") != 0 || slices.Index(cursors[1:], "") != -1 {
				t.Errorf("user/get cursors %q: want exactly one call from the start", cursors)
			}
			got := e.current()
			inGot := map[string]bool{}
			for _, id := range got {
				inGot[id] = true
			}
			gone := map[string]bool{}
			for _, id := range removed {
				gone[id] = true
			}
			for _, id := range initial {
				if !gone[id] && !inGot[id] {
					t.Fatalf("follower %s, present for the whole walk, is missing from the snapshot", id)
				}
			}
			known := map[string]bool{}
			for _, id := range slices.Concat(initial, added) {
				known[id] = true
			}
			for _, id := range got {
				if !known[id] {
					t.Fatalf("the snapshot holds %s, never a follower", id)
				}
			}
			snaps := e.snapshots()
			if len(snaps) != 1 || snaps[0].Complete != 1 || snaps[0].Rows != uint64(len(got)) || snaps[0].ReportedTotal != 5600 {
				t.Errorf("wechat_snapshots = %+v, want one complete snapshot of %d rows, reported total 5600", snaps, len(got))
			}
		})
	}
}

// A daily quota of two user/get calls: each run commits two pages, stops
// with 75 and its cursor saved; the next day's run goes on from there,
// and after the last one the snapshot is exact. No page is fetched twice.
func TestSyncQuotaDays(t *testing.T) {
	for _, style := range []wxsim.EndStyle{wxsim.EndCountZero, wxsim.EndEmptyNext} {
		t.Run(style.String(), func(t *testing.T) {
			t.Parallel()
			opts := smallPages()
			opts.EndStyle = style
			opts.Quotas[wxsim.PathUserGet] = 2
			e := newEnv(t, opts)
			ids := e.sim.FollowerOpenIDs()
			calls := walkCursors(ids, 0, 1000, style)
			var snapshot uint64
			for day, done := 0, 0; ; day++ {
				e.sim.ResetCalls()
				wantCalls := calls[done:min(done+2, len(calls))]
				if done+2 >= len(calls) {
					e.sync(exitOK)
					e.wantUserGets(wantCalls)
					e.wantOneSnapshot(snapshot)
					return
				}
				r := e.sync(exitTempFail)
				if !strings.Contains(r.output, "errcode 45009") {
					t.Fatalf("day %d: output does not name 45009:\n%s", day, r.output)
				}
				e.wantUserGets(append(slices.Clone(wantCalls), calls[done+2])) // the third is refused
				done += 2
				id, _ := e.wantResumable(ids, done)
				if snapshot != 0 && id != snapshot {
					t.Fatalf("day %d: snapshot %d, want %d continued", day, id, snapshot)
				}
				snapshot = id
				if got := e.current(); len(got) != 0 {
					t.Fatalf("day %d: the view shows %d followers of an incomplete snapshot", day, len(got))
				}
				e.sim.ResetQuota()
			}
		})
	}
}

// A 45009 in the middle of a new snapshot leaves the previous complete
// snapshot in the view; the rerun resumes from the saved cursor.
func TestSyncQuotaResumeKeepsPreviousSnapshot(t *testing.T) {
	e := newEnv(t, smallPages())
	e.sync(exitOK)
	first := e.wantOneSnapshot(0)
	before := e.current()

	e.sim.AddFollowers(300)
	e.sim.RemoveFollowers(100)
	if err := e.sim.AddFaults(wxsim.Fault{Path: wxsim.PathUserGet, Call: 3, Kind: wxsim.FaultQuota}); err != nil {
		t.Fatal(err)
	}
	ids := e.sim.FollowerOpenIDs()
	e.sim.ResetCalls()
	e.sync(exitTempFail)
	second, next := e.wantResumable(ids, 2)
	if second == first {
		t.Fatalf("the second sync wrote into the first snapshot %d", first)
	}
	if got := e.current(); !slices.Equal(got, before) {
		t.Fatalf("while the second snapshot is incomplete the view shows %d followers, want the first snapshot's %d", len(got), len(before))
	}
	stopped := userGets(e.sim.CallLog())

	e.sim.ResetCalls()
	e.sync(exitOK)
	resumed := userGets(e.sim.CallLog())
	if len(resumed) == 0 || resumed[0] != next {
		t.Fatalf("the rerun's user/get cursors %q, want the saved %q first", resumed, next)
	}
	if n, clean := len(stopped)+len(resumed), walkCalls(len(ids), 1000, wxsim.EndCountZero); n > clean+2 {
		t.Errorf("%d user/get calls across both runs, want at most %d (a clean walk and 2)", n, clean+2)
	}
	e.wantUserGets(walkCursors(ids, 2000, 1000, wxsim.EndCountZero))
	e.wantCurrent()
	if snaps := e.snapshots(); len(snaps) != 2 || snaps[0].ID != first || snaps[0].Complete != 1 || snaps[1].ID != second || snaps[1].Complete != 1 {
		t.Fatalf("wechat_snapshots = %+v, want %d and %d complete", snaps, first, second)
	}
}

// A saved cursor that has gone stale (the API ends the list at once) makes
// the rerun walk again from the start, within the same snapshot.
func TestSyncStaleCursorRestarts(t *testing.T) {
	opts := smallPages()
	opts.Faults = []wxsim.Fault{{Path: wxsim.PathUserGet, Call: 3, Kind: wxsim.FaultQuota}}
	e := newEnv(t, opts)
	ids := e.sim.FollowerOpenIDs()
	e.sync(exitTempFail)
	snapshot, next := e.wantResumable(ids, 2)

	if err := e.sim.AddFaults(wxsim.Fault{Path: wxsim.PathUserGet, Call: 1, Kind: wxsim.FaultEarlyEnd}); err != nil {
		t.Fatal(err)
	}
	e.sim.ResetCalls()
	r := e.sync(exitOK, debug...)
	e.wantUserGets(append([]string{next}, walkCursors(ids, 0, 1000, wxsim.EndCountZero)...))
	e.wantOneSnapshot(snapshot)
	if !strings.Contains(r.output, "restarting the walk within the same snapshot") {
		t.Errorf("the output does not say the walk restarted:\n%s", r.output)
	}
}

// An API that answers, on user/get call 3, the next_openid it was asked
// for (a loop): the walk stops there, on that call, and the run exits 75,
// as its message says, with the cursor after page 2 and exactly the rows
// before it committed (nothing of the repeating page). Once the API is
// consistent again the rerun resumes there and completes the snapshot.
// With the profiles (the default streams) and without.
func TestSyncRepeatingNextIsTemporary(t *testing.T) {
	for _, c := range []struct {
		name string
		env  []string
	}{
		{name: "default streams"},
		{name: "followers only", env: []string{"WXSYNC_STREAMS=followers"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			const call = 3
			opts := smallPages()
			opts.Faults = []wxsim.Fault{{Path: wxsim.PathUserGet, Call: call, Kind: wxsim.FaultRepeatNext}}
			e := newEnv(t, opts)
			ids := e.sim.FollowerOpenIDs()
			clean := walkCursors(ids, 0, opts.PageSize, opts.EndStyle)
			r := e.sync(exitTempFail, c.env...)

			e.wantUserGets(clean[:call]) // no call after the repeat
			snapshot, next := e.wantResumable(ids, call-1)
			if next != clean[call-1] {
				t.Fatalf("saved next_openid %q, want %q, the one the repeating call was asked for", next, clean[call-1])
			}
			want := fmt.Sprintf("wxsync: stopped early, cursor saved; run again later to resume: stream followers: the API answered next_openid %q again after %d pages in this run: refusing to loop (the list is inconsistent; retry later)\n", next, call)
			if !strings.HasSuffix(r.output, want) {
				t.Errorf("the output does not end with %q:\n%s", want, r.output)
			}
			if got := e.runRecords(); !slices.Equal(got, []string{"stopped 75"}) {
				t.Errorf("wxsync_runs holds %q, want one stopped run, exit 75", got)
			}
			if got := e.current(); len(got) != 0 {
				t.Fatalf("the view shows %d followers of an incomplete snapshot", len(got))
			}

			e.sim.ResetCalls()
			e.sync(exitOK, c.env...)
			e.wantUserGets(clean[call-1:])
			e.wantOneSnapshot(snapshot)
		})
	}
}

// A fresh walk that the API ends (the end-of-list answer on user/get call
// 3) with 2,000 of the 5,500 followers its total reports: the snapshot is
// published as listed, exit 0, and the run warns with both numbers.
func TestSyncFreshWalkShortOfTotalWarns(t *testing.T) {
	opts := smallPages()
	opts.Faults = []wxsim.Fault{{Path: wxsim.PathUserGet, Call: 3, Kind: wxsim.FaultEarlyEnd}}
	e := newEnv(t, opts)
	ids := e.sim.FollowerOpenIDs()
	r := e.sync(exitOK)

	e.wantUserGets(walkCursors(ids, 0, 1000, wxsim.EndCountZero)[:3])
	snaps := e.snapshots()
	if len(snaps) != 1 || snaps[0].Complete != 1 || snaps[0].Rows != 2000 || snaps[0].ReportedTotal != 5500 {
		t.Fatalf("wechat_snapshots = %+v, want one complete snapshot of 2000 rows, reported total 5500", snaps)
	}
	if got, want := e.current(), sorted(ids[:2000]); !slices.Equal(got, want) {
		t.Fatalf("the view shows %d followers, want the 2000 listed: %s", len(got), firstDiff(got, want))
	}
	line := regexp.MustCompile(`(?m)^.*\[WARN\] +plugin\S*: the follower list ended at 2000 openids of the 5500 the API reports.*$`).FindString(r.output)
	if line == "" {
		t.Fatalf("the output has no warning of the short list:\n%s", r.output)
	}
	for _, s := range []string{"published as the API listed it", "may include followers it does not list", "fetched=2000", "total=5500"} {
		if !strings.Contains(line, s) {
			t.Errorf("the warning lacks %q: %s", s, line)
		}
	}
}

// SIGKILL of the host while a page is in flight: the plugin dies with it
// (no orphan), and the rerun continues the same snapshot from the saved
// cursor. On real 10,000-openid pages.
func TestSyncHostKilled(t *testing.T) {
	opts := wxsim.DefaultOptions()
	opts.Followers = 35000
	e := newEnv(t, opts)
	ids := e.sim.FollowerOpenIDs()

	p, h := e.stopAtPage(3)
	plugin := pluginPID(t, p.cmd.Process.Pid)
	pidfd, err := unix.PidfdOpen(plugin, 0)
	if err != nil {
		t.Fatalf("pidfd_open(%d): %v", plugin, err)
	}
	defer unix.Close(pidfd)
	sendSignal(t, p.cmd.Process.Pid, syscall.SIGKILL)
	if r := p.wait(); r.code != -1 {
		t.Fatalf("wxsync exited %d after SIGKILL, want killed; output:\n%s", r.code, r.output)
	}
	waitProcessExit(t, pidfd, plugin)
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", plugin)); err == nil && !regexp.MustCompile(`^\d+ \(.*\) Z `).Match(stat) {
		t.Fatalf("plugin %d still runs after its host was killed: %s", plugin, stat)
	}
	h.Release()
	e.idle()

	snapshot, next := e.wantResumable(ids, 2)
	e.sim.ResetCalls()
	e.sync(exitOK)
	e.wantUserGets(walkCursors(ids, 20000, 10000, wxsim.EndCountZero))
	if got := userGets(e.sim.CallLog()); got[0] != next {
		t.Fatalf("the rerun began at %q, want the saved cursor %q", got[0], next)
	}
	e.wantOneSnapshot(snapshot)
}

// SIGKILL of the plugin: the host says so and exits 1 with what it
// committed kept; the rerun completes.
func TestSyncPluginKilled(t *testing.T) {
	e := newEnv(t, smallPages())
	ids := e.sim.FollowerOpenIDs()
	p, h := e.stopAtPage(3)
	sendSignal(t, pluginPID(t, p.cmd.Process.Pid), syscall.SIGKILL)
	r := p.waitExit(exitFailure)
	if !strings.Contains(r.output, "the source plugin died") {
		t.Fatalf("the output does not say the plugin died:\n%s", r.output)
	}
	h.Release()
	e.idle()

	snapshot, next := e.wantResumable(ids, 2)
	e.sim.ResetCalls()
	e.sync(exitOK)
	e.wantUserGets(walkCursors(ids, 2000, 1000, wxsim.EndCountZero))
	if got := userGets(e.sim.CallLog()); got[0] != next {
		t.Fatalf("the rerun began at %q, want the saved cursor %q", got[0], next)
	}
	e.wantOneSnapshot(snapshot)
}

// SIGTERM or SIGINT mid-walk: exit 75 with the cursor of the last
// committed page saved; the rerun resumes there.
func TestSyncInterrupted(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, smallPages())
			ids := e.sim.FollowerOpenIDs()
			p, h := e.stopAtPage(3)
			sendSignal(t, p.cmd.Process.Pid, sig)
			r := p.waitExit(exitTempFail)
			if !strings.Contains(r.output, "interrupted by a signal") {
				t.Fatalf("the output does not say why it stopped:\n%s", r.output)
			}
			h.Release()
			e.idle()

			snapshot, _ := e.wantResumable(ids, 2)
			if got := e.current(); len(got) != 0 {
				t.Fatalf("the view shows %d followers of an incomplete snapshot", len(got))
			}
			e.sim.ResetCalls()
			e.sync(exitOK)
			e.wantUserGets(walkCursors(ids, 2000, 1000, wxsim.EndCountZero))
			e.wantOneSnapshot(snapshot)
		})
	}
}

// A second sync starts a new snapshot; the view shows the first until the
// second is complete; retention 1 then drops the first's partition.
func TestSyncSecondRunNewSnapshot(t *testing.T) {
	for _, retention := range []int{1, 7} {
		t.Run(fmt.Sprintf("retention=%d", retention), func(t *testing.T) {
			t.Parallel()
			keep := fmt.Sprintf("WXSYNC_SNAPSHOT_RETENTION=%d", retention)
			e := newEnv(t, smallPages())
			e.sync(exitOK, keep)
			first := e.wantOneSnapshot(0)
			before := e.current()

			e.sim.AddFollowers(200)
			e.sim.RemoveFollowers(100)
			ids := e.sim.FollowerOpenIDs()
			p, h := e.stopAtPage(3, keep)
			second, _ := e.wantResumable(ids, 2)
			if second <= first {
				t.Fatalf("second snapshot id %d, want above the first's %d", second, first)
			}
			if got := e.current(); !slices.Equal(got, before) {
				t.Fatalf("while the second snapshot is written the view shows %d followers, want the first's %d", len(got), len(before))
			}
			h.Release()
			p.waitExit(exitOK)
			e.wantCurrent()

			snaps := e.snapshots()
			firstRows := e.count("SELECT count() AS x FROM {db}.wechat_followers WHERE snapshot_id = ?", first)
			wantFirst, wantRows := snapshotRow{first, 1, 5500, 5500}, uint64(5500)
			if retention == 1 {
				wantFirst.Complete, wantRows = 2, 0 // pruned, partition dropped
			}
			wantSecond := snapshotRow{second, 1, uint64(len(ids)), uint64(len(ids))}
			if !slices.Equal(snaps, []snapshotRow{wantFirst, wantSecond}) || firstRows != wantRows {
				t.Fatalf("wechat_snapshots = %+v with %d rows of the first, want %+v, %+v with %d",
					snaps, firstRows, wantFirst, wantSecond, wantRows)
			}
		})
	}
}

// No secret and no access token reaches the output, at debug level, through
// token revocation, retried and fatal errors.
func TestSyncOutputHasNoSecrets(t *testing.T) {
	const secret = "S3cr3t-d0-n0t-l0g-7f3a9c"
	userGet := func(call int, kind wxsim.FaultKind) []wxsim.Fault {
		return []wxsim.Fault{{Path: wxsim.PathUserGet, Call: call, Kind: kind}}
	}
	for _, c := range []struct {
		name   string
		faults []wxsim.Fault
		revoke bool // revoke every token before user/get call 2
		env    []string
		want   int
	}{
		{name: "revoked", revoke: true, want: exitOK},
		{name: "revoked/classic", revoke: true, env: []string{"WECHAT_TOKEN_MODE=classic"}, want: exitOK},
		{name: "revoked/json", revoke: true, env: []string{"WXSYNC_LOG_FORMAT=json"}, want: exitOK},
		{name: "42001", faults: userGet(2, wxsim.FaultExpired), want: exitOK},
		{name: "40001", faults: userGet(2, wxsim.FaultInvalidToken), want: exitOK},
		{name: "busy", faults: []wxsim.Fault{{Path: wxsim.PathUserGet, Call: 2, Times: 2, Kind: wxsim.FaultBusy}}, want: exitOK},
		{name: "502", faults: userGet(2, wxsim.FaultBadGateway), want: exitOK},
		{name: "truncated", faults: userGet(2, wxsim.FaultTruncated), want: exitOK},
		{name: "reset", faults: userGet(2, wxsim.FaultReset), want: exitOK},
		{name: "reset/classic-token", faults: []wxsim.Fault{{Path: wxsim.PathToken, Call: 1, Kind: wxsim.FaultReset}}, env: []string{"WECHAT_TOKEN_MODE=classic"}, want: exitOK},
		{name: "retries-exhausted", faults: userGet(0, wxsim.FaultBusy), env: []string{"WECHAT_MAX_ATTEMPTS=2"}, want: exitTempFail},
		{name: "48001", faults: userGet(2, wxsim.FaultUnauthorized), want: exitConfigErr},
		{name: "45009", faults: userGet(2, wxsim.FaultQuota), want: exitTempFail},
		{name: "40125", env: []string{"WECHAT_SECRET=" + secret + "-wrong"}, want: exitConfigErr},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			opts := smallPages()
			opts.Secret, opts.Faults = secret, c.faults
			e := newEnv(t, opts)
			if c.revoke {
				var n atomic.Int64
				e.setGate(func(r *http.Request) {
					if r.URL.Path == wxsim.PathUserGet && n.Add(1) == 2 {
						e.sim.Revoke()
					}
				})
			}
			r := e.sync(c.want, append(slices.Clone(debug), c.env...)...)
			tokens := e.sim.TokensIssued()
			if c.want != exitConfigErr && len(tokens) == 0 {
				t.Fatal("no token was issued: the scenario does not test what it should")
			}
			if c.revoke && len(tokens) < 2 {
				t.Fatalf("%d tokens issued, want a second one after the revocation", len(tokens))
			}
			if !strings.Contains(r.output, "wechat request") {
				t.Fatalf("no debug record of the WeChat client's requests:\n%s", r.output)
			}
			for _, s := range append([]string{secret}, tokens...) {
				if i := strings.Index(r.output, s); i >= 0 {
					t.Fatalf("the output holds a secret or token at byte %d:\n%s", i, r.output)
				}
			}
		})
	}
}

// What a run that fails wrote to ClickHouse.
const (
	// wroteNothing: ClickHouse was never reached, or the configuration
	// failed validation and the run never started: the (empty) database
	// holds no table.
	wroteNothing = iota + 1
	// wroteRecord: the run started (its configuration is valid) and failed
	// before its first commit: the tables exist and hold one row, the
	// run's record in wxsync_runs; no snapshot was begun (a snapshot is
	// begun at the first commit), no state saved.
	wroteRecord
)

// dataTables are the tables that hold what the streams fetched.
var dataTables = []string{"wechat_followers", "wechat_users", "wechat_tags", "wechat_blacklist"}

// Every exit code, each for the reasons the README lists. SIGTERM and
// SIGINT (75) are in TestSyncInterrupted, a killed plugin (1) in
// TestSyncPluginKilled.
func TestSyncExitCodes(t *testing.T) {
	userGet := func(call, times int, kind wxsim.FaultKind) []wxsim.Fault {
		return []wxsim.Fault{{Path: wxsim.PathUserGet, Call: call, Times: times, Kind: kind}}
	}
	const password = "pa55-w0rd-n0t-shown"
	rid := `\(rid [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}\)`
	for _, c := range []struct {
		name   string
		args   []string // default: sync
		env    []string
		faults []wxsim.Fault
		want   int
		says   []string // regexps the output matches
		wrote  int      // wroteNothing, wroteRecord, or 0 (not checked)
		rerun  bool     // wroteRecord: the faults are spent, so a rerun without env completes
	}{
		{name: "done", want: exitOK},

		{name: "45009", faults: userGet(1, 1, wxsim.FaultQuota), want: exitTempFail,
			says: []string{"errcode 45009 " + rid, "daily quota"}, wrote: wroteRecord, rerun: true},
		{name: "retries exhausted", faults: userGet(1, 2, wxsim.FaultBusy), env: []string{"WECHAT_MAX_ATTEMPTS=2"}, want: exitTempFail,
			says: []string{`giving up after 2 attempt\(s\)`, "errcode -1"}, wrote: wroteRecord, rerun: true},

		{name: "no appid", env: []string{"WECHAT_APPID="}, want: exitConfigErr,
			says: []string{`WECHAT_APPID \(--appid\) is not set`}, wrote: wroteNothing},
		{name: "no secret", env: []string{"WECHAT_SECRET="}, want: exitConfigErr,
			says: []string{"WECHAT_SECRET is not set"}, wrote: wroteNothing},
		{name: "48001", faults: userGet(1, 1, wxsim.FaultUnauthorized), want: exitConfigErr,
			says: []string{"errcode 48001 " + rid, "verify the account", "接口权限"}, wrote: wroteRecord, rerun: true},
		// A host off the whitelist is refused every call.
		{name: "40164", faults: []wxsim.Fault{{Path: wxsim.AnyPath, Kind: wxsim.FaultIPWhitelist}}, want: exitConfigErr,
			says: []string{"errcode 40164 " + rid, "IP whitelist", "IP白名单"}, wrote: wroteRecord},
		{name: "40125", env: []string{"WECHAT_SECRET=not-the-secret"}, want: exitConfigErr,
			says: []string{"errcode 40125 " + rid, "check WECHAT_SECRET"}, wrote: wroteRecord, rerun: true},
		{name: "malformed dsn", env: []string{"CLICKHOUSE_DSN=clickhouse://u:" + password + "@127.0.0.1:9000/no-such;db"}, want: exitConfigErr,
			says: []string{"invalid clickhouse DSN"}, wrote: wroteNothing},
		{name: "not the native protocol", env: []string{"CLICKHOUSE_DSN=http://127.0.0.1:8123/db"}, want: exitConfigErr,
			says: []string{"only the native protocol"}, wrote: wroteNothing},
		{name: "clickhouse unreachable", env: []string{"CLICKHOUSE_DSN=clickhouse://u:" + password + "@127.0.0.1:1/db"}, want: exitConfigErr,
			says: []string{"ClickHouse: .*127.0.0.1:1"}, wrote: wroteNothing},
		{name: "unknown stream", args: []string{"sync", "--streams", "nope"}, want: exitConfigErr,
			says: []string{`WXSYNC_STREAMS \(--streams\)`, "nope"}, wrote: wroteNothing},
		{name: "no plugin", env: []string{"WXSYNC_PLUGIN=/nonexistent/wxsync-source-wechat"}, want: exitConfigErr,
			says: []string{"source plugin /nonexistent/wxsync-source-wechat not found"}, wrote: wroteRecord},

		{name: "no arguments", args: []string{}, want: exitUsage, says: []string{"Usage:"}, wrote: wroteNothing},
		{name: "unknown command", args: []string{"frobnicate"}, want: exitUsage, says: []string{`unknown command "frobnicate"`}, wrote: wroteNothing},
		{name: "unknown flag", args: []string{"sync", "--frobnicate"}, want: exitUsage, says: []string{"flag provided but not defined: -frobnicate"}, wrote: wroteNothing},
		{name: "extra argument", args: []string{"sync", "now"}, want: exitUsage, says: []string{`unexpected argument "now"`}, wrote: wroteNothing},

		{name: "not a plugin", env: []string{"WXSYNC_PLUGIN=/bin/true"}, want: exitFailure, says: []string{"start source plugin /bin/true"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			opts := smallPages()
			opts.Faults = c.faults
			e := newEnv(t, opts)
			args := c.args
			if args == nil {
				args = []string{"sync"}
			}
			r := e.run(c.env, args...)
			if r.code != c.want {
				t.Fatalf("wxsync %q exited %d, want %d; output:\n%s", args, r.code, c.want, r.output)
			}
			for _, re := range c.says {
				if !regexp.MustCompile(re).MatchString(r.output) {
					t.Errorf("the output does not match %q:\n%s", re, r.output)
				}
			}
			if strings.Contains(r.output, password) {
				t.Errorf("the output shows the DSN's password:\n%s", r.output)
			}
			if c.wrote == wroteNothing {
				if tables := e.tables(); len(tables) != 0 {
					t.Fatalf("the run created %q, want nothing written", tables)
				}
				return
			}
			if c.wrote == 0 {
				return
			}
			if got, want := e.runRecords(), []string{fmt.Sprintf("%s %d", runStatus(c.want), c.want)}; !slices.Equal(got, want) {
				t.Errorf("wxsync_runs holds %q, want %q", got, want)
			}
			for _, table := range dataTables {
				if n := e.count("SELECT count() AS x FROM {db}." + table); n != 0 {
					t.Errorf("%s holds %d rows, want none", table, n)
				}
			}
			if n := e.count("SELECT count() AS x FROM {db}.wechat_snapshots") + e.count("SELECT count() AS x FROM {db}.wxsync_state"); n != 0 {
				t.Errorf("wechat_snapshots and wxsync_state hold %d rows, want none", n)
			}
			if c.rerun {
				e.sync(exitOK) // fixed: the faults are spent, c.env dropped
				e.wantOneSnapshot(0)
			}
		})
	}
}
