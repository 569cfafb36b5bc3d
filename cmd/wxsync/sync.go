package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/google/uuid"

	"github.com/wxsync/wxsync/connector/source"
	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/plugin/kind"
	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
)

// PluginBinary is the source plugin's file name.
const PluginBinary = "wxsync-source-wechat"

// The writer commits (inserts what it has gathered, then saves the newest
// checkpoints) as soon as a checkpoint is waiting and nothing more is, so
// that a killed run loses at most the pages in flight; rows without a
// checkpoint after them could not move a cursor, so they wait for one (a
// profile batch is only 100 rows). When the plugin runs ahead of
// ClickHouse, what has queued up meanwhile goes in one insert, up to
// flushRows rows, and nothing waits longer than flushWait.
const (
	flushRows = 100_000
	flushWait = time.Second
)

// runSync syncs cfg's streams. Its error carries the exit code (see
// report). A configuration that fails Validate is refused before the run
// starts: nothing is written (no table, no run record) and the error is
// its only output. Every run that starts and reaches ClickHouse is
// recorded in wxsync_runs, and ends with a summary on stderr (runs.go).
func runSync(ctx context.Context, cfg Config, stderr io.Writer) error {
	if err := cfg.Validate(true); err != nil {
		return &configError{err}
	}
	logs := &redirectWriter{w: stderr, stderr: stderr}
	log, hlog := newLoggers(cfg, logs)
	r := &syncRun{cfg: cfg, log: log, open: map[string]*streamRun{}, id: uuid.NewString(), started: time.Now(), calls: map[string]int64{}}
	err := r.run(ctx, hlog, stderr, logs)
	r.end(ctx, err, stderr)
	return err
}

// run is the sync itself; runSync records and summarises how it ended.
func (r *syncRun) run(ctx context.Context, hlog hclogLogger, stderr io.Writer, logs *redirectWriter) error {
	r.streams, _ = r.cfg.streamList() // validated by runSync

	sk, err := openSink(ctx, r.cfg, r.log)
	if err != nil {
		return err // no ClickHouse, no record
	}
	r.sink = sk // closed by end, after the run is recorded
	pluginPath, err := findPlugin(r.cfg.Plugin)
	if err != nil {
		return &configError{err}
	}

	src, err := launchPlugin(ctx, r.cfg, pluginPath, hlog)
	if err != nil {
		return err
	}
	defer src.Close()

	var states []plugin.StreamState
	resumed := map[string]bool{}
	for _, name := range r.streams {
		sr, err := r.prepare(ctx, name)
		if err != nil {
			return err
		}
		states = append(states, plugin.StreamState{Stream: name, Cursor: sr.cursor})
		resumed[name] = len(sr.cursor) > 0
	}
	r.progress = newProgress(stderr, logs, r.log, r.cfg.ProgressInterval, r.streams, resumed)
	defer r.progress.stop()
	return r.read(ctx, src, states)
}

// findPlugin returns the plugin binary's path: the configured one, or the
// one beside this executable.
func findPlugin(configured string) (string, error) {
	path := configured
	if path == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("locate the %s plugin: %w (set WXSYNC_PLUGIN)", PluginBinary, err)
		}
		path = filepath.Join(filepath.Dir(exe), PluginBinary)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("source plugin %s not found (build it with `make build`, or set WXSYNC_PLUGIN / --plugin)", path)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("source plugin %s is not an executable file", path)
	}
	return path, nil
}

// syncRun is one sync: the streams it runs and where they stand.
type syncRun struct {
	cfg  Config
	log  *slog.Logger
	sink *sink.Sink
	open map[string]*streamRun

	// For the run record and the summary (runs.go).
	id       string
	started  time.Time
	streams  []string         // selected, in run order
	calls    map[string]int64 // API calls by path, as the plugin counts them
	quota    map[string]int64 // remaining daily quota by path at the start
	progress progress
}

// streamRun is where one stream stands: its snapshot, the cursor it
// resumed from, and the rows received but not yet committed.
type streamRun struct {
	st       schema.Stream
	snapshot uint64 // 0 for streams that are not snapshots
	cursor   []byte
	pending  []arrow.Record
	rows     int   // rows in pending
	total    int64 // the source's own count, from progress
	fetched  int64
	written  int64 // rows committed in this run
	// saveable is the newest checkpoint received whose rows are in pending
	// or committed; it is saved after the next flush.
	saveable *plugin.Checkpoint
	done     bool
}

