package receiver

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxsync/wxsync/connector/push"
)

const (
	testToken  = "tok3n-for-tests"
	testAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	testAppID  = "wx2c2769f8efd9abc2"
	testOrigID = "gh_0123456789ab"
)

func verifier(t *testing.T) *push.Verifier {
	t.Helper()
	v, err := push.NewVerifier(push.Config{Token: testToken, AppID: testAppID, AESKey: testAESKey, OriginalID: testOrigID, MaxBody: 4096})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// store is a fake Committer: it keeps what it committed, in groups, and
// can be made to fail or to hold a commit.
type store struct {
	mu     sync.Mutex
	groups [][]push.EventID
	fail   error
	hold   chan struct{} // when set, a commit waits for it (or its ctx)
	held   chan struct{} // closed when a commit starts waiting on hold
}

func (s *store) Commit(ctx context.Context, evs []Event) error {
	s.mu.Lock()
	hold, held, fail := s.hold, s.held, s.fail
	s.hold, s.held = nil, nil
	s.mu.Unlock()
	if hold != nil {
		close(held)
		select {
		case <-hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		return fail
	}
	ids := make([]push.EventID, len(evs))
	for i, e := range evs {
		ids[i] = e.Msg.ID()
	}
	s.mu.Lock()
	s.groups = append(s.groups, ids)
	s.mu.Unlock()
	return nil
}

func (s *store) stored() []push.EventID {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []push.EventID
	for _, g := range s.groups {
		out = append(out, g...)
	}
	return out
}

// start returns a running receiver behind a test server.
func start(t *testing.T, cfg Config, c Committer) (*Receiver, *httptest.Server) {
	t.Helper()
	cfg.Verifier = verifier(t)
	r, err := New(cfg, c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	srv := httptest.NewServer(r)
	t.Cleanup(func() { srv.Close(); r.Close(); cancel(); <-done })
	return r, srv
}

func event(openid string, kind push.Kind, at int64) push.Message {
	m := push.Message{Kind: kind, ToUserName: testOrigID, OpenID: openid, CreateTime: at, MsgType: "event", Event: kind.String()}
	if kind == push.KindSubscribe {
		m.EventKey, m.Scene, m.Ticket = "qrscene_spring", "spring", "gQticket"
	}
	return m
}

// send pushes m in mode and returns the status and body of the answer.
func send(t *testing.T, srv *httptest.Server, mode push.Mode, xml []byte, openid string) (int, string) {
	t.Helper()
	key, _ := push.ParseKey(testAESKey)
	s := push.Sender{Mode: mode, Token: testToken, Key: key, AppID: testAppID, Random: rand.Reader}
	q, body, err := s.Seal(xml, time.Now().Unix(), "12345", openid)
	if err != nil {
		t.Fatal(err)
	}
	return post(t, srv.URL+"/wechat?"+q.Encode(), body)
}

func post(t *testing.T, u string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(u, "text/xml", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// Every mode: "success" comes only after the event is in the store.
func TestSuccessOnlyAfterCommit(t *testing.T) {
	st := &store{}
	r, srv := start(t, Config{}, st)
	for i, mode := range []push.Mode{push.ModePlaintext, push.ModeCompatible, push.ModeSafe} {
		m := event("oUser"+strconv.Itoa(i), push.KindSubscribe, 1700000000+int64(i))
		code, body := send(t, srv, mode, push.EncodeEvent(m), m.OpenID)
		if code != 200 || body != "success" {
			t.Fatalf("%s: answered %d %q, want 200 success", mode, code, body)
		}
		if got := st.stored(); len(got) != i+1 || got[i] != m.ID() {
			t.Fatalf("%s: answered success with the store holding %v, want %v last", mode, got, m.ID())
		}
	}
	if s := r.Stats(); s.Received != 3 || s.Acknowledged != 3 || s.Committed != 3 || s.AckCount != 3 || s.AckCounts[len(s.AckCounts)-1] != 3 {
		t.Fatalf("stats %+v", s)
	}
}

// A failed commit, and one that does not return before the deadline, are
// answered 503, never success; nothing is stored.
func TestFailedOrLateCommitIs503(t *testing.T) {
	st := &store{fail: errors.New("clickhouse down")}
	r, srv := start(t, Config{AckTimeout: 200 * time.Millisecond}, st)
	m := event("oFail", push.KindUnsubscribe, 1700000001)
	if code, body := send(t, srv, push.ModeSafe, push.EncodeEvent(m), m.OpenID); code != 503 || body == "success" || body == "" {
		t.Fatalf("failed commit answered %d %q, want 503 with a non-success body", code, body)
	}
	st.mu.Lock()
	st.fail, st.hold, st.held = nil, make(chan struct{}), make(chan struct{}) // never released: the commit's deadline ends it
	st.mu.Unlock()
	if code, body := send(t, srv, push.ModePlaintext, push.EncodeEvent(m), m.OpenID); code != 503 || body == "success" {
		t.Fatalf("late commit answered %d %q, want 503", code, body)
	}
	if got := st.stored(); len(got) != 0 {
		t.Fatalf("stored %v, want nothing", got)
	}
	if s := r.Stats(); s.Unacknowledged != 2 || s.Acknowledged != 0 || s.CommitFailed < 1 { // the late commit may still be ending
		t.Fatalf("stats %+v", s)
	}
}

// While a commit is in flight, the events that arrive meanwhile go into
// the next commit together.
func TestGroupCommit(t *testing.T) {
	hold, held := make(chan struct{}), make(chan struct{})
	st := &store{hold: hold, held: held}
	r, srv := start(t, Config{Committers: 1, MaxLinger: -1}, st)
	answers := make(chan string, 50)
	go func() {
		m := event("oFirst", push.KindSubscribe, 1700000100)
		_, body := send(t, srv, push.ModeSafe, push.EncodeEvent(m), m.OpenID)
		answers <- body
	}()
	<-held
	const n = 40
	for i := range n {
		go func() {
			m := event("oNext"+strconv.Itoa(i), push.KindScan, 1700000100)
			m.EventKey, m.Scene = "spring", "spring"
			_, body := send(t, srv, push.ModeCompatible, push.EncodeEvent(m), m.OpenID)
			answers <- body
		}()
	}
	r.waitQueued(n)
	close(hold)
	for range n + 1 {
		if a := <-answers; a != "success" {
			t.Fatalf("answer %q", a)
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.groups) != 2 || len(st.groups[0]) != 1 || len(st.groups[1]) != n {
		sizes := []int{}
		for _, g := range st.groups {
			sizes = append(sizes, len(g))
		}
		t.Fatalf("commit groups of %v events, want [1 %d]", sizes, n)
	}
}

// Other pushes are acknowledged and counted, never committed; bad
// requests get their 4xx and store nothing.
func TestOtherPushesAndRejections(t *testing.T) {
	st := &store{}
	r, srv := start(t, Config{}, st)
	text := []byte("<xml><ToUserName><![CDATA[" + testOrigID + "]]></ToUserName><FromUserName><![CDATA[oText]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content><MsgId>1</MsgId></xml>")
	if code, body := send(t, srv, push.ModeSafe, text, "oText"); code != 200 || body != "success" {
		t.Fatalf("text message answered %d %q", code, body)
	}
	m := event("oBad", push.KindSubscribe, 1700000000)
	key, _ := push.ParseKey(testAESKey)
	good := push.Sender{Mode: push.ModeSafe, Token: testToken, Key: key, AppID: testAppID, Random: rand.Reader}
	q, body, err := good.Seal(push.EncodeEvent(m), time.Now().Unix(), "1", m.OpenID)
	if err != nil {
		t.Fatal(err)
	}
	badSig := url.Values{}
	for k, v := range q {
		badSig[k] = slices.Clone(v)
	}
	badSig.Set("msg_signature", strings.Repeat("0", 40))
	wrongApp := push.Sender{Mode: push.ModeSafe, Token: testToken, Key: key, AppID: "wx0000000000000000", Random: rand.Reader}
	qa, bodyA, _ := wrongApp.Seal(push.EncodeEvent(m), time.Now().Unix(), "2", m.OpenID)
	for _, c := range []struct {
		name   string
		method string
		query  string
		body   []byte
		want   int
	}{
		{"bad signature", "POST", badSig.Encode(), body, 403},
		{"wrong appid", "POST", qa.Encode(), bodyA, 403},
		{"oversize", "POST", q.Encode(), bytes.Repeat([]byte("x"), 5000), 413},
		{"malformed", "POST", q.Encode(), []byte("<xml><Encrypt>"), 400},
		{"wrong method", "PUT", q.Encode(), body, 405},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+"/wechat?"+c.query, bytes.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: answered %d, want %d", c.name, resp.StatusCode, c.want)
		}
	}
	// A CreateTime no DateTime holds would fail every group it joined.
	far := event("oFar", push.KindSubscribe, 1<<33)
	if code, _ := send(t, srv, push.ModePlaintext, push.EncodeEvent(far), far.OpenID); code != 400 {
		t.Errorf("CreateTime 2^33 answered %d, want 400", code)
	}
	if got := st.stored(); len(got) != 0 {
		t.Fatalf("stored %v, want nothing", got)
	}
	s := r.Stats()
	if s.Rejected["bad_message"] != 1 || s.Other["text"] != 1 || s.Received != 0 || s.Rejected["bad_signature"] != 1 || s.Rejected["wrong_appid"] != 1 ||
		s.Rejected["too_large"] != 1 || s.Rejected["bad_xml"] != 1 || s.Rejected["bad_method"] != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// After Close, a push is answered 503; what was queued before is still
// committed.
func TestClosedReceiverAnswers503(t *testing.T) {
	st := &store{}
	r, srv := start(t, Config{}, st)
	r.Close()
	m := event("oLate", push.KindSubscribe, 1700000000)
	if code, _ := send(t, srv, push.ModePlaintext, push.EncodeEvent(m), m.OpenID); code != 503 {
		t.Fatalf("answered %d after Close, want 503", code)
	}
}

// waitQueued blocks until n events wait in the queue.
func (r *Receiver) waitQueued(n int) {
	for {
		r.q.mu.Lock()
		if r.q.pushed == nil {
			r.q.pushed = make(chan struct{}, 1)
		}
		have, w := len(r.q.items), r.q.pushed
		r.q.mu.Unlock()
		if have >= n {
			return
		}
		<-w
	}
}
