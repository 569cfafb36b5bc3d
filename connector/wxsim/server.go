package wxsim

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxRequestBody bounds the POST bodies the simulator reads.
const maxRequestBody = 1 << 20

// Call is one request as the simulator saw and answered it.
type Call struct {
	Path   string
	Time   time.Time // arrival, by Options.Now
	Cursor string    // next_openid (user/get) or begin_openid (getblacklist) as sent
	Batch  int       // number of openids in a batchget request
	Token  string    // access_token sent, "" if none
	// ErrCode is the errcode answered (0 for success and for non-JSON answers).
	ErrCode int
	// Status is the HTTP status written; 0 when the connection was reset or
	// the client went away before the answer.
	Status int
	// Fault is the scripted fault applied (FaultBusy also for BusyRate), 0 if none.
	Fault FaultKind
}

// Server is the simulated WeChat API. It implements http.Handler and is
// safe for concurrent use.
type Server struct {
	opts       Options
	codec      codec
	unionCodec codec
	tagCombos  [][]int
	tab        tables
	bl         blacklist
	profKey    uint64
	ridKey     uint64
	ridSeq     atomic.Uint64
	routes     map[string]route

	mu        sync.Mutex // guards everything below up to fmu
	calls     map[string]int
	seen      map[string]int // calls per path since New, for faults and churn
	seenAll   int
	faults    []installedFault
	log       []Call
	tokens    map[string]*tokenState
	issued    []string
	classic   string // latest classic token
	stable    string // current stable token
	used      map[string]int
	rng       *rand.Rand
	churnDone bool
	added     []uint64 // indices added since New
	removed   []uint64 // indices removed since New

	fmu sync.RWMutex // guards f
	f   followers

	bufs sync.Pool // *[]byte
	idxs sync.Pool // *[]uint64

	// onIssue, when set (by a Multi), is told of every token issued; it
	// is called with mu held and must not call back into the Server.
	onIssue func(tok string)
}

type installedFault struct {
	Fault
	base int // calls already made to the path when the fault was installed
}

// New validates opts and returns a Server.
func New(opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.Quotas = maps.Clone(opts.Quotas)
	opts.Faults = slices.Clone(opts.Faults)
	s := &Server{
		opts:       opts,
		codec:      newCodec(opts.Seed),
		unionCodec: newCodec(derive(opts.Seed, 7)),
		tagCombos:  newTagCombos(opts.Seed),
		tab:        newTables(),
		bl:         newBlacklist(opts.Followers, opts.Blacklisted),
		profKey:    derive(opts.Seed, 8),
		ridKey:     derive(opts.Seed, 9),
		routes:     newRoutes(),
		calls:      map[string]int{},
		seen:       map[string]int{},
		tokens:     map[string]*tokenState{},
		used:       map[string]int{},
		rng:        rand.New(rand.NewPCG(opts.Seed, derive(opts.Seed, 20))),
		f:          newFollowers(opts.Followers, opts.Seed),
	}
	for _, f := range opts.Faults {
		s.faults = append(s.faults, installedFault{Fault: f})
	}
	return s, nil
}

// Options returns the options the Server runs with.
func (s *Server) Options() Options {
	o := s.opts
	o.Quotas = maps.Clone(o.Quotas)
	o.Faults = slices.Clone(o.Faults)
	return o
}

