package source

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/wxsync/wxsync/connector/push"
	"github.com/wxsync/wxsync/connector/receiver"
	"github.com/wxsync/wxsync/connector/wechat"
	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/schema"
)

// maxWaitingProfiles bounds the openids waiting for a profile batch. Past
// it new ones are dropped (and counted): the daily sync fetches them.
const maxWaitingProfiles = 100_000

// newProfiles gathers the openids of committed subscribes into batchget
// calls of up to 100, each sent once it is full or its first openid has
// waited flush, asks the host which are due first, and commits the
// profiles through the host. Failures are logged, not retried: the next
// sync's walk fetches every follower whose profile is missing.
type newProfiles struct {
	api   *wechat.Client
	host  plugin.ListenHost
	flush time.Duration
	log   *slog.Logger

	mu      sync.Mutex
	waiting []string
	first   time.Time     // when waiting[0] arrived
	wake    chan struct{} // signalled (buffered 1) on add and close
	closed  bool
	fetched int64
	dropped int64
}

func newNewProfiles(api *wechat.Client, host plugin.ListenHost, flush time.Duration, log *slog.Logger) *newProfiles {
	return &newProfiles{api: api, host: host, flush: flush, log: log, wake: make(chan struct{}, 1)}
}

// add takes the subscribes of a committed group (the receiver's Committed
// hook: it never blocks).
func (p *newProfiles) add(events []receiver.Event) {
	p.mu.Lock()
	for _, e := range events {
		if e.Msg.Kind != push.KindSubscribe {
			continue
		}
		if len(p.waiting) >= maxWaitingProfiles {
			p.dropped++
			continue
		}
		if len(p.waiting) == 0 {
			p.first = time.Now()
		}
		p.waiting = append(p.waiting, e.Msg.OpenID)
	}
	p.mu.Unlock()
	p.signal()
}

func (p *newProfiles) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// close asks run to send what waits and return.
func (p *newProfiles) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.signal()
}

// counts returns the profiles fetched and the API calls so far.
func (p *newProfiles) counts() (int64, map[string]int64) {
	p.mu.Lock()
	n := p.fetched
	p.mu.Unlock()
	return n, maps.Clone(p.api.Calls())
}

// run sends batches until close, then the last ones.
func (p *newProfiles) run(ctx context.Context) {
	for {
		batch, closed, wait := p.next()
		if batch != nil {
			p.fetch(ctx, batch)
			continue
		}
		if closed || ctx.Err() != nil {
			return
		}
		var timer *time.Timer
		var timeout <-chan time.Time
		if wait > 0 {
			timer = time.NewTimer(wait)
			timeout = timer.C
		}
		select {
		case <-p.wake:
		case <-timeout:
		case <-ctx.Done():
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// next returns a batch due now, or how long until one is due (0: none
// waits).
func (p *newProfiles) next() (batch []string, closed bool, wait time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.waiting)
	if n == 0 {
		return nil, p.closed, 0
	}
	age := time.Since(p.first)
	if n < BatchSize && age < p.flush && !p.closed {
		return nil, false, p.flush - age
	}
	k := min(n, BatchSize)
	batch = p.waiting[:k:k]
	// Reslicing, not copying what remains: a backlog is not moved at
	// every batch (append reallocates once the tail reaches the capacity,
	// and the sent head is then freed).
	p.waiting = p.waiting[k:]
	p.first = time.Now()
	return batch, false, 0
}

// fetch asks the host which of ids need a profile, fetches those and
// commits them.
func (p *newProfiles) fetch(ctx context.Context, ids []string) {
	need, err := p.host.NeedProfiles(ctx, ids)
	if err != nil {
		p.log.Warn("could not ask the host which new followers need a profile; the next sync fetches them", "openids", len(ids), "error", err.Error())
		return
	}
	if len(need) == 0 {
		return
	}
	users, err := p.api.BatchGetUsers(ctx, need, wechat.LangZhCN)
	if err != nil {
		p.log.Warn("batchget of new followers' profiles failed; the next sync fetches them", "openids", len(need), "error", err.Error())
		return
	}
	b := newUserBatcher()
	defer b.release()
	b.append(users, time.Now())
	rec := b.rb.NewRecord()
	defer rec.Release()
	if _, err := p.host.CommitUsers(ctx, rec); err != nil {
		p.log.Warn("could not commit new followers' profiles; the next sync fetches them", "profiles", len(users), "error", err.Error())
		return
	}
	p.mu.Lock()
	p.fetched += int64(len(users))
	p.mu.Unlock()
	p.log.Debug("new followers' profiles committed", "stream", schema.Users, "profiles", len(users))
}
