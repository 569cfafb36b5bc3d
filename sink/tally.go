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
// time (4 MiB of them, and as much again while they are sorted), so that
// its memory does not grow with the snapshot: 10M openids are twenty
// sorted runs in a temporary file.
const defaultTallyRun = 1 << 19

// tallyKey names one snapshot.
type tallyKey struct {
	appid, stream string
	id            uint64
}

// snapshotTally follows what a Sink inserts into one snapshot it began:
// how many rows its inserts committed, and whether two of them may share
// an openid (their 64-bit hashes are equal). When none may, the snapshot
// holds exactly those rows, and a count without FINAL that finds as many
// proves that no retried block landed twice: CompleteSnapshot then skips
// the sorted merge of every part of the snapshot that FINAL is (0.6 s of
// a 1M-follower sync, seconds at 10M, on the user's server).
//
// The hashes of each defaultTallyRun rows are sorted (the radix sort of
// hashChunks) and appended to an unlinked temporary file as one run;
// distinct merges the runs. Whatever goes wrong (a failed insert, a
// repeated hash, a file that cannot be written) makes the tally unusable,
// and CompleteSnapshot counts with FINAL as it would without one: the
// tally only ever saves a query, it never decides a count alone.
type snapshotTally struct {
	mu      sync.Mutex // held by the Sink around add and distinct
	seed    maphash.Seed
	runLen  int
	rows    uint64     // rows of the inserts that succeeded
	pending hashChunks // hashes not yet in a run
	npend   int        // how many
	file    *os.File   // the runs, one after another; nil until the first
	runs    []int      // each run's length, in hashes
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
// nil); when it failed, its rows may or may not be in, and the tally is
// given up.
func (s *Sink) tallyInsert(st schema.Stream, appid string, id uint64, hashes []uint64, err error) {
	t := s.tally(appid, st.Name, id)
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.fail("an insert into it failed")
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
	for _, h := range hashes {
		t.pending.add(h)
		if t.npend++; t.npend >= t.runLen {
			t.spill()
			if t.unusable != "" {
				return
			}
		}
	}
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
	t.pending.release()
	if t.file != nil {
		_ = t.file.Close()
		t.file = nil
	}
}

// sortPending sorts the pending hashes into a new buffer and returns it
// (nil when none are pending), or fails the tally on a repeat.
func (t *snapshotTally) sortPending() ([]uint64, func()) {
	n := t.npend
	if n == 0 {
		return nil, func() {}
	}
	t.npend = 0
	buf, release := offHeapChunk(n)
	run := t.pending.sortTo(buf)
	for i := 1; i < len(run); i++ {
		if run[i] == run[i-1] {
			release()
			t.fail("two openids of the snapshot hash alike (a repeated openid)")
			return nil, func() {}
		}
	}
	return run, release
}

// spill writes the pending hashes out as one sorted run.
func (t *snapshotTally) spill() {
	run, release := t.sortPending()
	defer release()
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

// distinct reports whether every row the tally saw has an openid of its
// own, and how many rows that is; why says otherwise why not. It consumes
// the tally.
func (t *snapshotTally) distinct() (rows uint64, why string) {
	defer t.close()
	if t.unusable != "" {
		return 0, t.unusable
	}
	last, release := t.sortPending()
	defer release()
	if t.unusable != "" {
		return 0, t.unusable
	}
	if len(t.runs) == 0 {
		return t.rows, ""
	}
	repeat, err := t.mergeFindsRepeat(last)
	switch {
	case err != nil:
		return 0, fmt.Sprintf("read its hashes back: %v", err)
	case repeat:
		return 0, "two openids of the snapshot hash alike (a repeated openid)"
	}
	return t.rows, ""
}

// mergeFindsRepeat merges the sorted runs in the file and last, the final
// one, in memory, and reports whether a hash is in two of them.
func (t *snapshotTally) mergeFindsRepeat(last []uint64) (bool, error) {
	var heads runHeap
	var off int64
	for _, n := range t.runs {
		if err := heads.push(&hashRun{file: t.file, off: off, left: n}); err != nil {
			return false, err
		}
		off += int64(n) * 8
	}
	if err := heads.push(&hashRun{block: last}); err != nil {
		return false, err
	}
	first := true
	var prev uint64
	for len(heads) > 0 {
		h := heads[0].head()
		if !first && h == prev {
			return true, nil
		}
		first, prev = false, h
		if err := heads.advance(); err != nil {
			return false, err
		}
	}
	return false, nil
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
	block []uint64 // hashes read and not yet passed; block[0] is the head
	buf   []uint64
}

func (r *hashRun) head() uint64 { return r.block[0] }

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

// runHeap is a min-heap of runs by their head hash.
type runHeap []*hashRun

// push adds r, unless it is empty.
func (h *runHeap) push(r *hashRun) error {
	if err := r.fill(); err != nil || len(r.block) == 0 {
		return err
	}
	*h = append(*h, r)
	for i := len(*h) - 1; i > 0; {
		p := (i - 1) / 2
		if (*h)[p].head() <= (*h)[i].head() {
			break
		}
		(*h)[p], (*h)[i] = (*h)[i], (*h)[p]
		i = p
	}
	return nil
}

// advance moves the smallest run past its head, dropping it at its end.
func (h *runHeap) advance() error {
	a := *h
	a[0].block = a[0].block[1:]
	if err := a[0].fill(); err != nil {
		return err
	}
	if len(a[0].block) == 0 {
		a[0] = a[len(a)-1]
		a = a[:len(a)-1]
		*h = a
	}
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < len(a) && a[l].head() < a[m].head() {
			m = l
		}
		if l+1 < len(a) && a[l+1].head() < a[m].head() {
			m = l + 1
		}
		if m == i {
			return nil
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
}

// snapshotCounter returns the count of snapshot id's distinct openids that
// CompleteSnapshot runs (again on a retry). With a usable tally (the
// snapshot was begun by this Sink, and every insert into it succeeded,
// with openids that all hash apart) it is a count without FINAL, the
// answer when it finds the tally's rows. Otherwise, or when it finds more
// (a retried block that landed twice), it is the count with FINAL.
func (s *Sink) snapshotCounter(st schema.Stream, appid string, id uint64) func(context.Context) (uint64, error) {
	final := distinctOpenIDs(st, s.qdb)
	var want uint64
	why := "it was begun by another Sink (a resumed snapshot)"
	if !keyedByOpenID(st) {
		why = "its table's key is not (appid, snapshot_id, openid)"
	} else if t := s.takeTally(appid, st.Name, id); t != nil {
		t.mu.Lock()
		want, why = t.distinct()
		t.mu.Unlock()
	}
	plain := fmt.Sprintf("SELECT count() FROM %s.`%s` WHERE `appid` = ? AND `snapshot_id` = ?", s.qdb, st.Table)
	return func(ctx context.Context) (uint64, error) {
		if why == "" {
			var n uint64
			if err := s.conn.QueryRow(ctx, plain, appid, id).Scan(&n); err != nil {
				return 0, err
			}
			if n == want {
				return n, nil
			}
			why = fmt.Sprintf("the table holds %d of its rows, its inserts wrote %d", n, want)
		}
		s.log.Debug("counting a snapshot with FINAL", "stream", st.Name, "appid", appid, "snapshot_id", id, "why", why)
		s.finalCounts.Add(1)
		var rows uint64
		err := s.conn.QueryRow(ctx, final, appid, id).Scan(&rows)
		return rows, err
	}
}
