package main

// wxsync listen end to end: the real host and plugin, wxsim's pusher as
// WeChat, a real ClickHouse.

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/wxsync/wxsync/connector/push"
	"github.com/wxsync/wxsync/connector/wxsim"
)

const (
	listenToken  = "listen-t0ken-for-tests"
	listenAESKey = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
)

// receiver is a `wxsync listen` under test.
type receiver struct {
	e       *env
	port    int // the push endpoint
	metrics int // /metrics, /healthz, /readyz
	p       *proc
}

// newReceiver picks the ports of a receiver (not started yet).
func (e *env) newReceiver(t testing.TB) *receiver {
	return &receiver{e: e, port: freePort(t), metrics: freePort(t)}
}

func (r *receiver) url() string { return fmt.Sprintf("http://127.0.0.1:%d/wechat", r.port) }

// pusher returns a pusher of the account to this receiver in mode.
func (r *receiver) pusher(t *testing.T, mode push.Mode, edit ...func(*wxsim.PushOptions)) *wxsim.Pusher {
	t.Helper()
	o := wxsim.DefaultPushOptions()
	o.URL, o.Mode, o.Token, o.AESKey, o.Concurrency = r.url(), mode, listenToken, listenAESKey, 16
	for _, f := range edit {
		f(&o)
	}
	p, err := r.e.sim.NewPusher(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// start starts the receiver and waits until it accepts pushes.
func (r *receiver) start(extra ...string) *proc {
	env := append([]string{
		"WECHAT_TOKEN=" + listenToken, "WECHAT_AES_KEY=" + listenAESKey,
		fmt.Sprintf("WXSYNC_LISTEN_ADDR=127.0.0.1:%d", r.port),
		fmt.Sprintf("WXSYNC_METRICS_ADDR=127.0.0.1:%d", r.metrics),
	}, extra...)
	r.p = r.e.start(env, "listen")
	r.p.waitOutput(`msg="listening for WeChat pushes"`)
	return r.p
}

// get returns the status and body of an ops endpoint.
func (r *receiver) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", r.metrics, path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// stop sends SIGTERM and waits for exit 0.
func (r *receiver) stop() result {
	sendSignal(r.e.t, r.p.cmd.Process.Pid, 15)
	return r.p.waitExit(exitOK)
}

// eventKey is how the tests name an event: its identity.
func eventKey(m push.Message) string { return m.ID().String() }

// storedEvents returns every row of wechat_follow_events FINAL as its
// identity, sorted, and fails the test if an identity is there twice.
func (e *env) storedEvents() []string {
	e.t.Helper()
	rows := e.rows("SELECT openid, toUnixTimestamp(create_time), event, event_key_raw, event_key, ticket FROM {db}.wechat_follow_events FINAL WHERE appid = ?", e.sim.Options().AppID)
	var out []string
	for _, r := range rows {
		ct, _ := strconv.ParseInt(r[1], 10, 64)
		out = append(out, push.EventID{OpenID: r[0], CreateTime: ct, Event: r[2], EventKey: r[3]}.String())
	}
	slices.Sort(out)
	for i := 1; i < len(out); i++ {
		if out[i] == out[i-1] {
			e.t.Fatalf("wechat_follow_events FINAL holds %s twice", out[i])
		}
	}
	return out
}

// keys returns the identities of msgs, sorted.
func keys(msgs []push.Message) []string {
	out := make([]string, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, eventKey(m))
	}
	slices.Sort(out)
	return out
}

// wantSubset fails the test unless every element of sub is in super
// (both sorted).
func wantSubset(t *testing.T, what string, sub, super []string) {
	t.Helper()
	in := make(map[string]bool, len(super))
	for _, s := range super {
		in[s] = true
	}
	for _, s := range sub {
		if !in[s] {
			t.Fatalf("%s: %s is missing (%d of %d present)", what, s, len(sub), len(super))
		}
	}
}

// noSecrets fails the test if out holds a secret of the account.
func (e *env) noSecrets(out string) {
	e.t.Helper()
	for _, s := range []string{listenToken, listenAESKey, e.sim.Options().Secret} {
		if strings.Contains(out, s) {
			e.t.Fatalf("the output holds a secret:\n%s", out)
		}
	}
}

// Every mode through the running receiver: each event WeChat got success
// for is stored once (FINAL), with its fields; the subscribes' profiles
// are in wechat_users; SIGTERM ends it with exit 0; the metrics count it.
func TestListenEveryMode(t *testing.T) {
	e := newEnv(t, smallPages())
	r := e.newReceiver(t)
	pushers := map[push.Mode]*wxsim.Pusher{}
	for i, mode := range []push.Mode{push.ModePlaintext, push.ModeCompatible, push.ModeSafe} {
		pushers[mode] = r.pusher(t, mode, func(o *wxsim.PushOptions) { o.Seed = uint64(i + 1) })
	}
	r.start("WECHAT_ORIGINAL_ID=" + pushers[push.ModeSafe].OriginalID())
	var all []push.Message
	for mode, p := range pushers {
		if err := p.Push(context.Background(), 60); err != nil {
			t.Fatal(err)
		}
		if st := p.Stats(); st.Delivered != 60 {
			t.Fatalf("%s: %+v, want all 60 delivered", mode, st)
		}
		all = append(all, p.Outcomes(wxsim.Delivered)...)
	}
	if got, want := e.storedEvents(), keys(all); !slices.Equal(got, want) {
		t.Fatalf("wechat_follow_events holds %d events, %d were delivered: %s", len(got), len(want), firstDiff(got, want))
	}
	// The fields of each: scene without qrscene_, the raw key, the ticket.
	for _, m := range all {
		got := e.rows("SELECT event_key, ticket FROM {db}.wechat_follow_events FINAL WHERE openid = ? AND event = ? AND event_key_raw = ?", m.OpenID, m.Event, m.EventKey)
		if len(got) != 1 || got[0][0] != m.Scene || got[0][1] != m.Ticket {
			t.Fatalf("event %s stored as %v, want scene %q ticket %q", eventKey(m), got, m.Scene, m.Ticket)
		}
	}
	// The host's own counter is exact at once; the plugin's reach it every
	// second, and finally when it stops.
	code, metrics := r.get(t, "/metrics")
	if want := "wxsync_listen_events_committed_total 180"; code != 200 || !strings.Contains(metrics, want) {
		t.Fatalf("/metrics lacks %q:\n%s", want, metrics)
	}
	if code, body := r.get(t, "/readyz"); code != 200 {
		t.Fatalf("/readyz = %d %s", code, body)
	}
	if code, _ := r.get(t, "/healthz"); code != 200 {
		t.Fatalf("/healthz = %d", code)
	}
	out := r.stop()
	for _, want := range []string{"events_received=180 ", "events_acknowledged=180 ", "events_unacknowledged=0 ", "events_committed=180 "} {
		if !strings.Contains(out.output, want) {
			t.Fatalf("the final counts lack %q:\n%s", want, out.output)
		}
	}
	e.noSecrets(out.output)

	var subscribed []string
	for _, m := range all {
		if m.Kind == push.KindSubscribe {
			subscribed = append(subscribed, m.OpenID)
		}
	}
	e.wantProfiles(subscribed)
	for _, n := range wxsim.BatchGetSizes(e.sim.CallLog()) {
		if n > 100 {
			t.Fatalf("a batchget call of %d openids", n)
		}
	}
}

// The official WXBizMsgCrypt sample through the running receiver: a
// safe-mode text message, accepted (success), counted, not stored.
func TestListenSampleVector(t *testing.T) {
	e := newEnv(t, smallPages())
	r := e.newReceiver(t)
	r.start("WECHAT_APPID=wx2c2769f8efd9abc2", "WECHAT_TOKEN=spamtest", "WECHAT_AES_KEY=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
		"WXSYNC_REPLAY_WINDOW=400000h", "WXSYNC_LISTEN_PROFILES=false")
	const enc = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
	body := "<xml><ToUserName><![CDATA[toUser]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>"
	u := r.url() + "?timestamp=1409735669&nonce=1320562132&encrypt_type=aes&msg_signature=5d197aaffba7e9b25a30732f161a50dee96bd5fa&openid=oyORnuP8q7ou2gfYjqLzSIWZf0rs"
	resp, err := http.Post(u, "text/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(answer) != "success" {
		t.Fatalf("the sample was answered %d %q, want 200 success", resp.StatusCode, answer)
	}
	out := r.stop()
	if !strings.Contains(out.output, `events_received=0 `) || !strings.Contains(out.output, `other_pushes="text=1"`) {
		t.Fatalf("the final counts do not say one text message and no follow event:\n%s", out.output)
	}
	if n := e.count("SELECT count() AS x FROM {db}.wechat_follow_events"); n != 0 {
		t.Fatalf("a text message stored %d rows", n)
	}
}

// rawSafePush is a safe-mode push of msg whose plaintext is built by hand:
// appid and pad decide what the receiver finds after decrypting.
func rawSafePush(t *testing.T, r *receiver, msg []byte, appid string, pad []byte) (string, []byte) {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(listenAESKey + "=")
	if err != nil {
		t.Fatal(err)
	}
	plain := append(make([]byte, 16), 0, 0, 0, 0)
	binary.BigEndian.PutUint32(plain[16:], uint32(len(msg)))
	plain = append(append(append(plain, msg...), appid...), pad...)
	block, _ := aes.NewCipher(key)
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(ct, plain)
	enc := base64.StdEncoding.EncodeToString(ct)
	ts, nonce := strconv.FormatInt(time.Now().Unix(), 10), "4242"
	q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "encrypt_type": {"aes"},
		"signature": {push.Signature(listenToken, ts, nonce)}, "msg_signature": {push.Signature(listenToken, ts, nonce, enc)}}
	return r.url() + "?" + q.Encode(), []byte("<xml><ToUserName><![CDATA[gh_x]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>")
}

