package sink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wxsync/wxsync/plugin/kind"
)

// Values of wxsync_runs.status, as the kind package's table gives them for
// the Kind a run ended with.
const (
	// RunOK: every stream completed (exit 0).
	RunOK = kind.StatusOK
	// RunStopped: stopped early with the cursors saved (exit 75): quota,
	// retries exhausted, ClickHouse down too long, a signal.
	RunStopped = kind.StatusStopped
	// RunConfigError: the configuration or a permission needs fixing (exit 78).
	RunConfigError = kind.StatusConfigError
	// RunFailed: anything else (exit 1): a bug, the plugin died.
	RunFailed = kind.StatusFailed
)

// Run is one run of `wxsync sync`, as wxsync_runs records it.
type Run struct {
	// ID identifies the run (a UUID).
	ID    string
	AppID string
	// StartedAt and FinishedAt are stored in whole seconds, UTC.
	StartedAt, FinishedAt time.Time
	// Status is RunOK, RunStopped, RunConfigError or RunFailed.
	Status   string
	ExitCode uint8
	// Streams are the streams the run synced, in run order.
	Streams []RunStream
	// Calls counts the run's API calls by path.
	Calls map[string]int64
	// QuotaRemain is each API path's remaining daily quota, as read at the
	// start of the run (nil when unknown).
	QuotaRemain map[string]int64
	// Error is why the run failed ("" for none); it must hold no secret.
	Error string
}

// RunStream is what a run did of one stream.
type RunStream struct {
	Stream string
	// Rows is how many rows the run committed.
	Rows uint64
	// SnapshotID is the snapshot written (0 for none).
	SnapshotID uint64
}

// RecordRun inserts r into wxsync_runs; it is RecordRuns of one run.
func (s *Sink) RecordRun(ctx context.Context, r Run) error {
	return s.RecordRuns(ctx, []Run{r})
}

// RecordRuns inserts runs into wxsync_runs in one insert (all or, on an
// error, possibly none), retrying a transient failure like an insert.
func (s *Sink) RecordRuns(ctx context.Context, runs []Run) error {
	if len(runs) == 0 {
		return nil
	}
	n := len(runs)
	var (
		ids, appids, statuses, errs = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		started, finished           = make([]time.Time, n), make([]time.Time, n)
		codes                       = make([]uint8, n)
		streams, paths, qpaths      = make([][]string, n), make([][]string, n), make([][]string, n)
		rows, snaps, calls, qremain = make([][]uint64, n), make([][]uint64, n), make([][]uint64, n), make([][]uint64, n)
	)
	for i, r := range runs {
		if r.ID == "" {
			return errors.New("record run: empty run id")
		}
		ids[i], appids[i], statuses[i], errs[i], codes[i] = r.ID, r.AppID, r.Status, r.Error, r.ExitCode
		started[i], finished[i] = r.StartedAt.UTC().Truncate(time.Second), r.FinishedAt.UTC().Truncate(time.Second)
		streams[i], rows[i], snaps[i] = []string{}, []uint64{}, []uint64{}
		for _, st := range r.Streams {
			streams[i] = append(streams[i], st.Stream)
			rows[i] = append(rows[i], st.Rows)
			snaps[i] = append(snaps[i], st.SnapshotID)
		}
		paths[i], calls[i] = sortedCounts(r.Calls)
		qpaths[i], qremain[i] = sortedCounts(r.QuotaRemain)
	}
	what := "record run " + runs[0].ID
	if n > 1 {
		what = fmt.Sprintf("record %d runs (%s, ...)", n, runs[0].ID)
	}
	q := fmt.Sprintf("INSERT INTO %s.`%s` (%s)", s.qdb, RunsTable, strings.Join(runsTable().Columns(), ", "))
	return s.retry(ctx, what, func(ctx context.Context) error {
		return s.sendColumns(ctx, q, []any{ids, appids, started, finished, statuses, codes,
			streams, rows, snaps, paths, calls, qpaths, qremain, errs})
	})
}

// sortedCounts returns m's keys, sorted, and their values (negative ones
// as 0).
func sortedCounts(m map[string]int64) ([]string, []uint64) {
	keys := make([]string, 0, len(m)) // never nil: an empty array, not NULL
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	vals := make([]uint64, len(keys))
	for i, k := range keys {
		vals[i] = uint64(max(m[k], 0))
	}
	return keys, vals
}
