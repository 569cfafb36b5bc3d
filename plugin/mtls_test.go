package plugin

import (
	"bytes"
	"crypto/tls"
	"net"
	"strings"
	"testing"
)

// handshake runs a TLS handshake between client and server configs over
// a loopback TCP connection and returns each side's error.
func handshake(t *testing.T, client, server *tls.Config) (cerr, serr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer raw.Close()
		done <- tls.Server(raw, server).Handshake()
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// In TLS 1.3 the client's handshake ends before the server has checked
	// its certificate: a refused client shows in serr.
	return tls.Client(raw, client).Handshake(), <-done
}

// pluginSide parses the credentials a launch hands the plugin.
func pluginSide(t *testing.T, c *Credentials) *tls.Config {
	t.Helper()
	cfg, err := parseCredentials(c.plugin)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The host dials the plugin, and the plugin dials the host's broker: both
// handshakes complete, each side having checked the other's certificate.
func TestCredentialsHandshakeBothWays(t *testing.T) {
	c, err := NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	host, plug := c.hostConfig(), pluginSide(t, c)
	if cerr, serr := handshake(t, host, plug); cerr != nil || serr != nil {
		t.Errorf("host → plugin: client %v, server %v", cerr, serr)
	}
	if cerr, serr := handshake(t, plug, host); cerr != nil || serr != nil {
		t.Errorf("plugin → host broker: client %v, server %v", cerr, serr)
	}
}

// A plugin or host of another host process (other credentials), or a
// client without a certificate, is refused.
func TestCredentialsRefuseStrangers(t *testing.T) {
	mine, err := NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	if cerr, _ := handshake(t, mine.hostConfig(), pluginSide(t, theirs)); cerr == nil {
		t.Error("the host accepted a plugin whose certificate another authority signed")
	}
	if _, serr := handshake(t, pluginSide(t, theirs), mine.hostConfig()); serr == nil {
		t.Error("the host's broker accepted a client whose certificate another authority signed")
	}
	anon := &tls.Config{RootCAs: mine.pool, ServerName: tlsServerName, MinVersion: tls.VersionTLS13}
	if _, serr := handshake(t, anon, pluginSide(t, mine)); serr == nil {
		t.Error("the plugin accepted a client without a certificate")
	}
}

// What the plugin reads is checked: anything but the three blocks is an
// error that shows no key material.
func TestParseCredentialsRefusesBadInput(t *testing.T) {
	c, err := NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	key := string(c.plugin[bytes.LastIndex(c.plugin, []byte("-----BEGIN")):])
	bad := map[string][]byte{
		"empty":         nil,
		"garbage":       []byte("not pem"),
		"two blocks":    c.plugin[:bytes.LastIndex(c.plugin, []byte("-----BEGIN"))],
		"key corrupted": bytes.Replace(c.plugin, []byte(key[40:60]), []byte(strings.Repeat("A", 20)), 1),
	}
	for name, in := range bad {
		_, err := parseCredentials(in)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), key[40:60]) {
			t.Errorf("%s: the error shows key material: %v", name, err)
		}
	}
}

// Without the variable the plugin serves without TLS; with any descriptor
// but 3 it refuses to start.
func TestPluginTLSFromEnvironment(t *testing.T) {
	t.Setenv(EnvTLSFD, "")
	if cfg, err := pluginTLS(); cfg != nil || err != nil {
		t.Errorf("unset: %v, %v; want no TLS", cfg, err)
	}
	for _, v := range []string{"4", "x", "-1"} {
		t.Setenv(EnvTLSFD, v)
		if _, err := pluginTLS(); err == nil {
			t.Errorf("%s=%s: accepted", EnvTLSFD, v)
		}
	}
}
