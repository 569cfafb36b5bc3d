package push

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestEveryModeEveryFollowEvent(t *testing.T) {
	cases := []struct {
		name string
		msg  Message
		want Message // fields Open must return
	}{
		{"qr subscribe", subscribeMsg(), Message{Kind: KindSubscribe, Event: "subscribe", Scene: testScene, EventKey: "qrscene_" + testScene, Ticket: testTicket}},
		{"plain subscribe", Message{Kind: KindSubscribe}, Message{Kind: KindSubscribe, Event: "subscribe"}},
		{"subscribe after payment", Message{Kind: KindSubscribe, EventKey: "last_trade_no_4200001"}, Message{Kind: KindSubscribe, Event: "subscribe", EventKey: "last_trade_no_4200001"}},
		{"unsubscribe", Message{Kind: KindUnsubscribe}, Message{Kind: KindUnsubscribe, Event: "unsubscribe"}},
		{"scan", Message{Kind: KindScan, EventKey: "123", Ticket: testTicket}, Message{Kind: KindScan, Event: "SCAN", Scene: "123", EventKey: "123", Ticket: testTicket}},
		{"scene with ]]> and 中文", Message{Kind: KindScan, EventKey: "a]]>b 中文"}, Message{Kind: KindScan, Event: "SCAN", Scene: "a]]>b 中文", EventKey: "a]]>b 中文"}},
	}
	v := newTestVerifier(t, nil)
	for _, mode := range []Mode{ModePlaintext, ModeCompatible, ModeSafe} {
		for _, c := range cases {
			msg := c.msg
			msg.ToUserName, msg.OpenID, msg.CreateTime = testOrigID, testOpenID, testCreateAt
			q, body := seal(t, testSender(t, mode), EncodeEvent(msg))
			got, err := v.Open(q, body)
			if err != nil {
				t.Fatalf("%s %s: %v", mode, c.name, err)
			}
			want := c.want
			want.Mode, want.ToUserName, want.OpenID, want.CreateTime, want.MsgType = mode, testOrigID, testOpenID, testCreateAt, "event"
			if got != want {
				t.Fatalf("%s %s:\n got %+v\nwant %+v", mode, c.name, got, want)
			}
			if mode == ModeSafe && bytes.Contains(body, []byte(testOpenID)) {
				t.Fatalf("safe body carries the openid in the clear")
			}
			if mode == ModeCompatible && (!bytes.Contains(body, []byte(testOpenID)) || !bytes.Contains(body, []byte("<Encrypt>"))) {
				t.Fatalf("compatible body lacks the plaintext or the Encrypt element")
			}
		}
	}
}

// In compatible mode only the signed, encrypted copy is believed.
func TestCompatibleTrustsTheEncryptedCopy(t *testing.T) {
	v := newTestVerifier(t, nil)
	q, body := seal(t, testSender(t, ModeCompatible), EncodeEvent(subscribeMsg()))
	forged := bytes.Replace(body, []byte(testOpenID), []byte("oFORGEDxxxxxxxxxxxxxxxxxxxxx"), 1)
	m, err := v.Open(q, forged)
	if err != nil || m.OpenID != testOpenID {
		t.Fatalf("forged plaintext copy: %+v %v", m, err)
	}
}

func TestVerifyURL(t *testing.T) {
	v := newTestVerifier(t, nil)
	ts := strconv.Itoa(testNow)
	good := func() url.Values {
		return url.Values{"signature": {Signature(testToken, ts, testNonce)}, "timestamp": {ts}, "nonce": {testNonce}, "echostr": {"5838479218127813673"}}
	}
	if echo, err := v.VerifyURL(good()); err != nil || echo != "5838479218127813673" {
		t.Fatalf("VerifyURL: %q %v", echo, err)
	}
	stale := strconv.Itoa(testNow - 301)
	cases := []struct {
		edit func(url.Values)
		want Reason
	}{
		{func(q url.Values) { q.Set("signature", strings.Repeat("0", 40)) }, ReasonBadSignature},
		{func(q url.Values) { q.Del("signature") }, ReasonBadSignature},
		{func(q url.Values) { q.Del("echostr") }, ReasonBadQuery},
		{func(q url.Values) { q.Set("echostr", "<script>") }, ReasonBadQuery},
		{func(q url.Values) { q.Add("nonce", "1") }, ReasonBadQuery},
		{func(q url.Values) { q.Set("timestamp", "+1750000000") }, ReasonBadQuery},
		{func(q url.Values) {
			q.Set("timestamp", stale)
			q.Set("signature", Signature(testToken, stale, testNonce))
		}, ReasonStaleTimestamp},
	}
	for i, c := range cases {
		q := good()
		c.edit(q)
		if _, err := v.VerifyURL(q); ReasonOf(err) != c.want {
			t.Errorf("case %d: %v, want %s", i, err, c.want)
		}
	}
}

