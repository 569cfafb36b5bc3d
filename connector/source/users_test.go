package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"

	"github.com/wxsync/wxsync/connector/wxsim"
	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/schema"
)

// streamRecorder is an Emitter for a whole Read, safe for the concurrent
// use the profile pipeline makes of it. At each users checkpoint it notes
// how many profiles had been emitted before it.
type streamRecorder struct {
	mu          sync.Mutex
	profiles    []string // openids of users records, in emit order
	followers   int
	checkpoints []usersCheckpoint
}

type usersCheckpoint struct {
	cur     listCursor
	emitted int // profiles emitted before this checkpoint
	done    bool
}

func (r *streamRecorder) Record(stream string, rec arrow.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	col := rec.Column(0).(*array.String)
	switch stream {
	case schema.Users:
		for i := 0; i < col.Len(); i++ {
			r.profiles = append(r.profiles, col.Value(i))
		}
	case schema.Followers:
		r.followers += col.Len()
	}
	return nil
}

func (r *streamRecorder) Checkpoint(stream string, cursor []byte, done bool) error {
	if stream != schema.Users {
		return nil
	}
	c, err := decodeListCursor(cursor)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checkpoints = append(r.checkpoints, usersCheckpoint{cur: c, emitted: len(r.profiles), done: done})
	return nil
}

func (r *streamRecorder) Progress(string, plugin.Progress) error { return nil }

// skipHost needs the profile of every openid but those in have.
type skipHost struct{ have map[string]bool }

func (h skipHost) NeedProfiles(_ context.Context, openids []string) ([]string, error) {
	var need []string
	for _, id := range openids {
		if !h.have[id] {
			need = append(need, id)
		}
	}
	return need, nil
}

// newPipelineSim returns a wxsim account of followers listed pageSize a
// page, keeping callLog calls in its log (0: wxsim's default).
func newPipelineSim(t *testing.T, followers, pageSize, callLog int) *wxsim.Server {
	t.Helper()
	opts := wxsim.DefaultOptions()
	opts.Followers, opts.PageSize = followers, pageSize
	if callLog > 0 {
		opts.CallLogLimit = callLog
	}
	sim, err := wxsim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return sim
}

// readUsers runs a Read of the followers and users streams against sim.
func readUsers(t *testing.T, sim *wxsim.Server, host plugin.Host, concurrency int) (*streamRecorder, error) {
	t.Helper()
	api := httptest.NewServer(sim)
	t.Cleanup(api.Close)
	r := &streamRecorder{}
	return r, readAccountAt(api.URL, sim.Options(), host, concurrency, r)
}

// readAccountAt runs a Read of the followers and users streams of account
// o against the API at base, emitting to out.
func readAccountAt(base string, o wxsim.Options, host plugin.Host, concurrency int, out plugin.Emitter) error {
	cfg, _ := json.Marshal(Config{AppID: o.AppID, Secret: o.Secret, APIBase: base, Concurrency: concurrency})
	return New(nil, nil).Read(context.Background(), plugin.ReadRequest{
		Config:  cfg,
		Streams: []plugin.StreamState{{Stream: schema.Followers}, {Stream: schema.Users}},
		Host:    host,
	}, out)
}

// Every follower's profile is emitted once, in batchget calls of 100 (the
// last one shorter), and every users checkpoint comes after the profiles of
// every page it covers: the count of profiles emitted before it is at least
// the count of openids listed up to its cursor, less the carry.
func TestUsersPipelineCheckpointsFollowProfiles(t *testing.T) {
	for _, concurrency := range []int{1, 3, 8} {
		t.Run(fmt.Sprintf("concurrency=%d", concurrency), func(t *testing.T) {
			sim := newPipelineSim(t, 2_345, 500, 10_000)
			r, err := readUsers(t, sim, nil, concurrency)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(sim.FollowerOpenIDs())
			got := slices.Clone(r.profiles)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("%d profiles emitted, want each of the %d followers once", len(got), len(want))
			}
			sizes := wxsim.BatchGetSizes(sim.CallLog())
			if len(sizes) != 24 || slices.Max(sizes) != 100 || slices.Min(sizes) != 45 {
				t.Fatalf("batchget sizes %v: want 23 of 100 and one of 45", sizes)
			}
			checkUsersCheckpoints(t, r, sim.FollowerOpenIDs(), func(string) bool { return true })
		})
	}
}

