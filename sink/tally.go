package sink

// The tally of a snapshot's openids, which lets CompleteSnapshot count a
// snapshot without FINAL.

import (
	"context"
	"fmt"
	"hash/maphash"
	"os"
	"slices"
	"sync"
	"unsafe"

	"github.com/wxsync/wxsync/schema"
)

// defaultTallyRun is how many hashes a tally sorts and writes out at a
// time (1 MiB of them, and as much again to sort them into), so that its
// memory does not grow with the snapshot: 10M openids are 77 sorted runs
// in a temporary file. Completion sorts what is left, fewer than this: a
// short run keeps that wait short (BenchmarkSnapshotTally).
const defaultTallyRun = 1 << 17

// tallyKey names one snapshot.
type tallyKey struct {
	appid, stream string
	id            uint64
}

// snapshotTally follows what a Sink inserts into one snapshot it began:
// how many distinct openids (64-bit hashes) the inserts that succeeded
// wrote, a floor of the snapshot's count, and whether the snapshot holds
// exactly that many rows (no insert failed, no two rows share a hash).
//
//   - Exact, a count without FINAL that finds as many rows proves that no
//     retried block landed twice: CompleteSnapshot then skips the sorted
//     merge of every part of the snapshot that FINAL is (0.6 s of a
//     1M-follower sync, seconds at 10M, on the user's server).
//   - The floor lets a cluster sink tell a replica that has not fetched
//     every insert yet from the answer (staleReplicaError).
//
// The hashes of each defaultTallyRun rows are sorted (sortHashes) and
// appended to an unlinked temporary file as one run; distinct reads the
// runs side by side, a band of top bits at a time, and counts the distinct
// hashes. A file that cannot be written makes the tally unusable, and
// CompleteSnapshot counts with FINAL as it would without one: the tally
// never decides a count alone.
type snapshotTally struct {
	mu     sync.Mutex // held by the Sink around add and distinct
	seed   maphash.Seed
	runLen int
	rows   uint64 // rows of the inserts that succeeded
	// failed is set when an insert into the snapshot failed: its rows may
	// or may not be in, so the count is not exact (its hashes are not
	// added; those of its retry, if that succeeds, are).
	failed bool
	// pending holds the hashes not yet in a run; sortPending sorts them
	// into sorted. Both are runLen long, off the Go heap, and reused from
	// run to run (free unmaps them), so that no run faults in new pages.
	pending []uint64
	sorted  []uint64
	free    []func()
	file    *os.File // the runs, one after another; nil until the first
	runs    []int    // each run's length, in hashes
	// unusable says why the tally cannot count ("" while it can).
	unusable string
}

func newSnapshotTally(runLen int) *snapshotTally {
	return &snapshotTally{seed: maphash.MakeSeed(), runLen: runLen}
}

// keyedByOpenID reports whether st's table is keyed by (appid,
// snapshot_id, openid), so that a snapshot's distinct keys are its
// distinct openids: FINAL counts them, and a tally can.
func keyedByOpenID(st schema.Stream) bool {
	return slices.Equal(st.OrderBy, []string{schema.ColAppID, schema.ColSnapshotID, schema.ColOpenID})
}

// beginTally starts the tally of a snapshot just begun, in place of any
// left by an earlier snapshot of the same stream that was never completed.
func (s *Sink) beginTally(st schema.Stream, appid string, id uint64) {
	if !keyedByOpenID(st) {
		return
	}
	s.tallyMu.Lock()
	defer s.tallyMu.Unlock()
	for k, t := range s.tallies {
		if k.appid == appid && k.stream == st.Name {
			t.mu.Lock()
			t.close()
			t.mu.Unlock()
			delete(s.tallies, k)
		}
	}
	s.tallies[tallyKey{appid, st.Name, id}] = newSnapshotTally(s.tallyRun)
}

