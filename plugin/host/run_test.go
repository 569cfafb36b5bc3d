package host

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/plugin/kind"
	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

// *sink.Sink is a Destination and *plugin.Client a Source.
var (
	_ Destination = (*sink.Sink)(nil)
	_ Source      = (*plugin.Client)(nil)
)

var (
	both      = []string{schema.Followers, schema.Users}
	followers = []string{schema.Followers}
	pages     = [][]string{{"a", "b"}, {"c"}, {"d", "e"}}
)

// runOnce runs streams from src's script into d and returns the error, the
// report, and the events and script of this run alone.
func runOnce(t *testing.T, d *fakeDest, streams []string, script func([]plugin.StreamState) []step, obs Observer) (Report, []event, []step, error) {
	t.Helper()
	d.mu.Lock()
	from := len(d.events)
	d.mu.Unlock()
	src := &scriptSource{t: t, dst: d, script: script}
	rep, err := Run(context.Background(), RunConfig{ID: "run", AppID: "wxA", Streams: streams, SourceConfig: []byte(`{}`)}, src, d, obs)
	d.mu.Lock()
	events := slices.Clone(d.events[from:])
	d.mu.Unlock()
	checkCursorsFollowRows(t, src.played, events)
	return rep, events, src.played, err
}

func strs(events []event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.String())
	}
	return out
}

