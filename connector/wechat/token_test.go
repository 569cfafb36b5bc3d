package wechat

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxsync/wxsync/plugin/kind"
)

func okFollowers(f *fakeWX) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if f.authed(w, r) {
			writeJSON(w, pageJSON(2, openIDs(2), openIDs(2)[1]))
		}
	}
}

func TestTokenCachedUntilShortlyBeforeExpiry(t *testing.T) {
	for _, tc := range []struct {
		expiresIn int64
		early     time.Duration
	}{{7200, 5 * time.Minute}, {600, time.Minute}} {
		f := newFake(t)
		f.expiresIn = tc.expiresIn
		f.handle(pathUserGet, okFollowers(f))
		c, _, clk := newClient(t, f, nil)
		ctx := context.Background()
		for range 3 {
			if _, err := c.ListFollowers(ctx, ""); err != nil {
				t.Fatal(err)
			}
		}
		if n := f.hit(pathStableToken); n != 1 {
			t.Fatalf("token requests = %d, want 1 (cached)", n)
		}
		clk.Advance(time.Duration(tc.expiresIn)*time.Second - tc.early - 2*time.Second)
		if err := c.Token(ctx); err != nil {
			t.Fatal(err)
		}
		if n := f.hit(pathStableToken); n != 1 {
			t.Fatalf("token refreshed too early (expires_in %d)", tc.expiresIn)
		}
		clk.Advance(3 * time.Second)
		if err := c.Token(ctx); err != nil {
			t.Fatal(err)
		}
		if n := f.hit(pathStableToken); n != 2 {
			t.Fatalf("token not refreshed %v before expiry (expires_in %d)", tc.early, tc.expiresIn)
		}
		if got := c.Calls(); got[pathStableToken] != 2 || got[pathUserGet] != 3 {
			t.Fatalf("Calls = %v", got)
		}
	}
}

func TestClassicTokenMode(t *testing.T) {
	f := newFake(t)
	f.handle(pathUserGet, okFollowers(f))
	c, _, _ := newClient(t, f, func(c *Config) { c.TokenMode = TokenModeClassic })
	if _, err := c.ListFollowers(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	if f.hit(pathToken) != 1 || f.hit(pathStableToken) != 0 {
		t.Fatalf("hits: %v", f.hits)
	}
}

func TestTokenErrorsFromTokenEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		code   int
		want   string
	}{
		{"bad appid", func(c *Config) { c.AppID = "wxwrong" }, 40013, "WECHAT_APPID"},
		{"bad secret", func(c *Config) { c.Secret = "WRONG-" + testSecret }, 40125, "WECHAT_SECRET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			c, _, _ := newClient(t, f, tc.mutate)
			err := c.Token(context.Background())
			var ae *APIError
			if !errors.As(err, &ae) || ae.Code != tc.code || ae.Path != pathStableToken {
				t.Fatalf("err = %v", err)
			}
			if Classify(err) != kind.Config || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("class %v, text %q", Classify(err), err)
			}
			if f.hit(pathStableToken) != 1 {
				t.Fatal("config errors must not be retried")
			}
			assertNoLeak(t, f, "error", errText(err))
		})
	}
}

