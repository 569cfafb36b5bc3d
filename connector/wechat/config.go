package wechat

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"time"
)

// TokenMode selects the endpoint used to obtain access tokens.
type TokenMode string

const (
	// TokenModeStable uses POST /cgi-bin/stable_token with force_refresh
	// false: every caller of the same appid gets the same token, so several
	// services can share an account without revoking each other's tokens.
	// It is the default.
	TokenModeStable TokenMode = "stable"
	// TokenModeClassic uses GET /cgi-bin/token. Every call issues a new token
	// and revokes the previous one after a short grace period, and the
	// secret travels in the URL query (it is redacted from every error).
	TokenModeClassic TokenMode = "classic"
)

// Default values, also returned by [DefaultConfig].
const (
	DefaultBaseURL        = "https://api.weixin.qq.com"
	DefaultHTTPTimeout    = 15 * time.Second
	DefaultMaxAttempts    = 6
	DefaultMaxElapsed     = 2 * time.Minute
	DefaultInitialBackoff = 500 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
	DefaultMaxBodyBytes   = 64 << 20
)

// MaxMaxAttempts is the largest MaxAttempts [Config.Validate] accepts.
const MaxMaxAttempts = 100

// Config configures a [Client]. Zero values mean "use the default" (see
// [DefaultConfig]); negative values are rejected by [Config.Validate].
type Config struct {
	// AppID and Secret are the Official Account's credentials. Secret is
	// never printed: String, GoString and LogValue redact it.
	AppID, Secret string
	// BaseURL is the API root; default https://api.weixin.qq.com. A path
	// prefix (for a forwarding proxy) is kept.
	BaseURL string
	// TokenMode is "stable" (default) or "classic" (TokenSourceSecret).
	TokenMode TokenMode
	// TokenSource is where access tokens come from: "secret" (default:
	// Secret and TokenMode), "service" (TokenService) or "platform"
	// (Platform). Secret is only needed with "secret".
	TokenSource TokenSource
	// TokenService is the central token service of TokenSourceService.
	TokenService TokenService
	// Platform is the third-party platform of TokenSourcePlatform.
	Platform Platform
	// HTTPTimeout bounds one HTTP request, body read included; default 15s.
	HTTPTimeout time.Duration
	// MaxAttempts bounds the HTTP requests of one call, the first included;
	// default 6, at most MaxMaxAttempts. The retries after a token refresh
	// are not counted (see MaxTokenRefreshes).
	MaxAttempts int
	// MaxElapsed bounds one call across its retries; default 2m. A retry
	// whose backoff would end after it is not attempted.
	MaxElapsed time.Duration
	// InitialBackoff and MaxBackoff shape the exponential backoff
	// (multiplier 2, ±50 % jitter); defaults 500ms and 30s.
	InitialBackoff, MaxBackoff time.Duration
	// RateLimit is the number of HTTP requests per second shared by all
	// calls of the client (token requests and retries included); 0 means
	// unlimited (the default).
	RateLimit float64
	// RateBurst is the limiter's bucket size. 0 means max(1, ceil(RateLimit)):
	// after an idle period at most one second's worth of requests go out at
	// once, which lets a handful of concurrent workers start together while
	// keeping the sustained rate at RateLimit. Ignored when RateLimit is 0.
	RateBurst int
	// MaxBodyBytes bounds a response body; default 64 MiB. A larger body is
	// an error (a 10,000-openid page is about 330 KB).
	MaxBodyBytes int64
	// HTTPClient is used for all requests when set; its redirects and
	// transport settings are respected. Per-request timeouts come from
	// HTTPTimeout in either case.
	HTTPClient *http.Client
	// Logger receives a debug record per HTTP request (method, path,
	// attempt, status, errcode, rid, duration) and warnings about suspicious
	// responses. It never receives a token or the secret. Nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns a Config holding every default. Credentials are
// empty and must be filled in.
func DefaultConfig() Config {
	return Config{
		BaseURL:        DefaultBaseURL,
		TokenMode:      TokenModeStable,
		TokenSource:    TokenSourceSecret,
		HTTPTimeout:    DefaultHTTPTimeout,
		MaxAttempts:    DefaultMaxAttempts,
		MaxElapsed:     DefaultMaxElapsed,
		InitialBackoff: DefaultInitialBackoff,
		MaxBackoff:     DefaultMaxBackoff,
		MaxBodyBytes:   DefaultMaxBodyBytes,
	}
}

// withDefaults returns c with every zero field replaced by its default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.BaseURL == "" {
		c.BaseURL = d.BaseURL
	}
	if c.TokenMode == "" {
		c.TokenMode = d.TokenMode
	}
	if c.TokenSource == "" {
		c.TokenSource = d.TokenSource
	}
	if c.HTTPTimeout == 0 {
		c.HTTPTimeout = d.HTTPTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	if c.MaxElapsed == 0 {
		c.MaxElapsed = d.MaxElapsed
	}
	if c.InitialBackoff == 0 {
		c.InitialBackoff = d.InitialBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = d.MaxBackoff
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = d.MaxBodyBytes
	}
	if c.RateLimit > 0 && c.RateBurst == 0 {
		c.RateBurst = max(1, int(math.Ceil(c.RateLimit)))
	}
	return c
}