func TestRotatedKeyAccepted(t *testing.T) {
	old := testSender(t, ModeSafe)
	old.Key = mustKey(t, testPrevKey)
	q, body := seal(t, old, EncodeEvent(subscribeMsg()))
	if m, err := newTestVerifier(t, nil).Open(q, body); err != nil || m.OpenID != testOpenID {
		t.Fatalf("previous key: %+v %v", m, err)
	}
	// Once the previous key is dropped, its pushes no longer open.
	noPrev := newTestVerifier(t, func(c *Config) { c.PreviousAESKey = "" })
	if _, err := noPrev.Open(q, body); ReasonOf(err) != ReasonBadPadding {
		t.Fatalf("previous key dropped: %v", err)
	}
	// A push under the current key opens whatever the previous one is.
	q, body = seal(t, testSender(t, ModeSafe), EncodeEvent(subscribeMsg()))
	if _, err := noPrev.Open(q, body); err != nil {
		t.Fatal(err)
	}
}

// Retries of one event (new timestamp, nonce, random bytes) share its ID;
// distinct events of one person in one second do not.
func TestEventIDAcrossRetries(t *testing.T) {
	v := newTestVerifier(t, nil)
	s := testSender(t, ModeSafe)
	msg := EncodeEvent(subscribeMsg())
	var ids []EventID
	var bodies [][]byte
	for i := range 3 {
		q, body, err := s.Seal(msg, testNow+int64(i), fmt.Sprint(1000+i), "")
		if err != nil {
			t.Fatal(err)
		}
		m, err := v.Open(q, body)
		if err != nil {
			t.Fatal(err)
		}
		ids, bodies = append(ids, m.ID()), append(bodies, body)
	}
	if ids[0] != ids[1] || ids[1] != ids[2] || bytes.Equal(bodies[0], bodies[1]) {
		t.Fatalf("retry IDs %v (bodies equal: %v)", ids, bytes.Equal(bodies[0], bodies[1]))
	}
	un := subscribeMsg()
	un.Kind, un.EventKey, un.Ticket = KindUnsubscribe, "", ""
	q, body := seal(t, s, EncodeEvent(un))
	m, err := v.Open(q, body)
	if err != nil || m.ID() == ids[0] || m.ID().OpenID != ids[0].OpenID || m.ID().CreateTime != ids[0].CreateTime {
		t.Fatalf("unsubscribe in the same second: %v %v", m.ID(), err)
	}
	if got := ids[0].String(); got != testOpenID+"/"+strconv.Itoa(testCreateAt)+`/subscribe/"qrscene_campaign-7"` {
		t.Fatalf("ID string %s", got)
	}
}

// Other push types are accepted and counted, their content never kept.
func TestOtherPushesKeepNoContent(t *testing.T) {
	v := newTestVerifier(t, nil)
	const secretWords = "my phone is 13800000000"
	bodies := map[string]string{
		"text":  `<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[oAbCdE1234567890abcdefghijkl]]></FromUserName><CreateTime>1749999999</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[` + secretWords + `]]></Content><MsgId>1234567890123456</MsgId></xml>`,
		"CLICK": `<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[oAbCdE1234567890abcdefghijkl]]></FromUserName><CreateTime>1749999999</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[` + secretWords + `]]></EventKey></xml>`,
	}
	for _, mode := range []Mode{ModePlaintext, ModeSafe} {
		for name, b := range bodies {
			q, body := seal(t, testSender(t, mode), []byte(b))
			m, err := v.Open(q, body)
			if err != nil {
				t.Fatalf("%s %s: %v", mode, name, err)
			}
			want := Message{Kind: KindOther, Mode: mode, ToUserName: testOrigID, CreateTime: 1749999999, MsgType: "text"}
			if name == "CLICK" {
				want.MsgType, want.Event = "event", "CLICK"
			}
			if m != want || strings.Contains(fmt.Sprintf("%#v", m), "13800000000") {
				t.Fatalf("%s %s: %+v", mode, name, m)
			}
		}
	}
}

