package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/big"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"

	"github.com/wxsync/wxsync/connector/wechat"
	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/plugin/kind"
	"github.com/wxsync/wxsync/schema"
)

// recorder is an Emitter that keeps what it is sent.
type recorder struct {
	events  []string // "record:N", "checkpoint:<next>:<done>"
	openids []string
	cursors [][]byte
}

func (r *recorder) Record(stream string, rec arrow.Record) error {
	col := rec.Column(0).(*array.String)
	for i := 0; i < col.Len(); i++ {
		r.openids = append(r.openids, col.Value(i))
	}
	r.events = append(r.events, fmt.Sprintf("record:%d", rec.NumRows()))
	return nil
}

func (r *recorder) Checkpoint(stream string, cursor []byte, done bool) error {
	c, err := decodeListCursor(cursor)
	if err != nil {
		return err
	}
	r.cursors = append(r.cursors, cursor)
	r.events = append(r.events, fmt.Sprintf("checkpoint:%s:%v", c.Next, done))
	return nil
}

func (r *recorder) Progress(string, plugin.Progress) error { return nil }

// fakeList serves a list of n openids ("id00000"...) in pages of size,
// ending in the given style, and records every next_openid asked for.
type fakeList struct {
	ids       []string
	size      int
	emptyNext bool // the last page has next_openid ""; else a count-0 call ends it
	total     int  // reported total; len(ids) when 0
	asked     []string
}

func newFakeList(n, size int, emptyNext bool) *fakeList {
	f := &fakeList{size: size, emptyNext: emptyNext}
	for i := 0; i < n; i++ {
		f.ids = append(f.ids, fmt.Sprintf("oid%025d", i))
	}
	return f
}

func (f *fakeList) page(_ context.Context, next string) (wechat.Page, error) {
	f.asked = append(f.asked, next)
	total := f.total
	if total == 0 {
		total = len(f.ids)
	}
	start := 0
	if next != "" {
		i := slices.Index(f.ids, next)
		if i < 0 {
			// A stale cursor: the live API answers "end of list".
			return wechat.Page{Total: total}, nil
		}
		start = i + 1
	}
	end := min(start+f.size, len(f.ids))
	if start >= end {
		return wechat.Page{Total: total}, nil
	}
	p := wechat.Page{Total: total, Count: end - start, OpenIDs: f.ids[start:end], NextOpenID: f.ids[end-1], HasData: true}
	if f.emptyNext && end == len(f.ids) {
		p.NextOpenID = ""
	}
	return p, nil
}

func noCalls() map[string]int64 { return nil }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func walkFake(t *testing.T, f *fakeList, cursor []byte) (*recorder, error) {
	t.Helper()
	r := &recorder{}
	err := (&Source{log: quiet}).readList(context.Background(), schema.Followers, cursor, f.page, noCalls, r)
	return r, err
}