// AddFaults installs more scripted faults; their Call numbers count from
// now on (the next call to the path is call 1).
func (s *Server) AddFaults(faults ...Fault) error {
	for _, f := range faults {
		if err := f.validate(); err != nil {
			return fmt.Errorf("wxsim: AddFaults: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range faults {
		base := s.seenAll
		if f.Path != AnyPath {
			base = s.seen[f.Path]
		}
		s.faults = append(s.faults, installedFault{Fault: f, base: base})
	}
	return nil
}

// begin counts a call to an API path and decides its fault and whether the
// churn fires before it.
func (s *Server) begin(path string) (f Fault, churn bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[path]++
	s.seen[path]++
	s.seenAll++
	for _, inf := range s.faults {
		n := s.seenAll
		if inf.Path != AnyPath {
			if inf.Path != path {
				continue
			}
			n = s.seen[path]
		}
		n -= inf.base
		if inf.Call == 0 || (n >= inf.Call && n < inf.Call+max(inf.Times, 1)) {
			f = inf.Fault
			break
		}
	}
	if s.opts.BusyRate > 0 {
		if busy := s.rng.Float64() < s.opts.BusyRate; busy && f.Kind == 0 {
			f = Fault{Path: path, Kind: FaultBusy}
		}
	}
	if path == PathUserGet && s.opts.Churn.enabled() && !s.churnDone && s.seen[path] > s.opts.Churn.AfterCalls {
		s.churnDone = true
		churn = true
	}
	return f, churn
}

func (s *Server) record(c Call) {
	limit := s.opts.CallLogLimit
	if limit == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.log) >= limit {
		s.log = append(s.log[:0], s.log[len(s.log)-limit/2:]...)
	}
	s.log = append(s.log, c)
}

// sleepCtx waits d unless ctx ends first; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// request is one API request being served.
type request struct {
	r        *http.Request
	q        url.Values
	body     []byte
	parsed   any   // the route's parsed body
	parseErr reply // set (errcode ≠ 0) when the body did not parse
	call     *Call
	fault    FaultKind
	now      time.Time
}

// ServeHTTP serves the simulated API and the /wxsim/ control endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, controlPrefix) {
		s.serveControl(w, r)
		return
	}
	q := r.URL.Query()
	c := Call{Path: r.URL.Path, Time: s.opts.Now(), Token: q.Get("access_token")}
	rt, known := s.routes[c.Path]
	if !known {
		s.mu.Lock()
		s.calls[c.Path]++
		s.mu.Unlock()
		http.NotFound(w, r)
		c.Status = http.StatusNotFound
		s.record(c)
		return
	}
	rq := &request{r: r, q: q, call: &c}
	if r.Method == http.MethodPost && r.Body != nil {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
		if err != nil || len(body) > maxRequestBody {
			body = nil
			rq.parseErr = s.errReply(47001, "data format error", c.Time)
		}
		rq.body = body
	}
	if rt.parse != nil && rq.parseErr.errcode == 0 {
		rq.parsed, rq.parseErr = rt.parse(s, rq)
	}
	f, churn := s.begin(c.Path)
	c.Fault = f.Kind
	if churn {
		s.applyChurn()
	}
	ctx := r.Context()
	delay := s.opts.Latency
	if f.Kind == FaultSlow {
		delay += cmp.Or(f.Delay, s.opts.SlowDelay)
	}
	if !sleepCtx(ctx, delay) {
		// The client left or the server is shutting down: no answer at all
		// (returning would send an empty 200).
		s.record(c)
		panic(http.ErrAbortHandler)
	}
	rq.now = s.opts.Now()
	rq.fault = f.Kind
	switch f.Kind {
	case FaultReset:
		s.record(c)
		resetConn(w)
		return
	case FaultHugeBody:
		c.Status = http.StatusOK
		s.record(c)
		s.writeHuge(w)
		return
	}
	rp, faulted := s.faultReply(rq)
	if !faulted {
		rp = s.answer(rt, rq)
	}
	switch f.Kind {
	case FaultTruncated:
		rp.body = rp.body[:len(rp.body)/2]
	case FaultBadUTF8:
		rp.body = corruptUTF8(rp.body)
	}
	c.ErrCode, c.Status = rp.errcode, rp.status
	s.record(c) // before writing, so the log is in answer order
	s.write(w, rp)
}

// answer runs the checks every endpoint shares, then the endpoint.
func (s *Server) answer(rt route, rq *request) reply {
	path := rq.call.Path
	if rt.post && rq.r.Method != http.MethodPost {
		return s.errReply(43002, "require POST method", rq.now)
	}
	if rt.auth {
		if code, msg := s.checkToken(rq.call.Token, rq.now); code != 0 {
			return s.errReply(code, msg, rq.now)
		}
	}
	if !s.takeQuota(path) {
		return s.errReply(45009, "reach max api daily quota limit", rq.now)
	}
	if rq.parseErr.errcode != 0 {
		return rq.parseErr
	}
	return rt.handle(s, rq)
}

// takeQuota counts a call against its path's daily limit; false = over it.
func (s *Server) takeQuota(path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit, ok := s.opts.Quotas[path]
	if !ok {
		return true
	}
	if s.used[path] >= limit {
		return false
	}
	s.used[path]++
	return true
}

// ResetQuota starts a new day: every path's used count goes back to 0.
func (s *Server) ResetQuota() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.used)
}

// Calls returns the number of requests per path since New or ResetCalls,
// every request counted (faulted ones, errors and unknown paths included;
// /wxsim/ control requests excluded).
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.calls)
}

