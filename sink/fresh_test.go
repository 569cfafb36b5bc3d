package sink_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

func profileRow(openid string, fetched time.Time) []any {
	return []any{openid, uint8(1), "zh_CN", t0, "", "", int64(0), []uint32{}, "ADD_SCENE_SEARCH", int64(0), "", fetched}
}

func TestLoadFreshProfiles(t *testing.T) {
	s := sinktest.Open(t, sink.Config{})
	ctx := context.Background()
	st := sinktest.Stream(t, schema.Users)
	old := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cutoff := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	recent := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	rec := sinktest.Record(t, st, profileRow("oOld", old), profileRow("oFresh", recent), profileRow("oBoth", old),
		profileRow("oBoth", recent), profileRow("oAtCutoff", cutoff), profileRow("oJustBefore", cutoff.Add(-time.Second)))
	defer rec.Release()
	insert(t, s, st, "wxA", 0, rec)
	// The same openid under another account does not count.
	other := sinktest.Record(t, st, profileRow("oOther", recent))
	defer other.Release()
	insert(t, s, st, "wxB", 0, other)

	f, err := s.LoadFreshProfiles(ctx, "wxA", cutoff)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"oOld": false, "oFresh": true, "oBoth": true, "oAtCutoff": true, "oJustBefore": false, "oOther": false, "oNew": false, "": false}
	for id, w := range want {
		if got := f.Fresh(id); got != w {
			t.Errorf("Fresh(%q) = %v, want %v", id, got, w)
		}
	}
	if f.Len() != 3 {
		t.Errorf("Len = %d, want 3", f.Len())
	}

	// An account with no profile: an empty set.
	e, err := s.LoadFreshProfiles(ctx, "wxNone", cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if e.Len() != 0 || e.Fresh("oFresh") {
		t.Errorf("empty account: Len %d, Fresh(oFresh) %v", e.Len(), e.Fresh("oFresh"))
	}
	if need := e.Need([]string{"oFresh", "oNew"}); !slices.Equal(need, []string{"oFresh", "oNew"}) {
		t.Errorf("empty account: Need = %q", need)
	}
	if need := f.Need([]string{"oNew", "oFresh", "oOld", "oBoth", "oAtCutoff", "oOther"}); !slices.Equal(need, []string{"oNew", "oOld", "oOther"}) {
		t.Errorf("Need = %q, want oNew, oOld, oOther", need)
	}
}

// On many profiles, stored twice (two parts, not merged), the set answers
// exactly as FreshProfiles does, page by page.
func TestLoadFreshProfilesAgreesWithFreshProfiles(t *testing.T) {
	s := sinktest.Open(t, sink.Config{})
	ctx := context.Background()
	st := sinktest.Stream(t, schema.Users)
	if err := s.Conn().Exec(ctx, "SYSTEM STOP MERGES "+s.Database()+".wechat_users"); err != nil {
		t.Fatal(err)
	}
	cutoff := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	const n = 70000 // stored twice: 140,000 rows, whose hashes are mapped outside the heap
	rows := make([][]any, 0, n)
	for i := range n {
		at := cutoff.Add(time.Duration(i%3-1) * time.Hour) // a third stale
		rows = append(rows, profileRow(fmt.Sprintf("oAcct1%022d", i), at))
	}
	rec := sinktest.Record(t, st, rows...)
	defer rec.Release()
	insert(t, s, st, "wxA", 0, rec)
	insert(t, s, st, "wxA", 0, rec)
	f, err := s.LoadFreshProfiles(ctx, "wxA", cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if want := n - (n+2)/3; f.Len() != want { // i%3 == 0 is stale
		t.Fatalf("Len = %d, want %d", f.Len(), want)
	}
	for page := 0; page < 2*n; page += 10000 {
		var ids []string
		for i := page; i < page+10000; i++ { // the second half were never fetched
			ids = append(ids, fmt.Sprintf("oAcct1%022d", i))
		}
		fresh, err := s.FreshProfiles(ctx, "wxA", ids, cutoff)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, id := range ids {
			if f.Fresh(id) != fresh[id] {
				t.Fatalf("Fresh(%s) = %v, FreshProfiles says %v", id, f.Fresh(id), fresh[id])
			}
			if !fresh[id] {
				want = append(want, id)
			}
		}
		if need := f.Need(ids); !slices.Equal(need, want) {
			t.Fatalf("page %d: Need gave %d openids, FreshProfiles leaves %d", page, len(need), len(want))
		}
	}
}

// The directory finds every hash, at the ends of the range and in
// buckets of every size, and nothing else.
func TestFreshSetIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 2, 5, 100, 4097, 100000, 600000} { // the last one's directory is mapped outside the heap
		in := map[uint64]bool{}
		var hs []uint64
		for _, h := range []uint64{0, 1, 1 << 63, math.MaxUint64 - 1, math.MaxUint64} {
			if len(hs) < n {
				hs, in[h] = append(hs, h), true
			}
		}
		for len(hs) < n {
			h := rng.Uint64()
			if rng.IntN(4) == 0 {
				h &= 0xFFFF_0000_0000_0000 // crowd some buckets
			}
			hs, in[h] = append(hs, h, h), true // repeats are kept once
		}
		f := sink.NewFreshSetOfHashes(hs)
		if f.Len() != len(in) {
			t.Fatalf("n=%d: Len = %d, want %d", n, f.Len(), len(in))
		}
		for h := range in {
			if !f.Contains(h) {
				t.Fatalf("n=%d: hash %#x not found", n, h)
			}
		}
		for _, h := range []uint64{0, 2, 1<<63 - 1, 1<<63 + 1, math.MaxUint64, math.MaxUint64 - 2} {
			if f.Contains(h) != in[h] {
				t.Fatalf("n=%d: Contains(%#x) = %v, want %v", n, h, !in[h], in[h])
			}
		}
		for range 10000 {
			h := rng.Uint64()
			if f.Contains(h) != in[h] {
				t.Fatalf("n=%d: Contains(%#x) = %v, want %v", n, h, !in[h], in[h])
			}
		}
	}
}
