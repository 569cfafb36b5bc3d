package wxsim

import (
	"cmp"
	"slices"
	"sort"
)

// The follower set is never materialised. Follower indices:
//
//   - 0..N-1 are the initial followers, listed in index order;
//   - N+k (k = 0, 1, ...) are followers added later (AddFollowers, Churn).
//     Added follower k is listed immediately BEFORE initial follower
//     p_k = H(seed, k) mod (N+1) (p_k = N: at the end of the list); several
//     added at the same spot are listed in k order. So new followers land
//     anywhere, before a walk's cursor as well as after it;
//   - removed followers (RemoveFollowers, Churn) drop out of the list; their
//     index keeps its place, so a removed follower's openid still works as
//     a cursor and answers subscribe 0.
//
// Only the added positions and the removed indices are held in memory.

type addedFollower struct {
	pos uint64 // listed just before initial follower pos
	idx uint64 // N + k
}

type followers struct {
	n        uint64          // initial followers
	added    []addedFollower // sorted by (pos, idx)
	removed  map[uint64]struct{}
	addKey   uint64
	rmKey    uint64
	rmCursor uint64 // draws made by remove, so successive removals continue the sequence
	// subscribedAt holds the subscribe time of followers a Pusher added
	// (their profile's subscribe_time is the pushed event's CreateTime).
	subscribedAt map[uint64]int64
}

func newFollowers(n int, seed uint64) followers {
	return followers{n: uint64(n), removed: map[uint64]struct{}{}, subscribedAt: map[uint64]int64{}, addKey: derive(seed, 4), rmKey: derive(seed, 5)}
}

// everExisted is the number of indices ever handed out.
func (f *followers) everExisted() uint64 { return f.n + uint64(len(f.added)) }

func (f *followers) exists(idx uint64) bool { return idx < f.everExisted() }

func (f *followers) follows(idx uint64) bool {
	if !f.exists(idx) {
		return false
	}
	_, gone := f.removed[idx]
	return !gone
}

func (f *followers) total() uint64 { return f.everExisted() - uint64(len(f.removed)) }

func (f *followers) addPos(k uint64) uint64 { return mix64(k^f.addKey) % (f.n + 1) }

// add appends count followers and returns their indices.
func (f *followers) add(count int) []uint64 {
	out := make([]uint64, 0, count)
	byPlace := func(a, b addedFollower) int { return cmp.Or(cmp.Compare(a.pos, b.pos), cmp.Compare(a.idx, b.idx)) }
	for range count {
		k := uint64(len(f.added))
		a := addedFollower{pos: f.addPos(k), idx: f.n + k}
		if count <= 64 { // one by one (the pusher): insert in place, no full sort
			at, _ := slices.BinarySearchFunc(f.added, a, byPlace)
			f.added = slices.Insert(f.added, at, a)
		} else {
			f.added = append(f.added, a)
		}
		out = append(out, a.idx)
	}
	if count > 64 {
		slices.SortFunc(f.added, byPlace)
	}
	return out
}

// removeIdx removes follower idx; false if it is not a current follower.
func (f *followers) removeIdx(idx uint64) bool {
	if !f.follows(idx) {
		return false
	}
	f.removed[idx] = struct{}{}
	return true
}

// remove removes min(count, total) current followers, drawn by a seeded
// hash sequence over all indices ever handed out (spread over the whole
// list), and returns their indices.
func (f *followers) remove(count int) []uint64 {
	m := f.everExisted()
	if t := f.total(); uint64(count) > t {
		count = int(t)
	}
	out := make([]uint64, 0, count)
	budget := 8*count + 1024
	for len(out) < count && budget > 0 {
		budget--
		idx := mix64(f.rmCursor^f.rmKey) % m
		f.rmCursor++
		if f.follows(idx) {
			f.removed[idx] = struct{}{}
			out = append(out, idx)
		}
	}
	for idx := uint64(0); len(out) < count && idx < m; idx++ { // dense removals: finish in index order
		if f.follows(idx) {
			f.removed[idx] = struct{}{}
			out = append(out, idx)
		}
	}
	return out
}

// iter is a position between two listed entries. b is the next initial
// follower, a the next entry of added. Removed followers are skipped.
type iter struct {
	f *followers
	b uint64
	a int
}

// after returns the position just after index idx (which must exist); or
// the start of the list when start is true.
func (f *followers) after(idx uint64, start bool) iter {
	switch {
	case start:
		return iter{f: f}
	case idx < f.n:
		a := sort.Search(len(f.added), func(j int) bool { return f.added[j].pos > idx })
		return iter{f: f, b: idx + 1, a: a}
	default:
		p := f.addPos(idx - f.n)
		a := sort.Search(len(f.added), func(j int) bool {
			e := f.added[j]
			return e.pos > p || (e.pos == p && e.idx > idx)
		})
		return iter{f: f, b: p, a: a}
	}
}

// next returns the next listed follower and moves past it.
func (it *iter) next() (uint64, bool) {
	f := it.f
	for {
		var idx uint64
		switch {
		case it.a < len(f.added) && (it.b >= f.n || f.added[it.a].pos <= it.b):
			idx = f.added[it.a].idx
			it.a++
		case it.b < f.n:
			idx = it.b
			it.b++
		default:
			return 0, false
		}
		if _, gone := f.removed[idx]; !gone {
			return idx, true
		}
	}
}

// prev returns the listed follower before the position and moves before it.
func (it *iter) prev() (uint64, bool) {
	f := it.f
	for {
		var idx uint64
		switch {
		case it.a > 0 && (it.b == 0 || f.added[it.a-1].pos >= it.b):
			it.a--
			idx = f.added[it.a].idx
		case it.b > 0:
			it.b--
			idx = it.b
		default:
			return 0, false
		}
		if _, gone := f.removed[idx]; !gone {
			return idx, true
		}
	}
}

// page fills dst with up to size followers from it and reports whether
// more follow.
func (it *iter) page(dst []uint64, size int) ([]uint64, bool) {
	for len(dst) < size {
		idx, ok := it.next()
		if !ok {
			return dst, false
		}
		dst = append(dst, idx)
	}
	peek := *it
	_, more := peek.next()
	return dst, more
}

// blacklist: Blacklisted (B) initial followers, indices j*k for j < B with
// k = N/B, listed in index order. It is fixed: churn does not change it.
type blacklist struct {
	b, k uint64
}

func newBlacklist(n, b int) blacklist {
	if b == 0 {
		return blacklist{}
	}
	return blacklist{b: uint64(b), k: uint64(n / b)}
}

func (bl blacklist) index(j uint64) uint64 { return j * bl.k }

// firstAfter returns the first j listed after index idx.
func (bl blacklist) firstAfter(idx uint64) uint64 {
	if bl.b == 0 {
		return 0
	}
	return min(idx/bl.k+1, bl.b)
}

func (bl blacklist) page(dst []uint64, j uint64, size int) ([]uint64, bool) {
	for ; len(dst) < size && j < bl.b; j++ {
		dst = append(dst, bl.index(j))
	}
	return dst, j < bl.b
}
