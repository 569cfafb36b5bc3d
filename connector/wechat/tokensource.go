package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// TokenSource says where a Client's access tokens come from.
type TokenSource string

const (
	// TokenSourceSecret: the account's own AppSecret, through stable_token
	// or the classic endpoint ([TokenMode]). The default.
	TokenSourceSecret TokenSource = "secret"
	// TokenSourceService: a central token service that hands out the
	// account's current token (GET, answering {access_token, expires_in});
	// the client never calls a WeChat token endpoint. A token the API
	// rejects is asked for again, up to [MaxTokenRefreshes] times per call.
	TokenSourceService TokenSource = "service"
	// TokenSourcePlatform: a third-party platform (开放平台) the account has
	// authorised: a component token from the component's appid, secret and
	// component_verify_ticket, then an authorizer token from the account's
	// authorizer refresh token.
	TokenSourcePlatform TokenSource = "platform"
)

// TokenService is a central token service (TokenSourceService).
type TokenService struct {
	// URL is requested with GET and appid=<AppID> added to its query; it
	// answers {"access_token": "...", "expires_in": seconds} (an errcode,
	// if it sends one, is read like WeChat's).
	URL string
	// Bearer, when set, is sent as "Authorization: Bearer <Bearer>".
	Bearer string
}

// Platform is a third-party platform the account authorised
// (TokenSourcePlatform).
type Platform struct {
	// ComponentAppID and ComponentSecret are the platform's credentials.
	ComponentAppID, ComponentSecret string
	// VerifyTicket is the newest component_verify_ticket WeChat pushed to
	// the platform's authorisation-event URL.
	VerifyTicket string
	// RefreshToken is the account's authorizer_refresh_token.
	RefreshToken string
	// KeepRefreshToken, when set, is called with a new refresh token an
	// answer carried, before the access token it came with is used; an
	// error from it ends the token request (a *[KeepError], temporary).
	KeepRefreshToken func(ctx context.Context, refreshToken string) error
}

// KeepError is a new authorizer refresh token that could not be kept
// (Platform.KeepRefreshToken failed). [Classify] maps it to temporary.
type KeepError struct{ Err error }

func (e *KeepError) Error() string {
	return "wechat: the new authorizer refresh token could not be kept: " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *KeepError) Unwrap() error { return e.Err }

// secrets are the configured values that never appear in a text the
// client produces.
func (c Config) secrets() []string {
	return []string{c.Secret, c.TokenService.Bearer, c.Platform.ComponentSecret, c.Platform.VerifyTicket, c.Platform.RefreshToken}
}

// validateSource checks the settings of the configured token source.
func (c Config) validateSource(bad func(field, format string, args ...any)) {
	switch c.TokenSource {
	case TokenSourceSecret:
		if c.Secret == "" {
			bad("Secret", "missing: set WECHAT_SECRET to the account's AppSecret")
		}
	case TokenSourceService:
		if u, err := url.Parse(c.TokenService.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("TokenService.URL", "want the http(s) URL of the token service")
		}
	case TokenSourcePlatform:
		p := c.Platform
		if !validAppID(p.ComponentAppID) {
			bad("Platform.ComponentAppID", "missing or not an appid: the third-party platform's component appid")
		}
		if p.ComponentSecret == "" {
			bad("Platform.ComponentSecret", "missing: the third-party platform's component appsecret")
		}
		if p.VerifyTicket == "" {
			bad("Platform.VerifyTicket", "missing: no component_verify_ticket received yet (run `wxsync listen` in platform mode at the platform's authorisation-event URL; WeChat pushes one every 10 minutes)")
		}
		if p.RefreshToken == "" {
			bad("Platform.RefreshToken", "missing: the account's authorizer_refresh_token (from its authorisation)")
		}
	default:
		bad("TokenSource", "%q: must be %q, %q or %q", c.TokenSource, TokenSourceSecret, TokenSourceService, TokenSourcePlatform)
	}
}

// obtainToken asks the configured source for an access token. req names
// the request that answered, for errors about its answer.
func (c *Client) obtainToken(ctx context.Context, force bool) (*tokenResponse, *request, error) {
	switch c.cfg.TokenSource {
	case TokenSourceService:
		req := &request{method: http.MethodGet, path: PathTokenService, url: c.cfg.TokenService.URL,
			query: url.Values{"appid": {c.cfg.AppID}}, bearer: c.cfg.TokenService.Bearer}
		res, err := call[tokenResponse](ctx, c, req)
		return res, req, err
	case TokenSourcePlatform:
		return c.authorizerToken(ctx)
	}
	req, err := c.tokenRequest(force)
	if err != nil {
		return nil, nil, err
	}
	res, err := call[tokenResponse](ctx, c, req)
	return res, req, err
}