// Eight workers hit a revoked token at the same time: one token event
// costs one token request (a new token), or two when stable_token still
// answers the rejected token (it, then force_refresh), however many
// workers met it.
func TestConcurrentRevokedTokenCausesOneRefresh(t *testing.T) {
	for _, c := range []struct {
		name         string
		mode         TokenMode
		keep         bool // stable_token keeps answering the revoked token
		want, forced int  // token requests, force_refresh requests
	}{
		{name: "stable", mode: TokenModeStable, want: 1},
		{name: "classic", mode: TokenModeClassic, want: 1},
		{name: "stable/same-token", mode: TokenModeStable, keep: true, want: 2, forced: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			const workers = 8
			f := newFake(t)
			cl, _, _ := newClient(t, f, func(cfg *Config) { cfg.TokenMode = c.mode })
			ctx := context.Background()
			if err := cl.Token(ctx); err != nil {
				t.Fatal(err)
			}
			old, _, _ := cl.tokens.cached()
			// Another service replaces the token.
			if c.mode == TokenModeStable && !c.keep {
				f.rotateStable()
			} else {
				f.revoke(old)
			}
			var arrived atomic.Int32
			release := make(chan struct{})
			f.handle(pathUserGet, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("access_token") == old {
					// Hold every request with the old token until all
					// workers have sent one.
					if arrived.Add(1) == workers {
						close(release)
					}
					select {
					case <-release:
					case <-r.Context().Done():
						return
					}
				}
				okFollowers(f)(w, r)
			})
			before := f.tokenHits()
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for range workers {
				wg.Go(func() {
					_, err := cl.ListFollowers(ctx, "")
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := f.tokenHits() - before; got != c.want {
				t.Fatalf("token requests after revocation = %d, want %d", got, c.want)
			}
			if arrived.Load() != workers {
				t.Fatalf("%d requests used the old token", arrived.Load())
			}
			if got := f.forcedCount(); got != c.forced {
				t.Fatalf("force_refresh used %d times, want %d", got, c.forced)
			}
		})
	}
}

// stable_token keeps handing out the token the API rejects: one
// force_refresh, then not again within 30 s (the call retries the token it
// is given until its refreshes run out), then again after 30 s.
func TestStableForceRefreshRule(t *testing.T) {
	f := newFake(t)
	f.handle(pathUserGet, okFollowers(f))
	c, logs, clk := newClient(t, f, nil)
	ctx := context.Background()
	if err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	tok1, _, _ := c.tokens.cached()
	f.revoke(tok1) // the API rejects it but stable_token still returns it
	if _, err := c.ListFollowers(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if f.forcedCount() != 1 || f.hit(pathStableToken) != 3 {
		t.Fatalf("forced %d, token requests %d; want 1 and 3", f.forcedCount(), f.hit(pathStableToken))
	}
	if !strings.Contains(logs.String(), `"force_refresh":true`) {
		t.Fatal("forced refresh not logged")
	}

	tok2, _, _ := c.tokens.cached()
	f.revoke(tok2)
	clk.Advance(10 * time.Second)
	_, err := c.ListFollowers(ctx, "")
	var tc *TokenConflictError
	if !errors.As(err, &tc) || tc.Last.Code != 40001 || tc.Refreshes != MaxTokenRefreshes {
		t.Fatalf("err = %v", err)
	}
	// 3 + one plain refresh per rejection, no force_refresh.
	if f.forcedCount() != 1 || f.hit(pathStableToken) != 3+MaxTokenRefreshes || Classify(err) != kind.Temporary {
		t.Fatalf("forced %d, token requests %d, class %v", f.forcedCount(), f.hit(pathStableToken), Classify(err))
	}
	assertNoLeak(t, f, "error", errText(err))

	clk.Advance(25 * time.Second)
	if _, err := c.ListFollowers(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if f.forcedCount() != 2 {
		t.Fatalf("forced %d, want 2 after 30 s", f.forcedCount())
	}
}

// The retry after a refresh does not count against MaxAttempts.
func TestTokenRetryOutsideMaxAttempts(t *testing.T) {
	f := newFake(t)
	f.handle(pathUserGet, okFollowers(f))
	c, _, _ := newClient(t, f, func(c *Config) { c.MaxAttempts = 1 })
	ctx := context.Background()
	if err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	f.rotateStable()
	if _, err := c.ListFollowers(ctx, ""); err != nil {
		t.Fatal(err)
	}
}

func Test41001IsInternalAndNotRetried(t *testing.T) {
	f := newFake(t)
	f.handle(pathTags, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"errcode": 41001, "errmsg": "access_token missing rid: 6600aa-0041"})
	})
	c, _, _ := newClient(t, f, nil)
	_, err := c.Tags(context.Background())
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != 41001 || Classify(err) != kind.Internal || !strings.Contains(err.Error(), "bug") {
		t.Fatalf("err = %v", err)
	}
	if f.hit(pathTags) != 1 || f.tokenHits() != 1 {
		t.Fatal("41001 was retried or caused a refresh")
	}
}

func TestTokenResponseValidation(t *testing.T) {
	for name, body := range map[string]string{
		"no token":     `{"expires_in":7200}`,
		"no expiry":    `{"access_token":"AccTok999_zq81Xk-LEAKMARK"}`,
		"space token":  `{"access_token":"AccTok 999_zq81Xk-LEAKMARK","expires_in":7200}`,
		"wrong type":   `{"access_token":12,"expires_in":7200}`,
		"neg lifetime": `{"access_token":"AccTok999_zq81Xk-LEAKMARK","expires_in":-1}`,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake(t)
			f.issued = append(f.issued, "AccTok999_zq81Xk-LEAKMARK", "AccTok 999_zq81Xk-LEAKMARK")
			f.tokenHook = func(w http.ResponseWriter, r *http.Request) bool {
				writeRaw(w, "application/json", body)
				return true
			}
			c, _, _ := newClient(t, f, nil)
			err := c.Token(context.Background())
			var re *ResponseError
			if !errors.As(err, &re) || re.Path != pathStableToken || Classify(err) != kind.Internal {
				t.Fatalf("err = %v", err)
			}
			assertNoLeak(t, f, "error", errText(err))
		})
	}
}
