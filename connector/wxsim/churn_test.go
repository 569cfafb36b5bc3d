package wxsim

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBlacklistPaging(t *testing.T) {
	for _, style := range []EndStyle{EndCountZero, EndEmptyNext} {
		for _, size := range []int{1000, 10000} {
			for _, b := range []int{0, 1, 1000, 2500, 23000} {
				h := start(t, func(o *Options) { o.Blacklisted, o.BlacklistPageSize, o.EndStyle = b, size, style })
				all, pages := h.walk(h.token(), h.blacklistGet, size)
				want := h.srv.BlacklistOpenIDs()
				if len(want) != b || !slices.Equal(all, want) {
					t.Fatalf("%s/%d/%d: walked %d, want %d", style, size, b, len(all), b)
				}
				for _, p := range pages {
					if p.Total != b {
						t.Fatalf("total %d, want %d", p.Total, b)
					}
				}
				wantPages := (b + size - 1) / size
				if style == EndCountZero || b == 0 {
					wantPages++
				}
				if len(pages) != wantPages {
					t.Fatalf("%s/%d/%d: %d pages, want %d", style, size, b, len(pages), wantPages)
				}
				followers := map[string]bool{}
				for _, id := range h.srv.FollowerOpenIDs() {
					followers[id] = true
				}
				for _, id := range all {
					if !followers[id] {
						t.Fatalf("blacklisted %s is not a follower", id)
					}
				}
			}
		}
	}
	h := start(t, func(o *Options) { o.Blacklisted = 10 })
	h.wantErr(h.post(PathBlacklist, h.token(), blacklistReq{"garbage"}), 40003)
}

func TestTagCountsExact(t *testing.T) {
	h := start(t, func(o *Options) { o.Followers = 30000 })
	check := func() {
		t.Helper()
		want := map[int]int{}
		for _, id := range h.srv.FollowerOpenIDs() {
			p, _ := h.srv.Profile(id)
			for _, tag := range p.TagIDList {
				want[tag]++
			}
		}
		var got struct {
			Tags []Tag `json:"tags"`
		}
		h.decode(h.get(PathTagsGet, map[string][]string{"access_token": {h.token()}}), &got)
		if len(got.Tags) < 5 || got.Tags[0].ID != 2 || got.Tags[0].Name != "星标组" {
			t.Fatalf("tags %+v", got.Tags)
		}
		for _, tag := range got.Tags {
			if tag.ID != 2 && tag.ID < 100 {
				t.Fatalf("tag id %d", tag.ID)
			}
			if tag.Count != want[tag.ID] {
				t.Fatalf("tag %d %q: count %d, members %d", tag.ID, tag.Name, tag.Count, want[tag.ID])
			}
		}
	}
	check()
	h.srv.AddFollowers(777)
	h.srv.RemoveFollowers(1234)
	check()
}

func TestAddRemoveFollowers(t *testing.T) {
	h := start(t, func(o *Options) { o.Followers = 10000 })
	before := h.srv.FollowerOpenIDs()
	added := h.srv.AddFollowers(300)
	after := h.srv.FollowerOpenIDs()
	if h.srv.Total() != 10300 || len(after) != 10300 {
		t.Fatalf("Total %d after adding 300 to 10000", h.srv.Total())
	}
	pos := map[string]int{}
	for i, id := range after {
		pos[id] = i
	}
	var firstHalf, lastHalf int
	for _, id := range added {
		p, ok := pos[id]
		if !ok {
			t.Fatalf("added %s not listed", id)
		}
		if p < len(after)/2 {
			firstHalf++
		} else {
			lastHalf++
		}
		if i, _ := h.srv.IndexOf(id); i < 10000 {
			t.Fatalf("added follower has initial index %d", i)
		}
	}
	if firstHalf < 100 || lastHalf < 100 {
		t.Fatalf("added followers not spread: %d in the first half, %d in the second", firstHalf, lastHalf)
	}
	// Initial followers keep their relative order.
	var initial []string
	for _, id := range after {
		if i, _ := h.srv.IndexOf(id); i < 10000 {
			initial = append(initial, id)
		}
	}
	if !slices.Equal(initial, before) {
		t.Fatal("initial followers moved")
	}
	removed := h.srv.RemoveFollowers(500)
	if h.srv.Total() != 9800 || len(removed) != 500 {
		t.Fatalf("Total %d after removing 500", h.srv.Total())
	}
	final := h.srv.FollowerOpenIDs()
	for _, id := range removed {
		if slices.Contains(final, id) {
			t.Fatalf("removed %s still listed", id)
		}
	}
	a, r := h.srv.Churned()
	if !slices.Equal(a, added) || !slices.Equal(r, removed) {
		t.Fatal("Churned does not report the changes")
	}
	// A removed follower's openid still works as a cursor.
	tok := h.token()
	gone := removed[0]
	p := h.userGet(tok, gone)
	want := final[slices.IndexFunc(final, func(id string) bool { return pos[id] > pos[gone] })]
	if p.openids()[0] != want {
		t.Fatalf("resume after removed %s gave %s, want %s", gone, p.openids()[0], want)
	}
	// Removing more than there are removes everything.
	h.srv.RemoveFollowers(1 << 30)
	if h.srv.Total() != 0 || len(h.srv.FollowerOpenIDs()) != 0 {
		t.Fatal("followers left after removing all")
	}
	if a := h.userGet(tok, ""); a.Total != 0 || a.Count != 0 || a.Data != nil {
		t.Fatalf("empty list after removing all: %+v", a)
	}
}

