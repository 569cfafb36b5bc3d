package receiver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/wxsync/wxsync/connector/push"
)

// Defaults of Config.
const (
	// DefaultAckTimeout is how long a push waits for its commit before it
	// is answered 503: under WeChat's 5 s, with room for the network.
	DefaultAckTimeout = 4 * time.Second
	// DefaultMaxBatch bounds the events of one commit.
	DefaultMaxBatch = 5000
	// DefaultMaxLinger bounds how long a free committer waits for more
	// events while another commit is in flight.
	DefaultMaxLinger = 100 * time.Millisecond
	// DefaultCommitters is how many commits may be in flight at once.
	DefaultCommitters = 2
)

// Event is a follow event as received.
type Event struct {
	Msg        push.Message
	ReceivedAt time.Time
}

// Committer stores groups of events. Commit returns nil only when every
// event of the group is durable; events may be committed more than once
// (a retry after a commit whose answer was lost), so the store must
// deduplicate on push.Message.ID.
type Committer interface {
	Commit(ctx context.Context, events []Event) error
}

// CommitFunc adapts a function to Committer.
type CommitFunc func(ctx context.Context, events []Event) error

// Commit calls f.
func (f CommitFunc) Commit(ctx context.Context, events []Event) error { return f(ctx, events) }

// Config configures a Receiver. Verifier is required; zero fields take
// their defaults.
type Config struct {
	Verifier   *push.Verifier
	AckTimeout time.Duration
	MaxBatch   int
	MaxLinger  time.Duration
	Committers int
	// Committed, when set, is called after each successful commit with its
	// events (from the committer's goroutine: it must not block long).
	Committed func([]Event)
	// Log receives warnings (failed commits) and, at debug level, each
	// event's identity.
	Log *slog.Logger
	// Now is the clock of ReceivedAt and the latencies; nil: time.Now.
	Now func() time.Time
}

// Receiver is the push endpoint. Start it with Run; it serves requests
// through ServeHTTP.
type Receiver struct {
	cfg   Config
	c     Committer
	stats stats
	q     queue
}

// New returns a Receiver that commits through c.
func New(cfg Config, c Committer) (*Receiver, error) {
	if cfg.Verifier == nil {
		return nil, errors.New("receiver: a Verifier is required")
	}
	if c == nil {
		return nil, errors.New("receiver: a Committer is required")
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = DefaultAckTimeout
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.MaxLinger < 0 {
		cfg.MaxLinger = 0
	} else if cfg.MaxLinger == 0 {
		cfg.MaxLinger = DefaultMaxLinger
	}
	if cfg.Committers <= 0 {
		cfg.Committers = DefaultCommitters
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Receiver{cfg: cfg, c: c}
	r.q.init(cfg.MaxBatch)
	r.stats.init()
	return r, nil
}

// Run runs the committers until Close has been called and every queued
// event is committed (or failed), or until ctx ends (queued events are
// then answered 503). Commits run under ctx.
func (r *Receiver) Run(ctx context.Context) {
	stop := context.AfterFunc(ctx, r.q.close)
	defer stop()
	var wg sync.WaitGroup
	for range r.cfg.Committers {
		wg.Go(func() { r.committer(ctx) })
	}
	wg.Wait()
}

// Close stops taking events: a push that arrives afterwards is answered
// 503. Events already queued are still committed by Run. Call it once the
// HTTP server has stopped accepting (http.Server.Shutdown waits for the
// handlers, which wait for their commits, so call Close after Shutdown
// returns, or Run will not drain).
func (r *Receiver) Close() { r.q.close() }

// ServeHTTP answers one request of WeChat's push URL.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	start := r.cfg.Now()
	if req.Method == http.MethodGet {
		echo, err := r.cfg.Verifier.VerifyURL(req.URL.Query())
		if err != nil {
			r.reject(w, err)
			return
		}
		r.stats.verified.Add(1)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, echo)
		return
	}
	msg, err := r.cfg.Verifier.ReadRequest(req)
	if err != nil {
		r.reject(w, err)
		return
	}
	if msg.Kind != push.KindOther && (msg.CreateTime <= 0 || msg.CreateTime > math.MaxUint32) {
		// It could not be stored (a DateTime holds 1970..2106) and would
		// fail the whole group it joined, at every retry.
		r.reject(w, &push.Error{Reason: push.ReasonBadMessage, Detail: "CreateTime is outside 1970..2106"})
		return
	}
	if msg.Kind == push.KindOther {
		r.stats.other(msg)
		success(w)
		return
	}
	r.stats.received.Add(1)
	if r.cfg.Log.Enabled(req.Context(), slog.LevelDebug) {
		r.cfg.Log.Debug("follow event received", "event", msg.ID().String(), "mode", msg.Mode.String())
	}
	p := &pending{ev: Event{Msg: msg, ReceivedAt: start}, done: make(chan error, 1)}
	ok := r.q.push(p)
	var cerr error = errClosed
	if ok {
		timer := time.NewTimer(r.cfg.AckTimeout - r.cfg.Now().Sub(start))
		select {
		case cerr = <-p.done:
		case <-timer.C:
			cerr = errAckTimeout
		}
		timer.Stop()
	}
	r.stats.ack(r.cfg.Now().Sub(start), cerr == nil)
	if cerr != nil {
		unavailable(w, cerr)
		return
	}
	success(w)
}

var (
	errClosed     = errors.New("the receiver is shutting down")
	errAckTimeout = errors.New("not committed within the acknowledgement deadline")
)

// reject answers a refused request with its 4xx and counts it.
func (r *Receiver) reject(w http.ResponseWriter, err error) {
	var pe *push.Error
	if !errors.As(err, &pe) {
		// Reading the body failed (the client went away): not WeChat's
		// message, nothing to store.
		pe = &push.Error{Reason: push.ReasonBadXML, Detail: "the body could not be read"}
	}
	r.stats.reject(pe.Reason)
	http.Error(w, "rejected: "+string(pe.Reason), pe.HTTPStatus())
}

func success(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "success")
}

// unavailable answers 503 with a body that is neither "success" nor
// empty, which WeChat does not take as delivered: it retries.
func unavailable(w http.ResponseWriter, err error) {
	w.Header().Set("Retry-After", "1")
	http.Error(w, "not stored: "+err.Error(), http.StatusServiceUnavailable)
}