func TestReadRequest(t *testing.T) {
	v := newTestVerifier(t, func(c *Config) { c.MaxBody = 1024 })
	q, body := seal(t, testSender(t, ModeSafe), EncodeEvent(subscribeMsg()))
	r := httptest.NewRequest(http.MethodPost, "/wechat?"+q.Encode(), bytes.NewReader(body))
	if m, err := v.ReadRequest(r); err != nil || m.OpenID != testOpenID {
		t.Fatalf("ReadRequest: %+v %v", m, err)
	}
	r = httptest.NewRequest(http.MethodPut, "/wechat?"+q.Encode(), bytes.NewReader(body))
	if _, err := v.ReadRequest(r); ReasonOf(err) != ReasonBadMethod || err.(*Error).HTTPStatus() != 405 {
		t.Fatalf("PUT: %v", err)
	}
	big := append(bytes.Repeat([]byte(" "), 1100), body...)
	r = httptest.NewRequest(http.MethodPost, "/wechat?"+q.Encode(), bytes.NewReader(big))
	if _, err := v.ReadRequest(r); ReasonOf(err) != ReasonTooLarge || err.(*Error).HTTPStatus() != 413 {
		t.Fatalf("oversize: %v", err)
	}
	// Chunked (no Content-Length): the limit holds while reading.
	r = httptest.NewRequest(http.MethodPost, "/wechat?"+q.Encode(), struct{ *bytes.Reader }{bytes.NewReader(big)})
	r.ContentLength = -1
	if _, err := v.ReadRequest(r); ReasonOf(err) != ReasonTooLarge {
		t.Fatalf("oversize without Content-Length: %v", err)
	}
}

func TestConfigErrorsNameNoSecret(t *testing.T) {
	cases := []func(*Config){
		func(c *Config) { c.Token = "ab" },
		func(c *Config) { c.Token = strings.Repeat("t", 33) },
		func(c *Config) { c.AESKey = testAESKey[:42] },
		func(c *Config) { c.AESKey = testAESKey[:42] + "+" },
		func(c *Config) { c.PreviousAESKey = testAESKey[:40] + "!!!" },
		func(c *Config) { c.AESKey = "" },
		func(c *Config) { c.AppID = "" },
		func(c *Config) { c.Window = -time.Second },
		func(c *Config) { c.OriginalID = "gh_\n" },
	}
	for i, edit := range cases {
		c := testConfig()
		edit(&c)
		_, err := NewVerifier(c)
		if err == nil {
			t.Fatalf("case %d: no error", i)
		}
		if leaked := secretsIn(t, err.Error()); len(leaked) > 0 || strings.Contains(err.Error(), testAESKey[:40]) {
			t.Fatalf("case %d: %q leaks %v", i, err, leaked)
		}
	}
	k := mustKey(t, testAESKey)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%+v %#v %s %v", k, k, k, *k)} {
		if leaked := secretsIn(t, s); len(leaked) > 0 {
			t.Fatalf("%q leaks %v", s, leaked)
		}
	}
	// A plaintext-only receiver (no key) is valid.
	if _, err := NewVerifier(Config{Token: testToken}); err != nil {
		t.Fatal(err)
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range []Mode{ModePlaintext, ModeCompatible, ModeSafe} {
		if got, err := ParseMode(m.String()); err != nil || got != m {
			t.Fatalf("%s: %v %v", m, got, err)
		}
	}
	if _, err := ParseMode("aes"); err == nil {
		t.Fatal("ParseMode(aes) accepted")
	}
}
