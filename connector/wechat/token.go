package wechat

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"
)

const (
	// maxEarlyRefresh and earlyRefreshFraction: a token is replaced
	// min(5 min, 10 % of its lifetime) before it expires.
	maxEarlyRefresh      = 5 * time.Minute
	earlyRefreshFraction = 10
	// forceRefreshSpacing is the platform's minimum spacing of
	// force_refresh=true stable-token requests.
	forceRefreshSpacing = 30 * time.Second
	maxTokenLen         = 2048
	// maxTokenTTL caps the lifetime a token answer may claim (WeChat says
	// 7200 s): a larger expires_in would overflow time.Duration and leave
	// the token never cached, one token request per call.
	maxTokenTTL = 24 * time.Hour
)

// Token obtains an access token, or checks that the cached one is still
// fresh, which proves the credentials, the IP whitelist and the token
// endpoint work (for `wxsync check`). The token itself is never exposed.
func (c *Client) Token(ctx context.Context) error {
	_, err := c.tokens.get(ctx)
	return err
}

// tokenCache holds the current access token. sem serialises token
// requests (a channel so that waiting respects ctx); mu guards the fields.
type tokenCache struct {
	c   *Client
	sem chan struct{}

	mu        sync.Mutex
	token     string
	refreshAt time.Time
	lastForce time.Time
}

func (t *tokenCache) cached() (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token != "" && t.c.now().Before(t.refreshAt) {
		return t.token, true
	}
	return "", false
}

func (t *tokenCache) lock(ctx context.Context) error {
	select {
	case t.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wechat: waiting for an access token: %w", ctx.Err())
	}
}

func (t *tokenCache) unlock() { <-t.sem }

// get returns a fresh token, fetching one if needed.
func (t *tokenCache) get(ctx context.Context) (string, error) {
	if tok, ok := t.cached(); ok {
		return tok, nil
	}
	if err := t.lock(ctx); err != nil {
		return "", err
	}
	defer t.unlock()
	if tok, ok := t.cached(); ok { // fetched while we waited
		return tok, nil
	}
	return t.fetch(ctx, false)
}

// refreshAfter handles the API's rejection of token rejected (see the rule
// on [Client]). On return without error the cache holds a different token.
func (t *tokenCache) refreshAfter(ctx context.Context, rejected string, cause *APIError) error {
	if err := t.lock(ctx); err != nil {
		return err
	}
	defer t.unlock()
	t.mu.Lock()
	if t.token != rejected {
		t.mu.Unlock()
		if _, ok := t.cached(); ok {
			return nil // another call already replaced it
		}
		_, err := t.fetch(ctx, false)
		return err
	}
	t.token = "" // never hand out the rejected token again
	t.mu.Unlock()

	tok, err := t.fetch(ctx, false)
	if err != nil {
		return err
	}
	if tok != rejected {
		return nil
	}
	t.forget()
	if t.c.cfg.TokenMode != TokenModeStable {
		return fmt.Errorf("wechat: %s: the token endpoint returned the access token the API just rejected: %w", cause.Path, cause)
	}
	now := t.c.now()
	t.mu.Lock()
	last := t.lastForce
	t.mu.Unlock()
	if !last.IsZero() && now.Sub(last) < forceRefreshSpacing {
		return fmt.Errorf("wechat: %s: stable_token returned the access token the API just rejected, and force_refresh was already used %v ago (allowed once per %v): %w",
			cause.Path, now.Sub(last).Round(time.Millisecond), forceRefreshSpacing, cause)
	}
	t.mu.Lock()
	t.lastForce = now
	t.mu.Unlock()
	tok, err = t.fetch(ctx, true)
	if err != nil {
		return err
	}
	if tok == rejected {
		t.forget()
		return fmt.Errorf("wechat: %s: even force_refresh returned the access token the API just rejected: %w", cause.Path, cause)
	}
	return nil
}

func (t *tokenCache) forget() {
	t.mu.Lock()
	t.token = ""
	t.mu.Unlock()
}

type tokenResponse struct {
	status
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

// fetch requests a token and caches it. The caller holds sem.
func (t *tokenCache) fetch(ctx context.Context, force bool) (string, error) {
	c := t.c
	req := &request{}
	switch c.cfg.TokenMode {
	case TokenModeClassic:
		req.method, req.path = http.MethodGet, pathToken
		req.query = url.Values{"grant_type": {"client_credential"}, "appid": {c.cfg.AppID}, "secret": {c.cfg.Secret}}
	default:
		body, err := json.Marshal(struct {
			GrantType    string `json:"grant_type"`
			AppID        string `json:"appid"`
			Secret       string `json:"secret"`
			ForceRefresh bool   `json:"force_refresh"`
		}{"client_credential", c.cfg.AppID, c.cfg.Secret, force})
		if err != nil {
			return "", fmt.Errorf("wechat: encoding the stable_token request: %w", err)
		}
		req.method, req.path, req.body = http.MethodPost, pathStableToken, body
	}
	res, err := call[tokenResponse](ctx, c, req)
	if err != nil {
		return "", err
	}
	tok := res.AccessToken
	if p := checkToken(tok); p != "" {
		return "", req.responseError("access_token "+p, nil)
	}
	c.scrub.add(tok) // from now on, scrubbed from any text we produce
	if res.ExpiresIn <= 0 {
		return "", req.responseError(fmt.Sprintf("expires_in is %d, want a positive number of seconds", res.ExpiresIn), nil)
	}
	ttl := time.Duration(min(res.ExpiresIn, int64(maxTokenTTL/time.Second))) * time.Second
	early := min(maxEarlyRefresh, ttl/earlyRefreshFraction)
	t.mu.Lock()
	t.token = tok
	t.refreshAt = c.now().Add(ttl - early)
	t.mu.Unlock()
	c.log.LogAttrs(ctx, slog.LevelDebug, "wechat access token obtained",
		slog.String("path", req.path), slog.Bool("force_refresh", force), slog.Int64("expires_in", res.ExpiresIn))
	return tok, nil
}

// checkToken returns what is wrong with an access token, or "". It never
// quotes the token.
func checkToken(s string) string {
	if s == "" {
		return "is missing or empty"
	}
	if len(s) > maxTokenLen {
		return fmt.Sprintf("is %d bytes long (max %d)", len(s), maxTokenLen)
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; b <= ' ' || b >= 0x7f {
			return fmt.Sprintf("contains a control, space or non-ASCII byte at offset %d", i)
		}
	}
	return ""
}