// tallyHashes returns the hashes of the openids of cols, the columns of
// an insert into a snapshot, for its tally (nil when it has none or gave
// up). It runs before the rows are sorted: read in the order Arrow wrote
// them, the openids are read from memory in order; sorted, hashing them
// was a cache miss each (0.14 s of 1M).
func (s *Sink) tallyHashes(st schema.Stream, appid string, id uint64, cols []any) []uint64 {
	t := s.tally(appid, st.Name, id)
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.unusable != "" {
		return nil
	}
	var openids []string
	ok := false
	if i := st.Schema.FieldIndices(schema.ColOpenID); len(i) == 1 && i[0] < len(cols) {
		openids, ok = cols[i[0]].([]string)
	}
	if !ok {
		t.fail("its inserts have no openid column of strings")
		return nil
	}
	hashes := make([]uint64, len(openids))
	for i, o := range openids {
		hashes[i] = maphash.String(t.seed, o)
	}
	return hashes
}

// tallyInsert records an insert into a snapshot on its tally, if it has
// one: the hashes of its openids (tallyHashes) when it succeeded (err ==
// nil); when it failed, its rows may or may not be in, and the tally
// stops being exact.
func (s *Sink) tallyInsert(st schema.Stream, appid string, id uint64, hashes []uint64, err error) {
	t := s.tally(appid, st.Name, id)
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.failed = true
		return
	}
	t.add(hashes)
}

// tally returns the tally of a snapshot (nil: none).
func (s *Sink) tally(appid, stream string, id uint64) *snapshotTally {
	s.tallyMu.Lock()
	defer s.tallyMu.Unlock()
	return s.tallies[tallyKey{appid, stream, id}]
}

// takeTally removes the tally of a snapshot and returns it (nil: none).
func (s *Sink) takeTally(appid, stream string, id uint64) *snapshotTally {
	s.tallyMu.Lock()
	defer s.tallyMu.Unlock()
	k := tallyKey{appid, stream, id}
	t := s.tallies[k]
	delete(s.tallies, k)
	return t
}

// add records the hashes of the openids of an insert that succeeded.
func (t *snapshotTally) add(hashes []uint64) {
	if t.unusable != "" {
		return
	}
	t.rows += uint64(len(hashes))
	for len(hashes) > 0 {
		if t.pending == nil {
			t.pending = t.offHeap(t.runLen)
		}
		k := min(len(hashes), t.runLen-len(t.pending))
		t.pending = append(t.pending, hashes[:k]...)
		hashes = hashes[k:]
		if len(t.pending) == t.runLen {
			t.spill()
			if t.unusable != "" {
				return
			}
		}
	}
}

// offHeap returns an empty slice with room for n hashes, off the Go heap
// until close.
func (t *snapshotTally) offHeap(n int) []uint64 {
	b, release := offHeapChunk(n)
	t.free = append(t.free, release)
	return b
}

// fail makes the tally unusable and frees what it holds.
func (t *snapshotTally) fail(why string) {
	if t.unusable == "" {
		t.unusable = why
	}
	t.close()
}

// close frees the tally's memory and file.
func (t *snapshotTally) close() {
	for _, release := range t.free {
		release()
	}
	t.free, t.pending, t.sorted = nil, nil, nil
	if t.file != nil {
		_ = t.file.Close()
		t.file = nil
	}
}

// sortPending sorts the pending hashes and returns them (nil when none
// are pending). The run stays valid until the next sortPending or close.
func (t *snapshotTally) sortPending() []uint64 {
	if len(t.pending) == 0 {
		return nil
	}
	if t.sorted == nil {
		t.sorted = t.offHeap(t.runLen)
	}
	run := sortHashes(t.sorted[:0], [][]uint64{t.pending}, nil)
	t.pending = t.pending[:0]
	return run
}

// spill writes the pending hashes out as one sorted run.
func (t *snapshotTally) spill() {
	run := t.sortPending()
	if t.unusable != "" || len(run) == 0 {
		return
	}
	if t.file == nil {
		f, err := os.CreateTemp("", "wxsync-snapshot-*.hashes")
		if err != nil {
			t.fail(fmt.Sprintf("no temporary file for its hashes: %v", err))
			return
		}
		_ = os.Remove(f.Name()) // unlinked: nothing is left behind, whatever ends the process
		t.file = f
	}
	if _, err := t.file.Write(hashBytes(run)); err != nil {
		t.fail(fmt.Sprintf("write its hashes to a temporary file: %v", err))
		return
	}
	t.runs = append(t.runs, len(run))
}

