package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wxsync/wxsync/connector/wxsim"
	"github.com/wxsync/wxsync/plugin/host"
	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

// credentialsKey seals the test's credentials (64 hex digits).
const credentialsKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

// testPlatform is the simulated third-party platform.
var testPlatform = wxsim.PlatformOptions{ComponentAppID: "wxc0mp0nent0000001", ComponentSecret: "component-secret-SHH",
	Token: "platformtoken", EncodingAESKey: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}

// manyEnv is many accounts in one wxsim.Multi and one ClickHouse database.
type manyEnv struct {
	t      testing.TB
	multi  *wxsim.Multi
	api    *httptest.Server
	tokens *httptest.Server // the central token service
	sink   *sink.Sink
	dsn    string
	dir    string
	env    []string // the accounts' secrets, as the list references them
}

func newManyEnv(tb testing.TB) *manyEnv {
	tb.Helper()
	m := wxsim.NewMulti(testPlatform)
	e := &manyEnv{t: tb, multi: m, api: httptest.NewServer(m), tokens: httptest.NewServer(m.TokenService("bearer-SHH")), dir: tb.TempDir()}
	tb.Cleanup(e.api.Close)
	tb.Cleanup(e.tokens.Close)
	e.sink = sinktest.OpenEmpty(tb, sink.Config{})
	e.dsn = sinktest.DSN(tb, e.sink.Database())
	return e
}

// appid is the i-th test account's appid.
func appid(i int) string { return fmt.Sprintf("wxacct%012d", i) }

// addAccount adds account i with followers, changed by mutate, and
// returns its list entry: its own secret through secret_env, unless
// source says "service" or "platform".
func (e *manyEnv) addAccount(i, followers int, source string, mutate func(*wxsim.Options)) map[string]string {
	e.t.Helper()
	o := wxsim.DefaultOptions()
	o.AppID, o.Secret, o.Seed, o.Followers, o.CallLogLimit = appid(i), fmt.Sprintf("secret-%d-SHH", i), uint64(1000+i), followers, 0
	o.PageSize = 50
	if mutate != nil {
		mutate(&o)
	}
	_, refresh, err := e.multi.Add(o, source == "platform")
	if err != nil {
		e.t.Fatal(err)
	}
	entry := map[string]string{"appid": o.AppID}
	switch source {
	case "service":
		entry["token_service"] = "central"
	case "platform":
		entry["platform"] = "agency"
		entry["refresh_token_env"] = fmt.Sprintf("RT_%d", i)
		e.env = append(e.env, fmt.Sprintf("RT_%d=%s", i, refresh))
	default:
		entry["secret_env"] = fmt.Sprintf("SECRET_%d", i)
		e.env = append(e.env, fmt.Sprintf("SECRET_%d=%s", i, o.Secret))
	}
	return entry
}

