package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/plugin/kind"
	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
)

// Run syncs cfg.Streams from src into dst: it loads the streams' states
// (in one read), begins a snapshot where none is open, starts src's Read
// from the saved cursors, and commits what it sends. The error carries its
// kind (kind.Of): Temporary when the run stopped early with its cursors
// saved, Config, or Internal. The Report says what was committed, error or not.
//
// On ctx cancellation (a signal) the Read is stopped, what was received is
// committed, its checkpoints saved, and the run ends Temporary.
func Run(ctx context.Context, cfg RunConfig, src Source, dst Destination, obs Observer) (Report, error) {
	if obs == nil {
		obs = nopObserver{}
	}
	r := &run{cfg: cfg.withDefaults(), dst: dst, obs: obs, open: map[string]*streamRun{}, calls: map[string]int64{}}
	for _, name := range r.cfg.Streams {
		if _, err := schema.Lookup(name); err != nil {
			return r.report(), kind.Mark(kind.Config, err)
		}
	}
	loaded, err := dst.LoadStates(ctx, r.cfg.AppID, r.cfg.Streams)
	if err != nil {
		return r.report(), kind.Mark(kind.Temporary, fmt.Errorf("load the states of %s: %w", strings.Join(r.cfg.Streams, ", "), err))
	}
	var states []plugin.StreamState
	resumed := map[string]bool{}
	for _, name := range r.cfg.Streams {
		state, ok := loaded[name]
		sr, err := r.prepare(name, state, ok)
		if err != nil {
			return r.report(), err
		}
		states = append(states, plugin.StreamState{Stream: name, Cursor: sr.cursor})
		resumed[name] = len(sr.cursor) > 0
	}
	obs.Begin(resumed)
	err = r.read(ctx, src, states)
	return r.report(), err
}

// run is one Run: the streams it runs and where they stand.
type run struct {
	cfg   RunConfig
	dst   Destination
	obs   Observer
	open  map[string]*streamRun
	calls map[string]int64 // API calls by path, as the source counts them
	quota map[string]int64 // remaining daily quota by path at the start
}

// streamRun is where one stream stands: its snapshot, the cursor it
// resumed from, and the rows received but not yet committed.
type streamRun struct {
	st       schema.Stream
	snapshot uint64 // 0 for streams that are not snapshots, and until begun
	cursor   []byte
	pending  []arrow.Record
	rows     int   // rows in pending
	total    int64 // the source's own count, from progress
	written  int64 // rows committed in this run
	// saveable is the newest checkpoint received whose rows are in pending
	// or committed; it is saved after the next commit.
	saveable *plugin.Checkpoint
	done     bool
	// stored: a state of the stream is stored (found at load, or saved
	// by this run), so finishing the stream must clear it.
	stored bool
}

// report is what the run did so far.
func (r *run) report() Report {
	rep := Report{Streams: map[string]StreamReport{}, Calls: r.calls, QuotaRemain: r.quota}
	for name, sr := range r.open {
		rep.Streams[name] = StreamReport{Rows: sr.written, SnapshotID: sr.snapshot, Done: sr.done}
	}
	return rep
}

// prepare sets a stream up from its saved state (ok: there is one). A
// snapshot stream with no snapshot open begins one at its first commit
// (begin), not here: a run that fails before it commits anything leaves no
// snapshot and no state behind, and the state of the new snapshot goes in
// that commit's one state write.
func (r *run) prepare(name string, state sink.State, ok bool) (*streamRun, error) {
	st, err := schema.Lookup(name)
	if err != nil {
		return nil, kind.Mark(kind.Config, err)
	}
	sr := &streamRun{st: st, stored: ok}
	sr.snapshot, sr.cursor = state.SnapshotID, state.Cursor
	if st.Kind == schema.Snapshot && sr.snapshot == 0 {
		sr.cursor = nil
	} else if len(sr.cursor) > 0 || sr.snapshot != 0 {
		r.cfg.Log.Info("resuming", "stream", name, "snapshot_id", sr.snapshot)
	}
	r.open[name] = sr
	return sr, nil
}

// received is one message from the source, or the error that ended them.
type received struct {
	msg plugin.Message
	err error
}

// receiveQueue is how many received messages wait for the commit loop: a
// page is three (its batch, its progress, its checkpoint), so 64 hold
// about two commits of DefaultFlushRows rows of 10,000-openid pages. The
// source keeps fetching while a commit runs, and the next commit takes
// what came meanwhile in one insert (fewer, larger parts for ClickHouse
// to write and merge: docs/benchmarks.md).
const receiveQueue = 64

