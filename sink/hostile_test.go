package sink_test

import (
	"slices"
	"testing"
	"time"

	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

// hostile are values that would break any statement that formatted them
// into SQL instead of binding them.
var hostile = []string{
	`wx'); DROP TABLE wechat_followers; --`,
	`wx\'\\' OR 1=1 --`,
	"wx\"`; DROP DATABASE default; `",
	"wx'\n\t\\0中文🙂",
}

// Every value the sink writes or looks up is bound, never formatted into
// SQL: hostile AppIDs, openids and cursors round-trip through state,
// snapshots, inserts, the current view and the profile lookup, and every
// table survives. (The host refuses such an AppID before it reaches the
// sink; the sink does not rely on that.)
func TestHostileValuesRoundTrip(t *testing.T) {
	s := sinktest.Open(t, sink.Config{})
	ctx := sinktest.Context(t)
	tables := func() []string {
		return sinktest.Rows(t, s, "SELECT name FROM system.tables WHERE database = '"+s.Database()+"' ORDER BY name")
	}
	before := tables()
	followers, users := sinktest.Stream(t, schema.Followers), sinktest.Stream(t, schema.Users)
	for i, appid := range hostile {
		openids := append(slices.Clone(hostile), "oPlain")
		cursor := []byte(`{"next_openid":"` + hostile[(i+1)%len(hostile)] + `"}`)
		if err := s.SaveState(ctx, appid, followers.Name, sink.State{SnapshotID: 7, Cursor: cursor}); err != nil {
			t.Fatal(err)
		}
		st, ok, err := s.LoadState(ctx, appid, followers.Name)
		if err != nil || !ok || st.SnapshotID != 7 || string(st.Cursor) != string(cursor) {
			t.Fatalf("LoadState(%q) = %+v, %v, %v; want cursor %q", appid, st, ok, err, cursor)
		}
		rows, err := s.ListStates(ctx, appid)
		if err != nil || len(rows) != 1 || rows[0].AppID != appid {
			t.Fatalf("ListStates(%q) = %+v, %v", appid, rows, err)
		}

		id := writeSnapshot(t, s, appid, openids...)
		complete(t, s, appid, id, uint64(len(openids)))
		snaps, err := s.ListSnapshots(ctx, appid, followers.Name)
		if err != nil || len(snaps) != 1 || snaps[0].AppID != appid || snaps[0].Status != sink.SnapshotComplete {
			t.Fatalf("ListSnapshots(%q) = %+v, %v", appid, snaps, err)
		}

		var profRows [][]any
		for j := range openids {
			row := sampleRow(t, users.SourceSchema(), j)
			row[0] = openids[j] // openid is the first source column
			profRows = append(profRows, row)
		}
		rec := sinktest.Record(t, users, profRows...)
		insert(t, s, users, appid, 0, rec)
		rec.Release()
		fresh, err := s.FreshProfiles(ctx, appid, openids, time.Unix(0, 0))
		if err != nil || len(fresh) != len(openids) {
			t.Fatalf("FreshProfiles(%q) found %d of %d: %v", appid, len(fresh), len(openids), err)
		}
		for _, o := range openids {
			if !fresh[o] {
				t.Fatalf("FreshProfiles(%q) misses %q", appid, o)
			}
		}
	}
	got := sinktest.Rows(t, s, "SELECT appid, openid FROM "+s.Database()+".wechat_followers_current ORDER BY appid, openid")
	if want := len(hostile) * (len(hostile) + 1); len(got) != want {
		t.Fatalf("the current view holds %d rows, want %d: %q", len(got), want, got)
	}
	if after := tables(); !slices.Equal(after, before) {
		t.Fatalf("tables before %q, after %q", before, after)
	}
}