func TestChurnDuringWalk(t *testing.T) {
	for _, style := range []EndStyle{EndCountZero, EndEmptyNext} {
		h := start(t, func(o *Options) {
			o.Followers, o.EndStyle = 23000, style
			o.Churn = Churn{AfterCalls: 1, Add: 2000, Remove: 1500}
		})
		tok := h.token()
		initial := h.srv.FollowerOpenIDs()
		walked, pages := h.walk(tok, h.userGet, MaxPageSize)
		if pages[0].Total != 23000 || pages[1].Total != 23500 || h.srv.Total() != 23500 {
			t.Fatalf("totals %d then %d, Total %d", pages[0].Total, pages[1].Total, h.srv.Total())
		}
		added, removed := h.srv.Churned()
		if len(added) != 2000 || len(removed) != 1500 {
			t.Fatalf("churn added %d removed %d", len(added), len(removed))
		}
		// What the walk must have returned: page 1 as it was, then every
		// current follower listed after page 1's last openid.
		cursor := *pages[0].NextOpenID
		want := slices.Clone(pages[0].openids())
		idx, _ := h.srv.IndexOf(cursor)
		h.srv.fmu.RLock()
		it := h.srv.f.after(idx, false)
		for i, ok := it.next(); ok; i, ok = it.next() {
			want = append(want, h.srv.OpenID(i))
		}
		h.srv.fmu.RUnlock()
		if !slices.Equal(walked, want) {
			t.Fatalf("walk returned %d openids, want %d", len(walked), len(want))
		}
		// Reality the client has to cope with: some added followers were
		// listed before the cursor (never seen), some removed ones were seen.
		seen := map[string]bool{}
		for _, id := range walked {
			seen[id] = true
		}
		var missed, ghosts int
		for _, id := range added {
			if !seen[id] {
				missed++
			}
		}
		for _, id := range removed {
			if seen[id] {
				ghosts++
			}
		}
		if missed == 0 || missed == len(added) || ghosts == 0 {
			t.Fatalf("churn not spread over the list: %d added missed, %d removed seen", missed, ghosts)
		}
		if len(initial) != 23000 || len(h.srv.FollowerOpenIDs()) != 23500 {
			t.Fatal("truth sizes")
		}
	}
}

// TestIteratorPrevMirrorsNext checks the backward step (used by
// FaultDuplicates) against the forward order on a churned list.
func TestIteratorPrevMirrorsNext(t *testing.T) {
	f := newFollowers(500, 3)
	f.add(200)
	f.remove(150)
	var order []uint64
	it := f.after(0, true)
	for i, ok := it.next(); ok; i, ok = it.next() {
		order = append(order, i)
	}
	if len(order) != 550 {
		t.Fatalf("%d listed", len(order))
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for range 500 {
		k := rng.IntN(len(order))
		back := f.after(order[k], false)
		for j := k; j >= 0; j-- {
			got, ok := back.prev()
			if !ok || got != order[j] {
				t.Fatalf("prev from position %d: step to %d gave %d %v, want %d", k, j, got, ok, order[j])
			}
		}
		if _, ok := back.prev(); ok {
			t.Fatal("prev past the start")
		}
		fwd := f.after(order[k], false)
		if got, ok := fwd.next(); (k+1 < len(order)) != ok || (ok && got != order[k+1]) {
			t.Fatalf("next after %d", k)
		}
	}
}
