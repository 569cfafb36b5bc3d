package wxsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sync"
	"testing"
	"time"
)

// fakeClock is an injectable clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness is a Server behind a real HTTP listener, driven by a plain client.
type harness struct {
	t     testing.TB
	srv   *Server
	hs    *httptest.Server
	clock *fakeClock
}

func start(t testing.TB, edit func(*Options)) *harness {
	t.Helper()
	o := DefaultOptions()
	clock := newClock()
	o.Now = clock.Now
	if edit != nil {
		edit(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &harness{t: t, srv: srv, hs: hs, clock: clock}
}

// response is what a request got.
type response struct {
	status int
	ctype  string
	body   []byte
}

func (h *harness) do(method, path string, q url.Values, body any) response {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, ok := body.([]byte)
		if !ok {
			var err error
			if b, err = json.Marshal(body); err != nil {
				h.t.Fatal(err)
			}
		}
		rd = bytes.NewReader(b)
	}
	u := h.hs.URL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	resp, err := h.hs.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), body: b}
}

func (h *harness) get(path string, q url.Values) response { return h.do(http.MethodGet, path, q, nil) }

func (h *harness) post(path, token string, body any) response {
	return h.do(http.MethodPost, path, url.Values{"access_token": {token}}, body)
}

// token fetches a classic token.
func (h *harness) token() string {
	h.t.Helper()
	var a tokenAnswer
	h.decode(h.get(PathToken, h.creds()), &a)
	if a.AccessToken == "" {
		h.t.Fatal("no access token")
	}
	return a.AccessToken
}

func (h *harness) creds() url.Values {
	o := h.srv.Options()
	return url.Values{"grant_type": {"client_credential"}, "appid": {o.AppID}, "secret": {o.Secret}}
}

func (h *harness) stable(force bool) (tokenAnswer, apiError) {
	h.t.Helper()
	o := h.srv.Options()
	r := h.do(http.MethodPost, PathStableToken, nil, stableReq{"client_credential", o.AppID, o.Secret, force})
	var a tokenAnswer
	var e apiError
	h.decode(r, &a)
	h.decode(r, &e)
	return a, e
}

func (h *harness) decode(r response, v any) {
	h.t.Helper()
	if r.status != http.StatusOK {
		h.t.Fatalf("HTTP %d: %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		h.t.Fatalf("decoding %q: %v", truncate(r.body), err)
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

type apiError struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

var ridRE = regexp.MustCompile(` rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`)

// wantErr asserts r is an API error with code (HTTP 200, JSON, a rid) and
// returns its errmsg.
func (h *harness) wantErr(r response, code int) string {
	h.t.Helper()
	var e apiError
	h.decode(r, &e)
	if e.ErrCode != code {
		h.t.Fatalf("errcode = %d (%s), want %d", e.ErrCode, r.body, code)
	}
	if !ridRE.MatchString(e.ErrMsg) {
		h.t.Fatalf("errmsg %q does not end with a rid", e.ErrMsg)
	}
	if r.ctype != jsonContentType {
		h.t.Fatalf("content type %q", r.ctype)
	}
	return e.ErrMsg
}

// listAnswer is a user/get or getblacklist page.
type listAnswer struct {
	Total int `json:"total"`
	Count int `json:"count"`
	Data  *struct {
		OpenID []string `json:"openid"`
	} `json:"data"`
	NextOpenID *string `json:"next_openid"`
	ErrCode    int     `json:"errcode"`
}

func (a listAnswer) openids() []string {
	if a.Data == nil {
		return nil
	}
	return a.Data.OpenID
}

func (h *harness) userGet(tok, next string) listAnswer {
	h.t.Helper()
	var a listAnswer
	h.decode(h.get(PathUserGet, url.Values{"access_token": {tok}, "next_openid": {next}}), &a)
	return a
}

func (h *harness) blacklistGet(tok, begin string) listAnswer {
	h.t.Helper()
	var a listAnswer
	h.decode(h.post(PathBlacklist, tok, blacklistReq{begin}), &a)
	return a
}

// walk pages a list to its end the way a correct client does (stop on
// count 0 or empty next_openid) and checks every page's shape.
func (h *harness) walk(tok string, page func(tok, cursor string) listAnswer, pageSize int) (all []string, pages []listAnswer) {
	h.t.Helper()
	cursor := ""
	for range 100000 {
		a := page(tok, cursor)
		if a.ErrCode != 0 {
			h.t.Fatalf("page after %q: errcode %d", cursor, a.ErrCode)
		}
		if a.NextOpenID == nil {
			h.t.Fatalf("page after %q: no next_openid key", cursor)
		}
		if a.Count != len(a.openids()) || a.Count > pageSize {
			h.t.Fatalf("page after %q: count %d, %d openids, page size %d", cursor, a.Count, len(a.openids()), pageSize)
		}
		if a.Count == 0 && a.Data != nil {
			h.t.Fatalf("page after %q: empty page has a data key", cursor)
		}
		pages = append(pages, a)
		all = append(all, a.openids()...)
		if a.Count == 0 || *a.NextOpenID == "" {
			return all, pages
		}
		cursor = *a.NextOpenID
	}
	h.t.Fatal("walk does not end")
	return nil, nil
}
