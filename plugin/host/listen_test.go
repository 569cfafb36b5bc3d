package host

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink/sinktest"
)

// fakeStore is a destination in memory.
type fakeStore struct {
	mu      sync.Mutex
	rows    map[string][]string // table → "appid/openid"
	fail    error
	fresh   map[string]bool
	since   time.Time
	inserts int
}

func (f *fakeStore) Insert(_ context.Context, st schema.Stream, appid string, _ uint64, recs []arrow.Record) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inserts++
	if f.fail != nil {
		return 0, f.fail
	}
	if f.rows == nil {
		f.rows = map[string][]string{}
	}
	n := 0
	for _, r := range recs {
		col := r.Column(0).(interface{ Value(int) string })
		for i := 0; i < int(r.NumRows()); i++ {
			f.rows[st.Table] = append(f.rows[st.Table], appid+"/"+col.Value(i))
			n++
		}
	}
	return n, nil
}

func (f *fakeStore) FreshProfiles(_ context.Context, _ string, openids []string, since time.Time) (map[string]bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.since = since
	out := map[string]bool{}
	for _, id := range openids {
		if f.fresh[id] {
			out[id] = true
		}
	}
	return out, nil
}

func eventsRecord(t *testing.T, openids ...string) arrow.Record {
	t.Helper()
	at := time.Unix(1700000000, 0)
	var rows [][]any
	for _, id := range openids {
		rows = append(rows, []any{id, "subscribe", at, "spring", "qrscene_spring", "gQ1", at})
	}
	return sinktest.Record(t, schema.FollowEventsStream(), rows...)
}

func TestCommitEventsInsertsForTheAccount(t *testing.T) {
	st := &fakeStore{}
	h := NewListenHost(st, "wx_acct", time.Hour, nil)
	rec := eventsRecord(t, "o1", "o2")
	defer rec.Release()
	n, err := h.CommitEvents(context.Background(), rec)
	if err != nil || n != 2 {
		t.Fatalf("CommitEvents = %d, %v; want 2, nil", n, err)
	}
	if got := st.rows[schema.FollowEventsTable]; !slices.Equal(got, []string{"wx_acct/o1", "wx_acct/o2"}) {
		t.Fatalf("stored %q", got)
	}
	if ev, us, failed := h.Committed(); ev != 2 || us != 0 || failed != 0 {
		t.Fatalf("Committed() = %d %d %d", ev, us, failed)
	}
}

// A batch of the wrong schema is refused before the store sees it; a
// store failure is the commit's error (the plugin then answers 503).
func TestCommitEventsRefusesAndFails(t *testing.T) {
	st := &fakeStore{}
	h := NewListenHost(st, "wx_acct", time.Hour, nil)
	users, _ := schema.Lookup(schema.Users)
	wrong := sinktest.Record(t, users)
	defer wrong.Release()
	if _, err := h.CommitEvents(context.Background(), wrong); err == nil || !strings.Contains(err.Error(), "schema") {
		t.Fatalf("CommitEvents of a users batch: %v, want a schema error", err)
	}
	if st.inserts != 0 {
		t.Fatalf("the store saw %d inserts", st.inserts)
	}
	st.fail = errors.New("clickhouse: connection refused")
	rec := eventsRecord(t, "o1")
	defer rec.Release()
	if _, err := h.CommitEvents(context.Background(), rec); err == nil {
		t.Fatal("CommitEvents succeeded with the store failing")
	}
	if ev, _, failed := h.Committed(); ev != 0 || failed != 1 {
		t.Fatalf("Committed() events %d failed %d, want 0 and 1", ev, failed)
	}
}

func TestNeedProfilesAsksForTheMaxAge(t *testing.T) {
	st := &fakeStore{fresh: map[string]bool{"o2": true}}
	h := NewListenHost(st, "wx_acct", 48*time.Hour, nil)
	before := time.Now()
	need, err := h.NeedProfiles(context.Background(), []string{"o1", "o2", "o3"})
	if err != nil || !slices.Equal(need, []string{"o1", "o3"}) {
		t.Fatalf("NeedProfiles = %q, %v", need, err)
	}
	if lo, hi := before.Add(-48*time.Hour), time.Now().Add(-48*time.Hour); st.since.Before(lo) || st.since.After(hi) {
		t.Fatalf("asked for profiles since %v, want now − 48h", st.since)
	}
	users, _ := schema.Lookup(schema.Users)
	rec := sinktest.Record(t, users, []any{"o1", uint8(1), "zh_CN", time.Unix(1, 0), "", "", int64(0), []uint32{}, "ADD_SCENE_QR_CODE", int64(0), "spring", time.Unix(2, 0)})
	defer rec.Release()
	if n, err := h.CommitUsers(context.Background(), rec); err != nil || n != 1 || !slices.Equal(st.rows["wechat_users"], []string{"wx_acct/o1"}) {
		t.Fatalf("CommitUsers = %d, %v; stored %q", n, err, st.rows["wechat_users"])
	}
}

// The metrics are the plugin's latest counters and the host's commits.
func TestMetricsAndOps(t *testing.T) {
	st := &fakeStore{}
	h := NewListenHost(st, "wx_acct", time.Hour, nil)
	h.stats = plugin.ListenStats{Received: 5, Acknowledged: 4, Unacknowledged: 1, Rejected: map[string]int64{"bad_signature": 2},
		Other: map[string]int64{"text": 3}, AckBounds: []float64{0.1, 1}, AckCounts: []uint64{3, 5}, AckCount: 5, AckSum: 0.9}
	rec := eventsRecord(t, "o1", "o2", "o3")
	defer rec.Release()
	if _, err := h.CommitEvents(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewMetrics(h))
	failing := errors.New("dial tcp 127.0.0.1:9000: connection refused")
	srv := httptest.NewServer(OpsHandler(reg, Check{"clickhouse", func(context.Context) error { return failing }}, Check{"plugin", func(context.Context) error { return nil }}))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 1<<16)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, b.String()
	}
	code, body := get("/metrics")
	for _, want := range []string{
		"wxsync_listen_events_received_total 5",
		"wxsync_listen_events_acknowledged_total 4",
		"wxsync_listen_events_committed_total 3",
		`wxsync_listen_requests_rejected_total{reason="bad_signature"} 2`,
		`wxsync_listen_other_pushes_total{type="text"} 3`,
		`wxsync_listen_ack_latency_seconds_bucket{le="0.1"} 3`,
		"wxsync_listen_ack_latency_seconds_count 5",
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("/metrics (%d) lacks %q:\n%s", code, want, body)
		}
	}
	if code, body := get("/healthz"); code != 200 {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "clickhouse: dial tcp") || strings.Contains(body, "plugin") {
		t.Fatalf("/readyz = %d %q, want 503 naming clickhouse only", code, body)
	}
}
