package main

// The end of a sync: its row in wxsync_runs and the summary on stderr.

import (
	"context"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/wxsync/wxsync/plugin/host"
	"github.com/wxsync/wxsync/sink"
)

// end records the run that ended with err in wxsync_runs (when ClickHouse
// was reached), closes the sink and prints the summary.
func (s *syncRun) end(ctx context.Context, err error, stderr io.Writer) {
	run := host.NewRecord(s.run, s.started, s.report, err, redactor(s.cfg))
	var dst host.Destination
	if s.sink != nil {
		dst = s.sink
	}
	recErr := host.WriteRecord(ctx, dst, run)
	if s.sink != nil {
		s.sink.Close()
	}
	if recErr != nil {
		s.log.Warn("the run is not recorded in "+sink.RunsTable, "run_id", run.ID, "error", redactor(s.cfg)(recErr.Error()))
	}
	s.log.Info("run finished", "run_id", run.ID, "status", run.Status, "exit_code", run.ExitCode,
		"duration", run.FinishedAt.Sub(run.StartedAt).Round(time.Millisecond).String(), "recorded", recErr == nil)
	s.printSummary(stderr, run, recErr == nil)
}

// printSummary prints the end-of-run table: each stream's rows, snapshot
// and status, then the API calls by path.
func (s *syncRun) printSummary(w io.Writer, run sink.Run, recorded bool) {
	where := "not recorded: ClickHouse was not reached"
	if recorded {
		where = "recorded in " + sink.RunsTable
	} else if s.sink != nil {
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
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\n", st.Stream, st.Rows, snap, s.streamStatus(st.Stream))
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
func (s *syncRun) streamStatus(name string) string {
	sr, ok := s.report.Streams[name]
	switch {
	case !ok:
		return "not started"
	case sr.Done:
		return "complete"
	case sr.SnapshotID != 0:
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