// hashBytes is run's memory as bytes, in the machine's byte order (the
// file is read back by the same process).
func hashBytes(run []uint64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(run))), len(run)*8)
}

// tallyCount is what a tally knows of its snapshot when it is completed.
type tallyCount struct {
	// known says the tally followed every insert; otherwise why is why
	// not, and openids is 0.
	known bool
	// openids is how many distinct openids (by hash) the inserts that
	// succeeded wrote: no more than the snapshot holds.
	openids uint64
	// why is "" when the snapshot holds exactly openids rows, one per
	// openid; otherwise why not.
	why string
}

// distinct counts the distinct hashes the tally saw. It consumes the
// tally.
func (t *snapshotTally) distinct() tallyCount {
	defer t.close()
	if t.unusable != "" {
		return tallyCount{why: t.unusable}
	}
	last := t.sortPending()
	n := countDistinct(last)
	if len(t.runs) > 0 {
		var err error
		if n, err = t.mergeCountDistinct(last); err != nil {
			return tallyCount{why: fmt.Sprintf("read its hashes back: %v", err)}
		}
	}
	c := tallyCount{known: true, openids: n}
	switch {
	case t.failed:
		c.why = "an insert into it failed"
	case n != t.rows:
		c.why = "two openids of the snapshot hash alike (a repeated openid)"
	}
	return c
}

// countDistinct counts the distinct values of sorted.
func countDistinct(sorted []uint64) uint64 {
	var n uint64
	for i := range sorted {
		if i == 0 || sorted[i] != sorted[i-1] {
			n++
		}
	}
	return n
}

// mergeCountDistinct counts the distinct hashes of the sorted runs: those
// in the file and last, the final one, in memory. It reads the runs side
// by side, one band of hashes at a time (those sharing their top
// sortRadixBits bits, the buckets of sortHashes, a contiguous stretch of
// every sorted run), and sorts each band, a few thousand hashes, in cache:
// a repeat is then two neighbours. Each run is read once, in order, with
// no heap of runs to keep.
func (t *snapshotTally) mergeCountDistinct(last []uint64) (uint64, error) {
	runs := make([]*hashRun, 0, len(t.runs)+1)
	var off int64
	for _, n := range t.runs {
		runs = append(runs, &hashRun{file: t.file, off: off, left: n})
		off += int64(n) * 8
	}
	runs = append(runs, &hashRun{block: last})
	var (
		band []uint64
		bs   bucketSorter
		n    uint64
	)
	for b := uint64(0); b < 1<<sortRadixBits; b++ {
		band = band[:0]
		for _, r := range runs {
			var err error
			if band, err = r.takeBand(band, b); err != nil {
				return 0, err
			}
		}
		bs.sort(band)
		n += countDistinct(band)
	}
	return n, nil
}

// runBlock is how many hashes of a run in the file are read at a time
// (64 KiB).
const runBlock = 8192

// hashRun reads one sorted run: from the file, a block at a time, or from
// memory (one block).
type hashRun struct {
	file  *os.File
	off   int64    // where the run's unread part starts in file
	left  int      // hashes of the run not yet read from file
	block []uint64 // hashes read and not yet passed
	buf   []uint64
}

// takeBand appends to band the run's next hashes whose top sortRadixBits
// bits are b, and returns it.
func (r *hashRun) takeBand(band []uint64, b uint64) ([]uint64, error) {
	for {
		if err := r.fill(); err != nil || len(r.block) == 0 {
			return band, err
		}
		k := 0
		for k < len(r.block) && r.block[k]>>(64-sortRadixBits) == b {
			k++
		}
		band = append(band, r.block[:k]...)
		if r.block = r.block[k:]; len(r.block) > 0 {
			return band, nil // the next hash is in a later band
		}
	}
}

// fill makes block hold the run's next hashes, if it has any left.
func (r *hashRun) fill() error {
	if len(r.block) > 0 || r.left == 0 {
		return nil
	}
	n := min(r.left, runBlock)
	if r.buf == nil {
		r.buf = make([]uint64, runBlock)
	}
	if _, err := r.file.ReadAt(hashBytes(r.buf[:n]), r.off); err != nil {
		return err
	}
	r.off += int64(n) * 8
	r.left -= n
	r.block = r.buf[:n]
	return nil
}

