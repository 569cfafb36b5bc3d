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

// RecordRun inserts r into wxsync_runs, retrying a transient failure like
// an insert.
func (s *Sink) RecordRun(ctx context.Context, r Run) error {
	if r.ID == "" {
		return errors.New("record run: empty run id")
	}
	var streams []string
	var rows, snaps []uint64
	for _, st := range r.Streams {
		streams = append(streams, st.Stream)
		rows = append(rows, st.Rows)
		snaps = append(snaps, st.SnapshotID)
	}
	paths, calls := sortedCounts(r.Calls)
	qpaths, qremain := sortedCounts(r.QuotaRemain)
	q := fmt.Sprintf("INSERT INTO %s.`%s` (%s)", s.qdb, RunsTable, strings.Join(runsTable().Columns(), ", "))
	return s.retry(ctx, "record run "+r.ID, func(ctx context.Context) error {
		return s.sendColumns(ctx, q, []any{
			[]string{r.ID}, []string{r.AppID},
			[]time.Time{r.StartedAt.UTC().Truncate(time.Second)}, []time.Time{r.FinishedAt.UTC().Truncate(time.Second)},
			[]string{r.Status}, []uint8{r.ExitCode},
			[][]string{nonNil(streams)}, [][]uint64{nonNil(rows)}, [][]uint64{nonNil(snaps)},
			[][]string{nonNil(paths)}, [][]uint64{nonNil(calls)},
			[][]string{nonNil(qpaths)}, [][]uint64{nonNil(qremain)},
			[]string{r.Error},
		})
	})
}

// sortedCounts returns m's keys, sorted, and their values (negative ones
// as 0).
func sortedCounts(m map[string]int64) ([]string, []uint64) {
	keys := make([]string, 0, len(m))
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

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
