package source

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/wxsync/wxsync/connector/wechat"
	"github.com/wxsync/wxsync/plugin"
)

// Config is the source's configuration, sent by the host as JSON in every
// Check and Read request.
type Config struct {
	AppID        string        `json:"appid"`
	Secret       string        `json:"secret"`
	APIBase      string        `json:"api_base"`
	TokenMode    string        `json:"token_mode"`
	HTTPTimeout  time.Duration `json:"http_timeout"`
	MaxAttempts  int           `json:"max_attempts"`
	MaxRetryTime time.Duration `json:"max_retry_time"`
	RateLimit    float64       `json:"rate_limit"`
	LogLevel     string        `json:"log_level"`
	// Concurrency is how many batchget calls are in flight (default 8).
	Concurrency int `json:"concurrency"`

	// TokenSource is "secret" (default: Secret), "service" or "platform".
	TokenSource string `json:"token_source,omitempty"`
	// TokenServiceURL and TokenServiceBearer: the central token service.
	TokenServiceURL    string `json:"token_service_url,omitempty"`
	TokenServiceBearer string `json:"token_service_bearer,omitempty"`
	// The third-party platform: its credentials, the newest
	// component_verify_ticket the host holds, and the account's refresh
	// token (the newest the host stored, else the configured one).
	ComponentAppID  string `json:"component_appid,omitempty"`
	ComponentSecret string `json:"component_secret,omitempty"`
	VerifyTicket    string `json:"verify_ticket,omitempty"`
	RefreshToken    string `json:"refresh_token,omitempty"`
}

// String never shows a secret.
func (c Config) String() string {
	return fmt.Sprintf("source.Config{AppID:%q Secret:REDACTED APIBase:%q TokenMode:%q TokenSource:%q}", c.AppID, c.APIBase, c.TokenMode, c.TokenSource)
}

// ParseConfig decodes the JSON the host sends.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("source config: %w", err)
	}
	return c, nil
}

// clientConfig turns the source config into the WeChat client's, starting
// from the client's defaults so that zero values mean "default". The client
// logs to log (its per-request debug records and its warnings). A new
// refresh token goes to keeper (nil: kept in memory only). Its requests go
// through hc, which the source's Reads share.
func (c Config) clientConfig(log *slog.Logger, keeper plugin.Keeper, hc *http.Client) wechat.Config {
	w := wechat.DefaultConfig()
	w.AppID, w.Secret, w.Logger, w.HTTPClient = c.AppID, c.Secret, log, hc
	if c.TokenSource != "" {
		w.TokenSource = wechat.TokenSource(c.TokenSource)
	}
	w.TokenService = wechat.TokenService{URL: c.TokenServiceURL, Bearer: c.TokenServiceBearer}
	w.Platform = wechat.Platform{ComponentAppID: c.ComponentAppID, ComponentSecret: c.ComponentSecret,
		VerifyTicket: c.VerifyTicket, RefreshToken: c.RefreshToken}
	if keeper != nil {
		appid := c.AppID
		w.Platform.KeepRefreshToken = func(ctx context.Context, tok string) error {
			return keeper.KeepRefreshToken(ctx, appid, tok)
		}
	}
	if c.APIBase != "" {
		w.BaseURL = c.APIBase
	}
	if c.TokenMode != "" {
		w.TokenMode = wechat.TokenMode(c.TokenMode)
	}
	if c.HTTPTimeout > 0 {
		w.HTTPTimeout = c.HTTPTimeout
	}
	if c.MaxAttempts > 0 {
		w.MaxAttempts = c.MaxAttempts
	}
	if c.MaxRetryTime > 0 {
		w.MaxElapsed = c.MaxRetryTime
	}
	w.RateLimit = c.RateLimit
	return w
}