// ConfigError reports one invalid [Config] field. [Classify] maps it to
// [kind.Config].
type ConfigError struct {
	Field   string // the Config field, e.g. "BaseURL"
	Problem string // what is wrong and how to fix it
}

// Error implements error.
func (e *ConfigError) Error() string {
	return "wechat: invalid config: " + e.Field + ": " + e.Problem
}

// Validate checks c, with zero fields standing for their defaults, and
// returns every problem found (joined with errors.Join; each one is a
// *[ConfigError]).
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if c.AppID == "" {
		bad("AppID", "missing: set WECHAT_APPID to the Official Account's AppID (设置与开发 → 基本配置)")
	} else if !validAppID(c.AppID) {
		bad("AppID", "%q does not look like an AppID (letters, digits, '_' or '-', e.g. wx0123456789abcdef): check WECHAT_APPID", c.AppID)
	}
	c.validateSource(bad)
	if u, err := url.Parse(c.BaseURL); err != nil {
		bad("BaseURL", "does not parse: %v", err)
	} else if u.Scheme != "http" && u.Scheme != "https" {
		bad("BaseURL", "%q: scheme must be http or https", c.BaseURL)
	} else if u.Host == "" {
		bad("BaseURL", "%q: no host", c.BaseURL)
	} else if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		bad("BaseURL", "%q: must not carry a query, fragment or user info", c.BaseURL)
	}
	if c.TokenMode != TokenModeStable && c.TokenMode != TokenModeClassic {
		bad("TokenMode", "%q: must be %q or %q", c.TokenMode, TokenModeStable, TokenModeClassic)
	}
	positive := func(field string, d time.Duration) {
		if d <= 0 {
			bad(field, "%v: must be positive (0 means the default)", d)
		}
	}
	positive("HTTPTimeout", c.HTTPTimeout)
	positive("MaxElapsed", c.MaxElapsed)
	positive("InitialBackoff", c.InitialBackoff)
	positive("MaxBackoff", c.MaxBackoff)
	if c.InitialBackoff > 0 && c.MaxBackoff > 0 && c.InitialBackoff > c.MaxBackoff {
		bad("InitialBackoff", "%v exceeds MaxBackoff %v", c.InitialBackoff, c.MaxBackoff)
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > MaxMaxAttempts {
		bad("MaxAttempts", "%d: must be 1 to %d (0 means the default, %d)", c.MaxAttempts, MaxMaxAttempts, DefaultMaxAttempts)
	}
	if c.RateLimit < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0) {
		bad("RateLimit", "%v: must be a finite number ≥ 0 (0 = unlimited)", c.RateLimit)
	}
	if c.RateBurst < 0 {
		bad("RateBurst", "%d: must be ≥ 0", c.RateBurst)
	}
	if c.MaxBodyBytes < 0 {
		bad("MaxBodyBytes", "%d: must be positive (0 means the default)", c.MaxBodyBytes)
	}
	return errors.Join(errs...)
}

func validAppID(s string) bool { return checkOpenID(s) == "" }

// ValidateAppID returns an error unless s looks like an AppID: 1–64 bytes
// of A-Z a-z 0-9 _ - (wx followed by 16 hex digits in practice). [New]
// applies the same rule.
func ValidateAppID(s string) error {
	if !validAppID(s) {
		return fmt.Errorf("%q does not look like an AppID (letters, digits, '_' or '-', at most 64, e.g. wx0123456789abcdef)", s)
	}
	return nil
}

const redacted = "REDACTED"

func redactSecret(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// String prints the configuration with the secret redacted.
func (c Config) String() string {
	return fmt.Sprintf("wechat.Config{AppID:%q Secret:%q TokenSource:%q BaseURL:%q TokenMode:%q HTTPTimeout:%v MaxAttempts:%d MaxElapsed:%v InitialBackoff:%v MaxBackoff:%v RateLimit:%v RateBurst:%d MaxBodyBytes:%d}",
		c.AppID, redactSecret(c.Secret), c.TokenSource, c.BaseURL, c.TokenMode, c.HTTPTimeout, c.MaxAttempts, c.MaxElapsed,
		c.InitialBackoff, c.MaxBackoff, c.RateLimit, c.RateBurst, c.MaxBodyBytes)
}

// GoString makes %#v redact the secret too.
func (c Config) GoString() string { return c.String() }

// LogValue implements slog.LogValuer with the secret redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("appid", c.AppID),
		slog.String("secret", redactSecret(c.Secret)),
		slog.String("token_source", string(c.TokenSource)),
		slog.String("base_url", c.BaseURL),
		slog.String("token_mode", string(c.TokenMode)),
		slog.Duration("http_timeout", c.HTTPTimeout),
		slog.Int("max_attempts", c.MaxAttempts),
		slog.Duration("max_elapsed", c.MaxElapsed),
		slog.Duration("initial_backoff", c.InitialBackoff),
		slog.Duration("max_backoff", c.MaxBackoff),
		slog.Float64("rate_limit", c.RateLimit),
		slog.Int("rate_burst", c.RateBurst),
		slog.Int64("max_body_bytes", c.MaxBodyBytes),
	)
}
