package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"

	"github.com/wxsync/wxsync/connector/wechat"
)

// loadEnv loads a Config from env alone.
func loadEnv(t *testing.T, env map[string]string) Config {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c, _, err := loadConfig(context.Background(), envconfig.MapLookuper(env), fs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The WeChat client settings take the client's defaults: an empty
// environment makes exactly wechat.DefaultConfig, and the reference prints
// those defaults.
func TestWechatSettingsDefaults(t *testing.T) {
	got := reflect.ValueOf(loadEnv(t, nil).wechatConfig())
	want := reflect.ValueOf(wechat.DefaultConfig())
	n := 0
	wechatFields(func(_ int, f reflect.StructField, clientField string) {
		n++
		if g, w := got.FieldByName(clientField), want.FieldByName(clientField); !reflect.DeepEqual(g.Interface(), w.Interface()) {
			t.Errorf("%s (wechat.Config.%s) defaults to %v, want the client's %v", f.Name, clientField, g, w)
		}
	})
	if n != 8 {
		t.Fatalf("%d Config fields have a wechat tag, want 8 (credentials, API base, token mode, timeout, attempts, retry time, rate limit)", n)
	}
	defs := map[string]string{}
	for _, s := range settings() {
		defs[s.env] = s.def
	}
	for env, want := range map[string]string{
		"WECHAT_API_BASE": wechat.DefaultBaseURL, "WECHAT_TOKEN_MODE": string(wechat.TokenModeStable),
		"WECHAT_HTTP_TIMEOUT": "15s", "WECHAT_MAX_ATTEMPTS": "6", "WECHAT_MAX_RETRY_TIME": "2m", "WECHAT_RATE_LIMIT": "0",
	} {
		if defs[env] != want {
			t.Errorf("the reference's default of %s is %q, want %q", env, defs[env], want)
		}
	}
}

// The WeChat client settings are checked by wechat.Config.Validate, each
// problem named by its variable and flag.
func TestWechatSettingsValidation(t *testing.T) {
	creds := map[string]string{"WECHAT_APPID": "wx0123456789abcdef", "WECHAT_SECRET": "s"}
	for _, c := range []struct {
		env, value string
		field      string // the wechat.Config field at fault ("": valid)
		says       string
	}{
		{env: "WECHAT_MAX_ATTEMPTS", value: "100"},
		{env: "WECHAT_MAX_ATTEMPTS", value: "101", field: "MaxAttempts", says: "WECHAT_MAX_ATTEMPTS (--max-attempts): 101: must be 1 to 100"},
		{env: "WECHAT_MAX_ATTEMPTS", value: "-1", field: "MaxAttempts", says: "WECHAT_MAX_ATTEMPTS (--max-attempts)"},
		{env: "WECHAT_API_BASE", value: "ftp://x.example", field: "BaseURL", says: "WECHAT_API_BASE (--api-base)"},
		{env: "WECHAT_API_BASE", value: "https://x.example/?a=b", field: "BaseURL", says: "must not carry a query"},
		{env: "WECHAT_TOKEN_MODE", value: "central", field: "TokenMode", says: "WECHAT_TOKEN_MODE (--token-mode)"},
		{env: "WECHAT_HTTP_TIMEOUT", value: "-1s", field: "HTTPTimeout", says: "WECHAT_HTTP_TIMEOUT (--http-timeout)"},
		{env: "WECHAT_MAX_RETRY_TIME", value: "-1m", field: "MaxElapsed", says: "WECHAT_MAX_RETRY_TIME (--max-retry-time)"},
		{env: "WECHAT_RATE_LIMIT", value: "-1", field: "RateLimit", says: "WECHAT_RATE_LIMIT (--rate-limit)"},
		{env: "WECHAT_APPID", value: "wx 1", field: "AppID", says: "WECHAT_APPID (--appid)"},
	} {
		t.Run(c.env+"="+c.value, func(t *testing.T) {
			env := map[string]string{c.env: c.value}
			for k, v := range creds {
				if _, ok := env[k]; !ok {
					env[k] = v
				}
			}
			cfg := loadEnv(t, env)
			err := cfg.Validate(true)
			clientErr := cfg.wechatConfig().Validate()
			if c.field == "" {
				if err != nil || clientErr != nil {
					t.Fatalf("Validate = %v, client's Validate = %v; want both nil", err, clientErr)
				}
				return
			}
			var ce *wechat.ConfigError
			if !strings.Contains(errText(err), c.says) || !errors.As(clientErr, &ce) || ce.Field != c.field {
				t.Fatalf("Validate = %v (want it to say %q); client's = %v (want a ConfigError on %s)", err, c.says, clientErr, c.field)
			}
			if !strings.Contains(err.Error(), ce.Problem) {
				t.Fatalf("Validate = %v, does not give the client's reason %q", err, ce.Problem)
			}
		})
	}
}

// Only sync and check need the credentials; a missing one is reported
// once, by the host.
func TestWechatCredentialsRequiredOnlyByAccountCommands(t *testing.T) {
	cfg := loadEnv(t, nil)
	if err := cfg.Validate(false); err != nil {
		t.Fatalf("Validate(false) without credentials = %v", err)
	}
	err := cfg.Validate(true)
	for _, s := range []string{"WECHAT_APPID (--appid) is not set", "WECHAT_SECRET is not set"} {
		if strings.Count(errText(err), s) != 1 {
			t.Errorf("Validate(true) = %v, want %q once", err, s)
		}
	}
	if strings.Contains(errText(err), "missing") {
		t.Errorf("Validate(true) = %v: the client's own 'missing' problem is reported too", err)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