// With the host holding some profiles already, only the others are
// fetched, and the checkpoints still follow them.
func TestUsersPipelineFetchesOnlyWhatTheHostNeeds(t *testing.T) {
	sim := newPipelineSim(t, 1_000, 300, 10_000)
	have := map[string]bool{}
	var need []string
	for i, id := range sim.FollowerOpenIDs() {
		if i%3 == 0 {
			have[id] = true
		} else {
			need = append(need, id)
		}
	}
	r, err := readUsers(t, sim, skipHost{have}, 4)
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Clone(r.profiles)
	slices.Sort(got)
	slices.Sort(need)
	if !slices.Equal(got, need) {
		t.Fatalf("%d profiles fetched, want the %d the host needs", len(got), len(need))
	}
	if r.followers != 1_000 {
		t.Fatalf("%d followers emitted, want 1000", r.followers)
	}
	var asked int
	for _, n := range wxsim.BatchGetSizes(sim.CallLog()) {
		asked += n
	}
	if asked != len(need) {
		t.Fatalf("batchget asked for %d openids, want %d", asked, len(need))
	}
	checkUsersCheckpoints(t, r, sim.FollowerOpenIDs(), func(id string) bool { return !have[id] })
}

// checkUsersCheckpoints checks the users checkpoints against the follower
// list in walk order: each comes after the profile of every needed openid
// listed up to its cursor, but those it carries; the last one, done, after
// all of them.
func checkUsersCheckpoints(t *testing.T, r *streamRecorder, order []string, needed func(string) bool) {
	t.Helper()
	if len(r.checkpoints) == 0 || !r.checkpoints[len(r.checkpoints)-1].done {
		t.Fatalf("checkpoints %+v: want the last one done", r.checkpoints)
	}
	for _, c := range r.checkpoints {
		listed := len(order)
		if !c.done {
			listed = slices.Index(order, c.cur.Next) + 1
			if listed == 0 {
				t.Fatalf("checkpoint cursor %q is no follower", c.cur.Next)
			}
		}
		profiled := map[string]bool{}
		for _, id := range r.profiles[:c.emitted] {
			if profiled[id] {
				t.Fatalf("profile of %s emitted twice", id)
			}
			profiled[id] = true
		}
		carried := map[string]bool{}
		for _, id := range c.cur.Carry {
			carried[id] = true
		}
		if c.done && len(carried) > 0 {
			t.Fatalf("the done checkpoint carries %d openids", len(carried))
		}
		for _, id := range order[:listed] {
			if needed(id) && !profiled[id] && !carried[id] {
				t.Fatalf("checkpoint after %d listed followers comes before the profile of %s", listed, id)
			}
		}
	}
}

// The profiles of page k are fetched while page k+1 is listed: the
// simulated API holds the listing of page 2 until a batchget call has
// arrived, and the first batchget call until page 2 is being listed. A
// pipeline that did one after the other would wait on itself; the
// deadline below only turns that deadlock into a failure.
func TestUsersPipelineOverlapsListing(t *testing.T) {
	sim := newPipelineSim(t, 1_500, 500, 0)
	opts := sim.Options()
	var (
		page2, batch         = make(chan struct{}), make(chan struct{})
		page2Once, batchOnce sync.Once
		deadlocked           atomic.Bool
		userGets             atomic.Int64
		waitFor              = func(c chan struct{}) {
			select {
			case <-c:
			case <-time.After(10 * time.Second):
				deadlocked.Store(true)
			}
		}
	)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case wxsim.PathUserGet:
			if userGets.Add(1) == 2 {
				page2Once.Do(func() { close(page2) })
				waitFor(batch)
			}
		case wxsim.PathBatchGet:
			batchOnce.Do(func() {
				close(batch)
				waitFor(page2)
			})
		}
		sim.ServeHTTP(w, r)
	}))
	defer api.Close()
	r := &streamRecorder{}
	if err := readAccountAt(api.URL, opts, nil, 0, r); err != nil {
		t.Fatal(err)
	}
	if deadlocked.Load() {
		t.Fatal("listing page 2 waited for the profiles of page 1 to end, or the other way round")
	}
	if len(r.profiles) != 1_500 {
		t.Fatalf("%d profiles, want 1500", len(r.profiles))
	}
}

// failingUsers is a streamRecorder whose users records cannot be sent.
type failingUsers struct{ streamRecorder }

var errSendUsers = errors.New("send to host: the stream is gone")

func (f *failingUsers) Record(stream string, rec arrow.Record) error {
	if stream == schema.Users {
		return errSendUsers
	}
	return f.streamRecorder.Record(stream, rec)
}