func TestWalkListEndStyles(t *testing.T) {
	for _, n := range []int{0, 1, 9, 10, 11, 23} {
		for _, emptyNext := range []bool{false, true} {
			t.Run(fmt.Sprintf("n=%d/emptyNext=%v", n, emptyNext), func(t *testing.T) {
				f := newFakeList(n, 10, emptyNext)
				r, err := walkFake(t, f, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(r.openids, f.ids) {
					t.Fatalf("emitted %d openids, want the %d of the list in order", len(r.openids), len(f.ids))
				}
				pages := (n + 9) / 10
				wantCalls := pages
				if !emptyNext || n == 0 {
					wantCalls++ // the count-0 call that ends the list
				}
				if len(f.asked) != wantCalls {
					t.Fatalf("made %d calls %q, want %d", len(f.asked), f.asked, wantCalls)
				}
				last := r.events[len(r.events)-1]
				if !strings.HasSuffix(last, ":true") {
					t.Fatalf("last event %q, want a done checkpoint", last)
				}
				for _, e := range r.events[:len(r.events)-1] {
					if strings.HasSuffix(e, ":true") {
						t.Fatalf("done checkpoint before the end: %q", r.events)
					}
				}
			})
		}
	}
}

func TestWalkListCheckpointFollowsEachPage(t *testing.T) {
	f := newFakeList(23, 10, false)
	r, err := walkFake(t, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"record:10", "checkpoint:" + f.ids[9] + ":false",
		"record:10", "checkpoint:" + f.ids[19] + ":false",
		"record:3", "checkpoint:" + f.ids[22] + ":false",
		"checkpoint:" + f.ids[22] + ":true",
	}
	if !slices.Equal(r.events, want) {
		t.Fatalf("events\n got %q\nwant %q", r.events, want)
	}
}

func TestWalkListResumesFromCursor(t *testing.T) {
	f := newFakeList(23, 10, false)
	cur := listCursor{Next: f.ids[9], Fetched: 10, Total: 23}
	r, err := walkFake(t, f, cur.encode())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.openids, f.ids[10:]) {
		t.Fatalf("resumed walk emitted %d openids, want the 13 after the cursor", len(r.openids))
	}
	if f.asked[0] != f.ids[9] {
		t.Fatalf("first call asked next_openid %q, want the cursor's %q", f.asked[0], f.ids[9])
	}
	final, _ := decodeListCursor(r.cursors[len(r.cursors)-1])
	if final.Fetched != 23 {
		t.Fatalf("final cursor counts %d fetched, want 23", final.Fetched)
	}
}

func TestWalkListStaleCursorRestartsOnce(t *testing.T) {
	f := newFakeList(23, 10, false)
	stale := listCursor{Next: "ogone0000000000000000000000x", Fetched: 10, Total: 23}
	r, err := walkFake(t, f, stale.encode())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.asked[:2], []string{stale.Next, ""}) {
		t.Fatalf("calls %q: want the stale cursor, then a restart from the beginning", f.asked)
	}
	if !slices.Equal(r.openids, f.ids) {
		t.Fatalf("after the restart emitted %d openids, want all %d", len(r.openids), len(f.ids))
	}
	final, _ := decodeListCursor(r.cursors[len(r.cursors)-1])
	if final.Restarts != 1 || final.Fetched != 23 {
		t.Fatalf("final cursor %+v, want Restarts 1 and Fetched 23", final)
	}
}

func TestWalkListResumedAtTheEndIsNotStale(t *testing.T) {
	f := newFakeList(23, 10, false)
	atEnd := listCursor{Next: f.ids[22], Fetched: 23, Total: 23}
	r, err := walkFake(t, f, atEnd.encode())
	if err != nil {
		t.Fatal(err)
	}
	if len(f.asked) != 1 || len(r.openids) != 0 {
		t.Fatalf("calls %q, %d openids: want one call and the walk done", f.asked, len(r.openids))
	}
}

func TestWalkListTotalDriftDoesNotEndOrRestart(t *testing.T) {
	f := newFakeList(23, 10, false)
	f.total = 1_000_000 // total says far more than the list holds
	r, err := walkFake(t, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.openids, f.ids) || len(f.asked) != 4 {
		t.Fatalf("got %d openids in %d calls, want 23 in 4", len(r.openids), len(f.asked))
	}
}

