package wxsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxsync/wxsync/connector/push"
)

// maxAnswer is how much of a receiver's answer a Pusher reads.
const maxAnswer = 4096

// Outcome is what became of a pushed event.
type Outcome int

// Outcomes.
const (
	// Delivered: an attempt was answered HTTP 200 with the body "success"
	// or an empty body, which is what stops WeChat's retries.
	Delivered Outcome = iota + 1
	// GivenUp: every attempt failed (no answer within Timeout, a connection
	// error, another status or another body); WeChat drops the event.
	GivenUp
	// Stopped: the context of Push or Run ended before the event was
	// delivered or given up.
	Stopped
)

// String returns "delivered", "given-up" or "stopped".
func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case GivenUp:
		return "given-up"
	case Stopped:
		return "stopped"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Attempt is one HTTP request of a push.
type Attempt struct {
	Status int    // HTTP status answered; 0 when there was no answer
	Answer string // the answer body (at most 64 bytes of it)
	Err    string // why there was no answer ("timeout", a connection error); "" otherwise
}

// PushResult is an event and what became of it.
type PushResult struct {
	Seq      int          // 1-based order in which the change was made
	Message  push.Message // the event as pushed (Mode set)
	Attempts []Attempt
	Outcome  Outcome
}

// PushStats counts a Pusher's work so far.
type PushStats struct {
	Changes   int `json:"changes"`   // changes made to the account
	Delivered int `json:"delivered"` // events delivered
	GivenUp   int `json:"given_up"`  // events given up after every attempt
	Stopped   int `json:"stopped"`   // events whose delivery was cut short
	Attempts  int `json:"attempts"`  // HTTP requests sent
	InFlight  int `json:"in_flight"` // changes made but not yet delivered or given up
}

// Pusher behaves like WeChat's message push for the account a Server
// simulates: it changes the account (new followers, unfollows, QR scans,
// drawn from a seeded RNG) so that user/get and the profiles change
// consistently, and pushes each change to a receiver, signed and encrypted
// as the account's mode says, retrying like WeChat. It is safe for
// concurrent use; Push and Run deliver in goroutines that have all ended
// when they return.
type Pusher struct {
	srv    *Server
	o      PushOptions
	url    *url.URL
	sender push.Sender
	client *http.Client
	origID string
	nonces atomic.Uint64

	mu      sync.Mutex // guards everything below
	rng     *mrand.Rand
	seq     int
	sec     int64                 // CreateTime second of the latest change
	joined  map[uint64]bool       // followers who subscribed in second sec
	scanned map[push.EventID]bool // SCAN identities used in second sec
	results []PushResult          // finished, in the order they finished
	stats   PushStats
}

// NewPusher validates o and returns a Pusher for the Server's account.
func (s *Server) NewPusher(o PushOptions) (*Pusher, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	u, _ := url.Parse(o.URL)
	p := &Pusher{srv: s, o: o, url: u, client: o.Client, origID: o.OriginalID,
		rng:    mrand.New(mrand.NewPCG(o.Seed, derive(s.opts.Seed, 30))),
		joined: map[uint64]bool{}, scanned: map[push.EventID]bool{}}
	if p.o.Now == nil {
		p.o.Now = s.opts.Now
	}
	if p.client == nil {
		p.client = &http.Client{}
	}
	if p.origID == "" {
		p.origID = fmt.Sprintf("gh_%012x", derive(s.opts.Seed, 31)>>16)
	}
	p.sender = push.Sender{Mode: o.Mode, Token: o.Token, AppID: s.opts.AppID, Random: rand.Reader}
	if o.Mode != push.ModePlaintext {
		p.sender.Key, _ = push.ParseKey(o.AESKey) // validated
	}
	return p, nil
}

// OriginalID returns the ToUserName the pusher writes (the account's gh_ id).
func (p *Pusher) OriginalID() string { return p.origID }

// Push makes n changes to the account, one after the other, and delivers
// each (at most Concurrency at once). It returns when every one of them is
// delivered or given up, or with ctx's error once ctx ends (events then in
// delivery are recorded as Stopped).
func (p *Pusher) Push(ctx context.Context, n int) error {
	return p.run(ctx, n, nil)
}