// Bad signature, bad padding, wrong appid, oversize and malformed bodies,
// a wrong method: each a clear 4xx, counted by reason; nothing stored, no
// secret in the output.
func TestListenRejects(t *testing.T) {
	e := newEnv(t, smallPages())
	r := e.newReceiver(t)
	r.start("WXSYNC_LISTEN_MAX_BODY=4096")
	msg := push.EncodeEvent(push.Message{Kind: push.KindSubscribe, ToUserName: "gh_x", OpenID: "oRejected", CreateTime: time.Now().Unix(), MsgType: "event", Event: "subscribe"})
	appid := e.sim.Options().AppID
	padOK := func(n int) []byte { k := 32 - n%32; return bytes.Repeat([]byte{byte(k)}, k) }
	base := 20 + len(msg) + len(appid)

	goodURL, goodBody := rawSafePush(t, r, msg, appid, padOK(base))
	badSig := strings.Replace(goodURL, "msg_signature=", "msg_signature=0", 1)
	badPadURL, badPadBody := rawSafePush(t, r, msg, appid, bytes.Repeat([]byte{0}, 32-base%32))
	wrongAppURL, wrongAppBody := rawSafePush(t, r, msg, "wx0000000000000000", padOK(20+len(msg)+18))
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	plainURL := r.url() + "?" + url.Values{"timestamp": {ts}, "nonce": {"7"}, "signature": {push.Signature(listenToken, ts, "7")}}.Encode()
	cases := []struct {
		name, method, url string
		body              []byte
		want              int
	}{
		{"bad signature", "POST", badSig, goodBody, 403},
		{"bad padding", "POST", badPadURL, badPadBody, 400},
		{"wrong appid", "POST", wrongAppURL, wrongAppBody, 403},
		{"oversize", "POST", plainURL, bytes.Repeat([]byte("<xml>"), 1000), 413},
		{"malformed", "POST", plainURL, []byte("<xml><FromUserName>oX</FromUserName"), 400},
		{"wrong method", "DELETE", plainURL, nil, 405},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, c.url, bytes.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want || string(answer) == "success" {
			t.Errorf("%s: answered %d %q, want %d", c.name, resp.StatusCode, answer, c.want)
		}
	}
	// The control: the same push, well formed, is taken.
	resp, err := http.Post(goodURL, "text/xml", bytes.NewReader(goodBody))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(answer) != "success" {
		t.Fatalf("the well-formed push was answered %d %q", resp.StatusCode, answer)
	}
	out := r.stop()
	if want := `rejected="bad_method=1,bad_padding=1,bad_signature=1,bad_xml=1,too_large=1,wrong_appid=1"`; !strings.Contains(out.output, want) {
		t.Fatalf("the final counts lack %s:\n%s", want, out.output)
	}
	if got := e.storedEvents(); len(got) != 1 || !strings.HasPrefix(got[0], "oRejected/") {
		t.Fatalf("stored %q, want only the well-formed push", got)
	}
	e.noSecrets(out.output)
}

