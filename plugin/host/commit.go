package host

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/plugin/kind"
	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
)

// take files one message; it returns the error that ends the Read, if any.
func (r *run) take(m received) error {
	if m.err != nil {
		if errors.Is(m.err, plugin.ErrPluginDied) {
			return m.err
		}
		if errors.Is(m.err, context.Canceled) {
			return nil // our own cancellation; ending reports the signal
		}
		return fmt.Errorf("reading from the source plugin: %w", m.err)
	}
	msg := m.msg
	if msg.Err != nil {
		return msg.Err // it carries its kind
	}
	if msg.Progress != nil {
		r.takeProgress(msg.Stream, msg.Progress)
		return nil
	}
	sr, ok := r.open[msg.Stream]
	if !ok {
		if msg.Record != nil {
			msg.Record.Release()
		}
		return fmt.Errorf("the source plugin sent stream %q, which was not requested", msg.Stream)
	}
	switch {
	case msg.Record != nil:
		if !msg.Record.Schema().Equal(sr.st.SourceSchema()) {
			msg.Record.Release()
			return fmt.Errorf("stream %s: the plugin's batch schema %s differs from the expected %s", msg.Stream, msg.Record.Schema(), sr.st.SourceSchema())
		}
		sr.pending = append(sr.pending, msg.Record)
		sr.rows += int(msg.Record.NumRows())
	case msg.Checkpoint != nil:
		sr.saveable = msg.Checkpoint
	}
	return nil
}

// takeProgress files a Progress: its calls and quota for the run record,
// its counts for the stream and the observer. One of the whole Read
// (stream "") carries only calls and quota; so does, in effect, one of a
// stream not requested (the follower walk of a users-only sync).
func (r *run) takeProgress(stream string, p *plugin.Progress) {
	for path, n := range p.Calls {
		// Every Progress carries the source's running totals: keep the
		// largest, whatever order concurrent streams' messages came in.
		r.calls[path] = max(r.calls[path], n)
	}
	if len(p.QuotaRemain) > 0 {
		r.quota = p.QuotaRemain
	}
	if sr, ok := r.open[stream]; ok {
		sr.total = p.Total
		r.obs.Progress(stream, p.Total, p.Fetched)
	}
}

// commit inserts every pending batch, then completes the snapshot of each
// snapshot stream that is done, then saves every stream's newest
// checkpoint in one write: a cursor, or the clearing of the state of a
// stream that is done (none when no state of it is stored). A cursor is
// never saved before the rows it covers are committed: every stream's rows
// go in before any cursor is saved, because followers and users share the
// walk's cursor (the followers one leads a resumed walk), so one stream's
// cursor may cover another stream's rows. The first failure ends the
// commit: no cursor moves after a failed insert or completion.
func (r *run) commit(ctx context.Context) error {
	if err := r.begin(ctx); err != nil {
		return err
	}
	if err := r.insertPending(ctx); err != nil {
		return err
	}
	var (
		saves []sink.StreamState
		names []string
	)
	for _, name := range r.cfg.Streams {
		sr := r.open[name]
		cp := sr.saveable
		switch {
		case cp == nil:
			continue
		case cp.Done:
			if err := r.complete(ctx, sr); err != nil {
				return err
			}
			if !sr.stored {
				continue
			}
			saves = append(saves, sink.StreamState{Stream: name})
		default:
			saves = append(saves, sink.StreamState{Stream: name, State: sink.State{SnapshotID: sr.snapshot, Cursor: cp.Cursor}})
		}
		names = append(names, name)
	}
	if len(saves) > 0 {
		if err := r.dst.SaveStates(ctx, r.cfg.AppID, saves); err != nil {
			return kind.Mark(kind.Temporary, fmt.Errorf("stream %s: save cursor: %w", strings.Join(names, ", "), err))
		}
	}
	for _, name := range r.cfg.Streams {
		r.saved(r.open[name])
	}
	return nil
}

// begin opens the snapshot of each snapshot stream that has none and has
// something to commit (rows, or a checkpoint: an empty list is an empty
// snapshot). Its row in wechat_snapshots goes in before any of its rows, so
// that no row is ever outside a snapshot that pruning knows of.
func (r *run) begin(ctx context.Context) error {
	for _, name := range r.cfg.Streams {
		sr := r.open[name]
		if sr.st.Kind != schema.Snapshot || sr.snapshot != 0 || (len(sr.pending) == 0 && sr.saveable == nil) {
			continue
		}
		id, err := r.dst.BeginSnapshot(ctx, r.cfg.AppID, name)
		if err != nil {
			return kind.Mark(kind.Temporary, fmt.Errorf("begin %s snapshot: %w", name, err))
		}
		sr.snapshot = id
		r.cfg.Log.Info("snapshot begun", "stream", name, "snapshot_id", id)
	}
	return nil
}

// saved moves a stream past its checkpoint, now committed: to its cursor,
// or, for a done one, to the end.
func (r *run) saved(sr *streamRun) {
	cp := sr.saveable
	if cp == nil {
		return
	}
	sr.saveable = nil
	name := sr.st.Name
	if cp.Done {
		sr.done, sr.cursor, sr.stored = true, nil, false
		r.obs.Done(name)
		return
	}
	sr.cursor, sr.stored = cp.Cursor, true
	r.cfg.Log.Debug("cursor saved", "stream", name, "rows_committed", sr.written, "snapshot_id", sr.snapshot)
}

// insertPending inserts every stream's pending batches and releases them.
func (r *run) insertPending(ctx context.Context) error {
	for _, name := range r.cfg.Streams {
		sr := r.open[name]
		if len(sr.pending) == 0 {
			continue
		}
		n, err := r.dst.Insert(ctx, sr.st, r.cfg.AppID, sr.snapshot, sr.pending)
		for _, rec := range sr.pending {
			rec.Release()
		}
		sr.pending, sr.rows = sr.pending[:0], 0
		if err != nil {
			return kind.Mark(kind.Temporary, fmt.Errorf("stream %s: insert into ClickHouse failed; the cursor stays at the last committed page: %w", name, err))
		}
		sr.written += int64(n)
	}
	return nil
}

// complete marks the snapshot of a snapshot stream that is done complete
// (and prunes old ones); a stream that is no snapshot has nothing to
// complete. Its state is cleared after, with the other streams' cursors.
func (r *run) complete(ctx context.Context, sr *streamRun) error {
	name := sr.st.Name
	if sr.st.Kind != schema.Snapshot {
		return nil
	}
	rows, err := r.dst.CompleteSnapshot(ctx, r.cfg.AppID, name, sr.snapshot, sr.total)
	if err != nil {
		return kind.Mark(kind.Temporary, fmt.Errorf("stream %s: complete snapshot: %w", name, err))
	}
	r.cfg.Log.Info("snapshot complete", "stream", name, "snapshot_id", sr.snapshot, "rows", rows, "reported_total", sr.total)
	return nil
}