// A next_openid the walk has already seen ends it, on the call that
// answers it, rather than loop: with nothing of that page emitted, the last
// checkpoint at the page before, and a temporary error (exit 75), as its
// message says, since the cursor is saved and nothing is lost.
func TestWalkListRepeatingNextIsAnError(t *testing.T) {
	id := func(c byte) string { return "o" + strings.Repeat(string(c), 27) }
	for _, c := range []struct {
		name string
		// nexts[i] is the next_openid of call i+1's page, of one openid.
		nexts []string
		// good is the pages emitted and checkpointed before the repeat.
		good int
	}{
		// The API answers the cursor it was given.
		{name: "same as asked", nexts: []string{id('A'), id('A')}, good: 1},
		// The API goes back to a cursor of an earlier page.
		{name: "earlier page", nexts: []string{id('A'), id('B'), id('C'), id('A')}, good: 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			pager := func(_ context.Context, next string) (wechat.Page, error) {
				calls++
				if calls > len(c.nexts) {
					t.Fatal("the walk kept calling after next_openid repeated")
				}
				own := id(byte('a' + calls))
				return wechat.Page{Total: 5, Count: 1, OpenIDs: []string{own}, NextOpenID: c.nexts[calls-1], HasData: true}, nil
			}
			r := &recorder{}
			err := (&Source{log: quiet}).readList(context.Background(), schema.Followers, nil, pager, noCalls, r)
			if err == nil || !strings.Contains(err.Error(), "again") || !strings.Contains(err.Error(), "retry later") {
				t.Fatalf("err = %v, want a repeated next_openid error saying to retry later", err)
			}
			if calls != len(c.nexts) {
				t.Fatalf("made %d calls, want %d (the repeat is seen on the last)", calls, len(c.nexts))
			}
			if k := kind.Of(err); k != kind.Temporary {
				t.Errorf("kind.Of(err) = %v, want temporary (exit 75)", k)
			}
			if k := kind.Of(streamError(context.Background(), schema.Followers, err)); k != kind.Temporary {
				t.Errorf("the Read ends with a %v error, want temporary (exit 75)", k)
			}
			var want []string
			for i := 0; i < c.good; i++ {
				want = append(want, "record:1", "checkpoint:"+c.nexts[i]+":false")
			}
			if !slices.Equal(r.events, want) {
				t.Fatalf("events\n got %q\nwant %q: the repeating page emitted, or a checkpoint past the last good page", r.events, want)
			}
		})
	}
}

// A fresh walk that ends with fewer than 99% of the total the API last
// reported is published as listed, with a warning that says so; at 99% or
// more, no warning. Whatever the end style; the run does not fail.
func TestWalkListFreshWalkShortOfTotalWarns(t *testing.T) {
	for _, c := range []struct {
		n, total int
		warn     bool
	}{
		{n: 23, total: 1000, warn: true},
		{n: 98, total: 100, warn: true},
		{n: 99, total: 100, warn: false}, // exactly 99%
		{n: 23, total: 23, warn: false},
		{n: 23, total: 0, warn: false}, // the fake's total: the list's length
		{n: 0, total: 5, warn: true},
	} {
		for _, emptyNext := range []bool{false, true} {
			t.Run(fmt.Sprintf("n=%d/total=%d/emptyNext=%v", c.n, c.total, emptyNext), func(t *testing.T) {
				f := newFakeList(c.n, 10, emptyNext)
				f.total = c.total
				var buf bytes.Buffer
				s := &Source{log: slog.New(slog.NewTextHandler(&buf, nil))}
				r := &recorder{}
				if err := s.readList(context.Background(), schema.Followers, nil, f.page, noCalls, r); err != nil {
					t.Fatalf("err = %v, want the walk to succeed", err)
				}
				if !slices.Equal(r.openids, f.ids) || !strings.HasSuffix(r.events[len(r.events)-1], ":true") {
					t.Fatalf("emitted %d openids, events %q: want the %d listed and a done checkpoint", len(r.openids), r.events, c.n)
				}
				wantShortWarning(t, buf.String(), c.warn, int64(c.n), int64(c.total))
			})
		}
	}
}

// A stale cursor's restart walks from the beginning: when that walk too
// ends short of the total (the list really shrank), it is published with
// the warning.
func TestWalkListRestartedWalkShortOfTotalWarns(t *testing.T) {
	f := newFakeList(23, 10, false)
	f.total = 1000
	var buf bytes.Buffer
	s := &Source{log: slog.New(slog.NewTextHandler(&buf, nil))}
	stale := listCursor{Next: "ogone0000000000000000000000x", Fetched: 10, Total: 1000}
	r := &recorder{}
	if err := s.readList(context.Background(), schema.Followers, stale.encode(), f.page, noCalls, r); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.openids, f.ids) {
		t.Fatalf("emitted %d openids, want all 23 after the restart", len(r.openids))
	}
	if !strings.Contains(buf.String(), "restarting the walk") {
		t.Fatalf("no restart warning:\n%s", buf.String())
	}
	wantShortWarning(t, buf.String(), true, 23, 1000)
}