// snapshotCounter returns the count of snapshot id's distinct openids that
// CompleteSnapshot runs (again on a retry). With a usable tally (the
// snapshot was begun by this Sink, and every insert into it succeeded,
// with openids that all hash apart) it is a count without FINAL, the
// answer when it finds the tally's rows. Otherwise, or when it finds more
// (a retried block that landed twice), it is the count with FINAL. The
// first count without FINAL runs on the server while the tally merges its
// runs here: the two take about as long (tens of ms per 1M rows).
//
// The count without FINAL filters on snapshot_id alone, so the server
// reads that one column of the snapshot's partition and not appid's
// strings as well (4 ms instead of 20 for 1M rows, measured on 18.16).
// Snapshot ids are unique across accounts; rows of another account under
// the same id would only make that count exceed the tally's, and then the
// count with FINAL, which filters on appid too, is the answer.
//
// On a cluster, a count below the tally's is a replica that has not
// fetched every insert yet (staleReplicaError, retried): the snapshot is
// never recorded with fewer rows than this Sink wrote into it.
func (s *Sink) snapshotCounter(ctx context.Context, st schema.Stream, appid string, id uint64) func(context.Context) (uint64, error) {
	c := &snapshotCount{s: s, stream: st.Name, appid: appid, id: id, final: distinctOpenIDs(st, s.qdb),
		plain: fmt.Sprintf("SELECT count() FROM %s.`%s` WHERE `snapshot_id` = ?", s.qdb, st.Table),
		why:   "it was begun by another Sink (a resumed snapshot)"}
	if !keyedByOpenID(st) {
		c.why = "its table's key is not (appid, snapshot_id, openid)"
	} else if t := s.takeTally(appid, st.Name, id); t != nil {
		c.early = make(chan plainCount, 1)
		go func() {
			n, err := c.countPlain(ctx)
			c.early <- plainCount{n, err}
		}()
		t.mu.Lock()
		tc := t.distinct()
		t.mu.Unlock()
		c.want, c.floor, c.why = tc.openids, tc.known, tc.why
	}
	return c.count
}

// snapshotCount is the count of one snapshot (see snapshotCounter).
type snapshotCount struct {
	s             *Sink
	stream, appid string
	id            uint64
	final, plain  string
	want          uint64 // the tally's distinct openids
	floor         bool   // want is known: the snapshot holds at least as many
	why           string // why the count takes FINAL ("" while it need not)
	early         chan plainCount
}

func (c *snapshotCount) countPlain(ctx context.Context) (n uint64, err error) {
	err = c.s.conn.QueryRow(ctx, c.plain, c.id).Scan(&n)
	return n, err
}

// count runs one attempt of the count.
func (c *snapshotCount) count(ctx context.Context) (uint64, error) {
	if c.why == "" {
		var (
			n   uint64
			err error
		)
		if c.early != nil { // the first attempt; a retry counts again
			p := <-c.early
			n, err, c.early = p.n, p.err, nil
		} else {
			n, err = c.countPlain(ctx)
		}
		if err != nil {
			return 0, err
		}
		if n == c.want {
			return n, nil
		}
		if err := c.short(n); err != nil {
			return 0, err
		}
		c.why = fmt.Sprintf("the table holds %d of its rows, its inserts wrote %d", n, c.want)
	}
	c.s.log.Debug("counting a snapshot with FINAL", "stream", c.stream, "appid", c.appid, "snapshot_id", c.id, "why", c.why)
	c.s.finalCounts.Add(1)
	var rows uint64
	if err := c.s.conn.QueryRow(ctx, c.final, c.appid, c.id).Scan(&rows); err != nil {
		return 0, err
	}
	if err := c.short(rows); err != nil {
		return 0, err
	}
	return rows, nil
}

// short returns a staleReplicaError when a cluster answered n, fewer rows
// than the tally proves the snapshot holds.
func (c *snapshotCount) short(n uint64) error {
	if c.s.cluster == nil || !c.floor || n >= c.want {
		return nil
	}
	return &staleReplicaError{fmt.Sprintf("the count found %d of the %d rows written into snapshot %d", n, c.want, c.id)}
}

// plainCount is the answer of a snapshot's count without FINAL.
type plainCount struct {
	n   uint64
	err error
}
