package wechat

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxsync/wxsync/plugin/kind"
)

// scriptUserGet answers user/get: call n (1-based) runs script[n-1], which
// may change the fake's tokens; then the call is answered as the API would
// (rejected if its token is no longer valid), or with the errcode the step
// returns (non-zero: answered so, whatever the token).
func scriptUserGet(f *fakeWX, script ...func(tok string) int) *atomic.Int32 {
	var n atomic.Int32
	f.handle(pathUserGet, func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1))
		if i <= len(script) {
			tok := r.URL.Query().Get("access_token")
			switch code := script[i-1](tok); code {
			case 0:
			case CodeTokenExpired:
				writeJSON(w, map[string]any{"errcode": code, "errmsg": "access_token expired rid: 6600aa-0042"})
				return
			default:
				writeJSON(w, map[string]any{"errcode": code, "errmsg": "invalid credential, access_token is invalid or not latest rid: 6600aa-0040"})
				return
			}
		}
		okFollowers(f)(w, r)
	})
	return &n
}

// A call whose token expires (42001) and whose next token is then revoked
// (40001) by another service succeeds, with one token request per event
// (two when stable_token still answers the rejected token: it, then one
// force_refresh, allowed once per 30 s). The retries do not count against
// MaxAttempts (1 here).
func TestTokenExpiredThenRevokedThenSuccess(t *testing.T) {
	for _, c := range []struct {
		name          string
		mode          TokenMode
		expire, revok func(f *fakeWX) func(tok string) int
		tokens        int // token requests, the first one included
		forced        int
	}{
		{
			name: "stable",
			mode: TokenModeStable,
			expire: func(f *fakeWX) func(string) int {
				return func(tok string) int { f.expire(tok); return CodeTokenExpired }
			},
			revok:  func(f *fakeWX) func(string) int { return func(string) int { f.rotateStable(); return 0 } },
			tokens: 3,
		},
		{
			name: "classic",
			mode: TokenModeClassic,
			expire: func(f *fakeWX) func(string) int {
				return func(tok string) int { f.expire(tok); return CodeTokenExpired }
			},
			revok:  func(f *fakeWX) func(string) int { return func(tok string) int { f.revoke(tok); return 0 } },
			tokens: 3,
		},
		{
			// The API answers 42001, then 40001, but stable_token keeps
			// answering the token it holds: the first refresh forces a new
			// token, the second (within 30 s) retries the one it is given.
			name:   "stable/token-kept",
			mode:   TokenModeStable,
			expire: func(*fakeWX) func(string) int { return func(string) int { return CodeTokenExpired } },
			revok:  func(*fakeWX) func(string) int { return func(string) int { return CodeInvalidCredential } },
			tokens: 4, forced: 1,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFake(t)
			calls := scriptUserGet(f, c.expire(f), c.revok(f))
			cl, _, _ := newClient(t, f, func(cfg *Config) { cfg.TokenMode, cfg.MaxAttempts = c.mode, 1 })
			page, err := cl.ListFollowers(context.Background(), "")
			if err != nil {
				t.Fatal(err)
			}
			if page.Count != 2 {
				t.Fatalf("page = %+v", page)
			}
			if calls.Load() != 3 || f.tokenHits() != c.tokens || f.forcedCount() != c.forced {
				t.Fatalf("user/get %d, token requests %d, force_refresh %d; want 3, %d, %d", calls.Load(), f.tokenHits(), f.forcedCount(), c.tokens, c.forced)
			}
		})
	}
}

// A token revoked on every try: after MaxTokenRefreshes refreshes the call
// gives up with a *TokenConflictError, classified temporary, that says
// what to do and quotes no secret or token.
func TestTokenRevokedOnEveryTry(t *testing.T) {
	for _, c := range []struct {
		name   string
		mode   TokenMode
		revoke func(f *fakeWX, tok string)
		code   int
	}{
		{name: "stable/40001", mode: TokenModeStable, revoke: func(f *fakeWX, _ string) { f.rotateStable() }, code: CodeInvalidCredential},
		{name: "classic/40001", mode: TokenModeClassic, revoke: func(f *fakeWX, tok string) { f.revoke(tok) }, code: CodeInvalidCredential},
		{name: "stable/42001", mode: TokenModeStable, revoke: func(f *fakeWX, tok string) { f.expire(tok) }, code: CodeTokenExpired},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFake(t)
			var calls atomic.Int32
			f.handle(pathUserGet, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				tok := r.URL.Query().Get("access_token")
				c.revoke(f, tok)
				if c.code == CodeTokenExpired {
					writeJSON(w, map[string]any{"errcode": c.code, "errmsg": "access_token expired " + tok + " rid: 6600aa-0042"})
					return
				}
				if f.authed(w, r) {
					t.Error("the token was not revoked")
				}
			})
			cl, logs, _ := newClient(t, f, func(cfg *Config) { cfg.TokenMode = c.mode })
			_, err := cl.ListFollowers(context.Background(), "")
			var tc *TokenConflictError
			if !errors.As(err, &tc) || tc.Refreshes != MaxTokenRefreshes || tc.Last.Code != c.code || tc.Path != pathUserGet {
				t.Fatalf("err = %#v (%v)", err, err)
			}
			if Classify(err) != kind.Temporary {
				t.Fatalf("class %v, want temporary", Classify(err))
			}
			if n := int(calls.Load()); n != 1+MaxTokenRefreshes || f.tokenHits() != 1+MaxTokenRefreshes || f.forcedCount() != 0 {
				t.Fatalf("user/get %d, token requests %d, force_refresh %d; want %d, %d, 0", n, f.tokenHits(), f.forcedCount(), 1+MaxTokenRefreshes, 1+MaxTokenRefreshes)
			}
			msg := err.Error()
			for _, s := range []string{"another service is revoking this AppID's access tokens", "force_refresh=false", "WECHAT_TOKEN_MODE=stable", "one token service", "resumes from the saved cursor"} {
				if !strings.Contains(msg, s) {
					t.Errorf("the error does not say %q: %s", s, msg)
				}
			}
			assertNoLeak(t, f, "error", msg)
			assertNoLeak(t, f, "logs", logs.String())
		})
	}
}

// A context cancelled while a call waits between token refreshes ends the
// call with the context's error at once.
func TestTokenRefreshBackoffRespectsContext(t *testing.T) {
	f := newFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	f.handle(pathUserGet, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		f.rotateStable()
		f.authed(w, r)
	})
	// The client logs the backoff just before it waits: cancel then.
	onLog := &hookHandler{msg: "wechat access token rejected again", hook: cancel}
	cl, _, _ := newClient(t, f, func(cfg *Config) {
		cfg.InitialBackoff, cfg.MaxBackoff, cfg.Logger = time.Hour, time.Hour, slog.New(onLog)
	})
	_, err := cl.ListFollowers(ctx, "")
	if !errors.Is(err, context.Canceled) || Classify(err) != kind.Temporary {
		t.Fatalf("err = %v", err)
	}
	if calls.Load() != 2 || f.tokenHits() != 2 {
		t.Fatalf("user/get %d, token requests %d; want 2 and 2", calls.Load(), f.tokenHits())
	}
}

// hookHandler is a slog handler that calls hook on each record with
// message msg.
type hookHandler struct {
	msg  string
	hook func()
}

func (h *hookHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *hookHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.hook()
	}
	return nil
}
func (h *hookHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *hookHandler) WithGroup(string) slog.Handler      { return h }