// A resumed walk that goes on for pages and still ends short of the total
// (the stale rule only judges a walk that ends on its first call), or one
// whose snapshot has used its restart, is published with the warning too;
// one that ends at 99% or more of the total without.
func TestWalkListResumedWalkShortOfTotalWarns(t *testing.T) {
	for _, c := range []struct {
		name   string
		cursor func(f *fakeList) listCursor
		warn   bool
		total  int64
	}{
		{"went on for pages", func(f *fakeList) listCursor { return listCursor{Next: f.ids[9], Fetched: 10, Total: 1000} }, true, 1000},
		{"restart used", func(f *fakeList) listCursor {
			return listCursor{Next: "ogone0000000000000000000000x", Fetched: 10, Total: 1000, Restarts: 1}
		}, true, 1000},
		{"complete", func(f *fakeList) listCursor { return listCursor{Next: f.ids[9], Fetched: 10, Total: 23} }, false, 23},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeList(23, 10, false)
			f.total = int(c.total)
			var buf bytes.Buffer
			s := &Source{log: slog.New(slog.NewTextHandler(&buf, nil))}
			r := &recorder{}
			if err := s.readList(context.Background(), schema.Followers, c.cursor(f).encode(), f.page, noCalls, r); err != nil {
				t.Fatal(err)
			}
			final, _ := decodeListCursor(r.cursors[len(r.cursors)-1])
			if strings.Contains(buf.String(), "restarting the walk") {
				t.Fatalf("the walk restarted:\n%s", buf.String())
			}
			wantShortWarning(t, buf.String(), c.warn, final.Fetched, c.total)
		})
	}
}

// wantShortWarning checks the log of a walk for the warning that it ended
// short of the total: one, at level WARN, with fetched and total, or none.
func wantShortWarning(t *testing.T, log string, want bool, fetched, total int64) {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "published as the API listed it") {
			lines = append(lines, l)
		}
	}
	if !want {
		if len(lines) != 0 {
			t.Fatalf("warned %q, want no warning", lines)
		}
		return
	}
	if len(lines) != 1 {
		t.Fatalf("%d short-of-total warnings, want 1; log:\n%s", len(lines), log)
	}
	l := lines[0]
	for _, s := range []string{
		"level=WARN",
		fmt.Sprintf("%d openids of the %d", fetched, total),
		"may include followers it does not list",
		"stream=followers",
		fmt.Sprintf("fetched=%d", fetched),
		fmt.Sprintf("total=%d", total),
	} {
		if !strings.Contains(l, s) {
			t.Errorf("the warning lacks %q: %s", s, l)
		}
	}
}

func TestWalkListDeduplicatesWithinPage(t *testing.T) {
	pager := func(_ context.Context, next string) (wechat.Page, error) {
		if next != "" {
			return wechat.Page{Total: 2}, nil
		}
		ids := []string{"oA00000000000000000000000000", "oB00000000000000000000000000", "oA00000000000000000000000000"}
		return wechat.Page{Total: 2, Count: 3, OpenIDs: ids, NextOpenID: ids[2], HasData: true}, nil
	}
	r := &recorder{}
	if err := (&Source{log: quiet}).readList(context.Background(), schema.Followers, nil, pager, noCalls, r); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.openids, []string{"oA00000000000000000000000000", "oB00000000000000000000000000"}) {
		t.Fatalf("openids %q, want each once", r.openids)
	}
}

func TestWalkListBadCursorIsAConfigError(t *testing.T) {
	for _, c := range []string{"{", `{"fetched":-1}`, `{"next_openid":"bad id!"}`} {
		_, err := walkFake(t, newFakeList(3, 10, false), []byte(c))
		if kind.Of(err) != kind.Config {
			t.Errorf("cursor %s: err = %v, want a config error", c, err)
		}
	}
}

