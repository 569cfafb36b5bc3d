package wechat

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// echoURL is a transport whose errors quote the full request URL.
type echoURL struct{ next http.RoundTripper }

func (e echoURL) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, "user/get") || r.URL.Path == pathToken {
		return nil, fmt.Errorf("proxy refused %s", r.URL)
	}
	return e.next.RoundTrip(r)
}

// Every error scenario, in both token modes, with a debug logger: neither
// the secret nor any issued token may appear in the logs (checked by
// newClient's cleanup) or in the error text.
func TestNoSecretOrTokenLeaks(t *testing.T) {
	type scenario struct {
		name     string
		token    http.HandlerFunc // replaces the token endpoint when set
		api      func(f *fakeWX) http.HandlerFunc
		mutate   func(*Config)
		wantText string // the error must contain this
	}
	echo := func(f *fakeWX) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			tok := r.URL.Query().Get("access_token")
			writeJSON(w, map[string]any{"errcode": 40001, "errmsg": "token " + tok + " and secret " + testSecret + " are wrong rid: 77-1"})
		}
	}
	scenarios := []scenario{
		{name: "token endpoint hangs up", token: hangUp, wantText: "giving up"},
		{name: "token endpoint times out", token: hang, wantText: "giving up"},
		{name: "token endpoint redirect loop", token: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.String(), http.StatusFound)
		}, // ten round trips: an attempt gets time enough for them on a loaded machine
			mutate: func(c *Config) { c.HTTPTimeout = time.Second }, wantText: "redirects"},
		{name: "wrong secret", mutate: func(c *Config) { c.Secret = testSecret + "x" }, wantText: "40125"},
		{name: "api hangs up", api: func(*fakeWX) http.HandlerFunc { return hangUp }, wantText: "access_token=REDACTED"},
		{name: "api times out", api: func(*fakeWX) http.HandlerFunc {
			return hang
		}, wantText: "access_token=REDACTED"},
		{name: "api redirect loop", api: func(*fakeWX) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, r.URL.String(), http.StatusFound) }
		}, wantText: "access_token=REDACTED"},
		{name: "errmsg echoes secrets", api: echo, wantText: "REDACTED"},
		{name: "html 502 echoing URL", api: func(*fakeWX) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusBadGateway)
				fmt.Fprintf(w, "<html>bad gateway for %s</html>", r.URL)
			}
		}, wantText: "502"},
		{name: "revoked twice", api: func(*fakeWX) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, map[string]any{"errcode": 40014, "errmsg": "invalid access_token rid: 77-2"})
			}
		}, wantText: "40014"},
		{name: "transport quotes URL", mutate: func(c *Config) {
			c.HTTPClient = &http.Client{Transport: echoURL{http.DefaultTransport}}
		}, wantText: "REDACTED"},
		{name: "huge body", api: func(f *fakeWX) http.HandlerFunc { return okFollowers(f) }, mutate: func(c *Config) { c.MaxBodyBytes = 10 }, wantText: "MaxBodyBytes"},
		{name: "cancelled", api: func(f *fakeWX) http.HandlerFunc {
			return hang
		}, mutate: func(c *Config) { c.HTTPTimeout = time.Hour }, wantText: "context deadline exceeded"},
	}
	for _, mode := range []TokenMode{TokenModeStable, TokenModeClassic} {
		for _, sc := range scenarios {
			t.Run(string(mode)+"/"+sc.name, func(t *testing.T) {
				f := newFake(t)
				if sc.token != nil {
					f.tokenHook = func(w http.ResponseWriter, r *http.Request) bool { sc.token(w, r); return true }
				}
				if sc.api != nil {
					f.handle(pathUserGet, sc.api(f))
				} else {
					f.handle(pathUserGet, okFollowers(f))
				}
				c, logs, _ := newClient(t, f, func(c *Config) {
					c.TokenMode = mode
					c.MaxAttempts = 2
					c.HTTPTimeout = 100 * time.Millisecond
					if sc.mutate != nil {
						sc.mutate(c)
					}
				})
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_, err := c.ListFollowers(ctx, "")
				if err == nil {
					t.Fatal("no error")
				}
				text := err.Error()
				t.Logf("%v: %s", Classify(err), text)
				if !strings.Contains(text, sc.wantText) {
					t.Errorf("error %q lacks %q", text, sc.wantText)
				}
				// Walk the whole chain: no wrapped error may carry a secret either.
				for e := error(err); e != nil; e = errors.Unwrap(e) {
					assertNoLeak(t, f, "error chain", e.Error())
				}
				assertNoLeak(t, f, "error", text+fmt.Sprintf(" %+v %#v", err, err))
				if !strings.Contains(logs.String(), `"level":"DEBUG"`) {
					t.Error("debug logging not exercised")
				}
				if len(f.secrets()) < 1 {
					t.Fatal("no secrets to look for")
				}
			})
		}
	}
}
