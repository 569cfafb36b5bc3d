package main

// The end of a sync: its row in wxsync_runs and the summary on stderr.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wxsync/wxsync/sink"
)

// recordTimeout bounds writing the run record, on top of the sink's own
// retry limit: a run that failed because ClickHouse went away should not
// wait another CLICKHOUSE_RETRY_TIME for it.
const recordTimeout = 30 * time.Second

// runStatus is wxsync_runs.status for an exit code.
func runStatus(code int) string {
	switch code {
	case exitOK:
		return sink.RunOK
	case exitTempFail:
		return sink.RunStopped
	case exitConfigErr:
		return sink.RunConfigError
	default:
		return sink.RunFailed
	}
}

// end records the run that ended with err in wxsync_runs (when ClickHouse
// was reached), closes the sink and prints the summary. The record is
// written with a context that outlives a signal.
func (r *syncRun) end(ctx context.Context, err error, stderr io.Writer) {
	code := exitCode(err)
	run := sink.Run{
		ID: r.id, AppID: r.cfg.AppID, StartedAt: r.started, FinishedAt: time.Now(),
		Status: runStatus(code), ExitCode: uint8(code), Calls: r.calls, QuotaRemain: r.quota,
	}
	if err != nil {
		run.Error = r.scrub(err.Error())
	}
	for _, name := range r.streams {
		st := sink.RunStream{Stream: name}
		if sr := r.open[name]; sr != nil {
			st.Rows, st.SnapshotID = uint64(max(sr.written, 0)), sr.snapshot
		}
		run.Streams = append(run.Streams, st)
	}
	recErr := errors.New("ClickHouse was not reached")
	if r.sink != nil {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		recErr = r.sink.RecordRun(wctx, run)
		cancel()
		r.sink.Close()
	}
	if recErr != nil {
		r.log.Warn("the run is not recorded in "+sink.RunsTable, "run_id", run.ID, "error", r.scrub(recErr.Error()))
	}
	r.log.Info("run finished", "run_id", run.ID, "status", run.Status, "exit_code", code,
		"duration", run.FinishedAt.Sub(run.StartedAt).Round(time.Millisecond).String(), "recorded", recErr == nil)
	r.printSummary(stderr, run, recErr == nil)
}

// scrub removes the secret and the DSN's password from s: an error stored
// or printed never shows them.
func (r *syncRun) scrub(s string) string {
	secrets := []string{r.cfg.Secret}
	if u, err := url.Parse(r.cfg.DSN); err == nil {
		if u.User != nil {
			p, _ := u.User.Password()
			secrets = append(secrets, p)
		}
		secrets = append(secrets, u.Query().Get("password"))
	}
	for _, x := range secrets {
		if x != "" {
			s = strings.ReplaceAll(s, x, "xxxxx")
		}
	}
	return s
}

// printSummary prints the end-of-run table: each stream's rows, snapshot
// and status, then the API calls by path.
func (r *syncRun) printSummary(w io.Writer, run sink.Run, recorded bool) {
	where := "not recorded: ClickHouse was not reached"
	if recorded {
		where = "recorded in " + sink.RunsTable
	} else if r.sink != nil {
		where = "not recorded: writing to " + sink.RunsTable + " failed"
	}
	fmt.Fprintf(w, "\nwxsync sync: %s, exit %d, in %s (run %s, %s)\n",
		run.Status, run.ExitCode, run.FinishedAt.Sub(run.StartedAt).Round(time.Millisecond), run.ID, where)
	if len(run.Streams) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  STREAM\tROWS COMMITTED\tSNAPSHOT\tSTATUS")
		for _, st := range run.Streams {
			snap := "-"
			if st.SnapshotID != 0 {
				snap = fmt.Sprint(st.SnapshotID)
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\n", st.Stream, st.Rows, snap, r.streamStatus(st.Stream))
		}
		tw.Flush()
	}
	if len(run.Calls) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  API PATH\tCALLS\tQUOTA LEFT AT START")
		for _, path := range sortedKeys(run.Calls) {
			left := "-"
			if q, ok := run.QuotaRemain[path]; ok {
				left = fmt.Sprint(q)
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\n", path, run.Calls[path], left)
		}
		tw.Flush()
	}
}

// streamStatus says where a stream stands at the end of the run.
func (r *syncRun) streamStatus(name string) string {
	sr := r.open[name]
	switch {
	case sr == nil:
		return "not started"
	case sr.done:
		return "complete"
	case sr.snapshot != 0:
		return "incomplete (the next run resumes it)"
	default:
		return "incomplete"
	}
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// noProgress is the display of a syncRun that has none.
type noProgress struct{}

func (noProgress) update(string, int64, int64) {}
func (noProgress) done(string)                 {}
func (noProgress) stop()                       {}
