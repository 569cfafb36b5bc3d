package sink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"time"

	"github.com/go-faster/city"
)

// FreshSet is the set of an account's openids whose profile in
// wechat_users was fetched at or after a cutoff, loaded once per run by
// LoadFreshProfiles so that deciding which followers of a page need their
// profile costs the same whatever the account's size: a hash and two
// memory reads per openid, no ClickHouse query.
//
// It holds 64-bit hashes, not openids: 8 bytes per fresh profile plus a
// directory of 1–2 bytes (96 MB at 10M fresh profiles), mapped outside the
// Go heap where the platform allows (offHeap), so that the garbage
// collector does not let the heap grow by as much again. The hash is
// ClickHouse's cityHash64 of a salt and the openid, computed by the server
// as it reads (8 bytes a row cross the wire, not the openid) and, for a
// page's openids, here (city.CH64, the same function). The salt is random
// for each set, so two openids whose hashes collide collide in one run
// only. A collision between a follower whose profile is
// missing or stale and a fresh one makes that follower look fresh: its
// profile is not fetched in that run. The chance of any such miss in a
// run is about new × fresh / 2^64 (5e-9 with 10,000 followers to fetch
// among 10M fresh profiles), and the next run, with another salt, fetches
// it. A fresh profile never looks missing: there is no false "not fresh".
type FreshSet struct {
	salt   string   // prefixed to each openid before hashing
	hashes []uint64 // sorted, distinct
	// dir[b] is the index in hashes of the first hash whose top bits are
	// ≥ b; dir has 1<<shiftBits+1 entries. It turns a lookup into one read
	// of dir and a scan of a few hashes, instead of a binary search whose
	// 20–25 dependent reads miss the cache once hashes outgrow it.
	dir       []uint32
	shiftBits uint
}

// freshPerBucket is the mean number of hashes the directory's buckets
// hold (between this and twice it).
const freshPerBucket = 4

// LoadFreshProfiles reads, once, the hashes of the openids of appid's
// profiles fetched at or after since, streamed from wechat_users (`SELECT
// cityHash64(concat(salt, openid)) ... WHERE appid = ? AND fetched_at >= ?`),
// into a FreshSet. An openid counts when any of its stored versions is that
// recent, as in FreshProfiles. The hashes are gathered in chunks as the
// rows come, with no count first (a query less per run), then copied into
// one allocation of the right size. The read is retried like a write.
func (s *Sink) LoadFreshProfiles(ctx context.Context, appid string, since time.Time) (*FreshSet, error) {
	salt, err := freshSalt()
	if err != nil {
		return nil, fmt.Errorf("load fresh profiles of %s: %w", appid, err)
	}
	f := &FreshSet{salt: salt}
	q := fmt.Sprintf("SELECT cityHash64(concat(?, `openid`)) FROM %s.`wechat_users` WHERE `appid` = ? AND `fetched_at` >= ?", s.qdb)
	since = since.UTC()
	var chunks hashChunks
	defer chunks.release()
	err = s.retry(ctx, "load fresh profiles", func(ctx context.Context) error {
		chunks.release() // an attempt before this one
		return s.readFreshHashes(ctx, &chunks, q, salt, appid, since)
	})
	if err != nil {
		return nil, fmt.Errorf("load fresh profiles of %s from wechat_users: %w", appid, err)
	}
	if n := chunks.len(); n > math.MaxUint32 {
		return nil, fmt.Errorf("load fresh profiles of %s from wechat_users: %d profiles: more than the set can index", appid, n)
	}
	f.hashes = chunks.sortTo(offHeap[uint64](f, chunks.len()))
	f.indexSorted()
	return f, nil
}

// hashChunks gathers hashes as a read streams them, in chunks that double
// up to freshChunk; all but the first are mapped outside the Go heap, so
// that moving them into the final array one by one, each released once
// copied, never holds much more than one copy of the hashes in memory.
type hashChunks struct {
	chunks   [][]uint64
	releases []func()
}

func (c *hashChunks) add(h uint64) {
	if n := len(c.chunks); n == 0 || len(c.chunks[n-1]) == cap(c.chunks[n-1]) {
		if n == 0 {
			c.chunks = append(c.chunks, make([]uint64, 0, 1024)) // a small account's set fits
			c.releases = append(c.releases, func() {})
		} else {
			chunk, release := offHeapChunk(min(freshChunk, 2*cap(c.chunks[n-1])))
			c.chunks, c.releases = append(c.chunks, chunk), append(c.releases, release)
		}
	}
	last := &c.chunks[len(c.chunks)-1]
	*last = append(*last, h)
}