// Run makes changes at rate per second (paced by the wall clock) and
// delivers them, until limit changes are made (0: no limit) or ctx ends.
// It waits for the deliveries in flight before it returns.
func (p *Pusher) Run(ctx context.Context, rate float64, limit int) error {
	if !(rate > 0) {
		return fmt.Errorf("wxsim: Run: rate %v is not positive", rate)
	}
	start := time.Now()
	pace := func(i int) bool {
		return sleepCtx(ctx, time.Until(start.Add(time.Duration(float64(i)/rate*float64(time.Second)))))
	}
	err := p.run(ctx, limit, pace)
	if limit == 0 && errors.Is(err, context.Canceled) {
		return nil // stopped on request: the normal end of an unlimited run
	}
	return err
}

// run makes up to n changes (n = 0: until ctx ends), waiting for pace(i)
// before change i when pace is set.
func (p *Pusher) run(ctx context.Context, n int, pace func(int) bool) error {
	sem := make(chan struct{}, p.o.Concurrency)
	var wg sync.WaitGroup
	for i := 0; n == 0 || i < n; i++ {
		if pace != nil && !pace(i) {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		seq, msg := p.Change()
		wg.Go(func() {
			defer func() { <-sem }()
			p.Deliver(ctx, seq, msg)
		})
	}
	wg.Wait()
	return ctx.Err()
}

// Deliver pushes one event (as Change returned it) with WeChat's retries:
// up to Attempts requests, each waiting Timeout for its answer, every one
// carrying the same message (same CreateTime) under a fresh timestamp,
// nonce and, in the encrypted modes, fresh random bytes. The result is
// recorded (see Results) and returned.
func (p *Pusher) Deliver(ctx context.Context, seq int, msg push.Message) PushResult {
	msg.Mode = p.o.Mode
	res := PushResult{Seq: seq, Message: msg, Outcome: GivenUp}
	body := push.EncodeEvent(msg)
	for i := 0; i < p.o.Attempts; i++ {
		if i > 0 && !sleepCtx(ctx, p.o.RetryDelay) {
			res.Outcome = Stopped
			break
		}
		a := p.attempt(ctx, body, msg.OpenID)
		res.Attempts = append(res.Attempts, a)
		if a.Status == http.StatusOK && (a.Answer == "" || a.Answer == "success") {
			res.Outcome = Delivered
			break
		}
		if ctx.Err() != nil {
			res.Outcome = Stopped
			break
		}
	}
	p.record(res)
	return res
}

func (p *Pusher) record(res PushResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.results = append(p.results, res)
	p.stats.Attempts += len(res.Attempts)
	switch res.Outcome {
	case Delivered:
		p.stats.Delivered++
	case GivenUp:
		p.stats.GivenUp++
	case Stopped:
		p.stats.Stopped++
	}
}

// attempt sends one request and reads its answer.
func (p *Pusher) attempt(ctx context.Context, body []byte, openid string) Attempt {
	nonce := strconv.FormatUint(mix64(p.nonces.Add(1)^p.o.Seed)%1e10, 10)
	q, sealed, err := p.sender.Seal(body, p.o.Now().Unix(), nonce, openid)
	if err != nil {
		return Attempt{Err: err.Error()}
	}
	u := *p.url
	all := u.Query()
	for k, v := range q {
		all[k] = v
	}
	u.RawQuery = all.Encode()
	actx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, u.String(), bytes.NewReader(sealed))
	if err != nil {
		return Attempt{Err: err.Error()}
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := p.client.Do(req)
	if err != nil {
		return Attempt{Err: attemptErr(actx, err)}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return Attempt{Err: "reading the answer: " + attemptErr(actx, err)}
	}
	return Attempt{Status: resp.StatusCode, Answer: string(answer[:min(len(answer), 64)])}
}

func attemptErr(actx context.Context, err error) string {
	if errors.Is(actx.Err(), context.DeadlineExceeded) {
		return "timeout"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error() // without the URL: it carries the signature
	}
	return err.Error()
}

// Results returns every finished event, in the order they finished.
func (p *Pusher) Results() []PushResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.results)
}

// Outcomes returns the messages that ended with outcome o, in the order
// they finished.
func (p *Pusher) Outcomes(o Outcome) []push.Message {
	var out []push.Message
	for _, r := range p.Results() {
		if r.Outcome == o {
			out = append(out, r.Message)
		}
	}
	return out
}

// Stats returns the counts so far.
func (p *Pusher) Stats() PushStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.stats
	st.InFlight = p.seq - st.Delivered - st.GivenUp - st.Stopped
	return st
}
