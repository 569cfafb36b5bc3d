package main

// Security tests of the host (docs/security.md): no secret or token in any
// output under every fault that touches tokens or bodies; the plugin's
// environment holds no secret; plugin checksum and mTLS; a hostile AppID;
// TLS and a password to a ClickHouse server of the test's own.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxsync/wxsync/connector/wxsim"
	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/plugin/host"
	"github.com/wxsync/wxsync/sink"
)

// secSecret is the AppSecret of these tests: distinctive, so that any
// occurrence in output is a leak.
const secSecret = "SecTest-AppSecret-d41d8cd98f00b204-NEVER-PRINT"

// allStreams syncs every stream, so that batchget, tags and the blacklist
// carry tokens too.
const allStreams = "WXSYNC_STREAMS=followers,users,tags,blacklist"

func secOptions() wxsim.Options {
	o := wxsim.DefaultOptions()
	o.Secret = secSecret
	o.Followers, o.PageSize = 2500, 1000
	o.Blacklisted, o.BlacklistPageSize = 30, 20
	return o
}

// assertNoSecrets fails the test if output holds any of secrets.
func assertNoSecrets(t *testing.T, what, output string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if i := strings.Index(output, s); i >= 0 {
			t.Fatalf("%s holds a secret (%d bytes long) at byte %d:\n%s", what, len(s), i, output)
		}
	}
}