func (c *hashChunks) len() int {
	n := 0
	for _, ch := range c.chunks {
		n += len(ch)
	}
	return n
}

// sortRadixBits is how many top bits of a hash choose its bucket in
// sortTo: 2,048 buckets, whose write positions stay in cache while the
// hashes are scattered, and whose contents (about 5,000 hashes each at
// 10M) are sorted in cache.
const sortRadixBits = 11

// sortTo moves every hash into dst's free room, sorted, releasing each
// chunk once moved, and returns dst with them (sortHashes). The buckets
// fill dst from its start, each in order, so the memory it touches grows
// with what was moved, as the chunks' shrinks: the two together never hold
// much more than one copy.
func (c *hashChunks) sortTo(dst []uint64) []uint64 {
	dst = sortHashes(dst, c.chunks, func(i int) {
		c.releases[i]()
		c.chunks[i], c.releases[i] = nil, func() {}
	})
	c.chunks, c.releases = c.chunks[:0], c.releases[:0]
	return dst
}

// sortHashes appends the hashes of srcs to dst, sorted, and returns it;
// moved(i), when not nil, is called once srcs[i] has been read for the
// last time. It is one pass of a radix sort on the top sortRadixBits bits,
// then a sort of each bucket (bucketSorter).
func sortHashes(dst []uint64, srcs [][]uint64, moved func(i int)) []uint64 {
	n := 0
	for _, src := range srcs {
		n += len(src)
	}
	base := len(dst)
	dst = dst[:base+n]
	var next [1<<sortRadixBits + 1]int // next[b]: where bucket b's next hash goes
	for _, src := range srcs {
		for _, h := range src {
			next[h>>(64-sortRadixBits)+1]++
		}
	}
	next[0] = base
	for b := 1; b < len(next); b++ {
		next[b] += next[b-1]
	}
	for i, src := range srcs {
		for _, h := range src {
			b := h >> (64 - sortRadixBits)
			dst[next[b]] = h
			next[b]++
		}
		if moved != nil {
			moved(i)
		}
	}
	lo := base // next[b] is now where bucket b ends
	var bs bucketSorter
	for _, hi := range next[:1<<sortRadixBits] {
		bs.sort(dst[lo:hi])
		lo = hi
	}
	return dst
}

// bucketSorter sorts buckets of hashes, keeping its scratch space from
// one to the next.
type bucketSorter struct {
	scratch []uint64
	counts  [1<<sortRadixBits + 1]int
}

// sort sorts a, hashes that share their top sortRadixBits bits, by the
// next few bits (a counting sort through the scratch space), then sorts
// each group that shares those too, a few hashes at most but for a skewed
// set, by insertion (one pass over a when no group has more than 32). A
// comparison sort of random hashes mispredicts a branch at nearly every
// step; this does not. It takes about as many bits as make one group per
// hash (at most sortRadixBits), so that the groups' count, which it clears
// and walks, stays near len(a), whether a holds 200 hashes (a tally's run)
// or 5,000 (a 10M set).
func (bs *bucketSorter) sort(a []uint64) {
	if len(a) <= 32 {
		insertionSort(a)
		return
	}
	nbits := min(sortRadixBits, bits.Len(uint(len(a))))
	shift := 64 - sortRadixBits - nbits
	mask := uint64(1)<<nbits - 1
	next := bs.counts[:1<<nbits+1]
	clear(next)
	for _, h := range a {
		next[(h>>shift)&mask+1]++
	}
	maxGroup := 0
	for _, c := range next {
		maxGroup = max(maxGroup, c)
	}
	for b := 1; b < len(next); b++ {
		next[b] += next[b-1]
	}
	bs.scratch = slices.Grow(bs.scratch[:0], len(a))[:len(a)]
	for _, h := range a {
		b := (h >> shift) & mask
		bs.scratch[next[b]] = h
		next[b]++
	}
	copy(a, bs.scratch)
	if maxGroup <= 32 {
		insertionSort(a) // in order but within groups: a few moves a hash
		return
	}
	lo := 0
	for _, hi := range next[:1<<nbits] {
		if g := a[lo:hi]; len(g) > 32 {
			slices.Sort(g)
		} else {
			insertionSort(g)
		}
		lo = hi
	}
}

