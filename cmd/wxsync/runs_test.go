package main

// Run records (wxsync_runs) and the end-of-run summary: the real host and
// plugin against wxsim and ClickHouse, compared with wxsim's own counts.

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wxsync/wxsync/connector/wxsim"
	"github.com/wxsync/wxsync/plugin/kind"
)

// runStatus is wxsync_runs.status for a run that exited with code, as the
// kind table gives it.
func runStatus(code int) string {
	for _, k := range kind.All() {
		if k.ExitCode() == code {
			return k.RunStatus()
		}
	}
	return kind.StatusFailed
}

// everyStream selects every stream (the harness's default is followers).
const everyStream = "WXSYNC_STREAMS=followers,users,tags,blacklist"

// runRow is a row of wxsync_runs.
type runRow struct {
	ID, AppID, Status, Error string
	Started, Finished        time.Time
	ExitCode                 uint8
	Streams                  map[string]uint64 // rows committed by stream
	Order                    []string          // the streams, as stored
	Snapshots                map[string]uint64
	Calls                    map[string]int
	Quota                    map[string]uint64
}

// runs returns the account's rows of wxsync_runs (appid "" for runs that
// did not know it), oldest first.
func (e *env) runs(appid string) []runRow {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := e.sink.Conn().Query(ctx, fmt.Sprintf("SELECT run_id, appid, status, error, started_at, finished_at, exit_code, "+
		"streams, rows, snapshot_ids, api_paths, api_calls, quota_paths, quota_remain FROM `%s`.wxsync_runs WHERE appid = ? ORDER BY started_at, finished_at",
		e.sink.Database()), appid)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []runRow
	for rows.Next() {
		var (
			r                             runRow
			streams, paths, qpaths        []string
			counts, snaps, calls, qremain []uint64
		)
		if err := rows.Scan(&r.ID, &r.AppID, &r.Status, &r.Error, &r.Started, &r.Finished, &r.ExitCode,
			&streams, &counts, &snaps, &paths, &calls, &qpaths, &qremain); err != nil {
			e.t.Fatal(err)
		}
		if len(counts) != len(streams) || len(snaps) != len(streams) || len(calls) != len(paths) || len(qremain) != len(qpaths) {
			e.t.Fatalf("wxsync_runs row %s has parallel arrays of different lengths", r.ID)
		}
		r.Order, r.Streams, r.Snapshots, r.Calls, r.Quota = streams, map[string]uint64{}, map[string]uint64{}, map[string]int{}, map[string]uint64{}
		for i, s := range streams {
			r.Streams[s], r.Snapshots[s] = counts[i], snaps[i]
		}
		for i, p := range paths {
			r.Calls[p] = int(calls[i])
		}
		for i, p := range qpaths {
			r.Quota[p] = qremain[i]
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// oneRun fails the test unless the account has exactly one run record,
// with this status and exit code, and the output's summary names it.
func (e *env) oneRun(r result, status string, code int) runRow {
	e.t.Helper()
	runs := e.runs(e.sim.Options().AppID)
	if len(runs) != 1 {
		e.t.Fatalf("wxsync_runs has %d rows for the account, want 1: %+v", len(runs), runs)
	}
	run := runs[0]
	if run.Status != status || int(run.ExitCode) != code {
		e.t.Fatalf("run recorded as %s, exit %d; want %s, exit %d (error %q)", run.Status, run.ExitCode, status, code, run.Error)
	}
	if run.Finished.Before(run.Started) || time.Since(run.Started) > procTimeout+time.Minute {
		e.t.Fatalf("run started %v, finished %v", run.Started, run.Finished)
	}
	head := fmt.Sprintf("wxsync sync: %s, exit %d, in ", status, code)
	if !strings.Contains(r.output, head) || !strings.Contains(r.output, "(run "+run.ID+", recorded in wxsync_runs)") {
		e.t.Fatalf("the output has no summary of run %s (%q):\n%s", run.ID, head, r.output)
	}
	if strings.Contains(run.Error, e.sim.Options().Secret) {
		e.t.Fatalf("the recorded error holds the secret: %q", run.Error)
	}
	return run
}

// wantCalls fails the test unless the run's API calls are exactly wxsim's.
func (e *env) wantCalls(run runRow) {
	e.t.Helper()
	if want := e.sim.Calls(); !maps.Equal(run.Calls, want) {
		e.t.Fatalf("recorded API calls %v, wxsim counted %v", run.Calls, want)
	}
}

// wantSummaryRow fails the test unless the summary has a stream line with
// these rows and status.
func wantSummaryRow(t *testing.T, output, stream string, rows uint64, status string) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^  ` + stream + ` +` + fmt.Sprint(rows) + ` +(\d+|-) +` + regexp.QuoteMeta(status) + `$`)
	if !re.MatchString(output) {
		t.Fatalf("the summary has no line %q %d … %q:\n%s", stream, rows, status, output)
	}
}

func TestRunRecordOK(t *testing.T) {
	opts := wxsim.DefaultOptions()
	opts.Blacklisted = 120
	e := newEnv(t, opts)
	r := e.sync(exitOK, everyStream)
	run := e.oneRun(r, "ok", exitOK)
	if run.Error != "" || run.AppID != opts.AppID {
		t.Fatalf("run %+v", run)
	}
	want := map[string]uint64{
		"followers": uint64(e.sim.Total()),
		"users":     uint64(e.sim.Total()),
		"tags":      uint64(len(e.sim.Tags())),
		"blacklist": uint64(len(e.sim.BlacklistOpenIDs())),
	}
	if !maps.Equal(run.Streams, want) || !slices.Equal(run.Order, []string{"followers", "users", "tags", "blacklist"}) {
		t.Fatalf("recorded rows %v (order %v), want %v", run.Streams, run.Order, want)
	}
	for _, st := range []string{"followers", "blacklist"} {
		if ids := e.streamSnapshotIDs(st); len(ids) != 1 || fmt.Sprint(run.Snapshots[st]) != ids[0] {
			t.Fatalf("recorded %s snapshot %d, wechat_snapshots has %v", st, run.Snapshots[st], ids)
		}
	}
	e.wantCalls(run)
	if want := map[string]uint64{wxsim.PathUserGet: 500, wxsim.PathBatchGet: 5000000}; !maps.Equal(run.Quota, want) {
		t.Fatalf("recorded quota %v, want %v", run.Quota, want)
	}
	for st, n := range want {
		wantSummaryRow(t, r.output, st, n, "complete")
	}
	if !regexp.MustCompile(`(?m)^  /cgi-bin/user/get +` + fmt.Sprint(run.Calls[wxsim.PathUserGet]) + ` +500$`).MatchString(r.output) {
		t.Fatalf("the summary has no user/get calls line:\n%s", r.output)
	}
}

// streamSnapshotIDs returns the ids of stream's snapshots, complete or not.
func (e *env) streamSnapshotIDs(stream string) []string {
	return e.query("SELECT snapshot_id AS x FROM {db}.wechat_snapshots FINAL WHERE appid = ? AND stream = ? ORDER BY snapshot_id",
		e.sim.Options().AppID, stream)
}

// A quota too small for the walk: warned up front with how far the run
// gets, then stopped on 45009 with exit 75, and recorded so.
func TestRunRecordQuotaStopped(t *testing.T) {
	opts := wxsim.DefaultOptions() // 23,000 followers, 10,000 a page
	opts.Quotas[wxsim.PathUserGet] = 2
	e := newEnv(t, opts)
	r := e.sync(exitTempFail)
	warn := regexp.MustCompile(`\[WARN\] +plugin\S*: today's quota cannot finish this sync: /cgi-bin/user/get has 2 of 2 calls left and the remaining 23000 followers need 4 \(pages\); the run will get to about 20000 of 23000 followers listed`)
	if !warn.MatchString(r.output) {
		t.Fatalf("no up-front quota warning:\n%s", r.output)
	}
	if strings.Index(r.output, "today's quota cannot finish") > strings.Index(r.output, "45009") {
		t.Fatalf("the quota warning comes after the 45009:\n%s", r.output)
	}
	run := e.oneRun(r, "stopped", exitTempFail)
	if !maps.Equal(run.Streams, map[string]uint64{"followers": 20000}) || !strings.Contains(run.Error, "45009") {
		t.Fatalf("recorded rows %v, error %q; want 20,000 followers and the 45009", run.Streams, run.Error)
	}
	e.wantCalls(run)
	if !maps.Equal(run.Quota, map[string]uint64{wxsim.PathUserGet: 2}) {
		t.Fatalf("recorded quota %v", run.Quota)
	}
	wantSummaryRow(t, r.output, "followers", 20000, "incomplete (the next run resumes it)")

	// The next run, with no quota left, warns before it lists anything.
	e.sim.ResetCalls()
	r = e.sync(exitTempFail)
	if !strings.Contains(r.output, "[WARN]  plugin.wxsync-source-wechat: today's quota cannot finish this sync: /cgi-bin/user/get has 0 of 2 calls left and the remaining 3000 followers need 2 (pages); the run will get to about 20000 of 23000") {
		t.Fatalf("no up-front quota warning on resume:\n%s", r.output)
	}
}

// A permission error (48001): exit 78, recorded as config_error with the
// errcode and without the secret.
func TestRunRecordConfigError(t *testing.T) {
	opts := wxsim.DefaultOptions()
	opts.Faults = []wxsim.Fault{{Path: wxsim.PathUserGet, Kind: wxsim.FaultUnauthorized}}
	e := newEnv(t, opts)
	r := e.sync(exitConfigErr)
	run := e.oneRun(r, "config_error", exitConfigErr)
	if !strings.Contains(run.Error, "48001") || !maps.Equal(run.Streams, map[string]uint64{"followers": 0}) {
		t.Fatalf("recorded error %q, rows %v", run.Error, run.Streams)
	}
	e.wantCalls(run)
}

// An invalid setting, with ClickHouse reachable: the run is refused before
// it starts, so it writes nothing, not even a run record (no table is
// created), and its output is the one line naming the setting.
func TestRunRecordInvalidConfig(t *testing.T) {
	e := newEnv(t, wxsim.DefaultOptions())
	r := e.sync(exitConfigErr, "WXSYNC_PROGRESS_INTERVAL=0s")
	if want := "wxsync: configuration error: WXSYNC_PROGRESS_INTERVAL 0s: want a positive duration\n"; r.output != want {
		t.Fatalf("output %q, want the one line %q", r.output, want)
	}
	if tables := e.tables(); len(tables) != 0 {
		t.Fatalf("a run refused for its configuration created %q, want nothing written", tables)
	}
	if calls := e.sim.Calls(); len(calls) != 0 {
		t.Fatalf("a run refused for its configuration called the API: %v", calls)
	}
}

// SIGTERM mid-walk and a dead plugin are recorded too.
func TestRunRecordInterrupted(t *testing.T) {
	t.Run("SIGTERM", func(t *testing.T) {
		e := newEnv(t, smallPages())
		p, h := e.stopAtPage(3)
		sendSignal(t, p.cmd.Process.Pid, syscall.SIGTERM)
		r := p.waitExit(exitTempFail)
		h.Release()
		run := e.oneRun(r, "stopped", exitTempFail)
		if !maps.Equal(run.Streams, map[string]uint64{"followers": 2000}) || !strings.Contains(run.Error, "signal") {
			t.Fatalf("recorded rows %v, error %q", run.Streams, run.Error)
		}
	})
	t.Run("plugin killed", func(t *testing.T) {
		e := newEnv(t, smallPages())
		p, h := e.stopAtPage(3)
		sendSignal(t, pluginPID(t, p.cmd.Process.Pid), syscall.SIGKILL)
		r := p.waitExit(exitFailure)
		h.Release()
		run := e.oneRun(r, "failed", exitFailure)
		if !maps.Equal(run.Streams, map[string]uint64{"followers": 2000}) || !strings.Contains(run.Error, "plugin died") {
			t.Fatalf("recorded rows %v, error %q", run.Streams, run.Error)
		}
	})
}
