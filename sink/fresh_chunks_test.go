package sink

import (
	"slices"
	"testing"
)

// hashChunks keeps every hash across chunks of every size (the heap one
// and the mapped ones), moves them all, and can be released again after a
// move or an abandoned attempt.
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
		got := c.sortTo(make([]uint64, 0, n))
		if slices.Sort(want); !slices.Equal(got, want) {
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

// sortTo gives what sorting every hash in one piece gives, whatever the
// bits the hashes vary in (all in one bucket, spread over all, repeats),
// and empties the chunks as moveTo does.
func TestHashChunksSortToSorts(t *testing.T) {
	gens := map[string]func(i int) uint64{
		"spread":     func(i int) uint64 { return uint64(i)*0x9E3779B97F4A7C15 + 1 },
		"one bucket": func(i int) uint64 { return uint64(i*7919) % 100003 },
		"repeats":    func(i int) uint64 { return (uint64(i%977) * 0x9E3779B97F4A7C15) },
		"extremes":   func(i int) uint64 { return []uint64{0, ^uint64(0), 1 << 63, 1<<63 - 1}[i%4] },
		"descending": func(i int) uint64 { return ^uint64(i) << 20 },
	}
	for name, gen := range gens {
		for _, n := range []int{0, 1, 2, 1025, 3*freshChunk + 7} {
			var c hashChunks
			want := make([]uint64, n)
			for i := range want {
				want[i] = gen(i)
				c.add(want[i])
			}
			slices.Sort(want)
			got := c.sortTo(make([]uint64, 0, n))
			if !slices.Equal(got, want) {
				t.Fatalf("%s, n=%d: sorted hashes differ", name, n)
			}
			if c.len() != 0 {
				t.Fatalf("%s, n=%d: %d hashes left after the move", name, n, c.len())
			}
			c.release()
		}
	}
}