// TestSecurityNoSecretsUnderFaults runs the host through every wxsim fault
// that touches tokens or bodies, at debug level, and searches everything it
// printed (its own lines and the plugin's, forwarded), and the error it
// recorded in ClickHouse, for the secret and every token wxsim issued.
func TestSecurityNoSecretsUnderFaults(t *testing.T) {
	at := func(path string, call int, kind wxsim.FaultKind, times int) []wxsim.Fault {
		return []wxsim.Fault{{Path: path, Call: call, Kind: kind, Times: times}}
	}
	ug := wxsim.PathUserGet
	for _, c := range []struct {
		name   string
		faults []wxsim.Fault
		revoke bool // revoke every token before user/get call 2
		env    []string
		want   int
	}{
		{name: "revoke-mid-run", revoke: true, want: exitOK},
		{name: "revoke-mid-run/classic", revoke: true, env: []string{"WECHAT_TOKEN_MODE=classic"}, want: exitOK},
		{name: "42001", faults: at(ug, 2, wxsim.FaultExpired, 1), want: exitOK},
		{name: "42001/batchget", faults: at(wxsim.PathBatchGet, 3, wxsim.FaultExpired, 1), want: exitOK},
		{name: "40001", faults: at(ug, 2, wxsim.FaultInvalidToken, 1), want: exitOK},
		{name: "40001/classic", faults: at(ug, 2, wxsim.FaultInvalidToken, 1), env: []string{"WECHAT_TOKEN_MODE=classic"}, want: exitOK},
		// Three busy answers take up to 5.25 s of backoff (0.75+1.5+3 s at
		// most), past the harness's 5 s retry time: the attempts, not the
		// clock, must be what this case meets.
		{name: "-1-burst", faults: at(ug, 2, wxsim.FaultBusy, 3), env: []string{"WECHAT_MAX_RETRY_TIME=1m"}, want: exitOK},
		{name: "-1-exhausted", faults: at(ug, 0, wxsim.FaultBusy, 0), env: []string{"WECHAT_MAX_ATTEMPTS=2"}, want: exitTempFail},
		{name: "45011", faults: at(ug, 2, wxsim.FaultTooFrequent, 2), want: exitOK},
		{name: "502-html", faults: at(ug, 2, wxsim.FaultBadGateway, 1), want: exitOK},
		{name: "502-html/token", faults: at(wxsim.PathStableToken, 1, wxsim.FaultBadGateway, 1), want: exitOK},
		{name: "truncated-json", faults: at(ug, 2, wxsim.FaultTruncated, 1), want: exitOK},
		{name: "truncated-json/classic-token", faults: at(wxsim.PathToken, 1, wxsim.FaultTruncated, 1), env: []string{"WECHAT_TOKEN_MODE=classic"}, want: exitOK},
		{name: "not-json", faults: at(wxsim.PathTagsGet, 1, wxsim.FaultNotJSON, 1), want: exitOK},
		{name: "reset", faults: at(ug, 2, wxsim.FaultReset, 1), want: exitOK},
		{name: "reset/classic-token", faults: at(wxsim.PathToken, 1, wxsim.FaultReset, 1), env: []string{"WECHAT_TOKEN_MODE=classic"}, want: exitOK},
		{name: "slow-beyond-timeout", faults: []wxsim.Fault{{Path: ug, Call: 2, Kind: wxsim.FaultSlow, Delay: 4 * time.Second}},
			env: []string{"WECHAT_HTTP_TIMEOUT=1s"}, want: exitOK},
		{name: "48001", faults: at(ug, 2, wxsim.FaultUnauthorized, 1), want: exitConfigErr},
		{name: "45009", faults: at(ug, 2, wxsim.FaultQuota, 1), want: exitTempFail},
		{name: "40164", faults: at(ug, 2, wxsim.FaultIPWhitelist, 1), want: exitConfigErr},
		{name: "40164/token", faults: at(wxsim.PathStableToken, 1, wxsim.FaultIPWhitelist, 1), want: exitConfigErr},
		{name: "bad-utf8", faults: at(ug, 2, wxsim.FaultBadUTF8, 1), want: exitFailure},
		{name: "bad-utf8/batchget", faults: at(wxsim.PathBatchGet, 2, wxsim.FaultBadUTF8, 1), want: exitFailure},
		{name: "huge-body", faults: at(ug, 2, wxsim.FaultHugeBody, 1), want: exitFailure},
		{name: "wrong-secret", env: []string{"WECHAT_SECRET=" + secSecret + "-wrong"}, want: exitConfigErr},
		{name: "wrong-secret/classic", env: []string{"WECHAT_SECRET=" + secSecret + "-wrong", "WECHAT_TOKEN_MODE=classic"}, want: exitConfigErr},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := secOptions()
			opts.Faults = c.faults
			e := newEnv(t, opts)
			if c.revoke {
				var n atomic.Int64
				e.setGate(func(r *http.Request) {
					if r.URL.Path == wxsim.PathUserGet && n.Add(1) == 2 {
						e.sim.Revoke()
					}
				})
			}
			env := append([]string{"WXSYNC_LOG_LEVEL=debug", allStreams}, c.env...)
			r := e.sync(c.want, env...)
			tokens := e.sim.TokensIssued()
			if !strings.Contains(c.name, "wrong-secret") && !strings.HasSuffix(c.name, "/token") && len(tokens) == 0 {
				t.Fatal("no token was issued: the scenario does not test what it should")
			}
			if c.revoke && len(tokens) < 2 {
				t.Fatalf("%d tokens issued, want a new one after the revocation", len(tokens))
			}
			if !strings.Contains(r.output, "level=DEBUG") || !strings.Contains(r.output, "wechat request") {
				t.Fatalf("no debug output from the host and the plugin:\n%s", r.output)
			}
			secrets := append([]string{secSecret}, tokens...)
			assertNoSecrets(t, "the output", r.output, secrets...)
			if slices.Contains(e.tables(), "wxsync_runs") {
				for _, row := range e.rows("SELECT error FROM {db}.wxsync_runs") {
					assertNoSecrets(t, "wxsync_runs.error", row[0], secrets...)
				}
			}
		})
	}
}