// insertionSort sorts a few hashes in place.
func insertionSort(a []uint64) {
	for i := 1; i < len(a); i++ {
		h := a[i]
		j := i
		for ; j > 0 && a[j-1] > h; j-- {
			a[j] = a[j-1]
		}
		a[j] = h
	}
}

// release frees every chunk.
func (c *hashChunks) release() {
	for _, r := range c.releases {
		r()
	}
	c.chunks, c.releases = c.chunks[:0], c.releases[:0]
}

// freshSalt returns a new random salt for a FreshSet's hashes.
func freshSalt() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random salt: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// freshChunk is the most hashes one chunk of LoadFreshProfiles holds
// (512 KiB).
const freshChunk = 1 << 16

// index sorts and deduplicates the hashes and builds the directory.
func (f *FreshSet) index() {
	slices.Sort(f.hashes)
	f.indexSorted()
}

// indexSorted deduplicates the sorted hashes, builds the directory, and
// moves both to huge pages now that they are written.
func (f *FreshSet) indexSorted() {
	f.hashes = slices.Compact(f.hashes)
	f.buildDir()
	useHugePages(f.hashes)
	useHugePages(f.dir)
}

// readFreshHashes adds every hash query returns to chunks.
func (s *Sink) readFreshHashes(ctx context.Context, chunks *hashChunks, query string, args ...any) error {
	rows, err := s.conn.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var h uint64
	dest := []any{&h} // one slice for every row: Scan(&h) would allocate one a row
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		chunks.add(h)
	}
	return rows.Err()
}

// buildDir fills the directory over the sorted hashes.
func (f *FreshSet) buildDir() {
	f.shiftBits = uint(bits.Len(uint(len(f.hashes) / freshPerBucket)))
	f.dir = offHeap[uint32](f, 1<<f.shiftBits+1)[:1<<f.shiftBits+1]
	j := 0
	for b := range f.dir {
		for j < len(f.hashes) && f.bucket(f.hashes[j]) < uint64(b) {
			j++
		}
		f.dir[b] = uint32(j)
	}
}

// bucket is the directory entry of hash h: its top shiftBits bits.
func (f *FreshSet) bucket(h uint64) uint64 {
	if f.shiftBits == 0 {
		return 0
	}
	return h >> (64 - f.shiftBits)
}

// Fresh reports whether openid's profile was fetched at or after the
// cutoff (or, with the chance given at FreshSet, whether its hash equals
// that of one that was).
func (f *FreshSet) Fresh(openid string) bool {
	return f.contains(f.hash(make([]byte, 0, len(f.salt)+len(openid)), openid))
}

// hash is openid's hash in the set: ClickHouse's cityHash64 of the salt
// and openid. buf is scratch space, reused across calls.
func (f *FreshSet) hash(buf []byte, openid string) uint64 {
	buf = append(append(buf[:0], f.salt...), openid...)
	return city.CH64(buf)
}

// contains reports whether h is one of the set's hashes.
func (f *FreshSet) contains(h uint64) bool {
	if len(f.hashes) == 0 {
		return false
	}
	b := f.bucket(h)
	for _, x := range f.hashes[f.dir[b]:f.dir[b+1]] {
		if x >= h {
			return x == h
		}
	}
	return false
}

// Len is how many distinct openids (hashes) the set holds.
func (f *FreshSet) Len() int { return len(f.hashes) }

// Need returns the openids of page that are not fresh, in page order: what
// Fresh says of each, computed in passes over the whole page (the hashes,
// then the directory reads, then the buckets) so that the CPU overlaps the
// cache misses of many openids instead of waiting on each in turn.
func (f *FreshSet) Need(page []string) []string {
	need := make([]string, 0, len(page))
	if len(f.hashes) == 0 {
		return append(need, page...)
	}
	hs := make([]uint64, len(page))
	buf := make([]byte, 0, 64)
	for i, id := range page {
		hs[i] = f.hash(buf, id)
	}
	lo := make([]uint32, len(page))
	for i, h := range hs {
		lo[i] = f.dir[f.bucket(h)]
	}
	for i, h := range hs {
		j, end := int(lo[i]), int(f.dir[f.bucket(h)+1])
		for j < end && f.hashes[j] < h {
			j++
		}
		if j == end || f.hashes[j] != h {
			need = append(need, page[i])
		}
	}
	return need
}
