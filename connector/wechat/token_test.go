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
			if Classify(err) != ClassConfig || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("class %v, text %q", Classify(err), err)
			}
			if f.hit(pathStableToken) != 1 {
				t.Fatal("config errors must not be retried")
			}
			assertNoLeak(t, f, "error", errText(err))
		})
	}
}

// Eight workers hit a revoked token at the same time: exactly one token
// request replaces it.
func TestConcurrentRevokedTokenCausesOneRefresh(t *testing.T) {
	for _, mode := range []TokenMode{TokenModeStable, TokenModeClassic} {
		t.Run(string(mode), func(t *testing.T) {
			const workers = 8
			f := newFake(t)
			c, _, _ := newClient(t, f, func(c *Config) { c.TokenMode = mode })
			ctx := context.Background()
			if err := c.Token(ctx); err != nil {
				t.Fatal(err)
			}
			old, _ := c.tokens.cached()
			// Another service replaces the token.
			if mode == TokenModeStable {
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
					_, err := c.ListFollowers(ctx, "")
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
			if got := f.tokenHits() - before; got != 1 {
				t.Fatalf("token requests after revocation = %d, want 1", got)
			}
			if arrived.Load() != workers {
				t.Fatalf("%d requests used the old token", arrived.Load())
			}
			if f.forced != 0 {
				t.Fatal("force_refresh used although a plain refresh gave a new token")
			}
		})
	}
}

// stable_token keeps handing out the token the API rejects: one
// force_refresh, then not again within 30 s.
func TestStableForceRefreshRule(t *testing.T) {
	f := newFake(t)
	f.handle(pathUserGet, okFollowers(f))
	c, logs, clk := newClient(t, f, nil)
	ctx := context.Background()
	if err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	tok1, _ := c.tokens.cached()
	f.revoke(tok1) // the API rejects it but stable_token still returns it
	if _, err := c.ListFollowers(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if f.forced != 1 || f.hit(pathStableToken) != 3 {
		t.Fatalf("forced %d, token requests %d; want 1 and 3", f.forced, f.hit(pathStableToken))
	}
	if !strings.Contains(logs.String(), `"force_refresh":true`) {
		t.Fatal("forced refresh not logged")
	}

	tok2, _ := c.tokens.cached()
	f.revoke(tok2)
	clk.Advance(10 * time.Second)
	_, err := c.ListFollowers(ctx, "")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != 40001 || !strings.Contains(err.Error(), "force_refresh was already used") {
		t.Fatalf("err = %v", err)
	}
	if f.forced != 1 || Classify(err) != ClassInternal {
		t.Fatalf("forced %d class %v", f.forced, Classify(err))
	}
	assertNoLeak(t, f, "error", errText(err))

	clk.Advance(25 * time.Second)
	if _, err := c.ListFollowers(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if f.forced != 2 {
		t.Fatalf("forced %d, want 2 after 30 s", f.forced)
	}
}

// A second token failure in a row is returned, after exactly one refresh.
func TestSecondTokenFailureInARow(t *testing.T) {
	f := newFake(t)
	f.handle(pathUserGet, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"errcode": 42001, "errmsg": "access_token expired rid: 6600aa-0042"})
	})
	c, _, _ := newClient(t, f, func(c *Config) { c.TokenMode = TokenModeClassic })
	_, err := c.ListFollowers(context.Background(), "")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != 42001 || ae.RID != "6600aa-0042" {
		t.Fatalf("err = %v", err)
	}
	if f.hit(pathToken) != 2 || f.hit(pathUserGet) != 2 {
		t.Fatalf("token %d user/get %d, want 2 and 2", f.hit(pathToken), f.hit(pathUserGet))
	}
	if Classify(err) != ClassInternal {
		t.Fatal(Classify(err))
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
	if !errors.As(err, &ae) || ae.Code != 41001 || Classify(err) != ClassInternal || !strings.Contains(err.Error(), "bug") {
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
			if !errors.As(err, &re) || re.Path != pathStableToken || Classify(err) != ClassInternal {
				t.Fatalf("err = %v", err)
			}
			assertNoLeak(t, f, "error", errText(err))
		})
	}
}