// The plugin never holds the AppSecret or the ClickHouse DSN in its
// environment: it gets the secret in its requests and never sees
// ClickHouse.
func TestSecurityPluginEnvironment(t *testing.T) {
	e := newEnv(t, secOptions())
	h := e.holdUserGet(1)
	p := e.start(nil, "sync")
	h.wait(p)
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pluginPID(t, p.cmd.Process.Pid)))
	h.Release()
	if err != nil {
		t.Fatal(err)
	}
	p.waitExit(exitOK)
	env := strings.ReplaceAll(string(environ), "\x00", "\n")
	for _, bad := range []string{secSecret, "WECHAT_SECRET=", "CLICKHOUSE_DSN=", e.dsn} {
		if strings.Contains(env, bad) {
			t.Errorf("the plugin's environment holds %q", bad)
		}
	}
	if !strings.Contains(env, plugin.EnvTLSFD+"=3") {
		t.Error("the plugin got no TLS credentials: mTLS is not on by default")
	}
	if strings.Contains(env, "PRIVATE KEY") || strings.Contains(env, "CERTIFICATE") {
		t.Error("the plugin's environment holds its TLS credentials; they go through a pipe")
	}
	e.wantCurrent()
}

// TestSecurityPluginChecksum: the right SHA-256 runs the plugin, a wrong one
// refuses to (exit 78, the binary never started), a malformed one is a
// configuration error.
func TestSecurityPluginChecksum(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(binDir, host.PluginBinary))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	good := hex.EncodeToString(sum[:])
	wrong := sum
	wrong[0] ^= 1

	e := newEnv(t, secOptions())
	r := e.sync(exitConfigErr, "WXSYNC_PLUGIN_SHA256="+hex.EncodeToString(wrong[:]))
	for _, want := range []string{"SHA-256", good, hex.EncodeToString(wrong[:]), "refusing to run it"} {
		if !strings.Contains(r.output, want) {
			t.Errorf("the mismatch message lacks %q:\n%s", want, r.output)
		}
	}
	if calls := e.sim.Calls(); len(calls) != 0 {
		t.Errorf("the plugin ran despite the wrong checksum: API calls %v", calls)
	}
	for _, bad := range []string{"xyz", good[:62], good + "00"} {
		r := e.sync(exitConfigErr, "WXSYNC_PLUGIN_SHA256="+bad)
		if !strings.Contains(r.output, "WXSYNC_PLUGIN_SHA256") {
			t.Errorf("malformed checksum %q: the message does not name the setting:\n%s", bad, r.output)
		}
	}
	e.sync(exitOK, "WXSYNC_PLUGIN_SHA256="+strings.ToUpper(good))
	e.wantCurrent()
	// check and discover launch the plugin the same way.
	if r := e.run([]string{"WXSYNC_PLUGIN_SHA256=" + hex.EncodeToString(wrong[:])}, "discover"); r.code != exitConfigErr || !strings.Contains(r.output, "SHA-256") {
		t.Errorf("discover with a wrong checksum exited %d:\n%s", r.code, r.output)
	}
	if r := e.run([]string{"WXSYNC_PLUGIN_SHA256=" + good}, "discover"); r.code != exitOK {
		t.Errorf("discover with the right checksum exited %d:\n%s", r.code, r.output)
	}
}

// TestSecurityPluginMTLS: a sync of followers and users (whose NeedProfiles
// calls go back to the host through go-plugin's broker) is exact with
// mutual TLS on and off.
func TestSecurityPluginMTLS(t *testing.T) {
	for _, on := range []string{"true", "false"} {
		t.Run("mtls="+on, func(t *testing.T) {
			e := newEnv(t, secOptions())
			e.sync(exitOK, "WXSYNC_PLUGIN_MTLS="+on, "WXSYNC_STREAMS=followers,users")
			e.wantCurrent()
			appid := e.sim.Options().AppID
			if got, want := e.count("SELECT uniqExact(openid) AS x FROM {db}.wechat_users WHERE appid = ?", appid), uint64(e.sim.Total()); got != want {
				t.Fatalf("wechat_users holds %d profiles, wxsim %d followers", got, want)
			}
		})
	}
}

// hostileAppIDs would break a statement that formatted them into SQL.
var hostileAppIDs = []string{
	`wx'); DROP TABLE wechat_followers; --`,
	`wx\'\\' OR 1=1 --`,
	"wx\"`; DROP DATABASE default",
	"wx\nDROP TABLE wxsync_state",
	strings.Repeat("w", 65),
}