// prepare loads a stream's state and, for a snapshot stream with no
// snapshot open, begins one and saves it at once, so that an interrupted
// run resumes this snapshot rather than starting another.
func (r *syncRun) prepare(ctx context.Context, name string) (*streamRun, error) {
	st, err := schema.Lookup(name)
	if err != nil {
		return nil, &configError{err}
	}
	sr := &streamRun{st: st}
	state, _, err := r.sink.LoadState(ctx, r.cfg.AppID, name)
	if err != nil {
		return nil, &tempError{fmt.Errorf("load %s state: %w", name, err)}
	}
	sr.snapshot, sr.cursor = state.SnapshotID, state.Cursor
	if st.Kind == schema.Snapshot && sr.snapshot == 0 {
		id, err := r.sink.BeginSnapshot(ctx, r.cfg.AppID, name)
		if err != nil {
			return nil, &tempError{fmt.Errorf("begin %s snapshot: %w", name, err)}
		}
		sr.snapshot, sr.cursor = id, nil
		if err := r.sink.SaveState(ctx, r.cfg.AppID, name, sink.State{SnapshotID: id}); err != nil {
			return nil, &tempError{fmt.Errorf("save %s state: %w", name, err)}
		}
		r.log.Info("snapshot begun", "stream", name, "snapshot_id", id)
	} else if len(sr.cursor) > 0 || sr.snapshot != 0 {
		r.log.Info("resuming", "stream", name, "snapshot_id", sr.snapshot)
	}
	r.open[name] = sr
	return sr, nil
}

// sourceConfig is the JSON config the plugin receives.
func (r *syncRun) sourceConfig() []byte {
	b, err := json.Marshal(source.Config{
		AppID: r.cfg.AppID, Secret: r.cfg.Secret, APIBase: r.cfg.APIBase, TokenMode: r.cfg.TokenMode,
		HTTPTimeout: r.cfg.HTTPTimeout, MaxAttempts: r.cfg.MaxAttempts, MaxRetryTime: r.cfg.MaxRetryTime,
		RateLimit: r.cfg.RateLimit, LogLevel: r.cfg.LogLevel, Concurrency: r.cfg.UsersConcurrency,
	})
	if err != nil {
		panic(fmt.Sprintf("marshal source config: %v", err)) // plain fields always marshal
	}
	return b
}

// received is one message from the plugin, or the error that ended them.
type received struct {
	msg plugin.Message
	err error
}

// read runs the plugin's Read and commits what it sends. One goroutine
// receives (so the plugin keeps fetching while ClickHouse inserts); this one
// writes. On ctx cancellation (SIGINT/SIGTERM) the plugin is stopped, what
// was received is committed, the last checkpoint saved, and the run ends
// with a tempError.
func (r *syncRun) read(ctx context.Context, src *plugin.Client, states []plugin.StreamState) error {
	readCtx, stopRead := context.WithCancel(ctx)
	defer stopRead()
	if r.progress == nil {
		r.progress = noProgress{}
	}
	var host plugin.Host
	if _, ok := r.open[schema.Users]; ok {
		host = &profileFilter{sink: r.sink, appid: r.cfg.AppID, maxAge: r.cfg.UsersMaxAge, full: r.cfg.FullRefresh}
	}
	rs, err := src.Read(readCtx, r.sourceConfig(), states, host)
	if err != nil {
		return err
	}
	msgs := make(chan received, 16)
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
	// Commits use a context that outlives a signal: what was received is
	// committed, bounded by the sink's own retry limit.
	commitCtx := context.WithoutCancel(ctx)
	defer func() {
		for m := range msgs { // unblock and drain the receiver
			if m.msg.Record != nil {
				m.msg.Record.Release()
			}
		}
	}()

	var (
		endErr error
		open   = true
		oldest time.Time // when the oldest message not yet committed arrived
		wait   = time.NewTimer(flushWait)
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
				wait.Reset(flushWait)
			}
			if endErr == nil && !r.streamDone() && time.Since(oldest) < flushWait {
				if n := r.pendingRows(); n < flushRows && (!r.checkpointWaiting() || len(msgs) > 0) {
					continue // gather more
				}
			}
		case <-wait.C:
		}
		if err := r.commit(commitCtx); err != nil {
			stopRead()
			return err
		}
		oldest = time.Time{}
		wait.Stop()
	}
	if err := r.commit(commitCtx); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return &tempError{errors.New("interrupted by a signal; what was received is committed")}
	}
	if endErr != nil {
		return endErr
	}
	for name, sr := range r.open {
		if !sr.done {
			return fmt.Errorf("the source plugin ended without completing stream %s", name)
		}
	}
	return nil
}

// checkpointWaiting reports whether a received checkpoint waits to be
// saved.
func (r *syncRun) checkpointWaiting() bool {
	for _, sr := range r.open {
		if sr.saveable != nil {
			return true
		}
	}
	return false
}

// pendingRows is how many received rows wait to be committed.
func (r *syncRun) pendingRows() int {
	n := 0
	for _, sr := range r.open {
		n += sr.rows
	}
	return n
}

// streamDone reports whether a stream's last checkpoint waits to be
// committed.
func (r *syncRun) streamDone() bool {
	for _, sr := range r.open {
		if sr.saveable != nil && sr.saveable.Done {
			return true
		}
	}
	return false
}

