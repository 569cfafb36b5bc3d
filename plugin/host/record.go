package host

import (
	"context"
	"errors"
	"time"

	"github.com/wxsync/wxsync/plugin/kind"
	"github.com/wxsync/wxsync/sink"
)

// RecordTimeout bounds writing the run record, on top of the
// destination's own retry limit: a run that failed because ClickHouse
// went away should not wait another retry limit for it.
const RecordTimeout = 30 * time.Second

// NewRecord is the wxsync_runs row of the run cfg that began at started,
// did rep and ended now with err: its status and exit code are those the
// kind table gives err's kind (kind.Of). redact removes the secrets from
// the error's text (nil: none to remove).
func NewRecord(cfg RunConfig, started time.Time, rep Report, err error, redact func(string) string) sink.Run {
	k := kind.Of(err)
	run := sink.Run{
		ID: cfg.ID, AppID: cfg.AppID, StartedAt: started, FinishedAt: time.Now(),
		Status: k.RunStatus(), ExitCode: uint8(k.ExitCode()), Calls: rep.Calls, QuotaRemain: rep.QuotaRemain,
	}
	if err != nil {
		run.Error = err.Error()
		if redact != nil {
			run.Error = redact(run.Error)
		}
	}
	for _, name := range cfg.Streams {
		st := sink.RunStream{Stream: name}
		if sr, ok := rep.Streams[name]; ok {
			st.Rows, st.SnapshotID = uint64(max(sr.Rows, 0)), sr.SnapshotID
		}
		run.Streams = append(run.Streams, st)
	}
	return run
}

// ErrNotReached is WriteRecord's error when there is no destination.
var ErrNotReached = errors.New("ClickHouse was not reached")

// WriteRecord writes run into dst (nil: ErrNotReached), with a context
// that outlives a signal, bounded by RecordTimeout.
func WriteRecord(ctx context.Context, dst Destination, run sink.Run) error {
	return WriteRecords(ctx, dst, []sink.Run{run})
}

// WriteRecords writes runs into dst in one insert, as WriteRecord.
func WriteRecords(ctx context.Context, dst Destination, runs []sink.Run) error {
	if dst == nil {
		return ErrNotReached
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RecordTimeout)
	defer cancel()
	return dst.RecordRuns(wctx, runs)
}
