package sink

import (
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkSnapshotTally follows a 1M-row snapshot as a followers sync
// does: ten commits of 100,000 hashes each, then the check at completion
// (distinct), which the sync waits for; completion_ms is that check.
func BenchmarkSnapshotTally(b *testing.B) {
	const commits, rows = 10, 100_000
	rng := rand.New(rand.NewPCG(3, 3))
	hashes := make([][]uint64, commits)
	for c := range hashes {
		hashes[c] = make([]uint64, rows)
		for i := range hashes[c] {
			hashes[c][i] = rng.Uint64()
		}
	}
	var completion time.Duration
	for i := 0; i < b.N; i++ {
		t := newSnapshotTally(defaultTallyRun)
		for _, h := range hashes {
			t.add(h)
		}
		start := time.Now()
		got := t.distinct()
		completion += time.Since(start)
		if got.openids != commits*rows || got.why != "" {
			b.Fatalf("distinct = %+v", got)
		}
	}
	b.ReportMetric(float64(completion.Milliseconds())/float64(b.N), "completion_ms")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*commits*rows), "ns/hash")
}
