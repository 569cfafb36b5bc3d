package sink

import (
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"testing"

	"github.com/wxsync/wxsync/schema"
)

// addIDs adds openids to tl as an insert of them would.
func addIDs(tl *snapshotTally, openids []string) {
	hashes := make([]uint64, len(openids))
	for i, o := range openids {
		hashes[i] = maphash.String(tl.seed, o)
	}
	tl.add(hashes)
}

// tallyOpenIDs returns n distinct openids starting at from.
func tallyOpenIDs(from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("o%027d", from+i)
	}
	return out
}

// A tally counts the distinct openids, across runs written to its file
// and the last one in memory; one repeated openid anywhere (in one insert,
// in two runs of the file, between the file and memory) is counted once
// and makes the count inexact.
func TestSnapshotTallyDistinct(t *testing.T) {
	cases := []struct {
		name    string
		inserts [][]string
		runs    int // runs written to the file before distinct
		repeat  bool
	}{
		{"empty", nil, 0, false},
		{"one insert in memory", [][]string{tallyOpenIDs(0, 50)}, 0, false},
		{"many runs", [][]string{tallyOpenIDs(0, 250), tallyOpenIDs(250, 777), tallyOpenIDs(1027, 3)}, 10, false},
		{"exactly whole runs", [][]string{tallyOpenIDs(0, 300)}, 3, false},
		{"a repeat in one insert", [][]string{append(tallyOpenIDs(0, 40), tallyOpenIDs(7, 1)...)}, 0, true},
		{"a repeat across file runs", [][]string{tallyOpenIDs(0, 250), tallyOpenIDs(249, 200)}, 4, true},
		{"a repeat between file and memory", [][]string{tallyOpenIDs(0, 550), tallyOpenIDs(10, 1)}, 5, true},
		{"a repeat in the last run only", [][]string{tallyOpenIDs(0, 310), {"x", "y", "x"}}, 3, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tl := newSnapshotTally(100)
			seen := map[string]bool{}
			for _, ins := range c.inserts {
				addIDs(tl, ins)
				for _, o := range ins {
					seen[o] = true
				}
			}
			if len(tl.runs) != c.runs && tl.unusable == "" {
				t.Errorf("%d runs in the file, want %d", len(tl.runs), c.runs)
			}
			got := tl.distinct()
			if !got.known || got.openids != uint64(len(seen)) || (got.why != "") != c.repeat {
				t.Fatalf("distinct() = %+v; want %d openids, a repeat found %v", got, len(seen), c.repeat)
			}
		})
	}
}

// The merge finds a repeat at any place of any run: first, last, middle,
// between runs of unequal lengths, across many runs.
func TestSnapshotTallyMergeFindsEveryRepeat(t *testing.T) {
	const n = 3000
	ids := tallyOpenIDs(0, n)
	for _, at := range []int{0, 1, 99, 100, 1234, n - 101, n - 1} {
		tl := newSnapshotTally(100)
		addIDs(tl, ids)
		addIDs(tl, []string{ids[at]})
		if got := tl.distinct(); got.why == "" || got.openids != n {
			t.Errorf("openid %d repeated after %d runs: distinct() = %+v, want %d openids and a repeat", at, n/100, got, n)
		}
	}
}

