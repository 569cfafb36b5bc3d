package host

// A fake destination that keeps rows the way the sink's tables do (dedup
// on their key) and logs every call in order, failing where a test says;
// and a scripted fake source that plays a list of messages, resuming from
// the cursor it is given.

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

// event is one call the destination received; a SaveStates is one event
// per state, in order, up to the first that fails.
type event struct {
	op     string // insert, save, begin, complete
	stream string
	keys   []string // insert: the rows' keys
	cursor string   // save: the cursor
	snap   uint64   // save: the snapshot id (a save of none and no cursor clears)
	write  int      // save: which SaveStates call (from 1)
	failed bool
}

func (e event) String() string {
	s := e.op + " " + e.stream
	switch e.op {
	case "insert":
		s += " [" + strings.Join(e.keys, " ") + "]"
	case "save":
		switch {
		case e.cursor != "":
			s += " " + e.cursor
		case e.snap != 0:
			s += fmt.Sprintf(" snapshot %d", e.snap)
		default:
			s += " clear"
		}
	}
	if e.failed {
		s += " FAILED"
	}
	return s
}

// fakeDest is a Destination in memory.
type fakeDest struct {
	mu     sync.Mutex
	state  map[string]sink.State
	raw    map[string]int             // "stream key" → times inserted
	tables map[string]map[string]bool // stream → dedup key (snapshot/openid or openid) → present
	events []event
	snaps  uint64
	// completed are the snapshots CompleteSnapshot marked complete.
	completed map[uint64]bool
	fresh     map[string]bool // FreshProfiles' answer
	runs      []sink.Run
	loads     int // LoadStates calls
	writes    int // SaveStates calls
	// failInsert and failSave, when set, fail the calls they return an
	// error for; a failed insert stores nothing.
	failInsert func(stream string, keys []string) error
	failSave   func(stream string, st sink.State) error
	attempted  map[string]chan struct{} // "stream cursor" → closed once a save of it was attempted
}

func newFakeDest() *fakeDest {
	return &fakeDest{state: map[string]sink.State{}, raw: map[string]int{}, tables: map[string]map[string]bool{}, attempted: map[string]chan struct{}{}, completed: map[uint64]bool{}}
}

// saveAttempted returns a channel closed once a save of stream with
// cursor has been attempted (whether it failed or not).
func (d *fakeDest) saveAttempted(stream, cursor string) chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	ch, ok := d.attempted[stream+" "+cursor]
	if !ok {
		ch = make(chan struct{})
		d.attempted[stream+" "+cursor] = ch
	}
	return ch
}

// LoadStates logs no event (every run starts with one): see loads.
func (d *fakeDest) LoadStates(_ context.Context, _ string, streams []string) (map[string]sink.State, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.loads++
	out := map[string]sink.State{}
	for _, stream := range streams {
		if st, ok := d.state[stream]; ok && (st.SnapshotID != 0 || len(st.Cursor) > 0) {
			out[stream] = st
		}
	}
	return out, nil
}

