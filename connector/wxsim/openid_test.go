package wxsim

import (
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"testing"
)

var openIDRE = regexp.MustCompile(`^o[A-Za-z0-9_-]{27}$`)

func TestOpenIDFormatAndBijection(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	seeds := []uint64{0, 1, 2, 42, math.MaxUint64}
	for range 20 {
		seeds = append(seeds, rng.Uint64())
	}
	for _, seed := range seeds {
		idx := []uint64{0, 1, 2, 9999, 10000, 50_000_000, math.MaxUint32, math.MaxUint64 - 1, math.MaxUint64}
		for range 2000 {
			idx = append(idx, rng.Uint64N(100_000_000), rng.Uint64())
		}
		prefix := OpenID(seed, 0)[:6]
		for _, i := range idx {
			id := OpenID(seed, i)
			if !openIDRE.MatchString(id) {
				t.Fatalf("seed %d index %d: openid %q has the wrong format", seed, i, id)
			}
			if id[:6] != prefix {
				t.Fatalf("seed %d: openid %q does not share the account prefix %q", seed, id, prefix)
			}
			got, ok := IndexOf(seed, id)
			if !ok || got != i {
				t.Fatalf("seed %d: IndexOf(OpenID(%d)) = %d, %v", seed, i, got, ok)
			}
		}
	}
}

func TestOpenIDsDistinctAndUnsorted(t *testing.T) {
	const n = 200_000
	c := newCodec(3)
	seen := make(map[string]bool, n)
	ids := make([]string, 0, n)
	for i := range uint64(n) {
		id := c.openID(i)
		if seen[id] {
			t.Fatalf("duplicate openid %q at index %d", id, i)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	if slices.IsSorted(ids[:100]) {
		t.Fatal("openids in index order are sorted: they should look random")
	}
	// Consecutive indices must not share more than the account prefix.
	for i := 1; i < 1000; i++ {
		if ids[i][:8] == ids[i-1][:8] && ids[i][8:10] == ids[i-1][8:10] {
			t.Fatalf("openids %q and %q look related", ids[i-1], ids[i])
		}
	}
}

func TestIndexOfRejectsGarbage(t *testing.T) {
	const seed = 11
	good := OpenID(seed, 12345)
	bad := []string{
		"", "o", good[:27], good + "A", "x" + good[1:], good[:27] + "+", good[:10] + "é" + good[12:],
		"oAAAAAAAAAAAAAAAAAAAAAAAAAAA", "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "oyORnuP8q7ou2gfYjqLzSIWZf0rs",
		OpenID(seed+1, 12345), OpenID(0, 12345),
	}
	for _, s := range bad {
		if i, ok := IndexOf(seed, s); ok {
			t.Errorf("IndexOf(%q) = %d, true; want rejection", s, i)
		}
	}
	// Every single-character change is rejected.
	for i := 0; i < len(good); i++ {
		for _, c := range []byte(b64alphabet + "+/=. \x00\xff") {
			if c == good[i] {
				continue
			}
			m := []byte(good)
			m[i] = c
			if _, ok := IndexOf(seed, string(m)); ok {
				t.Fatalf("mutated openid %q (position %d) accepted", m, i)
			}
		}
	}
	// Random strings of the right shape are rejected.
	rng := rand.New(rand.NewPCG(1, 2))
	prefix := good[:6]
	for range 100000 {
		b := []byte(prefix)
		for len(b) < OpenIDLength {
			b = append(b, b64alphabet[rng.IntN(64)])
		}
		if _, ok := IndexOf(seed, string(b)); ok {
			t.Fatalf("random %q accepted", b)
		}
	}
}

func TestServerOpenIDMatchesPackage(t *testing.T) {
	o := DefaultOptions()
	o.Seed = 99
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint64(100) {
		if s.OpenID(i) != OpenID(99, i) {
			t.Fatalf("Server.OpenID(%d) differs from OpenID", i)
		}
		if j, ok := s.IndexOf(OpenID(99, i)); !ok || j != i {
			t.Fatalf("Server.IndexOf: %d %v", j, ok)
		}
	}
}

func FuzzIndexOf(f *testing.F) {
	f.Add(uint64(1), OpenID(1, 5))
	f.Add(uint64(2), "o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
	f.Fuzz(func(t *testing.T, seed uint64, s string) {
		i, ok := IndexOf(seed, s)
		if ok && OpenID(seed, i) != s {
			t.Fatalf("IndexOf(%q) = %d but OpenID(%d) = %q", s, i, i, OpenID(seed, i))
		}
	})
}