// The merge reads the runs a band of top bits at a time: a repeat at the
// edges of the hash space and of a band is found, in the file or between
// the file and memory, and hashes that only share a band are not repeats.
func TestSnapshotTallyBandEdges(t *testing.T) {
	const band = uint64(1) << (64 - sortRadixBits)
	edges := []uint64{0, 1, band - 1, band, band + 1, 5*band - 1, 5 * band, ^uint64(0) - 1, ^uint64(0)}
	filler := func(from, n int) []uint64 { // distinct, spread over the bands, none an edge
		out := make([]uint64, n)
		for i := range out {
			out[i] = uint64(from+i+1)*0x9E3779B97F4A7C15&^0xFF | 0x30
		}
		return out
	}
	for _, e := range edges {
		for _, where := range []string{"two file runs", "file and memory"} {
			tl := newSnapshotTally(64)
			tl.add(append(filler(0, 63), e)) // the file's first run
			want := uint64(64)
			if where == "two file runs" {
				tl.add(append(filler(100, 63), e))
				want += 63
			} else {
				tl.add([]uint64{e})
			}
			if got := tl.distinct(); got.why == "" || got.openids != want {
				t.Errorf("hash %#x in %s: distinct() = %+v, want %d openids and a repeat", e, where, got, want)
			}
		}
	}
	// Runs longer than a block read from the file: the repeat is the
	// first run's largest hash, in its last block.
	n := 2*runBlock + 3
	first := filler(0, n)
	for _, repeat := range []bool{false, true} {
		tl := newSnapshotTally(n)
		tl.add(first)
		second := filler(n, n)
		if repeat {
			second[n/2] = slices.Max(first)
		}
		tl.add(second)
		tl.add(filler(2*n, 10)) // in memory
		want := uint64(2*n + 10)
		if repeat {
			want--
		}
		if got := tl.distinct(); repeat != (got.why != "") || got.openids != want {
			t.Errorf("runs of %d hashes, repeat %v: distinct() = %+v, want %d openids", n, repeat, got, want)
		}
	}

	tl := newSnapshotTally(4)
	tl.add(edges) // one of each: two full runs in the file and one in memory
	if got := tl.distinct(); got.why != "" || got.openids != uint64(len(edges)) {
		t.Errorf("distinct edges: distinct() = %+v; want %d openids, exact", got, len(edges))
	}
}

// An insert that failed may or may not be in: the tally of its snapshot
// is no longer exact, but still counts the inserts that succeeded (a
// floor); one whose file cannot be written is given up.
func TestSnapshotTallyFailedInsertAndNoFile(t *testing.T) {
	st, _ := snapshotStream(schema.Followers)
	s := &Sink{tallies: map[tallyKey]*snapshotTally{}, tallyRun: 10}
	cols := func(ids []string) []any {
		out := make([]any, len(st.Schema.Fields()))
		i := st.Schema.FieldIndices(schema.ColOpenID)[0]
		out[i] = ids
		return out
	}
	s.beginTally(st, "wxA", 1)
	s.beginTally(st, "wxB", 2)
	insert := func(appid string, id uint64, ids []string, err error) {
		s.tallyInsert(st, appid, id, s.tallyHashes(st, appid, id, cols(ids)), err)
	}
	insert("wxA", 1, tallyOpenIDs(0, 25), nil)
	insert("wxA", 1, tallyOpenIDs(25, 5), errors.New("connection reset"))
	insert("wxA", 1, tallyOpenIDs(20, 10), nil) // the retry, and 5 more
	insert("wxB", 2, tallyOpenIDs(0, 25), nil)
	if got := s.takeTally("wxA", st.Name, 1).distinct(); got != (tallyCount{known: true, openids: 30, why: "an insert into it failed"}) {
		t.Errorf("wxA, with a failed insert: distinct() = %+v, want a floor of 30, inexact", got)
	}
	if got := s.takeTally("wxB", st.Name, 2).distinct(); got != (tallyCount{known: true, openids: 25}) {
		t.Errorf("wxB: distinct() = %+v; want 25, exact", got)
	}
	if tl := s.takeTally("wxB", st.Name, 2); tl != nil {
		t.Error("a tally taken is still there")
	}

	t.Setenv("TMPDIR", t.TempDir()+"/missing")
	tl := newSnapshotTally(10)
	addIDs(tl, tallyOpenIDs(0, 25))
	if got := tl.distinct(); got.known || got.why == "" {
		t.Errorf("a tally whose file could not be created: distinct() = %+v, want unknown", got)
	}
}

// A new snapshot of a stream replaces the tally of one never completed.
func TestBeginTallyReplacesAnAbandonedOne(t *testing.T) {
	st, _ := snapshotStream(schema.Followers)
	s := &Sink{tallies: map[tallyKey]*snapshotTally{}, tallyRun: 10}
	s.beginTally(st, "wxA", 1)
	s.beginTally(st, "wxB", 2)
	s.beginTally(st, "wxA", 3)
	if len(s.tallies) != 2 || s.tallies[tallyKey{"wxA", st.Name, 1}] != nil {
		t.Errorf("tallies %v, want wxA's 3 and wxB's 2", s.tallies)
	}
}