// writeList writes the account list and returns its path.
func (e *manyEnv) writeList(entries []map[string]string) string {
	e.t.Helper()
	list := map[string]any{
		"token_services": map[string]any{"central": map[string]string{"url": e.tokens.URL, "bearer_env": "TOKEN_BEARER"}},
		"platforms":      map[string]any{"agency": map[string]string{"component_appid": testPlatform.ComponentAppID, "component_secret_file": e.secretFile("component", testPlatform.ComponentSecret)}},
		"accounts":       entries,
	}
	b, _ := json.MarshalIndent(list, "", "  ")
	path := filepath.Join(e.dir, "accounts.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

func (e *manyEnv) secretFile(name, value string) string {
	path := filepath.Join(e.dir, name)
	if err := os.WriteFile(path, []byte(value+"\n"), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// run runs `wxsync args...` with the list's secrets in its environment.
func (e *manyEnv) run(args ...string) result {
	e.t.Helper()
	var out bytes.Buffer
	cmd := e.command(nil, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		e.t.Fatalf("run wxsync: %v", err)
	}
	return result{code: cmd.ProcessState.ExitCode(), output: out.String()}
}

// command is `wxsync args...` with the list's secrets and extra in its
// environment.
func (e *manyEnv) command(extra []string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(binDir, "wxsync"), args...)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"WECHAT_API_BASE=" + e.api.URL,
		"CLICKHOUSE_DSN=" + e.dsn,
		"WECHAT_MAX_RETRY_TIME=5s",
		"WECHAT_HTTP_TIMEOUT=5s",
		"CLICKHOUSE_RETRY_TIME=5s",
		"WXSYNC_STREAMS=followers,users",
		"TOKEN_BEARER=bearer-SHH",
		"WXSYNC_CREDENTIALS_KEY=" + credentialsKey,
	}, append(e.env, extra...)...)
	return cmd
}

// pairs returns "appid openid" of a query's two columns, sorted.
func (e *manyEnv) pairs(q string) []string {
	e.t.Helper()
	q = strings.ReplaceAll(q, "{db}", "`"+e.sink.Database()+"`")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := e.sink.Conn().Query(ctx, q)
	if err != nil {
		e.t.Fatalf("query %s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, a+" "+b)
	}
	slices.Sort(out)
	return out
}

// wantExact fails unless the current followers and the profiles of the
// accounts ids are exactly wxsim's.
func (e *manyEnv) wantExact(ids []int) {
	e.t.Helper()
	var want, in []string
	for _, i := range ids {
		in = append(in, "'"+appid(i)+"'")
		for _, o := range e.multi.Account(appid(i)).FollowerOpenIDs() {
			want = append(want, appid(i)+" "+o)
		}
	}
	slices.Sort(want)
	where := " WHERE appid IN (" + strings.Join(in, ",") + ")"
	for _, q := range []string{
		"SELECT appid, openid FROM {db}.wechat_followers_current" + where,
		"SELECT appid, openid FROM {db}.wechat_users FINAL" + where,
	} {
		if got := e.pairs(q); !slices.Equal(got, want) {
			e.t.Fatalf("%s: %d rows, want %d (first difference: %s)", q, len(got), len(want), firstDiff(got, want))
		}
	}
}

// runStatuses returns "appid status" of every wxsync_runs row.
func (e *manyEnv) runStatuses() []string {
	return e.pairs("SELECT appid, status FROM {db}.wxsync_runs")
}

// pluginExited is the line the host logs as each plugin process ends.
const pluginExited = "plugin process exited"

func TestSyncManyAccountsIsolatesFailures(t *testing.T) {
	e := newManyEnv(t)
	var entries []map[string]string
	const denied, quota = 17, 33
	for i := range 50 {
		var mutate func(*wxsim.Options)
		switch i {
		case denied:
			mutate = func(o *wxsim.Options) {
				o.Faults = []wxsim.Fault{{Path: wxsim.PathUserGet, Kind: wxsim.FaultUnauthorized}}
			}
		case quota: // 4 pages and the end call; 3 a day
			mutate = func(o *wxsim.Options) { o.Quotas[wxsim.PathUserGet] = 3 }
		}
		followers := 40 + i*3
		if i == quota {
			followers = 200
		}
		entries = append(entries, e.addAccount(i, followers, "secret", mutate))
	}
	list := e.writeList(entries)
	// Plugins serve up to 10 accounts in a row here, one each in the
	// rerun (the default).
	r := e.run("sync", "--accounts", list, "--parallel", "8", "--accounts-per-plugin", "10")
	if n := strings.Count(r.output, pluginExited); n < 5 || n > 8+5+2 {
		t.Errorf("%d plugins ran for 50 accounts at 10 a plugin over 8 slots, with 2 failures; want 5 to 15", n)
	}
	if r.code != 75 {
		t.Fatalf("exit %d, want 75 (one account to retry, one to fix); output:\n%s", r.code, r.output)
	}
	for _, want := range []string{
		"50 accounts (shard all)", "48 ok, 1 to retry, 1 to fix, 0 failed; exit 75",
		appid(denied) + "  config_error  78", appid(quota) + "  stopped       75",
	} {
		if !strings.Contains(r.output, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.output)
		}
	}
	if strings.Contains(r.output, "SHH") {
		t.Error("the output shows a secret")
	}
	var others []int
	var wantRuns []string
	for i := range 50 {
		st := sink.RunOK
		switch i {
		case denied:
			st = sink.RunConfigError
		case quota:
			st = sink.RunStopped
		default:
			others = append(others, i)
		}
		wantRuns = append(wantRuns, appid(i)+" "+st)
	}
	slices.Sort(wantRuns)
	if got := e.runStatuses(); !slices.Equal(got, wantRuns) {
		t.Errorf("wxsync_runs: %s", firstDiff(got, wantRuns))
	}
	e.wantExact(others)
	if got := e.pairs("SELECT appid, openid FROM {db}.wechat_followers WHERE appid = '" + appid(denied) + "'"); len(got) != 0 {
		t.Errorf("the denied account has %d follower rows", len(got))
	}

	// The next day: the quota account finishes; the denied one still needs a fix.
	e.multi.Account(appid(quota)).ResetQuota()
	r = e.run("sync", "--accounts", list, "--parallel", "8")
	if r.code != 78 || !strings.Contains(r.output, "49 ok, 0 to retry, 1 to fix") {
		t.Fatalf("rerun exit %d, want 78 with 49 ok; output:\n%s", r.code, r.output)
	}
	if n := strings.Count(r.output, pluginExited); n != 50 {
		t.Errorf("%d plugins ran for 50 accounts, want one each by default", n)
	}
	e.wantExact(append(others, quota))
}

func TestSyncAccountsSharded(t *testing.T) {
	e := newManyEnv(t)
	var entries []map[string]string
	var all []int
	for i := range 50 {
		entries = append(entries, e.addAccount(i, 20+i, "secret", nil))
		all = append(all, i)
	}
	list := e.writeList(entries)
	for i := range 4 {
		if r := e.run("sync", "--accounts", list, "--shard", fmt.Sprintf("%d/4", i)); r.code != 0 {
			t.Fatalf("shard %d/4 exit %d:\n%s", i, r.code, r.output)
		}
	}
	var want []string
	for _, i := range all {
		want = append(want, appid(i)+" "+sink.RunOK)
	}
	slices.Sort(want)
	if got := e.runStatuses(); !slices.Equal(got, want) {
		t.Fatalf("4 shards ran %d accounts (want each of 50 once): %s", len(got), firstDiff(got, want))
	}
	e.wantExact(all)
}

func TestSyncAccountsThroughATokenService(t *testing.T) {
	e := newManyEnv(t)
	entries := []map[string]string{e.addAccount(1, 120, "service", nil), e.addAccount(2, 80, "service", nil)}
	list := e.writeList(entries)
	if r := e.run("check", "--accounts", list); r.code != 0 || strings.Count(r.output, "PASS  "+appid(1)) < 2 {
		t.Fatalf("check exit %d:\n%s", r.code, r.output)
	}
	if r := e.run("sync", "--accounts", list); r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.output)
	}
	e.wantExact([]int{1, 2})
	calls := e.multi.Calls()
	if n := calls[wxsim.PathToken] + calls[wxsim.PathStableToken]; n != 0 {
		t.Errorf("%d token calls to WeChat, want none (calls %v)", n, calls)
	}
	if e.multi.ServiceTokens() < 2 {
		t.Errorf("the token service handed out %d tokens", e.multi.ServiceTokens())
	}
}