// platformTokens is a platform client's component token and the
// account's current refresh token. Token requests are serialised by the
// token cache; mu guards against Check and Read sharing nothing else.
type platformTokens struct {
	mu        sync.Mutex
	component string
	refreshAt time.Time
	refresh   string
}

type componentTokenResponse struct {
	status
	ComponentAccessToken string `json:"component_access_token"`
	ExpiresIn            int64  `json:"expires_in"`
}

type authorizerTokenResponse struct {
	status
	AuthorizerAccessToken  string `json:"authorizer_access_token"`
	ExpiresIn              int64  `json:"expires_in"`
	AuthorizerRefreshToken string `json:"authorizer_refresh_token"`
}

// authorizerToken obtains the account's authorizer access token. A
// component token the API rejects is dropped and fetched again, once.
func (c *Client) authorizerToken(ctx context.Context) (*tokenResponse, *request, error) {
	p := c.platform
	for attempt := 0; ; attempt++ {
		ct, err := c.componentToken(ctx, attempt > 0)
		if err != nil {
			return nil, nil, err
		}
		p.mu.Lock()
		refresh := p.refresh
		p.mu.Unlock()
		body, err := json.Marshal(map[string]string{"component_appid": c.cfg.Platform.ComponentAppID,
			"authorizer_appid": c.cfg.AppID, "authorizer_refresh_token": refresh})
		if err != nil {
			return nil, nil, fmt.Errorf("wechat: encoding the authorizer token request: %w", err)
		}
		req := &request{method: http.MethodPost, path: pathAuthorizerToken, body: body,
			query: url.Values{"component_access_token": {ct}}}
		res, err := call[authorizerTokenResponse](ctx, c, req)
		var ae *APIError
		if attempt == 0 && errors.As(err, &ae) && isTokenCode(ae.Code) {
			continue
		}
		if err != nil {
			return nil, req, err
		}
		if err := c.keepRefreshToken(ctx, refresh, res.AuthorizerRefreshToken); err != nil {
			return nil, req, err
		}
		return &tokenResponse{AccessToken: res.AuthorizerAccessToken, ExpiresIn: res.ExpiresIn}, req, nil
	}
}

// keepRefreshToken keeps a new refresh token an answer carried (fresh),
// in memory and through Platform.KeepRefreshToken, before it is used.
func (c *Client) keepRefreshToken(ctx context.Context, old, fresh string) error {
	if fresh == "" || fresh == old {
		return nil
	}
	c.scrub.add(fresh)
	p := c.platform
	p.mu.Lock()
	p.refresh = fresh
	p.mu.Unlock()
	c.log.LogAttrs(ctx, slog.LevelInfo, "wechat authorizer refresh token renewed", slog.String("appid", c.cfg.AppID))
	if keep := c.cfg.Platform.KeepRefreshToken; keep != nil {
		if err := keep(ctx, fresh); err != nil {
			return &KeepError{Err: c.scrub.err(err)}
		}
	}
	return nil
}

// componentToken returns the cached component token, or fetches one
// (drop: the cached one was rejected).
func (c *Client) componentToken(ctx context.Context, drop bool) (string, error) {
	p := c.platform
	p.mu.Lock()
	if drop {
		p.component = ""
	}
	tok, fresh := p.component, c.now().Before(p.refreshAt)
	p.mu.Unlock()
	if tok != "" && fresh {
		return tok, nil
	}
	pc := c.cfg.Platform
	body, err := json.Marshal(map[string]string{"component_appid": pc.ComponentAppID,
		"component_appsecret": pc.ComponentSecret, "component_verify_ticket": pc.VerifyTicket})
	if err != nil {
		return "", fmt.Errorf("wechat: encoding the component token request: %w", err)
	}
	req := &request{method: http.MethodPost, path: pathComponentToken, body: body}
	res, err := call[componentTokenResponse](ctx, c, req)
	if err != nil {
		return "", err
	}
	tok = res.ComponentAccessToken
	if pr := checkToken(tok); pr != "" {
		return "", req.responseError("component_access_token "+pr, nil)
	}
	c.scrub.add(tok)
	if res.ExpiresIn <= 0 {
		return "", req.responseError(fmt.Sprintf("expires_in is %d, want a positive number of seconds", res.ExpiresIn), nil)
	}
	ttl := tokenTTL(res.ExpiresIn)
	p.mu.Lock()
	p.component, p.refreshAt = tok, c.now().Add(ttl-min(maxEarlyRefresh, ttl/earlyRefreshFraction))
	p.mu.Unlock()
	return tok, nil
}

// RefreshToken returns the account's current authorizer refresh token
// (TokenSourcePlatform; "" otherwise): the configured one, or the newest
// an answer carried.
func (c *Client) RefreshToken() string {
	if c.platform == nil {
		return ""
	}
	c.platform.mu.Lock()
	defer c.platform.mu.Unlock()
	return c.platform.refresh
}
