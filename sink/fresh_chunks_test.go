package sink

import (
	"slices"
	"testing"
)

// hashChunks keeps every hash in order across chunks of every size (the
// heap one and the mapped ones), moves them all, and can be released
// again after a move or an abandoned attempt.
func TestHashChunksMoveEveryHashInOrder(t *testing.T) {
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
		got := c.moveTo(make([]uint64, 0, n))
		if !slices.Equal(got, want) {
			t.Fatalf("n=%d: moved hashes differ", n)
		}
		if c.len() != 0 {
			t.Fatalf("n=%d: %d hashes left after the move", n, c.len())
		}
		c.release()
		c.add(42) // usable again, as a retried read makes it
		if c.len() != 1 {
			t.Fatalf("n=%d: len %d after a new add", n, c.len())
		}
		c.release()
	}
}