// receive passes rs's messages on, until the last one or an error, on a
// goroutine of its own, so that the source keeps fetching while the
// destination inserts.
func receive(rs plugin.Messages) <-chan received {
	msgs := make(chan received, receiveQueue)
	go func() {
		defer close(msgs)
		for {
			m, err := rs.Next()
			if err == io.EOF {
				return
			}
			msgs <- received{m, err}
			if err != nil || m.Err != nil {
				return
			}
		}
	}()
	return msgs
}

// drain releases what is left of msgs, unblocking the receiver.
func drain(msgs <-chan received) {
	for m := range msgs {
		if m.msg.Record != nil {
			m.msg.Record.Release()
		}
	}
}

// read runs src's Read and commits what it sends; this goroutine writes.
func (r *run) read(ctx context.Context, src Source, states []plugin.StreamState) error {
	readCtx, stopRead := context.WithCancel(ctx)
	defer stopRead()
	var ph plugin.Host
	if _, ok := r.open[schema.Users]; ok {
		ph = &profileFilter{dst: r.dst, appid: r.cfg.AppID, maxAge: r.cfg.UsersMaxAge, full: r.cfg.FullRefresh}
	}
	if r.cfg.Keeper != nil {
		ph = &services{profiles: ph, keeper: r.cfg.Keeper}
	}
	rs, err := src.Read(readCtx, r.cfg.SourceConfig, states, ph)
	if err != nil {
		return err
	}
	msgs := receive(rs)
	defer drain(msgs)
	// Commits use a context that outlives a signal: what was received is
	// committed, bounded by the destination's own retry limit.
	commitCtx := context.WithoutCancel(ctx)
	endErr, err := r.commitLoop(commitCtx, msgs)
	if err != nil {
		stopRead()
		return err
	}
	return r.ending(ctx, endErr)
}

// commitLoop files messages and commits them until the messages end or
// one ends the Read (endErr); err is a failed commit, which ends the run
// at once.
func (r *run) commitLoop(ctx context.Context, msgs <-chan received) (endErr, err error) {
	var (
		open   = true
		oldest time.Time // when the oldest message not yet committed arrived
		wait   = time.NewTimer(r.cfg.FlushWait)
	)
	wait.Stop()
	for open && endErr == nil {
		select {
		case m, ok := <-msgs:
			if !ok {
				open = false
				continue
			}
			endErr = r.take(m)
			if oldest.IsZero() {
				oldest = time.Now()
				wait.Reset(r.cfg.FlushWait)
			}
			if endErr == nil && r.gather(len(msgs) > 0, time.Since(oldest)) {
				continue
			}
		case <-wait.C:
		}
		if err := r.commit(ctx); err != nil {
			return endErr, err
		}
		oldest = time.Time{}
		wait.Stop()
	}
	return endErr, r.commit(ctx)
}

// gather reports whether to wait for more messages before committing:
// yes while no stream's last checkpoint waits, the oldest message has
// waited less than FlushWait, fewer than FlushRows rows wait, and either
// no checkpoint waits (its rows could not move a cursor) or more messages
// are already queued (they go in the same commit).
func (r *run) gather(queued bool, waited time.Duration) bool {
	if r.streamDone() || waited >= r.cfg.FlushWait || r.pendingRows() >= r.cfg.FlushRows {
		return false
	}
	return !r.checkpointWaiting() || queued
}

// ending is how a Read that ended, everything received committed, ends
// the run.
func (r *run) ending(ctx context.Context, endErr error) error {
	if ctx.Err() != nil {
		return kind.Mark(kind.Temporary, errors.New("interrupted by a signal; what was received is committed"))
	}
	if endErr != nil {
		return endErr
	}
	for _, name := range r.cfg.Streams {
		if sr := r.open[name]; !sr.done {
			return fmt.Errorf("the source plugin ended without completing stream %s", name)
		}
	}
	return nil
}

// checkpointWaiting reports whether a received checkpoint waits to be
// saved.
func (r *run) checkpointWaiting() bool {
	for _, sr := range r.open {
		if sr.saveable != nil {
			return true
		}
	}
	return false
}

// pendingRows is how many received rows wait to be committed.
func (r *run) pendingRows() int {
	n := 0
	for _, sr := range r.open {
		n += sr.rows
	}
	return n
}

// streamDone reports whether a stream's last checkpoint waits to be
// committed.
func (r *run) streamDone() bool {
	for _, sr := range r.open {
		if sr.saveable != nil && sr.saveable.Done {
			return true
		}
	}
	return false
}

type nopObserver struct{}

func (nopObserver) Begin(map[string]bool)         {}
func (nopObserver) Progress(string, int64, int64) {}
func (nopObserver) Done(string)                   {}
