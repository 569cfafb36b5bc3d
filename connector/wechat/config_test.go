package wechat

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/wxsync/wxsync/plugin/kind"
)

func TestDefaultConfig(t *testing.T) {
	d := DefaultConfig()
	if d.BaseURL != "https://api.weixin.qq.com" || d.TokenMode != TokenModeStable || d.HTTPTimeout != 15*time.Second ||
		d.MaxAttempts != 6 || d.MaxElapsed != 2*time.Minute || d.InitialBackoff != 500*time.Millisecond ||
		d.MaxBackoff != 30*time.Second || d.RateLimit != 0 || d.MaxBodyBytes != 64<<20 {
		t.Fatalf("defaults: %v", d)
	}
	c, err := New(Config{AppID: testAppID, Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	if c.cfg.BaseURL != DefaultBaseURL || c.cfg.MaxAttempts != 6 || c.limiter != nil {
		t.Fatalf("New did not apply defaults: %v", c.cfg)
	}
	c, err = New(Config{AppID: testAppID, Secret: testSecret, RateLimit: 2.5})
	if err != nil {
		t.Fatal(err)
	}
	if c.limiter == nil || c.limiter.Burst() != 3 || float64(c.limiter.Limit()) != 2.5 {
		t.Fatalf("limiter: %+v", c.limiter)
	}
}

func TestValidate(t *testing.T) {
	ok := Config{AppID: testAppID, Secret: testSecret}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	cases := map[string]struct {
		mutate func(*Config)
		field  string
	}{
		"no appid":        {func(c *Config) { c.AppID = "" }, "AppID"},
		"bad appid":       {func(c *Config) { c.AppID = "wx 123" }, "AppID"},
		"no secret":       {func(c *Config) { c.Secret = "" }, "Secret"},
		"ftp url":         {func(c *Config) { c.BaseURL = "ftp://api.weixin.qq.com" }, "BaseURL"},
		"no host":         {func(c *Config) { c.BaseURL = "https://" }, "BaseURL"},
		"unparsable url":  {func(c *Config) { c.BaseURL = "http://[::1" }, "BaseURL"},
		"url with query":  {func(c *Config) { c.BaseURL = "https://x.example/?a=b" }, "BaseURL"},
		"token mode":      {func(c *Config) { c.TokenMode = "central" }, "TokenMode"},
		"timeout":         {func(c *Config) { c.HTTPTimeout = -time.Second }, "HTTPTimeout"},
		"elapsed":         {func(c *Config) { c.MaxElapsed = -1 }, "MaxElapsed"},
		"initial backoff": {func(c *Config) { c.InitialBackoff = -1 }, "InitialBackoff"},
		"max backoff":     {func(c *Config) { c.MaxBackoff = -1 }, "MaxBackoff"},
		"backoff order":   {func(c *Config) { c.InitialBackoff, c.MaxBackoff = time.Minute, time.Second }, "InitialBackoff"},
		"attempts":        {func(c *Config) { c.MaxAttempts = -2 }, "MaxAttempts"},
		"too many":        {func(c *Config) { c.MaxAttempts = MaxMaxAttempts + 1 }, "MaxAttempts"},
		"rate NaN":        {func(c *Config) { c.RateLimit = math.NaN() }, "RateLimit"},
		"rate negative":   {func(c *Config) { c.RateLimit = -1 }, "RateLimit"},
		"burst":           {func(c *Config) { c.RateBurst = -1 }, "RateBurst"},
		"body":            {func(c *Config) { c.MaxBodyBytes = -5 }, "MaxBodyBytes"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := ok
			tc.mutate(&cfg)
			err := cfg.Validate()
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field {
				t.Fatalf("Validate = %v, want a ConfigError on %s", err, tc.field)
			}
			if Classify(err) != kind.Config {
				t.Fatalf("Classify = %v", Classify(err))
			}
			if _, err := New(cfg); err == nil {
				t.Fatal("New accepted an invalid config")
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatal("secret in validation error")
			}
		})
	}
	// All problems are reported at once.
	err := Config{BaseURL: "gopher://x"}.Validate()
	for _, f := range []string{"AppID", "Secret", "BaseURL"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("joined error lacks %s: %v", f, err)
		}
	}
}

func TestConfigRedactsSecret(t *testing.T) {
	cfg := DefaultConfig()
	cfg.AppID, cfg.Secret = testAppID, testSecret
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "cfg", cfg)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "cfg", cfg)
	for _, s := range []string{cfg.String(), fmt.Sprint(cfg), fmt.Sprintf("%+v %#v %v", cfg, cfg, &cfg), logs.String()} {
		if strings.Contains(s, testSecret) {
			t.Fatalf("secret leaked: %s", s)
		}
		if !strings.Contains(s, testAppID) || !strings.Contains(s, redacted) {
			t.Fatalf("appid or redaction marker missing: %s", s)
		}
	}
}