// An AppID that is not one is a configuration error (exit 78) before the
// run touches a stream: no state, no snapshot, no row is written for it,
// and the tables are intact.
func TestSecurityHostileAppID(t *testing.T) {
	opts := secOptions()
	opts.Followers = 1200
	e := newEnv(t, opts)
	e.sync(exitOK)
	before := e.current()
	for _, id := range hostileAppIDs {
		for _, cmd := range [][]string{{"sync"}, {"check"}, {"state", "show"}, {"state", "reset", "--yes"}} {
			r := e.run([]string{"WECHAT_APPID=" + id, allStreams}, cmd...)
			if r.code != exitConfigErr || !strings.Contains(r.output, "WECHAT_APPID") {
				t.Errorf("%s with WECHAT_APPID %q exited %d, want %d naming WECHAT_APPID:\n%s", strings.Join(cmd, " "), id, r.code, exitConfigErr, r.output)
			}
		}
		for _, table := range []string{"wxsync_state", "wechat_snapshots", "wechat_followers", "wechat_users", "wechat_tags", "wechat_blacklist"} {
			if n := e.count("SELECT count() AS x FROM {db}."+table+" WHERE appid = ?", id); n != 0 {
				t.Errorf("%s holds %d rows of WECHAT_APPID %q", table, n, id)
			}
		}
	}
	if got := e.current(); !slices.Equal(got, before) {
		t.Fatalf("the current followers changed: %d before, %d after", len(before), len(got))
	}
	e.sync(exitOK)
	e.wantCurrent()
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// tlsClickHouse is a disposable ClickHouse server with a TLS native port and
// a user with a password, confined to one database.
type tlsClickHouse struct {
	plainPort, tlsPort int
	user, password, db string
}

func (s *tlsClickHouse) dsn(password, query string, port int) string {
	u := url.URL{Scheme: "clickhouse", User: url.UserPassword(s.user, password),
		Host: fmt.Sprintf("127.0.0.1:%d", port), Path: "/" + s.db, RawQuery: query}
	return u.String()
}

// startTLSClickHouse starts the server with sink/devserver/clickhouse.sh and
// a self-signed certificate made by openssl; it is stopped when the test
// ends.
func startTLSClickHouse(t *testing.T) *tlsClickHouse {
	t.Helper()
	for _, bin := range []string{"clickhouse-server", "clickhouse-client", "openssl"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed: %v", bin, err)
		}
	}
	dir := t.TempDir()
	crt, key := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	gen := exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
		"-subj", "/CN=localhost", "-keyout", key, "-out", crt)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	s := &tlsClickHouse{
		plainPort: freePort(t), tlsPort: freePort(t),
		user: "wxsync", db: "wxsync_tls",
		// URL-special characters, so that every form of it in a DSN is tried.
		password: "Pw/" + hex.EncodeToString(rnd[:]) + ":@?&%# end",
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "sink", "devserver", "clickhouse.sh"))
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "ch")
	start := exec.Command("bash", script, "start", data, fmt.Sprint(s.plainPort), fmt.Sprint(freePort(t)))
	start.Env = append(os.Environ(), "CH_TLS_CERT="+crt, "CH_TLS_KEY="+key, fmt.Sprintf("CH_TLS_PORT=%d", s.tlsPort),
		"CH_USER="+s.user, "CH_PASSWORD="+s.password, "CH_USER_DB="+s.db)
	t.Cleanup(func() {
		if out, err := exec.Command("bash", script, "stop", data).CombinedOutput(); err != nil {
			t.Errorf("stop the TLS ClickHouse: %v\n%s", err, out)
		}
	})
	if out, err := start.CombinedOutput(); err != nil {
		t.Fatalf("start a ClickHouse with TLS: %v\n%s", err, out)
	}
	return s
}

