package receiver

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxsync/wxsync/connector/push"
)

const (
	platformAppID = "wxc0ffee0000000001"
	platformToken = "platformtoken"
	platformKey   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	secretTicket  = "ticket@@@SHH-never-logged"
)

// tickets is a TicketStore that records each ticket, or fails with err.
type tickets struct {
	mu     sync.Mutex
	stored []string
	err    error
}

func (s *tickets) StoreTicket(_ context.Context, component, ticket string, created time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.stored = append(s.stored, fmt.Sprintf("%s %s %d", component, ticket, created.Unix()))
	return nil
}

// platformPush seals msg as WeChat pushes it to the platform's URL and
// returns the answer of c.
func platformPush(t *testing.T, c *Component, msg []byte, now time.Time) *httptest.ResponseRecorder {
	t.Helper()
	key, _ := push.ParseKey(platformKey)
	s := push.Sender{Mode: push.ModeSafe, Token: platformToken, Key: key, AppID: platformAppID, Random: rand.Reader}
	q, body, err := s.SealComponent(msg, now.Unix(), "n0nce")
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	c.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/platform?"+q.Encode(), bytes.NewReader(body)))
	return w
}

func newComponent(t *testing.T, store TicketStore, logs *bytes.Buffer) (*Component, time.Time) {
	t.Helper()
	now := time.Unix(1_790_000_000, 0)
	clock := func() time.Time { return now }
	v, err := push.NewVerifier(push.Config{Token: platformToken, AppID: platformAppID, AESKey: platformKey, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewComponent(ComponentConfig{Verifier: v, Now: clock, Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}, store)
	if err != nil {
		t.Fatal(err)
	}
	return c, now
}

func TestComponentStoresTicketBeforeSuccess(t *testing.T) {
	var logs bytes.Buffer
	store := &tickets{}
	c, now := newComponent(t, store, &logs)
	created := now.Unix() - 30
	w := platformPush(t, c, push.EncodeVerifyTicket(platformAppID, secretTicket, created), now)
	if w.Code != http.StatusOK || w.Body.String() != "success" {
		t.Fatalf("answer %d %q, want 200 success", w.Code, w.Body.String())
	}
	if want := fmt.Sprintf("%s %s %d", platformAppID, secretTicket, created); len(store.stored) != 1 || store.stored[0] != want {
		t.Fatalf("stored %q, want [%q]", store.stored, want)
	}
	// The store fails: 503 (WeChat retries), nothing stored, counted.
	store.err = errors.New("clickhouse is down")
	w = platformPush(t, c, push.EncodeVerifyTicket(platformAppID, secretTicket, created), now)
	if w.Code != http.StatusServiceUnavailable || strings.Contains(w.Body.String(), "success") {
		t.Fatalf("failing store: answer %d %q, want 503", w.Code, w.Body.String())
	}
	// Closed: 503 without asking the store.
	store.err = nil
	c.Close()
	if w = platformPush(t, c, push.EncodeVerifyTicket(platformAppID, secretTicket, created), now); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("closed: answer %d, want 503", w.Code)
	}
	st := c.Stats()
	if st.Received != 3 || st.Committed != 1 || st.CommitFailed != 2 || st.Acknowledged != 1 || st.Unacknowledged != 2 || len(store.stored) != 1 {
		t.Errorf("stats %+v, stored %d: want 3 received, 1 stored and acknowledged, 2 failed", st, len(store.stored))
	}
	if strings.Contains(logs.String(), "SHH") || strings.Contains(w.Body.String(), "SHH") {
		t.Errorf("the ticket shows in the log or an answer:\n%s", logs.String())
	}
}

func TestComponentAuthorisationEventsAreCountedNotStored(t *testing.T) {
	var logs bytes.Buffer
	store := &tickets{}
	c, now := newComponent(t, store, &logs)
	for _, info := range []string{push.InfoAuthorized, push.InfoUpdateAuthorized, push.InfoUnauthorized, push.InfoAuthorized} {
		msg := fmt.Sprintf("<xml><AppId><![CDATA[%s]]></AppId><CreateTime>%d</CreateTime><InfoType><![CDATA[%s]]></InfoType>"+
			"<AuthorizerAppid><![CDATA[wxacct000000000001]]></AuthorizerAppid><AuthorizationCode><![CDATA[code@@@x]]></AuthorizationCode></xml>",
			platformAppID, now.Unix(), info)
		if w := platformPush(t, c, []byte(msg), now); w.Code != http.StatusOK || w.Body.String() != "success" {
			t.Fatalf("%s: answer %d %q", info, w.Code, w.Body.String())
		}
	}
	st := c.Stats()
	want := map[string]int64{"component:authorized": 2, "component:updateauthorized": 1, "component:unauthorized": 1}
	if fmt.Sprint(st.Other) != fmt.Sprint(want) || st.Received != 0 || len(store.stored) != 0 {
		t.Errorf("other %v, received %d, stored %v: want %v and nothing stored", st.Other, st.Received, store.stored, want)
	}
}

func TestComponentRejects(t *testing.T) {
	var logs bytes.Buffer
	store := &tickets{}
	c, now := newComponent(t, store, &logs)
	w := httptest.NewRecorder()
	c.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/platform?echostr=x", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", w.Code)
	}
	// Sealed for another platform (its key is the same, its appid not).
	key, _ := push.ParseKey(platformKey)
	s := push.Sender{Mode: push.ModeSafe, Token: platformToken, Key: key, AppID: "wxother00000000001", Random: rand.Reader}
	q, body, _ := s.SealComponent(push.EncodeVerifyTicket("wxother00000000001", secretTicket, now.Unix()), now.Unix(), "n")
	w = httptest.NewRecorder()
	c.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/platform?"+q.Encode(), bytes.NewReader(body)))
	if w.Code/100 != 4 {
		t.Errorf("another platform's ticket: %d, want a 4xx", w.Code)
	}
	q.Set("msg_signature", strings.Repeat("0", 40))
	w = httptest.NewRecorder()
	c.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/platform?"+q.Encode(), bytes.NewReader(body)))
	if w.Code/100 != 4 {
		t.Errorf("bad signature: %d, want a 4xx", w.Code)
	}
	if st := c.Stats(); len(store.stored) != 0 || st.Rejected[string(push.ReasonBadMethod)] != 1 || len(st.Rejected) < 2 {
		t.Errorf("stored %v, rejected %v", store.stored, st.Rejected)
	}
}
