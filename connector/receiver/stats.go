package receiver

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxsync/wxsync/connector/push"
)

// AckBounds are the upper bounds, in seconds, of the acknowledgement
// latency histogram's buckets (the last, +Inf, is implied).
var AckBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 5}

// Stats are a Receiver's counters since it was made.
type Stats struct {
	// Received counts follow events accepted (retries included).
	Received int64
	// Committed counts follow events whose commit returned nil.
	Committed int64
	// CommitFailed counts follow events whose commit failed or timed out.
	CommitFailed int64
	// Acknowledged counts follow events answered "success";
	// Unacknowledged those answered 503.
	Acknowledged, Unacknowledged int64
	// Verified counts GET verifications answered.
	Verified int64
	// Rejected counts refused requests by reason.
	Rejected map[string]int64
	// Other counts accepted pushes that are not follow events, by MsgType,
	// or "event:" + Event for other events.
	Other map[string]int64
	// AckCounts holds, per bucket of AckBounds, how many follow events
	// were answered within its bound (cumulative, as Prometheus wants);
	// AckCount and AckSum the total count and seconds.
	AckCounts []uint64
	AckCount  uint64
	AckSum    float64
}

type stats struct {
	received, committed, commitFailedN, acked, unacked, verified atomic.Int64

	mu       sync.Mutex
	rejected map[string]int64
	others   map[string]int64
	buckets  []uint64 // per bucket, not cumulative; last is +Inf
	count    uint64
	sum      float64
}

func (s *stats) init() {
	s.rejected, s.others = map[string]int64{}, map[string]int64{}
	s.buckets = make([]uint64, len(AckBounds)+1)
}

func (s *stats) reject(r push.Reason) {
	s.mu.Lock()
	s.rejected[string(r)]++
	s.mu.Unlock()
}

// maxOtherKinds bounds the distinct labels of Other: the type names come
// from the pushes (signed by WeChat, but a metric label set must stay small).
const maxOtherKinds = 64

func (s *stats) other(m push.Message) {
	k := m.MsgType
	if m.MsgType == "event" {
		k = "event:" + m.Event
	}
	s.otherKind(k)
}

// otherKind counts one accepted push of kind k that is stored nowhere.
func (s *stats) otherKind(k string) {
	s.mu.Lock()
	if _, ok := s.others[k]; !ok && len(s.others) >= maxOtherKinds {
		k = "other"
	}
	s.others[k]++
	s.mu.Unlock()
}

func (s *stats) commitFailed(n int) { s.commitFailedN.Add(int64(n)) }

func (s *stats) ack(d time.Duration, ok bool) {
	if ok {
		s.acked.Add(1)
	} else {
		s.unacked.Add(1)
	}
	sec := d.Seconds()
	i := 0
	for i < len(AckBounds) && sec > AckBounds[i] {
		i++
	}
	s.mu.Lock()
	s.buckets[i]++
	s.count++
	s.sum += sec
	s.mu.Unlock()
}

// Stats returns the counters so far.
func (r *Receiver) Stats() Stats { return statsOf(&r.stats) }

func statsOf(s *stats) Stats {
	out := Stats{
		Received: s.received.Load(), Committed: s.committed.Load(), CommitFailed: s.commitFailedN.Load(),
		Acknowledged: s.acked.Load(), Unacknowledged: s.unacked.Load(), Verified: s.verified.Load(),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out.Rejected, out.Other = maps.Clone(s.rejected), maps.Clone(s.others)
	out.AckCounts = make([]uint64, len(AckBounds))
	var cum uint64
	for i := range AckBounds {
		cum += s.buckets[i]
		out.AckCounts[i] = cum
	}
	out.AckCount, out.AckSum = s.count, s.sum
	return out
}