// TestSecurityClickHouseTLS syncs into a ClickHouse over TLS
// (secure=true) as a user with a password who may use one database only,
// and checks that the password never shows, in success or failure.
func TestSecurityClickHouseTLS(t *testing.T) {
	ch := startTLSClickHouse(t)
	opts := secOptions()
	opts.Followers = 1500
	e := newEnv(t, opts)
	good := ch.dsn(ch.password, "secure=true&skip_verify=true", ch.tlsPort)
	secrets := []string{ch.password, url.UserPassword("u", ch.password).String()[2:], url.QueryEscape(ch.password), url.PathEscape(ch.password)}

	r := e.sync(exitOK, "CLICKHOUSE_DSN="+good, "WXSYNC_LOG_LEVEL=debug", allStreams)
	assertNoSecrets(t, "the output of a sync over TLS", r.output, secrets...)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sk, err := sink.Open(ctx, sink.Config{DSN: good})
	if err != nil {
		t.Fatal(err)
	}
	defer sk.Close()
	var n uint64
	if err := sk.Conn().QueryRow(ctx, "SELECT count() FROM `"+ch.db+"`.wechat_followers_current WHERE appid = ?", opts.AppID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != uint64(e.sim.Total()) {
		t.Fatalf("%d followers landed over TLS, wxsim has %d", n, e.sim.Total())
	}

	for _, c := range []struct {
		name, dsn, want string
		cmd             []string
	}{
		{"wrong password", ch.dsn("Wrong-"+ch.password, "secure=true&skip_verify=true", ch.tlsPort), "password", []string{"sync"}},
		{"wrong password/check", ch.dsn("Wrong-"+ch.password, "secure=true&skip_verify=true", ch.tlsPort), "password", []string{"check"}},
		{"wrong password/state", ch.dsn("Wrong-"+ch.password, "secure=true&skip_verify=true", ch.tlsPort), "password", []string{"state", "show"}},
		{"self-signed certificate verified", ch.dsn(ch.password, "secure=true", ch.tlsPort), "certificate", []string{"sync"}},
		{"TLS to the plain port", ch.dsn(ch.password, "secure=true&skip_verify=true&dial_timeout=3s", ch.plainPort), "ClickHouse", []string{"sync"}},
		{"another database", strings.Replace(good, "/"+ch.db+"?", "/other_db?", 1), "ClickHouse", []string{"sync"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.run([]string{"CLICKHOUSE_DSN=" + c.dsn, "WXSYNC_LOG_LEVEL=debug"}, c.cmd...)
			if r.code != exitConfigErr || !strings.Contains(r.output, c.want) {
				t.Errorf("exited %d, want %d with a message saying %q:\n%s", r.code, exitConfigErr, c.want, r.output)
			}
			assertNoSecrets(t, "the output", r.output, append(secrets, "Wrong-"+ch.password)...)
			for _, l := range strings.Split(r.output, "\n") {
				if strings.Contains(l, "configuration error") || strings.Contains(l, "FAIL") {
					t.Log(l)
				}
			}
		})
	}
}

// A plugin told to read TLS credentials that it cannot read exits 1
// without serving: no handshake line, so no host can talk to it in clear.
func TestSecurityPluginWithoutItsCredentials(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.Close() // an empty pipe: not the three PEM blocks
	defer r.Close()
	cookie := plugin.Handshake()
	cmd := exec.Command(filepath.Join(binDir, host.PluginBinary))
	cmd.Env = []string{cookie.MagicCookieKey + "=" + cookie.MagicCookieValue, "PLUGIN_PROTOCOL_VERSIONS=1", plugin.EnvTLSFD + "=3"}
	cmd.ExtraFiles = []*os.File{r}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("the plugin ended with %v, want exit 1\nstderr: %s", err, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("the plugin printed a handshake line: %q", stdout.String())
	}
	if !strings.Contains(stderr.String(), "TLS credentials") {
		t.Errorf("the plugin did not say why it stopped: %s", stderr.String())
	}
}
