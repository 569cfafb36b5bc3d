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