// SaveStates logs an event per state, up to the first that failSave
// fails, and saves all the states or, failing, none. How states are
// grouped into writes depends on how messages are grouped into commits,
// which is timing: the log is the same either way, and write tells.
func (d *fakeDest) SaveStates(_ context.Context, _ string, states []sink.StreamState) error {
	var chs []chan struct{}
	for _, st := range states {
		chs = append(chs, d.saveAttempted(st.Stream, string(st.Cursor)))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	defer func() {
		for _, ch := range chs {
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
	}()
	d.writes++
	var err error
	for _, st := range states {
		if d.failSave != nil {
			err = d.failSave(st.Stream, st.State)
		}
		d.events = append(d.events, event{op: "save", stream: st.Stream, cursor: string(st.Cursor), snap: st.SnapshotID, write: d.writes, failed: err != nil})
		if err != nil {
			return err
		}
	}
	for _, st := range states {
		d.state[st.Stream] = st.State
	}
	return nil
}

func (d *fakeDest) BeginSnapshot(_ context.Context, _, stream string) (uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.snaps++
	d.events = append(d.events, event{op: "begin", stream: stream})
	return d.snaps, nil
}

func (d *fakeDest) Insert(_ context.Context, st schema.Stream, _ string, snapshotID uint64, recs []arrow.Record) (int, error) {
	var keys []string
	for _, rec := range recs {
		col := rec.Column(0) // openid for followers and users
		for i := 0; i < col.Len(); i++ {
			keys = append(keys, col.ValueStr(i))
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var err error
	if d.failInsert != nil {
		err = d.failInsert(st.Name, keys)
	}
	d.events = append(d.events, event{op: "insert", stream: st.Name, keys: keys, failed: err != nil})
	if err != nil {
		return 0, err
	}
	if d.tables[st.Name] == nil {
		d.tables[st.Name] = map[string]bool{}
	}
	for _, k := range keys {
		d.raw[st.Name+" "+k]++
		// The table's ORDER BY, which ReplacingMergeTree deduplicates on.
		d.tables[st.Name][dedupKey(st, snapshotID, k)] = true
	}
	return len(keys), nil
}

func dedupKey(st schema.Stream, snapshotID uint64, key string) string {
	if st.Kind == schema.Snapshot {
		return fmt.Sprintf("%d/%s", snapshotID, key)
	}
	return key
}

func (d *fakeDest) CompleteSnapshot(_ context.Context, _, stream string, id uint64, _ int64) (uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events = append(d.events, event{op: "complete", stream: stream})
	n := uint64(0)
	for k := range d.tables[stream] {
		if strings.HasPrefix(k, fmt.Sprintf("%d/", id)) {
			n++
		}
	}
	// Like sink's prune: a snapshot begun before this one and never
	// completed is abandoned, its rows dropped.
	d.completed[id] = true
	for k := range d.tables[stream] {
		var older uint64
		if _, err := fmt.Sscanf(k, "%d/", &older); err == nil && older < id && !d.completed[older] {
			delete(d.tables[stream], k)
		}
	}
	return n, nil
}

func (d *fakeDest) FreshProfiles(_ context.Context, _ string, openids []string, _ time.Time) (map[string]bool, error) {
	out := map[string]bool{}
	for _, id := range openids {
		if d.fresh[id] {
			out[id] = true
		}
	}
	return out, nil
}

func (d *fakeDest) RecordRuns(_ context.Context, runs []sink.Run) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.runs = append(d.runs, runs...)
	return nil
}

// log returns the events so far, as strings.
func (d *fakeDest) log() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, e := range d.events {
		out = append(out, e.String())
	}
	return out
}

// table returns stream's rows after dedup, sorted: "snapshot/openid" for
// a snapshot stream, "openid" otherwise.
func (d *fakeDest) table(stream string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for k := range d.tables[stream] {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// step is one message of a script, or a pause in it.
type step struct {
	stream string
	keys   []string // a record with these openids
	cp     string   // a checkpoint with this cursor
	done   bool     // a done checkpoint
	// progress, when set, is sent as is.
	progress *plugin.Progress
	// err is a typed error ending the Read.
	err *plugin.Error
	// wait pauses the source until the destination has attempted to
	// save this cursor of this stream (or the Read is cancelled): so a
	// test fixes how messages are grouped into commits.
	wait string
	// do runs when the step is reached (e.g. a test's cancel).
	do func()
}

func rec(stream string, keys ...string) step { return step{stream: stream, keys: keys} }
func cp(stream, cursor string) step          { return step{stream: stream, cp: cursor} }
func done(stream string) step                { return step{stream: stream, done: true} }
func wait(stream, cursor string) step        { return step{stream: stream, wait: cursor} }

// scriptSource is a Source that plays the script script(states) returns:
// the steps after the cursor the Read was given.
type scriptSource struct {
	t      testing.TB
	dst    *fakeDest
	script func(states []plugin.StreamState) []step
	// What the Read was given.
	states []plugin.StreamState
	host   plugin.Host
	config []byte
	played []step
}

func (s *scriptSource) Read(ctx context.Context, config []byte, states []plugin.StreamState, host plugin.Host) (plugin.Messages, error) {
	s.states, s.host, s.config = states, host, config
	s.played = s.script(states)
	return &scripted{ctx: ctx, t: s.t, dst: s.dst, steps: s.played}, nil
}

type scripted struct {
	ctx   context.Context
	t     testing.TB
	dst   *fakeDest
	steps []step
}

func (m *scripted) Next() (plugin.Message, error) {
	for len(m.steps) > 0 {
		if err := m.ctx.Err(); err != nil {
			return plugin.Message{}, err
		}
		s := m.steps[0]
		m.steps = m.steps[1:]
		switch {
		case s.do != nil:
			s.do()
		case s.wait != "":
			select {
			case <-m.dst.saveAttempted(s.stream, s.wait):
			case <-m.ctx.Done():
				return plugin.Message{}, m.ctx.Err()
			}
		case s.keys != nil:
			return plugin.Message{Stream: s.stream, Record: m.record(s)}, nil
		case s.cp != "" || s.done:
			return plugin.Message{Stream: s.stream, Checkpoint: &plugin.Checkpoint{Cursor: []byte(s.cp), Done: s.done}}, nil
		case s.progress != nil:
			return plugin.Message{Stream: s.stream, Progress: s.progress}, nil
		case s.err != nil:
			return plugin.Message{Stream: s.stream, Err: s.err}, nil
		}
	}
	return plugin.Message{}, io.EOF
}

// record builds a batch of the stream's source schema with one row per key.
func (m *scripted) record(s step) arrow.Record {
	st, err := schema.Lookup(s.stream)
	if err != nil {
		m.t.Errorf("script: %v", err)
		return nil
	}
	now := time.Unix(1700000000, 0).UTC()
	var rows [][]any
	for _, k := range s.keys {
		switch st.Name {
		case schema.Users:
			rows = append(rows, []any{k, uint8(1), "zh_CN", now, "", "", int64(0), []uint32{}, "ADD_SCENE_SEARCH", int64(0), "", now})
		default:
			rows = append(rows, []any{k, now})
		}
	}
	return sinktest.Record(m.t, st, rows...)
}

// walk is a follower walk of pages (each a list of openids), the shape
// the real plugin sends: per page, a followers record and a users record
// when users is synced, then both streams' checkpoints with the page's
// cursor "pN"; at the end, done checkpoints. It resumes after the page
// whose cursor the followers state (or, without followers, the users
// state) holds. With pause, the source waits after each page until the
// host tried to save its cursor, so each page is one commit.
func walk(pages [][]string, streams []string, pause bool) func([]plugin.StreamState) []step {
	return func(states []plugin.StreamState) []step {
		from := 0
		for _, s := range states {
			if s.Stream == schema.Followers || (s.Stream == schema.Users && from == 0) {
				fmt.Sscanf(string(s.Cursor), "p%d", &from)
			}
		}
		var steps []step
		for i := from; i < len(pages); i++ {
			cursor := fmt.Sprintf("p%d", i+1)
			for _, st := range streams {
				steps = append(steps, rec(st, pages[i]...))
			}
			for _, st := range streams {
				steps = append(steps, cp(st, cursor))
			}
			if pause {
				steps = append(steps, wait(streams[len(streams)-1], cursor))
			}
		}
		for _, st := range streams {
			steps = append(steps, done(st))
		}
		return steps
	}
}

// checkCursorsFollowRows checks THE rule on one run: every cursor saved
// (and every state cleared by a done checkpoint) comes after a successful
// insert of every row the script sent before that checkpoint, in any
// stream; and after a failed insert, nothing is saved.
func checkCursorsFollowRows(t *testing.T, played []step, events []event) {
	t.Helper()
	inserted := map[string]int{}
	failed := false
	for _, e := range events {
		switch {
		case e.op == "insert" && e.failed:
			failed = true
		case e.op == "insert":
			for _, k := range e.keys {
				inserted[e.stream+" "+k]++
			}
		case e.op == "save" && !e.failed && (e.cursor != "" || e.snap == 0):
			if failed {
				t.Errorf("%v after a failed insert", e)
			}
			for _, row := range rowsBefore(played, e.stream, e.cursor) {
				if inserted[row] == 0 {
					t.Errorf("%v before row %q, which the script sent before that checkpoint, was committed", e, row)
				}
			}
		}
	}
}

// rowsBefore lists ("stream key") the rows the script sent before the
// first checkpoint of stream with cursor ("": the done checkpoint).
func rowsBefore(played []step, stream, cursor string) []string {
	var rows []string
	for _, s := range played {
		if s.stream == stream && s.wait == "" && ((cursor == "" && s.done) || (cursor != "" && s.cp == cursor)) {
			return rows
		}
		for _, k := range s.keys {
			rows = append(rows, s.stream+" "+k)
		}
	}
	return rows
}
