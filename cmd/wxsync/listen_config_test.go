package main

import (
	"strings"
	"testing"
	"time"
)

// Platform mode needs the platform's EncodingAESKey (its pushes are always
// encrypted) and the credentials key (tickets are stored sealed), but no
// account.
func TestValidateListenPlatformMode(t *testing.T) {
	c := Config{Token: "platformtoken", ListenAddr: ":8080", ListenPath: "/platform", ReplayWindow: time.Minute,
		ListenMaxBody: 65536, ComponentAppID: "wxc0mp0nent0000001"}
	err := c.ValidateListen()
	if err == nil || !strings.Contains(err.Error(), "needs WECHAT_AES_KEY") || !strings.Contains(err.Error(), "needs WXSYNC_CREDENTIALS_KEY") {
		t.Fatalf("without the keys: %v", err)
	}
	c.AESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	c.CredentialsKeyFile = "/run/secrets/wxsync-credentials-key"
	if err := c.ValidateListen(); err != nil {
		t.Fatalf("with both keys: %v", err)
	}
	c.ComponentAppID, c.AESKey, c.CredentialsKeyFile = "", "", ""
	if err := c.ValidateListen(); err != nil {
		t.Fatalf("account mode in plain text needs neither key: %v", err)
	}
}

// The account-list settings are checked in one place, each naming its
// variable.
func TestAccountsSettingsProblems(t *testing.T) {
	ok := Config{Parallel: 4, AccountsPerPlugin: 1, MaxInFlight: 32}
	if errs := ok.accountsProblems(); len(errs) != 0 {
		t.Fatalf("the defaults: %v", errs)
	}
	for _, tc := range []struct {
		mutate func(*Config)
		says   string
	}{
		{func(c *Config) { c.Parallel = 0 }, "WXSYNC_PARALLEL 0: want 1 to 256"},
		{func(c *Config) { c.Parallel = 257 }, "WXSYNC_PARALLEL 257: want 1 to 256"},
		{func(c *Config) { c.AccountsPerPlugin = 0 }, "WXSYNC_ACCOUNTS_PER_PLUGIN 0: want 1 to 10000"},
		{func(c *Config) { c.AccountsPerPlugin = 10001 }, "WXSYNC_ACCOUNTS_PER_PLUGIN 10001: want 1 to 10000"},
		{func(c *Config) { c.MaxInFlight = 0 }, "WXSYNC_MAX_IN_FLIGHT 0: want at least 1"},
		{func(c *Config) { c.Shard = "4/4" }, "4/4"},
	} {
		c := ok
		tc.mutate(&c)
		errs := c.accountsProblems()
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.says) {
			t.Errorf("want one problem saying %q, got %v", tc.says, errs)
		}
	}
}
