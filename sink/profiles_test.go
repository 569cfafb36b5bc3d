package sink_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

func TestFreshProfiles(t *testing.T) {
	s := sinktest.Open(t, sink.Config{})
	ctx := context.Background()
	st, _ := schema.Lookup(schema.Users)
	old := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	recent := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	row := func(openid string, fetched time.Time) []any {
		return []any{openid, uint8(1), "zh_CN", old, "", "", int64(0), []uint32{}, "ADD_SCENE_SEARCH", int64(0), "", fetched}
	}
	rec := sinktest.Record(t, st, row("oOld", old), row("oFresh", recent), row("oBoth", old), row("oBoth", recent))
	defer rec.Release()
	if _, err := s.Insert(ctx, st, "wxA", 0, []arrow.Record{rec}); err != nil {
		t.Fatal(err)
	}
	// The same openid under another account does not count.
	other := sinktest.Record(t, st, row("oOther", recent))
	defer other.Release()
	if _, err := s.Insert(ctx, st, "wxB", 0, []arrow.Record{other}); err != nil {
		t.Fatal(err)
	}
	ids := []string{"oOld", "oFresh", "oBoth", "oOther", "oNew"}
	// A page's worth of openids and more, in one lookup.
	for i := 0; i < 9000; i++ {
		ids = append(ids, "oPad"+time.Duration(i).String())
	}
	fresh, err := s.FreshProfiles(ctx, "wxA", ids, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for id := range fresh {
		got = append(got, id)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"oBoth", "oFresh"}) {
		t.Fatalf("fresh = %q, want oBoth and oFresh", got)
	}
}