// A follower walk (wxsync sync) running while the pusher changes the
// account: events before the walk, while one of its pages is held, and
// after it. Afterwards wechat_followers_live is exactly wxsim's follower
// set, and the cookbook's live queries answer what was pushed.
func TestListenWalkWhilePushing(t *testing.T) {
	listenWalkWhilePushing(t, newEnv(t, smallPages()))
}

// TestClusterListenWalkWhilePushing is the same through a 2x2 cluster: the
// receiver commits its events through the Distributed tables, and the live
// view answers exactly.
func TestClusterListenWalkWhilePushing(t *testing.T) {
	listenWalkWhilePushing(t, newClusterEnv(t, smallPages()))
}

// listenWalkWhilePushing runs a receiver and a walk on e while the pusher
// changes the account, and checks the live view and its cookbook queries.
func listenWalkWhilePushing(t *testing.T, e *env) {
	r := e.newReceiver(t)
	p := r.pusher(t, push.ModeSafe, func(o *wxsim.PushOptions) { o.Mix = wxsim.PushMix{Subscribe: 5, Unsubscribe: 4, Scan: 2} })
	r.start("WECHAT_ORIGINAL_ID="+p.OriginalID(), "WXSYNC_LISTEN_PROFILES=false")
	ctx := context.Background()
	if err := p.Push(ctx, 80); err != nil { // before the walk
		t.Fatal(err)
	}
	h := e.holdUserGet(3)
	walk := e.start(nil, "sync")
	h.wait(walk)
	if err := p.Push(ctx, 150); err != nil { // while page 3 is held
		t.Fatal(err)
	}
	h.Release()
	walk.waitExit(exitOK)
	if got := sorted(e.query("SELECT openid AS x FROM {db}.wechat_followers_live WHERE appid = ?", e.sim.Options().AppID)); len(got) == 0 {
		t.Fatal("the live view is empty after a complete walk")
	}
	if err := p.Push(ctx, 120); err != nil { // after the walk
		t.Fatal(err)
	}
	if st := p.Stats(); st.Delivered != 350 {
		t.Fatalf("pusher %+v, want all 350 delivered", st)
	}
	r.stop()
	e.syncReplicas()
	want := sorted(e.sim.FollowerOpenIDs())
	got := e.query("SELECT openid AS x FROM {db}.wechat_followers_live WHERE appid = ? ORDER BY x", e.sim.Options().AppID)
	if !slices.Equal(got, want) {
		t.Fatalf("wechat_followers_live holds %d openids, wxsim has %d followers: %s", len(got), len(want), firstDiff(got, want))
	}
	// The walk alone is stale: the events made the difference.
	if cur := e.current(); slices.Equal(cur, want) {
		t.Fatal("wechat_followers_current already equals the followers: the test pushed nothing after the walk began")
	}
	checkLiveCookbook(t, e, p.Outcomes(wxsim.Delivered), want)
}

