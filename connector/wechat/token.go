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
	_, _, err := c.tokens.get(ctx)
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
	// gen counts the tokens obtained (each fetch, even one answering the
	// token already held): a call whose token was rejected refreshes only
	// if no fetch completed since it took its token, so all the calls
	// that met one token event share one refresh.
	gen uint64
}

// cached returns the cached token and its generation, if it is fresh.
func (t *tokenCache) cached() (string, uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token != "" && t.c.now().Before(t.refreshAt) {
		return t.token, t.gen, true
	}
	return "", 0, false
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

// get returns a fresh token and its generation, fetching one if needed.
func (t *tokenCache) get(ctx context.Context) (string, uint64, error) {
	if tok, gen, ok := t.cached(); ok {
		return tok, gen, nil
	}
	if err := t.lock(ctx); err != nil {
		return "", 0, err
	}
	defer t.unlock()
	if tok, gen, ok := t.cached(); ok { // fetched while we waited
		return tok, gen, nil
	}
	return t.fetch(ctx, false)
}

// refreshAfter handles the API's rejection of token rejected, taken from
// the cache at generation gen (see the rule on [Client]). It returns once
// the cache holds the token to try next: a new one, or, when the token
// endpoint still answers the rejected one (and force_refresh is not
// allowed now), that one again.
func (t *tokenCache) refreshAfter(ctx context.Context, rejected string, gen uint64, cause *APIError) error {
	if err := t.lock(ctx); err != nil {
		return err
	}
	defer t.unlock()
	t.mu.Lock()
	if t.gen != gen {
		t.mu.Unlock()
		return nil // another call refreshed since this one took its token
	}
	if t.token == rejected {
		t.token = "" // not handed out again unless the token endpoint answers it again
	}
	t.mu.Unlock()

	tok, _, err := t.fetch(ctx, false)
	if err != nil || tok != rejected || t.c.cfg.TokenSource != TokenSourceSecret || t.c.cfg.TokenMode != TokenModeStable {
		return err
	}
	now := t.c.now()
	t.mu.Lock()
	last := t.lastForce
	allowed := last.IsZero() || now.Sub(last) >= forceRefreshSpacing
	if allowed {
		t.lastForce = now
	}
	t.mu.Unlock()
	if !allowed {
		t.c.log.LogAttrs(ctx, slog.LevelDebug, "wechat stable_token answered the rejected access token; force_refresh not allowed yet",
			slog.String("path", cause.Path), slog.Int("errcode", cause.Code), slog.Duration("since_force_refresh", now.Sub(last)))
		return nil
	}
	_, _, err = t.fetch(ctx, true)
	return err
}

type tokenResponse struct {
	status
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

// fetch requests a token and caches it; it returns the token and its
// generation. The caller holds sem.
func (t *tokenCache) fetch(ctx context.Context, force bool) (string, uint64, error) {
	c := t.c
	res, req, err := c.obtainToken(ctx, force)
	if err != nil {
		return "", 0, err
	}
	tok := res.AccessToken
	if p := checkToken(tok); p != "" {
		return "", 0, req.responseError("access_token "+p, nil)
	}
	c.scrub.add(tok) // from now on, scrubbed from any text we produce
	if res.ExpiresIn <= 0 {
		return "", 0, req.responseError(fmt.Sprintf("expires_in is %d, want a positive number of seconds", res.ExpiresIn), nil)
	}
	ttl := tokenTTL(res.ExpiresIn)
	early := min(maxEarlyRefresh, ttl/earlyRefreshFraction)
	t.mu.Lock()
	t.token = tok
	t.refreshAt = c.now().Add(ttl - early)
	t.gen++
	gen := t.gen
	t.mu.Unlock()
	c.log.LogAttrs(ctx, slog.LevelDebug, "wechat access token obtained",
		slog.String("path", req.path), slog.Bool("force_refresh", force), slog.Int64("expires_in", res.ExpiresIn))
	return tok, gen, nil
}

// tokenTTL is how long a token answer's expires_in (positive) lets it be
// used, capped at maxTokenTTL.
func tokenTTL(expiresIn int64) time.Duration {
	return time.Duration(min(expiresIn, int64(maxTokenTTL/time.Second))) * time.Second
}

// tokenRequest is the request for a new access token in the configured
// mode (force: stable_token's force_refresh).
func (c *Client) tokenRequest(force bool) (*request, error) {
	if c.cfg.TokenMode == TokenModeClassic {
		q := url.Values{"grant_type": {"client_credential"}, "appid": {c.cfg.AppID}, "secret": {c.cfg.Secret}}
		return &request{method: http.MethodGet, path: pathToken, query: q}, nil
	}
	body, err := json.Marshal(struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}{"client_credential", c.cfg.AppID, c.cfg.Secret, force})
	if err != nil {
		return nil, fmt.Errorf("wechat: encoding the stable_token request: %w", err)
	}
	return &request{method: http.MethodPost, path: pathStableToken, body: body}, nil
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