// take files one message; it returns the error that ends the Read, if any.
func (r *syncRun) take(m received) error {
	if m.err != nil {
		if errors.Is(m.err, plugin.ErrPluginDied) {
			return m.err
		}
		if errors.Is(m.err, context.Canceled) {
			return nil // our own cancellation; read() reports the signal
		}
		return fmt.Errorf("reading from the source plugin: %w", m.err)
	}
	msg := m.msg
	if msg.Err != nil {
		switch msg.Err.Kind {
		case kind.Config:
			return &configError{msg.Err}
		case kind.Temporary:
			return &tempError{msg.Err}
		default:
			return msg.Err
		}
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
// its counts for the stream and the display. One of the whole Read (stream
// "") carries only calls and quota; so does, in effect, one of a stream not
// requested (the follower walk of a users-only sync).
func (r *syncRun) takeProgress(stream string, p *plugin.Progress) {
	for path, n := range p.Calls {
		// Every Progress carries the plugin's running totals: keep the
		// largest, whatever order concurrent streams' messages came in.
		r.calls[path] = max(r.calls[path], n)
	}
	if len(p.QuotaRemain) > 0 {
		r.quota = p.QuotaRemain
	}
	if sr, ok := r.open[stream]; ok {
		sr.total, sr.fetched = p.Total, p.Fetched
		r.progress.update(stream, p.Total, p.Fetched)
	}
}

// commit inserts every pending batch, then saves each stream's newest
// checkpoint, and closes the snapshot of a stream that is done. A cursor is
// never saved before the rows it covers are committed: every stream's rows
// go in before any cursor is saved, because followers and users share the
// walk's cursor (the followers one leads a resumed walk), so one stream's
// cursor may cover another stream's rows.
func (r *syncRun) commit(ctx context.Context) error {
	for name, sr := range r.open {
		if len(sr.pending) == 0 {
			continue
		}
		n, err := r.sink.Insert(ctx, sr.st, r.cfg.AppID, sr.snapshot, sr.pending)
		for _, rec := range sr.pending {
			rec.Release()
		}
		sr.pending, sr.rows = sr.pending[:0], 0
		if err != nil {
			return &tempError{fmt.Errorf("stream %s: insert into ClickHouse failed; the cursor stays at the last committed page: %w", name, err)}
		}
		sr.written += int64(n)
	}
	for name, sr := range r.open {
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
		if err := r.sink.SaveState(ctx, r.cfg.AppID, name, sink.State{SnapshotID: sr.snapshot, Cursor: cp.Cursor}); err != nil {
			return &tempError{fmt.Errorf("stream %s: save cursor: %w", name, err)}
		}
		sr.cursor = cp.Cursor
		r.log.Debug("cursor saved", "stream", name, "rows_committed", sr.written, "snapshot_id", sr.snapshot)
	}
	return nil
}

// finish closes a stream that is complete: its snapshot is marked complete
// (and old ones pruned), then its state is cleared so the next run starts
// afresh.
func (r *syncRun) finish(ctx context.Context, sr *streamRun) error {
	name := sr.st.Name
	if sr.st.Kind == schema.Snapshot {
		rows, err := r.sink.CompleteSnapshot(ctx, r.cfg.AppID, name, sr.snapshot, sr.total)
		if err != nil {
			return &tempError{fmt.Errorf("stream %s: complete snapshot: %w", name, err)}
		}
		r.log.Info("snapshot complete", "stream", name, "snapshot_id", sr.snapshot, "rows", rows, "reported_total", sr.total)
	}
	if err := r.sink.SaveState(ctx, r.cfg.AppID, name, sink.State{}); err != nil {
		return &tempError{fmt.Errorf("stream %s: clear cursor: %w", name, err)}
	}
	sr.done, sr.cursor = true, nil
	r.progress.done(name)
	return nil
}

// profileFilter answers the plugin's NeedProfiles from wechat_users:
// followers with no profile yet or one older than maxAge (all, with full).
type profileFilter struct {
	sink   *sink.Sink
	appid  string
	maxAge time.Duration
	full   bool
}

func (f *profileFilter) NeedProfiles(ctx context.Context, openids []string) ([]string, error) {
	if f.full {
		return openids, nil
	}
	fresh, err := f.sink.FreshProfiles(ctx, f.appid, openids, time.Now().Add(-f.maxAge))
	if err != nil {
		return nil, err
	}
	need := make([]string, 0, len(openids)-len(fresh))
	for _, id := range openids {
		if !fresh[id] {
			need = append(need, id)
		}
	}
	return need, nil
}

// newLoggers returns the host's logger and the go-plugin logger that
// re-levels the plugin's lines, both on stderr in the configured format.
func newLoggers(cfg Config, stderr io.Writer) (*slog.Logger, hclogLogger) {
	lvl, _ := parseLevel(cfg.LogLevel)
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewTextHandler(stderr, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(stderr, opts)
	}
	return slog.New(h), newHCLogger(cfg, stderr)
}