// BatchGetSizes returns the number of openids of each batchget call in
// log, in order: what tests check of the profile calls a run made.
func BatchGetSizes(log []Call) []int {
	var out []int
	for _, c := range log {
		if c.Path == PathBatchGet {
			out = append(out, c.Batch)
		}
	}
	return out
}

// CallLog returns the most recent calls (at most Options.CallLogLimit) in
// the order they were answered.
func (s *Server) CallLog() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// ResetCalls clears Calls and CallLog. Fault and churn call numbering is not
// affected (it counts from New).
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.calls)
	s.log = nil
}

// TokensIssued returns every access token ever issued, classic and stable,
// in issue order.
func (s *Server) TokensIssued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.issued)
}

// OpenID returns the openid of follower index i of this account.
func (s *Server) OpenID(i uint64) string { return s.codec.openID(i) }

// IndexOf decodes an openid of this account (see the package function IndexOf).
func (s *Server) IndexOf(openid string) (uint64, bool) { return s.codec.index(openid) }

// Total returns the current number of followers (user/get's total).
func (s *Server) Total() int {
	s.fmu.RLock()
	defer s.fmu.RUnlock()
	return int(s.f.total())
}

// FollowerOpenIDs returns the current followers in list order. It holds
// them all in memory: for tests with up to a few hundred thousand followers.
func (s *Server) FollowerOpenIDs() []string {
	s.fmu.RLock()
	defer s.fmu.RUnlock()
	out := make([]string, 0, s.f.total())
	it := s.f.after(0, true)
	for idx, ok := it.next(); ok; idx, ok = it.next() {
		out = append(out, s.codec.openID(idx))
	}
	return out
}

// BlacklistOpenIDs returns the blacklist in list order.
func (s *Server) BlacklistOpenIDs() []string {
	out := make([]string, 0, s.bl.b)
	for j := range s.bl.b {
		out = append(out, s.codec.openID(s.bl.index(j)))
	}
	return out
}

// Tags returns what tags/get answers now: the tag list with exact counts.
func (s *Server) Tags() []Tag {
	s.fmu.RLock()
	defer s.fmu.RUnlock()
	return s.tagCounts()
}

// Profile returns the exact profile user/info and batchget answer for
// openid: subscribe 1 with every field for a current follower, only
// Subscribe 0 and OpenID for one that left. ok is false when openid is not
// (and never was) a follower of this account: the API answers 40003.
func (s *Server) Profile(openid string) (p Profile, ok bool) {
	idx, ok := s.codec.index(openid)
	if !ok {
		return Profile{}, false
	}
	s.fmu.RLock()
	exists, follows := s.f.exists(idx), s.f.follows(idx)
	at, pushed := s.f.subscribedAt[idx]
	s.fmu.RUnlock()
	switch {
	case !exists:
		return Profile{}, false
	case !follows:
		return Profile{OpenID: openid}, true
	}
	p = s.profile(idx)
	if pushed {
		p.SubscribeTime = at
	}
	return p, true
}

// AddFollowers adds n followers at positions spread over the whole list
// (see the package documentation for the rule) and returns their openids.
func (s *Server) AddFollowers(n int) []string {
	s.fmu.Lock()
	idxs := s.f.add(max(n, 0))
	s.fmu.Unlock()
	s.mu.Lock()
	s.added = append(s.added, idxs...)
	s.mu.Unlock()
	return s.openIDs(idxs)
}

// RemoveFollowers removes min(n, Total()) current followers, chosen by a
// seeded hash over the whole list, and returns their openids.
func (s *Server) RemoveFollowers(n int) []string {
	s.fmu.Lock()
	idxs := s.f.remove(max(n, 0))
	s.fmu.Unlock()
	s.mu.Lock()
	s.removed = append(s.removed, idxs...)
	s.mu.Unlock()
	return s.openIDs(idxs)
}

// Churned returns the openids added and removed since New (by Churn,
// AddFollowers and RemoveFollowers), in the order it happened.
func (s *Server) Churned() (added, removed []string) {
	s.mu.Lock()
	a, r := slices.Clone(s.added), slices.Clone(s.removed)
	s.mu.Unlock()
	return s.openIDs(a), s.openIDs(r)
}

func (s *Server) applyChurn() {
	s.AddFollowers(s.opts.Churn.Add)
	s.RemoveFollowers(s.opts.Churn.Remove)
}

func (s *Server) openIDs(idxs []uint64) []string {
	out := make([]string, len(idxs))
	for i, idx := range idxs {
		out[i] = s.codec.openID(idx)
	}
	return out
}
