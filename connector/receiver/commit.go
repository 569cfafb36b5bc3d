package receiver

import (
	"context"
	"sync"
	"time"
)

// pending is an event waiting for its commit; done receives the outcome
// once (buffered: the handler may have given up waiting).
type pending struct {
	ev   Event
	at   time.Time // when queued
	done chan error
}

// queue holds the pending events and wakes the committers.
type queue struct {
	mu       sync.Mutex
	maxBatch int // a group's size: reaching it wakes a lingering committer
	items    []*pending
	inflight int           // commits running
	closed   bool          // no more pushes taken
	wake     chan struct{} // closed and replaced on every change
	// pushed, when set (by tests), gets a token after every push.
	pushed chan struct{}
}

func (q *queue) init(maxBatch int) { q.wake, q.maxBatch = make(chan struct{}), maxBatch }

// changed wakes every waiting committer. Caller holds q.mu.
func (q *queue) changed() {
	close(q.wake)
	q.wake = make(chan struct{})
}

// push queues p, unless the queue is closed. It wakes the committers only
// when that can change what they do: the first event queued (a free
// committer takes it, or starts its linger timer), or a full group. Any
// other event joins a group whose linger is already timed by its oldest.
func (q *queue) push(p *pending) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	p.at = time.Now()
	q.items = append(q.items, p)
	if n := len(q.items); n == 1 || n == q.maxBatch {
		q.changed()
	}
	if q.pushed != nil {
		select {
		case q.pushed <- struct{}{}:
		default:
		}
	}
	return true
}

func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		q.changed()
	}
}

// take waits for a group to commit and returns it, or nil once the queue
// is closed and empty. A group is taken at once when no other commit is in
// flight (an idle receiver adds no wait), when MaxBatch events wait, or
// when the oldest has waited MaxLinger; otherwise the committer waits for
// one of those. The caller must call finished after committing.
func (q *queue) take(maxBatch int, linger time.Duration) []*pending {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		n := len(q.items)
		if n > 0 && (q.inflight == 0 || n >= maxBatch || q.closed || time.Since(q.items[0].at) >= linger) {
			k := min(n, maxBatch)
			group := q.items[:k:k]
			q.items = append([]*pending(nil), q.items[k:]...)
			q.inflight++
			return group
		}
		if n == 0 && q.closed {
			return nil
		}
		wake := q.wake
		var timer *time.Timer
		var timeout <-chan time.Time
		if n > 0 {
			timer = time.NewTimer(linger - time.Since(q.items[0].at))
			timeout = timer.C
		}
		q.mu.Unlock()
		select {
		case <-wake:
		case <-timeout:
		}
		if timer != nil {
			timer.Stop()
		}
		q.mu.Lock()
	}
}

// finished marks a commit done.
func (q *queue) finished() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.inflight--
	q.changed()
}

// committer commits groups until the queue is closed and drained. A group
// whose commit does not return within AckTimeout is failed: its pushes
// have been answered 503 by then anyway.
func (r *Receiver) committer(ctx context.Context) {
	for {
		group := r.q.take(r.cfg.MaxBatch, r.cfg.MaxLinger)
		if group == nil {
			return
		}
		events := make([]Event, len(group))
		for i, p := range group {
			events[i] = p.ev
		}
		cctx, cancel := context.WithTimeout(ctx, r.cfg.AckTimeout)
		err := r.c.Commit(cctx, events)
		cancel()
		r.q.finished()
		if err != nil {
			r.stats.commitFailed(len(group))
			r.cfg.Log.Warn("commit of follow events failed; they are answered 503 and WeChat retries them", "events", len(group), "error", err.Error())
		} else {
			r.stats.committed.Add(int64(len(group)))
		}
		for _, p := range group {
			p.done <- err
		}
		if err == nil && r.cfg.Committed != nil {
			r.cfg.Committed(events)
		}
	}
}
