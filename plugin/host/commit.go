package host

import (
	"context"
	"errors"
	"fmt"

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

// commit inserts every pending batch, then saves each stream's newest
// checkpoint, and closes the snapshot of a stream that is done. A cursor is
// never saved before the rows it covers are committed: every stream's rows
// go in before any cursor is saved, because followers and users share the
// walk's cursor (the followers one leads a resumed walk), so one stream's
// cursor may cover another stream's rows. The first failure ends the
// commit: no cursor moves after a failed insert.
func (r *run) commit(ctx context.Context) error {
	if err := r.insertPending(ctx); err != nil {
		return err
	}
	for _, name := range r.cfg.Streams {
		sr := r.open[name]
		cp := sr.saveable
		if cp == nil {
			continue
		}
		sr.saveable = nil
		if cp.Done {
			if err := r.finish(ctx, sr); err != nil {
				return err
			}
			continue
		}
		if err := r.dst.SaveState(ctx, r.cfg.AppID, name, sink.State{SnapshotID: sr.snapshot, Cursor: cp.Cursor}); err != nil {
			return kind.Mark(kind.Temporary, fmt.Errorf("stream %s: save cursor: %w", name, err))
		}
		sr.cursor = cp.Cursor
		r.cfg.Log.Debug("cursor saved", "stream", name, "rows_committed", sr.written, "snapshot_id", sr.snapshot)
	}
	return nil
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

// finish closes a stream that is complete: its snapshot is marked complete
// (and old ones pruned), then its state is cleared so the next run starts
// afresh.
func (r *run) finish(ctx context.Context, sr *streamRun) error {
	name := sr.st.Name
	if sr.st.Kind == schema.Snapshot {
		rows, err := r.dst.CompleteSnapshot(ctx, r.cfg.AppID, name, sr.snapshot, sr.total)
		if err != nil {
			return kind.Mark(kind.Temporary, fmt.Errorf("stream %s: complete snapshot: %w", name, err))
		}
		r.cfg.Log.Info("snapshot complete", "stream", name, "snapshot_id", sr.snapshot, "rows", rows, "reported_total", sr.total)
	}
	if err := r.dst.SaveState(ctx, r.cfg.AppID, name, sink.State{}); err != nil {
		return kind.Mark(kind.Temporary, fmt.Errorf("stream %s: clear cursor: %w", name, err))
	}
	sr.done, sr.cursor = true, nil
	r.obs.Done(name)
	return nil
}
