package wechat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Distinctive strings: none of them may ever show up in a log or an error.
const (
	testAppID  = "wxd00dfeed00000001"
	testSecret = "SeCrEt-9f8e7d6c5b4a-MUST-NOT-LEAK"
)

// fakeWX is a minimal WeChat API double: it issues tokens, checks them on
// API paths and counts requests per path.
type fakeWX struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	seq       int
	current   string // stable_token's current token
	valid     map[string]bool
	issued    []string
	expiresIn int64
	hits      map[string]int
	forced    int
	api       map[string]http.HandlerFunc
	tokenHook func(w http.ResponseWriter, r *http.Request) bool // true: handled
}

func newFake(t *testing.T) *fakeWX {
	f := &fakeWX{t: t, valid: map[string]bool{}, hits: map[string]int{}, api: map[string]http.HandlerFunc{}, expiresIn: 7200}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeWX) handle(path string, h http.HandlerFunc) {
	f.mu.Lock()
	f.api[path] = h
	f.mu.Unlock()
}

func (f *fakeWX) hit(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[path]
}

func (f *fakeWX) tokenHits() int { return f.hit(pathToken) + f.hit(pathStableToken) }

func (f *fakeWX) secrets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string{testSecret}, f.issued...)
}

func (f *fakeWX) issueLocked() string {
	f.seq++
	tok := fmt.Sprintf("AccTok%03d_zq81Xk-LEAKMARK", f.seq)
	f.valid[tok] = true
	f.issued = append(f.issued, tok)
	return tok
}

// rotateStable simulates another service forcing a stable-token refresh.
func (f *fakeWX) rotateStable() {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.valid, f.current)
	f.current = f.issueLocked()
}

// expire makes a token expire: the API rejects it and stable_token hands
// out a new one.
func (f *fakeWX) expire(tok string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.valid, tok)
	if f.current == tok {
		f.current = ""
	}
}

// forcedCount is how many force_refresh requests stable_token answered.
func (f *fakeWX) forcedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.forced
}

// revoke invalidates a token without changing stable_token's answer.
func (f *fakeWX) revoke(tok string) {
	f.mu.Lock()
	delete(f.valid, tok)
	f.mu.Unlock()
}

func (f *fakeWX) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.hits[r.URL.Path]++
	h := f.api[r.URL.Path]
	hook := f.tokenHook
	f.mu.Unlock()
	switch r.URL.Path {
	case pathToken, pathStableToken:
		if hook != nil && hook(w, r) {
			return
		}
		f.serveToken(w, r)
	default:
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}
}

func (f *fakeWX) serveToken(w http.ResponseWriter, r *http.Request) {
	var appid, secret string
	force := false
	if r.URL.Path == pathToken {
		if r.Method != http.MethodGet || r.URL.Query().Get("grant_type") != "client_credential" {
			writeJSON(w, map[string]any{"errcode": 40002, "errmsg": "invalid grant_type"})
			return
		}
		appid, secret = r.URL.Query().Get("appid"), r.URL.Query().Get("secret")
	} else {
		if r.URL.RawQuery != "" {
			f.t.Errorf("stable_token called with a query %q", r.URL.RawQuery)
		}
		var body struct {
			GrantType    string `json:"grant_type"`
			AppID        string `json:"appid"`
			Secret       string `json:"secret"`
			ForceRefresh *bool  `json:"force_refresh"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.GrantType != "client_credential" || body.ForceRefresh == nil || r.Method != http.MethodPost {
			writeJSON(w, map[string]any{"errcode": 40002, "errmsg": "invalid request"})
			return
		}
		appid, secret, force = body.AppID, body.Secret, *body.ForceRefresh
	}
	if appid != testAppID {
		writeJSON(w, map[string]any{"errcode": 40013, "errmsg": "invalid appid rid: 6600aa-0001"})
		return
	}
	if secret != testSecret {
		writeJSON(w, map[string]any{"errcode": 40125, "errmsg": "invalid appsecret rid: 6600aa-0002"})
		return
	}
	f.mu.Lock()
	var tok string
	switch {
	case r.URL.Path == pathToken:
		tok = f.issueLocked()
	case force:
		f.forced++
		delete(f.valid, f.current)
		f.current = f.issueLocked()
		tok = f.current
	default:
		if f.current == "" {
			f.current = f.issueLocked()
		}
		tok = f.current
	}
	exp := f.expiresIn
	f.mu.Unlock()
	writeJSON(w, map[string]any{"access_token": tok, "expires_in": exp})
}

// authed checks the access token like the API does; false: answered.
func (f *fakeWX) authed(w http.ResponseWriter, r *http.Request) bool {
	tok := r.URL.Query().Get("access_token")
	if tok == "" {
		writeJSON(w, map[string]any{"errcode": 41001, "errmsg": "access_token missing rid: 6600aa-0003"})
		return false
	}
	f.mu.Lock()
	ok := f.valid[tok]
	f.mu.Unlock()
	if !ok {
		writeJSON(w, map[string]any{"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest rid: 6600aa-0004"})
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func writeRaw(w http.ResponseWriter, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	_, _ = io.WriteString(w, body)
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testClock is real time plus an adjustable offset.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// newClient returns a client of f with tiny backoffs and a debug logger
// whose output is checked for leaks when the test ends.
func newClient(t *testing.T, f *fakeWX, mutate func(*Config)) (*Client, *syncBuffer, *testClock) {
	t.Helper()
	logs := &syncBuffer{}
	cfg := Config{
		AppID:          testAppID,
		Secret:         testSecret,
		BaseURL:        f.srv.URL,
		HTTPTimeout:    5 * time.Second,
		MaxElapsed:     20 * time.Second,
		InitialBackoff: time.Millisecond,
		MaxBackoff:     2 * time.Millisecond,
		Logger:         slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	clk := &testClock{}
	c.now = clk.Now
	t.Cleanup(func() { assertNoLeak(t, f, "logs", logs.String()) })
	return c, logs, clk
}

func assertNoLeak(t *testing.T, f *fakeWX, what, text string) {
	t.Helper()
	for _, s := range f.secrets() {
		if strings.Contains(text, s) {
			t.Errorf("%s leak %q:\n%s", what, s, text)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// page answers a user/get page.
func pageJSON(total int, ids []string, next string) map[string]any {
	return map[string]any{"total": total, "count": len(ids), "data": map[string]any{"openid": ids}, "next_openid": next}
}

func openIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("oAbCdEfGhIjKlMnOpQrStU%06d", i)
	}
	return ids
}

// hang never answers: it returns when the client gives up. The body is
// drained first, since net/http only notices a closed connection (and
// cancels r.Context) once the request body has been read.
func hang(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}