// A users record that cannot be sent ends the Read with that error, and
// stops the workers and the walk: no more batchget calls than were already
// under way, and no checkpoint.
func TestUsersPipelineStopsOnAFailedEmit(t *testing.T) {
	sim := newPipelineSim(t, 20_000, 500, 10_000)
	opts := sim.Options()
	api := httptest.NewServer(sim)
	defer api.Close()
	r := &failingUsers{}
	if err := readAccountAt(api.URL, opts, nil, 2, r); !errors.Is(err, errSendUsers) {
		t.Fatalf("Read error %v, want the failed send", err)
	}
	// The first record fails. Until the workers see the cancellation they
	// can fetch only what fits: the batch that failed, the two the
	// assembler's channel holds, and one more each worker holds, waiting
	// to hand it over; after it, no call leaves.
	if n := len(wxsim.BatchGetSizes(sim.CallLog())); n > 1+2+2 {
		t.Fatalf("%d batchget calls after the first users record failed, want at most 5", n)
	}
	if len(r.checkpoints) != 0 {
		t.Fatalf("checkpoints %+v after a failed users record, want none", r.checkpoints)
	}
}

// gateHost needs every profile; its first NeedProfiles waits until open is
// closed (or 10 s pass, which it notes as a deadlock).
type gateHost struct {
	open       chan struct{}
	first      sync.Once
	deadlocked atomic.Bool
}

func (h *gateHost) NeedProfiles(_ context.Context, openids []string) ([]string, error) {
	h.first.Do(func() {
		select {
		case <-h.open:
		case <-time.After(10 * time.Second):
			h.deadlocked.Store(true)
		}
	})
	return openids, nil
}

// The walk lists its next page while the host decides which profiles of
// the page before are due: the host's answer for page 1 is held until
// user/get is called for page 2. Every profile still comes, and every
// checkpoint after the profiles of the pages it covers.
func TestUsersPipelineListsWhileTheHostDecides(t *testing.T) {
	sim := newPipelineSim(t, 1_500, 500, 0)
	opts := sim.Options()
	host := &gateHost{open: make(chan struct{})}
	var userGets atomic.Int64
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == wxsim.PathUserGet && userGets.Add(1) == 2 {
			close(host.open)
		}
		sim.ServeHTTP(w, r)
	}))
	defer api.Close()
	r := &streamRecorder{}
	if err := readAccountAt(api.URL, opts, host, 0, r); err != nil {
		t.Fatal(err)
	}
	if host.deadlocked.Load() {
		t.Fatal("the walk waited for the host's decision on page 1 before listing page 2")
	}
	if len(r.profiles) != 1_500 || r.followers != 1_500 {
		t.Fatalf("%d profiles and %d followers, want 1500 each", len(r.profiles), r.followers)
	}
	for _, c := range r.checkpoints {
		if int64(c.emitted) < c.cur.Fetched-int64(len(c.cur.Carry)) {
			t.Errorf("checkpoint after %d followers (%d carried) came after only %d profiles", c.cur.Fetched, len(c.cur.Carry), c.emitted)
		}
	}
	if n := len(r.checkpoints); n == 0 || !r.checkpoints[n-1].done {
		t.Fatalf("checkpoints %+v: want the last one done", r.checkpoints)
	}
}

// failSecondHost answers NeedProfiles once, then fails.
type failSecondHost struct{ calls atomic.Int64 }

var errNeedProfiles = errors.New("host: ClickHouse is down")

func (h *failSecondHost) NeedProfiles(_ context.Context, openids []string) ([]string, error) {
	if h.calls.Add(1) > 1 {
		return nil, errNeedProfiles
	}
	return openids, nil
}

// A failed decision ends the Read with the host's error, on the list's
// stream; no checkpoint goes past the page before it, and no profile of the
// page it failed on is asked for.
func TestUsersPipelineStopsOnAFailedDecision(t *testing.T) {
	sim := newPipelineSim(t, 2_000, 500, 0)
	r, err := readUsers(t, sim, &failSecondHost{}, 0)
	var pe *plugin.Error
	if !errors.Is(err, errNeedProfiles) || !errors.As(err, &pe) || pe.Stream != schema.Followers {
		t.Fatalf("Read error %v, want the host's error on stream followers", err)
	}
	for _, c := range r.checkpoints {
		if c.done || c.cur.Fetched > 500 {
			t.Errorf("checkpoint %+v after the failed decision on page 2", c)
		}
	}
	asked := 0
	for _, n := range wxsim.BatchGetSizes(sim.CallLog()) {
		asked += n
	}
	if asked > 500 {
		t.Errorf("%d profiles asked for; only page 1's 500 were decided", asked)
	}
}