func TestWalkListPassesAPIErrorsThrough(t *testing.T) {
	boom := errors.New("boom")
	pager := func(context.Context, string) (wechat.Page, error) { return wechat.Page{}, boom }
	err := (&Source{log: quiet}).readList(context.Background(), schema.Followers, nil, pager, noCalls, &recorder{})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want it to wrap the API error", err)
	}
}

func FuzzDecodeListCursor(f *testing.F) {
	f.Add([]byte(`{"next_openid":"oid0000000000000000000000009","fetched":10,"total":23}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(``))
	f.Add([]byte(`{"restarts":1}`))
	f.Add([]byte(`{"next_openid":"oA","fetched":9223372036854775807,"total":9223372036854775807,"carry":["oB","o-C_9"]}`))
	f.Add([]byte(`{"next_openid":"o A","fetched":-1,"carry":[""]}`))
	f.Add([]byte(`{"fetched":1e2,"total":"3","restarts":null,"carry":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeListCursor(b)
		if err != nil {
			return
		}
		// What is accepted is what a walk can resume from.
		if c.Fetched < 0 || c.Total < 0 || c.Restarts < 0 || len(c.Carry) >= BatchSize {
			t.Fatalf("accepted %q: %+v", b, c)
		}
		if c.Next != "" && wechat.ValidateOpenID(c.Next) != nil {
			t.Fatalf("accepted %q with next_openid %q", b, c.Next)
		}
		for _, id := range c.Carry {
			if wechat.ValidateOpenID(id) != nil {
				t.Fatalf("accepted %q carrying openid %q", b, id)
			}
		}
		// stale is exact whatever the counts: fetched < 99% of total.
		for _, total := range []int64{0, 1, 100, c.Total, c.Fetched, math.MaxInt64} {
			f, tt := new(big.Int).Mul(big.NewInt(c.Fetched), big.NewInt(100)), new(big.Int).Mul(big.NewInt(total), big.NewInt(99))
			if want := c.Restarts == 0 && f.Cmp(tt) < 0; c.stale(total) != want {
				t.Fatalf("cursor %+v: stale(%d) = %v, want %v", c, total, !want, want)
			}
		}
		// A cursor that decodes re-encodes to one that decodes the same.
		again, err := decodeListCursor(c.encode())
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("round trip of %q: %+v, %v", b, again, err)
		}
	})
}

// uniq is pageSet.uniq with a set of its own.
func uniq(ids []string) []string {
	var s pageSet
	return s.uniq(ids)
}

func TestUniq(t *testing.T) {
	for _, c := range []struct{ in, want []string }{
		{nil, nil},
		{[]string{"a", "b", "c"}, []string{"a", "b", "c"}},
		{[]string{"a", "a"}, []string{"a"}},
		{[]string{"a", "b", "a", "c", "b", "d", "d"}, []string{"a", "b", "c", "d"}},
	} {
		in := slices.Clone(c.in)
		if got := uniq(in); !slices.Equal(got, c.want) {
			t.Errorf("uniq(%q) = %q, want %q", c.in, got, c.want)
		}
		if !slices.Equal(in, c.in) {
			t.Errorf("uniq(%q) changed its argument to %q", c.in, in)
		}
	}
}

// One pageSet serves page after page, larger and smaller, with and
// without repeats: each answer is the first-seen order a map gives.
func TestPageSetAcrossPages(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var s pageSet
	for round := range 300 {
		n := rng.IntN(3000)
		alphabet := 1 + rng.IntN(2*n+1) // small alphabets repeat a lot
		if round%3 == 0 {
			alphabet = 1 << 30 // almost never repeats
		}
		in := make([]string, n)
		for i := range in {
			in[i] = fmt.Sprintf("o%027d", rng.IntN(alphabet))
		}
		orig := slices.Clone(in)
		seen := map[string]bool{}
		var want []string
		for _, id := range in {
			if !seen[id] {
				seen[id] = true
				want = append(want, id)
			}
		}
		got := s.uniq(in)
		if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("round %d (%d openids of %d values): %d kept, want %d", round, n, alphabet, len(got), len(want))
		}
		if !slices.Equal(in, orig) {
			t.Fatalf("round %d: uniq changed its argument", round)
		}
	}
}