// checkLiveCookbook runs the cookbook's live queries and checks them
// against the delivered events and the followers now.
func checkLiveCookbook(t *testing.T, e *env, delivered []push.Message, followers []string) {
	t.Helper()
	queries := map[string]string{}
	for _, q := range parseCookbook(t, cookbookPath) {
		queries[q.id] = strings.ReplaceAll(q.sql, cookbookAppID, "'"+e.sim.Options().AppID+"'")
	}
	opts, err := clickhouse.ParseDSN(e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var tz string
	if err := conn.QueryRow(context.Background(), "SELECT timezone()").Scan(&tz); err != nil {
		t.Fatal(err)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	type hourRow struct{ follows, unfollows int }
	hours := map[string]*hourRow{}
	type sceneRow struct{ subs, still, scans int }
	scenes := map[string]*sceneRow{}
	isFollower := map[string]bool{}
	for _, id := range followers {
		isFollower[id] = true
	}
	for _, m := range delivered {
		at := time.Unix(m.CreateTime, 0).In(loc)
		if at.Before(today) {
			continue
		}
		hk := time.Date(at.Year(), at.Month(), at.Day(), at.Hour(), 0, 0, 0, loc).UTC().Format(time.DateTime)
		if hours[hk] == nil {
			hours[hk] = &hourRow{}
		}
		switch m.Kind {
		case push.KindSubscribe:
			hours[hk].follows++
		case push.KindUnsubscribe:
			hours[hk].unfollows++
		}
		if m.Scene == "" {
			continue
		}
		if scenes[m.Scene] == nil {
			scenes[m.Scene] = &sceneRow{}
		}
		if m.Kind == push.KindSubscribe {
			scenes[m.Scene].subs++
			if isFollower[m.OpenID] {
				scenes[m.Scene].still++
			}
		} else {
			scenes[m.Scene].scans++
		}
	}
	var wantHours [][]any
	for _, hk := range slices.Sorted(maps.Keys(hours)) {
		h := hours[hk]
		wantHours = append(wantHours, []any{hk, h.follows, h.unfollows, h.follows - h.unfollows})
	}
	wantCookbookResult(t, runCookbookQuery(t, conn, queries["live_follows_per_hour"]), []string{"hour", "follows", "unfollows", "net"}, wantHours)
	wantCookbookResult(t, runCookbookQuery(t, conn, queries["live_follower_count"]), []string{"followers_now"}, [][]any{{len(followers)}})
	var wantScenes [][]any
	for s, r := range scenes {
		wantScenes = append(wantScenes, []any{s, r.subs, r.still, r.scans})
	}
	slices.SortFunc(wantScenes, func(a, b []any) int {
		if a[1] != b[1] {
			return b[1].(int) - a[1].(int)
		}
		return strings.Compare(a[0].(string), b[0].(string))
	})
	if len(wantScenes) < 2 {
		t.Fatalf("only %d QR scenes among the pushed events: too few to test", len(wantScenes))
	}
	wantCookbookResult(t, runCookbookQuery(t, conn, queries["live_qr_conversions"]), []string{"scene", "new_followers", "still_following", "scans_by_followers"}, wantScenes)
}
