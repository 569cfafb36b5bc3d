package source

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/wxsync/wxsync/connector/wechat"
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
}

// String never shows the secret.
func (c Config) String() string {
	return fmt.Sprintf("source.Config{AppID:%q Secret:REDACTED APIBase:%q TokenMode:%q}", c.AppID, c.APIBase, c.TokenMode)
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
// logs to log (its per-request debug records and its warnings).
func (c Config) clientConfig(log *slog.Logger) wechat.Config {
	w := wechat.DefaultConfig()
	w.AppID, w.Secret, w.Logger = c.AppID, c.Secret, log
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
