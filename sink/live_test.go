package sink_test

import (
	"slices"
	"testing"
	"time"

	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

// ev is one follow event for the live view tests.
type ev struct {
	openid, event string
	at            time.Time
}

func writeEvents(t *testing.T, s *sink.Sink, appid string, evs ...ev) {
	t.Helper()
	st := schema.FollowEventsStream()
	var rows [][]any
	for _, e := range evs {
		rows = append(rows, []any{e.openid, e.event, e.at, "", "", "", e.at})
	}
	r := sinktest.Record(t, st, rows...)
	defer r.Release()
	insert(t, s, st, appid, 0, r)
}

func writeFollowers(t *testing.T, s *sink.Sink, appid string, id uint64, started time.Time, status uint8, openids ...string) {
	t.Helper()
	if err := s.WriteSnapshotRow(sinktest.Context(t), appid, schema.Followers, id, started, status); err != nil {
		t.Fatal(err)
	}
	st := sinktest.Stream(t, schema.Followers)
	var rows [][]any
	for _, o := range openids {
		rows = append(rows, []any{o, started})
	}
	r := sinktest.Record(t, st, rows...)
	defer r.Release()
	insert(t, s, st, appid, id, r)
}

func live(t *testing.T, s *sink.Sink, appid string) []string {
	t.Helper()
	rows, err := s.Conn().Query(sinktest.Context(t), "SELECT openid FROM `"+s.Database()+"`.wechat_followers_live WHERE appid = ? ORDER BY openid", appid)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The live view's rule, case by case: the latest complete snapshot,
// corrected per openid by its latest event at or after the second that
// snapshot started; an unsubscribe wins a tie; events before the start are
// ignored; a newer complete snapshot supersedes older events; an
// incomplete snapshot changes nothing; an account without a complete
// snapshot is absent.
func TestLiveViewRule(t *testing.T) {
	s := sinktest.Open(t, sink.Config{})
	T := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	sec := func(n int) time.Time { return T.Add(time.Duration(n) * time.Second) }
	const a, b, c = "wx_live_a", "wx_live_b", "wx_live_c"

	writeFollowers(t, s, a, 100, T, sink.SnapshotComplete, "a", "b", "c", "d", "i")
	writeEvents(t, s, a,
		ev{"b", "unsubscribe", sec(-10)},                             // before the start: the walk saw b after it
		ev{"c", "unsubscribe", sec(5)},                               // left during or after the walk
		ev{"c", "unsubscribe", sec(5)},                               // a retry stored twice changes nothing
		ev{"e", "subscribe", sec(3)},                                 // new
		ev{"f", "subscribe", sec(2)}, ev{"f", "unsubscribe", sec(4)}, // came and went
		ev{"d", "unsubscribe", sec(1)}, ev{"d", "subscribe", sec(6)}, // went and came back
		ev{"g", "subscribe", sec(7)}, ev{"g", "unsubscribe", sec(7)}, // a tie: unsubscribe wins
		ev{"h", "SCAN", sec(8)},        // a scan: a follower
		ev{"i", "unsubscribe", sec(0)}, // in the start's second: counts
	)
	// An incomplete newer snapshot changes nothing; nor does an account
	// with events but no complete snapshot.
	writeFollowers(t, s, a, 150, sec(50), sink.SnapshotInProgress, "a")
	writeEvents(t, s, b, ev{"x", "subscribe", sec(1)})
	writeFollowers(t, s, c, 120, T, sink.SnapshotComplete, "c1")

	if got, want := live(t, s, a), []string{"a", "b", "d", "e", "h"}; !slices.Equal(got, want) {
		t.Fatalf("live followers of %s = %q, want %q", a, got, want)
	}
	if got := live(t, s, b); len(got) != 0 {
		t.Fatalf("live followers of %s (no complete snapshot) = %q, want none", b, got)
	}
	if got, want := live(t, s, c), []string{"c1"}; !slices.Equal(got, want) {
		t.Fatalf("live followers of %s = %q, want %q", c, got, want)
	}

	// The next complete walk starts at T+100: it did not see e (whose
	// unsubscribe WeChat never delivered) and saw z; events before its
	// start no longer count, those at or after it do.
	writeFollowers(t, s, a, 200, sec(100), sink.SnapshotComplete, "a", "d", "z", "w")
	writeEvents(t, s, a, ev{"z", "unsubscribe", sec(100)}, ev{"y", "subscribe", sec(150)})
	if got, want := live(t, s, a), []string{"a", "d", "w", "y"}; !slices.Equal(got, want) {
		t.Fatalf("after the next walk, live followers of %s = %q, want %q", a, got, want)
	}
}