// platformListen starts `wxsync listen` in platform mode, as the
// platform's authorisation-event URL, and returns that URL once it accepts.
func (e *manyEnv) platformListen(t *testing.T) (string, *proc) {
	t.Helper()
	port := freePort(t)
	cmd := e.command([]string{
		"WECHAT_COMPONENT_APPID=" + testPlatform.ComponentAppID,
		"WECHAT_TOKEN=" + testPlatform.Token, "WECHAT_AES_KEY=" + testPlatform.EncodingAESKey,
		fmt.Sprintf("WXSYNC_LISTEN_ADDR=127.0.0.1:%d", port), "WXSYNC_LISTEN_PATH=/platform", "WXSYNC_METRICS_ADDR=",
	}, "listen")
	p := startProc(t, cmd)
	p.waitOutput(`msg="listening for WeChat pushes"`)
	return fmt.Sprintf("http://127.0.0.1:%d/platform", port), p
}

func TestSyncPlatformAccounts(t *testing.T) {
	e := newManyEnv(t)
	entries := []map[string]string{e.addAccount(1, 130, "platform", nil), e.addAccount(2, 70, "platform", nil), e.addAccount(3, 60, "secret", nil)}
	list := e.writeList(entries)

	// No ticket yet: the platform accounts need `wxsync listen`.
	r := e.run("sync", "--accounts", list)
	if r.code != 78 || !strings.Contains(r.output, "no component_verify_ticket stored") {
		t.Fatalf("without a ticket: exit %d:\n%s", r.code, r.output)
	}
	// wxsim, as WeChat, pushes the ticket to `wxsync listen` in platform
	// mode, which answers success only once the ticket is stored.
	url, listen := e.platformListen(t)
	ticket, status, err := e.multi.PushTicket(context.Background(), url)
	if err != nil || status != http.StatusOK {
		t.Fatalf("ticket push: %d %v; listen's output:\n%s", status, err, listen.out.String())
	}
	firstRefresh := e.multi.RefreshToken(appid(1))
	for run := 1; run <= 2; run++ { // the second run needs the rotated refresh tokens the first stored
		if r := e.run("sync", "--accounts", list); r.code != 0 {
			t.Fatalf("run %d: exit %d:\n%s", run, r.code, r.output)
		}
		e.wantExact([]int{1, 2, 3})
	}
	if e.multi.RefreshToken(appid(1)) == firstRefresh {
		t.Fatal("the refresh token never rotated")
	}
	sealer, _ := host.ParseSealerKey(credentialsKey)
	for _, i := range []int{1, 2} {
		got, ok, err := host.LoadRefreshToken(context.Background(), e.sink, sealer, appid(i))
		if err != nil || !ok || got != e.multi.RefreshToken(appid(i)) {
			t.Errorf("%s: stored refresh token is not the current one (%v, %v)", appid(i), ok, err)
		}
	}
	stored := strings.Join(e.pairs("SELECT owner, sealed FROM {db}.wxsync_credentials"), "\n")
	if strings.Contains(stored, ticket) || strings.Contains(stored, "refreshtoken@@@") {
		t.Error("wxsync_credentials holds a ticket or refresh token in clear")
	}
	sendSignal(t, listen.cmd.Process.Pid, syscall.SIGTERM)
	out := listen.waitExit(exitOK).output
	if !strings.Contains(out, "tickets_stored=1") || !strings.Contains(out, `msg="component_verify_ticket stored" component_appid=`+testPlatform.ComponentAppID) {
		t.Errorf("listen does not report the stored ticket:\n%s", out)
	}
	for _, secret := range []string{ticket, testPlatform.Token, testPlatform.EncodingAESKey, credentialsKey} {
		if strings.Contains(out, secret) {
			t.Errorf("listen's output shows a secret (%.6s...):\n%s", secret, out)
		}
	}
	calls := e.multi.Calls()
	// Each platform account's run (2 accounts × 2 runs) derives one
	// component token and one authorizer token; stable_token is only asked
	// for the own-secret account, once in each of the 3 runs.
	if calls[wxsim.PathComponentToken] != 4 || calls[wxsim.PathAuthorizerToken] != 4 || calls[wxsim.PathStableToken] != 3 || calls[wxsim.PathToken] != 0 {
		t.Errorf("calls %v: want 4 component tokens, 4 authorizer tokens, 3 stable tokens", calls)
	}
}
