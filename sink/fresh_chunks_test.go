package sink

import (
	"slices"
	"testing"
)

// hashChunks keeps every hash in order across chunks of every size (the
// heap one and the mapped ones), scatters them all, and can be released
// again after a scatter or an abandoned attempt.
func TestHashChunksScatterEveryHashInOrder(t *testing.T) {
	for _, n := range []int{0, 1, 1024, 1025, 3*freshChunk + 7} {
		var c hashChunks
		want := make([]uint64, n)
		for i := range want {
			want[i] = uint64(i)*0x9E3779B97F4A7C15 + 1
			c.add(want[i])
		}
		if c.len() != n {
			t.Fatalf("n=%d: len %d", n, c.len())
		}
		got := make([]uint64, n)
		next := []uint32{0}
		c.scatter(got, next, func(uint64) uint64 { return 0 }) // one bucket: order kept
		if !slices.Equal(got, want) || next[0] != uint32(n) {
			t.Fatalf("n=%d: scattered hashes differ (next %d)", n, next[0])
		}
		if c.len() != 0 {
			t.Fatalf("n=%d: %d hashes left after the scatter", n, c.len())
		}
		c.release()
		c.add(42) // usable again, as a retried read makes it
		if c.len() != 1 {
			t.Fatalf("n=%d: len %d after a new add", n, c.len())
		}
		c.release()
	}
}