func wantLog(t *testing.T, events []event, want ...string) {
	t.Helper()
	if got := strs(events); !slices.Equal(got, want) {
		t.Errorf("destination calls:\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func wantState(t *testing.T, d *fakeDest, stream string, snap uint64, cursor string) {
	t.Helper()
	if st := d.state[stream]; st.SnapshotID != snap || string(st.Cursor) != cursor {
		t.Errorf("%s state: snapshot %d cursor %q, want %d %q", stream, st.SnapshotID, st.Cursor, snap, cursor)
	}
}

// recObserver records what the observer was told.
type recObserver struct{ calls []string }

func (o *recObserver) Begin(resumed map[string]bool) {
	o.calls = append(o.calls, fmt.Sprintf("begin followers=%v users=%v", resumed[schema.Followers], resumed[schema.Users]))
}
func (o *recObserver) Progress(stream string, total, fetched int64) {
	o.calls = append(o.calls, fmt.Sprintf("progress %s %d/%d", stream, fetched, total))
}
func (o *recObserver) Done(stream string) { o.calls = append(o.calls, "done "+stream) }

// A whole walk, page by page: each page's rows of both streams go in
// before either stream's cursor, the snapshot is completed and the state
// cleared at the end; the observer and the report see what happened.
func TestRunCommitsRowsThenCursors(t *testing.T) {
	d := newFakeDest()
	obs := &recObserver{}
	script := func(states []plugin.StreamState) []step {
		steps := []step{{progress: &plugin.Progress{Calls: map[string]int64{"/cgi-bin/user/get": 1}, QuotaRemain: map[string]int64{"/cgi-bin/user/get": 499}}},
			{stream: schema.Followers, progress: &plugin.Progress{Total: 5, Fetched: 2}}}
		return append(steps, walk(pages, both, true)(states)...)
	}
	rep, events, _, err := runOnce(t, d, both, script, obs)
	if err != nil {
		t.Fatal(err)
	}
	wantLog(t, events,
		"begin followers",
		"insert followers [a b]", "insert users [a b]", "save followers p1", "save users p1",
		"insert followers [c]", "insert users [c]", "save followers p2", "save users p2",
		"insert followers [d e]", "insert users [d e]", "save followers p3", "save users p3",
		"complete followers", "save followers clear", "save users clear")
	if want := []string{"begin followers=false users=false", "progress followers 2/5", "done followers", "done users"}; !slices.Equal(obs.calls, want) {
		t.Errorf("observer told %q, want %q", obs.calls, want)
	}
	wantRep := map[string]StreamReport{schema.Followers: {Rows: 5, SnapshotID: 1, Done: true}, schema.Users: {Rows: 5, Done: true}}
	if !maps(rep.Streams, wantRep) || rep.Calls["/cgi-bin/user/get"] != 1 || rep.QuotaRemain["/cgi-bin/user/get"] != 499 {
		t.Errorf("report %+v, want streams %+v and the calls and quota sent", rep, wantRep)
	}
}

func maps(a, b map[string]StreamReport) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Rule 1: a failed insert never moves a cursor. The run stops (kind
// Temporary: exit 75) with the cursor at the last committed page, and the
// next run resumes there and lands every row.
func TestFailedInsertMovesNoCursor(t *testing.T) {
	d := newFakeDest()
	d.failInsert = func(_ string, keys []string) error {
		if slices.Contains(keys, "c") {
			return errors.New("clickhouse: connection refused")
		}
		return nil
	}
	rep, events, _, err := runOnce(t, d, followers, walk(pages, followers, true), nil)
	if kind.Of(err) != kind.Temporary || !strings.Contains(err.Error(), "the cursor stays at the last committed page") {
		t.Fatalf("err = %v (kind %v), want a temporary insert error", err, kind.Of(err))
	}
	wantLog(t, events, "begin followers", "insert followers [a b]", "save followers p1", "insert followers [c] FAILED")
	wantState(t, d, schema.Followers, 1, "p1")
	if rep.Streams[schema.Followers].Rows != 2 {
		t.Errorf("report %+v, want 2 rows committed", rep.Streams)
	}

	d.failInsert = nil
	if _, events, _, err = runOnce(t, d, followers, walk(pages, followers, true), nil); err != nil {
		t.Fatal(err)
	}
	wantLog(t, events, "insert followers [c]", "save followers p2", "insert followers [d e]", "save followers p3", "complete followers", "save followers clear")
	if got := d.table(schema.Followers); !slices.Equal(got, []string{"1/a", "1/b", "1/c", "1/d", "1/e"}) {
		t.Errorf("followers %q", got)
	}
}

// Rule 2: a checkpoint is saved only after every row before it, across
// streams: followers and users share the walk's cursor, so when the
// profiles of page 2 fail to go in, neither stream's cursor moves to p2,
// though the followers of page 2 went in.
func TestCheckpointWaitsForEveryStreamsRows(t *testing.T) {
	d := newFakeDest()
	d.failInsert = func(stream string, keys []string) error {
		if stream == schema.Users && slices.Contains(keys, "c") {
			return errors.New("clickhouse: table is read-only")
		}
		return nil
	}
	_, events, _, err := runOnce(t, d, both, walk(pages, both, true), nil)
	if kind.Of(err) != kind.Temporary {
		t.Fatalf("err = %v (kind %v), want temporary", err, kind.Of(err))
	}
	wantLog(t, events, "begin followers",
		"insert followers [a b]", "insert users [a b]", "save followers p1", "save users p1",
		"insert followers [c]", "insert users [c] FAILED")
	wantState(t, d, schema.Followers, 1, "p1")
	wantState(t, d, schema.Users, 0, "p1")
}

// The rules hold however the loop groups messages into commits: a source
// that never waits, every commit size from one record up, a failing insert
// somewhere in the middle; then a clean run finishes the job exactly.
func TestCursorRulesUnderAnyBatching(t *testing.T) {
	long := [][]string{{"a", "b"}, {"c"}, {"d"}, {"e", "f"}, {"g"}, {"h", "i", "j"}}
	for _, flushRows := range []int{1, 2, 3, DefaultFlushRows} {
		for round := range 10 {
			d := newFakeDest()
			fail := long[round%len(long)][0]
			d.failInsert = func(stream string, keys []string) error {
				if stream == schema.Users && slices.Contains(keys, fail) {
					return errors.New("clickhouse: timeout")
				}
				return nil
			}
			for attempt := 0; ; attempt++ {
				src := &scriptSource{t: t, dst: d, script: walk(long, both, false)}
				d.mu.Lock()
				from := len(d.events)
				d.mu.Unlock()
				_, err := Run(context.Background(), RunConfig{AppID: "wxA", Streams: both, FlushRows: flushRows}, src, d, nil)
				checkCursorsFollowRows(t, src.played, d.events[from:])
				if err == nil {
					break
				}
				if kind.Of(err) != kind.Temporary || attempt > 0 {
					t.Fatalf("flush %d round %d attempt %d: %v", flushRows, round, attempt, err)
				}
				d.failInsert = nil
			}
			// A first commit that failed left its snapshot without a state:
			// the rerun began another, and completing it dropped the first.
			snap := d.snaps
			var want []string
			for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
				want = append(want, fmt.Sprintf("%d/%s", snap, k))
			}
			if got := d.table(schema.Followers); !slices.Equal(got, want) {
				t.Fatalf("flush %d round %d: followers %q, want %q", flushRows, round, got, want)
			}
			if got := d.table(schema.Users); len(got) != 10 {
				t.Fatalf("flush %d round %d: users %q", flushRows, round, got)
			}
		}
	}
}

// Rule 3: a crash between insert and cursor save refetches and
// deduplicates. Page 2 goes in, then saving its cursor fails (the run
// stops, as a killed one would). The next run resumes from p1, so page 2
// is sent and inserted again, into the same snapshot; after dedup (the
// tables' ReplacingMergeTree key) every row is there once.
func TestCrashBetweenInsertAndCursorSaveRefetches(t *testing.T) {
	d := newFakeDest()
	d.failSave = func(_ string, st sink.State) error {
		if string(st.Cursor) == "p2" {
			return errors.New("clickhouse: connection reset")
		}
		return nil
	}
	_, events, _, err := runOnce(t, d, both, walk(pages, both, true), nil)
	if kind.Of(err) != kind.Temporary || !strings.Contains(err.Error(), "save cursor") {
		t.Fatalf("err = %v (kind %v), want a temporary save error", err, kind.Of(err))
	}
	wantLog(t, events, "begin followers",
		"insert followers [a b]", "insert users [a b]", "save followers p1", "save users p1",
		"insert followers [c]", "insert users [c]", "save followers p2 FAILED")
	wantState(t, d, schema.Followers, 1, "p1")

	d.failSave = nil
	d.attempted = map[string]chan struct{}{} // the failed p2 save was attempted: the rerun pauses on it again
	_, events, _, err = runOnce(t, d, both, walk(pages, both, true), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantLog(t, events,
		"insert followers [c]", "insert users [c]", "save followers p2", "save users p2",
		"insert followers [d e]", "insert users [d e]", "save followers p3", "save users p3",
		"complete followers", "save followers clear", "save users clear")
	for _, row := range []string{"followers c", "users c"} {
		if d.raw[row] != 2 {
			t.Errorf("%s inserted %d times, want 2 (refetched)", row, d.raw[row])
		}
	}
	if got := d.table(schema.Followers); !slices.Equal(got, []string{"1/a", "1/b", "1/c", "1/d", "1/e"}) {
		t.Errorf("followers after dedup %q, want each once in snapshot 1", got)
	}
	if got := d.table(schema.Users); !slices.Equal(got, []string{"a", "b", "c", "d", "e"}) {
		t.Errorf("users after dedup %q", got)
	}
}

// An error the source sends ends the run with the kind the source gave
// it; what came before it is committed, the rows after the last checkpoint
// too, but no cursor beyond it.
func TestSourceErrorKeepsItsKind(t *testing.T) {
	d := newFakeDest()
	srcErr := &plugin.Error{Kind: kind.Config, Stream: schema.Followers, Err: errors.New("48001 api unauthorized")}
	script := func([]plugin.StreamState) []step {
		return []step{rec(schema.Followers, "a"), cp(schema.Followers, "p1"), wait(schema.Followers, "p1"),
			rec(schema.Followers, "b"), {stream: schema.Followers, err: srcErr}}
	}
	_, events, _, err := runOnce(t, d, followers, script, nil)
	if !errors.Is(err, srcErr) || kind.Of(err) != kind.Config || kind.Of(err).ExitCode() != 78 {
		t.Fatalf("err = %v (kind %v), want the source's config error", err, kind.Of(err))
	}
	wantLog(t, events, "begin followers", "insert followers [a]", "save followers p1", "insert followers [b]")
	wantState(t, d, schema.Followers, 1, "p1")
}

// A signal (ctx cancelled) stops the Read; what was received is committed
// and its checkpoint saved; the run ends Temporary.
func TestSignalCommitsWhatWasReceived(t *testing.T) {
	d := newFakeDest()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &scriptSource{t: t, dst: d, script: func([]plugin.StreamState) []step {
		return []step{rec(schema.Followers, "a"), cp(schema.Followers, "p1"), wait(schema.Followers, "p1"),
			rec(schema.Followers, "b"), cp(schema.Followers, "p2"), {do: cancel}, rec(schema.Followers, "c"), done(schema.Followers)}
	}}
	_, err := Run(ctx, RunConfig{AppID: "wxA", Streams: followers}, src, d, nil)
	if kind.Of(err) != kind.Temporary || !strings.Contains(err.Error(), "interrupted by a signal") {
		t.Fatalf("err = %v, want a temporary interruption", err)
	}
	checkCursorsFollowRows(t, src.played, d.events)
	wantLog(t, d.events, "begin followers", "insert followers [a]", "save followers p1", "insert followers [b]", "save followers p2")
}

// A source that ends without completing a stream fails the run (exit 1).
func TestSourceEndingEarlyFails(t *testing.T) {
	d := newFakeDest()
	_, _, _, err := runOnce(t, d, followers, func([]plugin.StreamState) []step {
		return []step{rec(schema.Followers, "a"), cp(schema.Followers, "p1")}
	}, nil)
	if err == nil || kind.Of(err) != kind.Internal || err.Error() != "the source plugin ended without completing stream followers" {
		t.Fatalf("err = %v (kind %v)", err, kind.Of(err))
	}
	wantState(t, d, schema.Followers, 1, "p1")
}

// The resumed streams start from their saved cursors, and the observer
// is told which resumed.
func TestRunResumesFromSavedCursors(t *testing.T) {
	d := newFakeDest()
	d.state[schema.Followers] = sink.State{SnapshotID: 7, Cursor: []byte("p2")}
	d.state[schema.Users] = sink.State{Cursor: []byte("p2")}
	obs := &recObserver{}
	src := &scriptSource{t: t, dst: d, script: walk(pages, both, true)}
	if _, err := Run(context.Background(), RunConfig{AppID: "wxA", Streams: both}, src, d, obs); err != nil {
		t.Fatal(err)
	}
	want := []plugin.StreamState{{Stream: schema.Followers, Cursor: []byte("p2")}, {Stream: schema.Users, Cursor: []byte("p2")}}
	if fmt.Sprint(src.states) != fmt.Sprint(want) {
		t.Errorf("Read given %v, want %v", src.states, want)
	}
	if obs.calls[0] != "begin followers=true users=true" {
		t.Errorf("observer: %q", obs.calls)
	}
	if got := d.table(schema.Followers); !slices.Equal(got, []string{"7/d", "7/e"}) {
		t.Errorf("followers %q, want page 3 in snapshot 7", got)
	}
}

// The users stream gets the profile filter: openids without a fresh
// profile, or all of them on a full refresh; other syncs offer none.
func TestProfileFilter(t *testing.T) {
	for _, full := range []bool{false, true} {
		d := newFakeDest()
		d.fresh = map[string]bool{"b": true}
		src := &scriptSource{t: t, dst: d, script: walk(pages, both, false)}
		if _, err := Run(context.Background(), RunConfig{AppID: "wxA", Streams: both, FullRefresh: full}, src, d, nil); err != nil {
			t.Fatal(err)
		}
		need, err := src.host.NeedProfiles(context.Background(), []string{"a", "b", "c"})
		want := []string{"a", "c"}
		if full {
			want = []string{"a", "b", "c"}
		}
		if err != nil || !slices.Equal(need, want) {
			t.Errorf("full %v: NeedProfiles = %q, %v, want %q", full, need, err, want)
		}
	}
	d := newFakeDest()
	src := &scriptSource{t: t, dst: d, script: walk(pages, followers, false)}
	if _, err := Run(context.Background(), RunConfig{AppID: "wxA", Streams: followers}, src, d, nil); err != nil || src.host != nil {
		t.Errorf("followers only: err %v, host %v, want no profile filter", err, src.host)
	}
}

// One state read per run; a stream whose state was absent at load and
// that saved none in the run is finished without a write to the state
// (nothing to clear); one that had a state, or saved one, is cleared. A
// snapshot is begun at the first commit, so a one-page account saves no
// state at all.
func TestFinishClearsOnlyAStoredState(t *testing.T) {
	d := newFakeDest()
	onePage := func([]plugin.StreamState) []step {
		return []step{rec(schema.Followers, "a"), rec(schema.Users, "a"), done(schema.Followers), done(schema.Users)}
	}
	if _, events, _, err := runOnce(t, d, both, onePage, nil); err != nil {
		t.Fatal(err)
	} else {
		wantLog(t, events, "begin followers", "insert followers [a]", "insert users [a]", "complete followers")
	}
	if d.loads != 1 {
		t.Errorf("%d state loads, want 1", d.loads)
	}
	// A users state left by an interrupted run is cleared.
	d.state[schema.Users] = sink.State{Cursor: []byte("p9")}
	if _, events, _, err := runOnce(t, d, both, onePage, nil); err != nil {
		t.Fatal(err)
	} else {
		wantLog(t, events, "begin followers", "insert followers [a]", "insert users [a]", "complete followers", "save users clear")
	}
	wantState(t, d, schema.Users, 0, "")
	// A cleared state is none: nothing more to clear.
	if _, events, _, err := runOnce(t, d, []string{schema.Users}, func([]plugin.StreamState) []step {
		return []step{rec(schema.Users, "b"), done(schema.Users)}
	}, nil); err != nil {
		t.Fatal(err)
	} else {
		wantLog(t, events, "insert users [b]")
	}
	if d.loads != 3 {
		t.Errorf("%d state loads, want 3 (one per run)", d.loads)
	}
}

// The cursors of every stream of a commit go in one state write, after
// the rows and after the completion of a snapshot that is done.
func TestCommitSavesStatesInOneWrite(t *testing.T) {
	d := newFakeDest()
	fst, _ := schema.Lookup(schema.Followers)
	ust, _ := schema.Lookup(schema.Users)
	obs := &recObserver{}
	r := &run{cfg: RunConfig{AppID: "wxA", Streams: both}.withDefaults(), dst: d, obs: obs, open: map[string]*streamRun{
		schema.Followers: {st: fst, snapshot: 4, stored: true, saveable: &plugin.Checkpoint{Done: true},
			pending: []arrow.Record{sinktest.Record(t, fst, []any{"a", time.Unix(1700000000, 0).UTC()})}, rows: 1},
		schema.Users: {st: ust, stored: false, saveable: &plugin.Checkpoint{Cursor: []byte("p1")}},
	}}
	if err := r.commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantLog(t, d.events, "insert followers [a]", "complete followers", "save followers clear", "save users p1")
	if d.writes != 1 || d.events[2].write != 1 || d.events[3].write != 1 {
		t.Errorf("%d state writes, want both states in one", d.writes)
	}
	fr, ur := r.open[schema.Followers], r.open[schema.Users]
	if !fr.done || fr.stored || fr.saveable != nil || ur.done || !ur.stored || string(ur.cursor) != "p1" || ur.saveable != nil {
		t.Errorf("after the commit: followers %+v, users %+v", fr, ur)
	}
	if !slices.Equal(obs.calls, []string{"done followers"}) {
		t.Errorf("observer told %q", obs.calls)
	}
}
