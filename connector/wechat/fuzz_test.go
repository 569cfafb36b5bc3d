package wechat

// Fuzz targets for every response decoder: the bytes the platform answers
// go through the client's real path (status, content type, UTF-8, JSON,
// envelope, per-API validation) by an in-memory transport. Each target
// asserts that nothing panics, that whatever is accepted satisfies the
// validation invariants, that an errcode is reported as an *APIError with
// that code, and that neither the secret nor the access token ever reaches
// an error or a log line. The seeds run with `go test` like any test;
// `make fuzz` runs each target for longer.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wxsync/wxsync/plugin/kind"
)

// fuzzToken is the token the fuzz transport issues: shaped like a real one
// ("NN_" + 136 characters), so it can never pass as an openid (at most 64
// bytes) and be quoted in a validation error.
var fuzzToken = "97_" + strings.Repeat("FuzzTok-", 16) + "LEAKMARK"

// fuzzTransport answers in memory: the token endpoints with tokenBody, every
// other path with apiBody, HTTP 200 application/json.
type fuzzTransport struct {
	tokenBody, apiBody []byte

	mu     sync.Mutex
	sent   []string // access_token of every API request
	tokens int      // token requests
}

func (ft *fuzzTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	body := ft.apiBody
	if r.URL.Path == pathToken || r.URL.Path == pathStableToken {
		body = ft.tokenBody
		ft.mu.Lock()
		ft.tokens++
		ft.mu.Unlock()
	} else {
		ft.mu.Lock()
		ft.sent = append(ft.sent, r.URL.Query().Get("access_token"))
		ft.mu.Unlock()
	}
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json; charset=utf-8"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}, nil
}

func goodTokenBody() []byte {
	return []byte(`{"access_token":"` + fuzzToken + `","expires_in":7200}`)
}

// newFuzzClient returns a client of ft that makes one attempt per call and
// logs everything at debug level into the returned buffer.
func newFuzzClient(t *testing.T, ft *fuzzTransport, mode TokenMode) (*Client, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	c, err := New(Config{
		AppID: testAppID, Secret: testSecret, BaseURL: "http://wechat.invalid", TokenMode: mode,
		MaxAttempts: 1, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
		HTTPClient: &http.Client{Transport: ft},
		Logger:     slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	// A frozen clock: a token is cached exactly when its lifetime says so,
	// however slow the machine.
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c.now = func() time.Time { return t0 }
	return c, logs
}

// noLeak fails if the secret or one of secrets shows up in what a caller
// can see: err's text, its whole chain, its %+v form, and the logs.
func noLeak(t *testing.T, err error, logs string, secrets ...string) {
	t.Helper()
	texts := []string{logs}
	for e := err; e != nil; e = errors.Unwrap(e) {
		texts = append(texts, e.Error(), fmt.Sprintf("%+v %#v", e, e))
	}
	for _, s := range append([]string{testSecret}, secrets...) {
		for _, text := range texts {
			if strings.Contains(text, s) {
				t.Fatalf("%q leaked into %q", s, text)
			}
		}
	}
}

// checkEnvelope checks what the client made of body for a call that failed
// with err (nil: succeeded) and whose answer decodes into T. A body that is
// valid UTF-8 JSON of T's shape with errcode ≠ 0 must fail with an
// *APIError of that code whose rid is part of its errmsg; anything that
// succeeded had errcode 0.
func checkEnvelope[T any, PT interface {
	*T
	enveloped
}](t *testing.T, body []byte, err error) {
	t.Helper()
	out := PT(new(T))
	if !utf8.Valid(body) || json.Unmarshal(body, out) != nil {
		if err == nil {
			t.Fatalf("accepted a body that is not valid UTF-8 JSON of the answer's shape: %q", body)
		}
		return
	}
	code := out.envelope().ErrCode
	if code == 0 {
		return
	}
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("errcode %d answered, the call returned %v", code, err)
	}
	if ae.Code != code {
		t.Fatalf("errcode %d answered, APIError says %d", code, ae.Code)
	}
	if !strings.Contains(ae.Msg, ae.RID) {
		t.Fatalf("rid %q is not part of errmsg %q", ae.RID, ae.Msg)
	}
	if code == CodeDailyQuota && (!IsQuota(err) || Classify(err) != kind.Temporary) {
		t.Fatalf("45009 not classified as the daily quota: %v", err)
	}
	if code == CodeSystemBusy || code == CodeTooFrequent {
		var re *RetryError
		if !errors.As(err, &re) {
			t.Fatalf("errcode %d was not retried: %v", code, err)
		}
	}
}

// pageSeeds are user/get and getblacklist answers, good and bad.
func pageSeeds() []string {
	return []string{
		`{"total":3,"count":3,"data":{"openid":["oA","oB","oC"]},"next_openid":"oC"}`,
		`{"total":3,"count":0,"next_openid":""}`,
		`{"total":0,"count":0}`,
		`{"total":3,"count":2,"data":{"openid":["oA","oB"]},"next_openid":"oB"}`,
		`{"total":3,"count":3,"next_openid":"oX"}`,
		`{"total":1,"count":1,"data":{"openid":["oA",""]},"next_openid":"oA"}`,
		`{"total":1,"count":1,"data":{"openid":["o+A"]},"next_openid":"o A"}`,
		`{"total":-1,"count":-5,"data":null}`,
		`{"total":1e3,"count":"1","data":{"openid":"oA"}}`,
		`{"total":3,"count":3,"data":{"openid":["oA","oA","oA"]},"next_openid":"oA","total":4}`,
		"{\"total\":1,\"count\":1,\"data\":{\"openid\":[\"o\xff\"]}}",
		`{"total":1,"count":1,"data":{"openid":["oA"]},"next_openid":"o` + strings.Repeat("x", 64) + `"}`,
		`{"errcode":40001,"errmsg":"invalid credential, access_token is invalid or not latest rid: 6601a0-1"}`,
		`{"errcode":45009,"errmsg":"reach max api daily quota limit rid: 6601a0-2"}`,
		`{"errcode":-1,"errmsg":"system error"}`,
		`{"errcode":48001,"errmsg":"api unauthorized, secret ` + testSecret + ` token ` + fuzzToken + ` rid: 6601a0-3"}`,
		`{"total":5,"count":5,"data":{"openid":["oA"]`,
		`<html><body>502 Bad Gateway</body></html>`,
		`hello`,
		``,
		`null`,
		`[]`,
	}
}

func FuzzPageResponse(f *testing.F) {
	for _, s := range pageSeeds() {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, blacklist bool) {
		ft := &fuzzTransport{tokenBody: goodTokenBody(), apiBody: body}
		c, logs := newFuzzClient(t, ft, TokenModeStable)
		list := c.ListFollowers
		if blacklist {
			list = c.Blacklist
		}
		p, err := list(context.Background(), "oCursor_-1")
		noLeak(t, err, logs.String(), fuzzToken)
		checkEnvelope[pageResponse](t, body, err)
		if err != nil {
			if p.OpenIDs != nil || p.Count != 0 {
				t.Fatalf("openids returned with an error: %+v", p)
			}
			_ = Classify(err)
			return
		}
		if p.Total < 0 || p.Count != len(p.OpenIDs) {
			t.Fatalf("accepted page with total %d, count %d and %d openids", p.Total, p.Count, len(p.OpenIDs))
		}
		if !p.HasData && len(p.OpenIDs) != 0 {
			t.Fatalf("openids without a data key: %+v", p)
		}
		for i, id := range p.OpenIDs {
			if err := ValidateOpenID(id); err != nil {
				t.Fatalf("accepted openid #%d %q: %v", i, id, err)
			}
		}
		if p.NextOpenID != "" {
			if err := ValidateOpenID(p.NextOpenID); err != nil {
				t.Fatalf("accepted next_openid %q: %v", p.NextOpenID, err)
			}
		}
	})
}

// fuzzAsked are the openids FuzzBatchGetResponse asks for.
var fuzzAsked = []string{"oAsked-1", "oAsked_2", "oAsked3"}

func FuzzBatchGetResponse(f *testing.F) {
	for _, s := range []string{
		`{"user_info_list":[{"subscribe":1,"openid":"oAsked-1","language":"zh_CN","subscribe_time":1700000000,"unionid":"u","remark":"\"'\\","groupid":0,"tagid_list":[2,134],"subscribe_scene":"ADD_SCENE_QR_CODE","qr_scene":98765,"qr_scene_str":"s"},{"subscribe":0,"openid":"oAsked_2"}]}`,
		`{"user_info_list":[]}`,
		`{"user_info_list":null}`,
		`{}`,
		`{"user_info_list":[{"openid":"oStranger"}]}`,
		`{"user_info_list":[{"openid":""}]}`,
		`{"user_info_list":[{"openid":"oAsked3","tagid_list":[-1]}]}`,
		`{"user_info_list":[{"openid":"oAsked3","subscribe_time":1e30}]}`,
		`{"errcode":40003,"errmsg":"invalid openid rid: 6601a0-4"}`,
		`{"errcode":42001,"errmsg":"access_token expired rid: 6601a0-5"}`,
		`{"user_info_list":[{"openid":"oAsked3"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ft := &fuzzTransport{tokenBody: goodTokenBody(), apiBody: body}
		c, logs := newFuzzClient(t, ft, TokenModeStable)
		users, err := c.BatchGetUsers(context.Background(), fuzzAsked, LangEn)
		noLeak(t, err, logs.String(), fuzzToken)
		checkEnvelope[batchGetResponse](t, body, err)
		if err != nil {
			if users != nil {
				t.Fatal("users returned with an error")
			}
			return
		}
		for i, u := range users {
			if err := ValidateOpenID(u.OpenID); err != nil {
				t.Fatalf("accepted user #%d: %v", i, err)
			}
			asked := false
			for _, id := range fuzzAsked {
				asked = asked || id == u.OpenID
			}
			if !asked {
				t.Fatalf("accepted user #%d %q, who was not asked for", i, u.OpenID)
			}
		}
	})
}

func FuzzTagsResponse(f *testing.F) {
	for _, s := range []string{
		`{"tags":[{"id":2,"name":"星标组","count":0},{"id":134,"name":"vip","count":12}]}`,
		`{"tags":[]}`,
		`{"tags":null}`,
		`{}`,
		`{"tags":[{"id":-1,"name":"x","count":1}]}`,
		`{"tags":[{"id":1,"name":"x","count":-1}]}`,
		`{"tags":[{"id":4294967296,"name":1,"count":1.5}]}`,
		`{"errcode":50001,"errmsg":"api unauthorized rid: 6601a0-6"}`,
		`{"tags":[{"id":1,"name":"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ft := &fuzzTransport{tokenBody: goodTokenBody(), apiBody: body}
		c, logs := newFuzzClient(t, ft, TokenModeStable)
		tags, err := c.Tags(context.Background())
		noLeak(t, err, logs.String(), fuzzToken)
		checkEnvelope[tagsResponse](t, body, err)
		if err != nil {
			return
		}
		if tags == nil {
			t.Fatal("accepted an answer without tags")
		}
		for i, tg := range tags {
			if tg.Count < 0 {
				t.Fatalf("accepted tag #%d with count %d", i, tg.Count)
			}
		}
	})
}

func FuzzQuotaResponse(f *testing.F) {
	for _, s := range []string{
		`{"errcode":0,"errmsg":"ok","quota":{"daily_limit":500,"used":12,"remain":488}}`,
		`{"errcode":0,"errmsg":"ok"}`,
		`{"quota":null}`,
		`{"quota":{"daily_limit":-1,"used":0,"remain":0}}`,
		`{"quota":{"daily_limit":9223372036854775808}}`,
		`{"errcode":76021,"errmsg":"cgi_path not found rid: 6601a0-7"}`,
		`{"quota":{"daily_limit":1`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ft := &fuzzTransport{tokenBody: goodTokenBody(), apiBody: body}
		c, logs := newFuzzClient(t, ft, TokenModeStable)
		q, err := c.Quota(context.Background(), pathUserGet)
		noLeak(t, err, logs.String(), fuzzToken)
		checkEnvelope[quotaResponse](t, body, err)
		if err != nil {
			if q != (Quota{}) {
				t.Fatalf("quota %+v returned with an error", q)
			}
			return
		}
		if q.DailyLimit < 0 || q.Used < 0 || q.Remain < 0 {
			t.Fatalf("accepted negative quota %+v", q)
		}
	})
}

// FuzzTokenResponse fuzzes the answer of /cgi-bin/stable_token (or
// /cgi-bin/token): an accepted token is exactly the one answered, passes
// checkToken, and is what the next API call carries.
func FuzzTokenResponse(f *testing.F) {
	for _, s := range []string{
		string(goodTokenBody()),
		`{"access_token":"AccTok999_zq81Xk-LEAKMARK","expires_in":7200}`,
		`{"access_token":"","expires_in":7200}`,
		`{"expires_in":7200}`,
		`{"access_token":"AccTok999_zq81Xk-LEAKMARK"}`,
		`{"access_token":"AccTok 999","expires_in":7200}`,
		`{"access_token":"AccTok\u00e9","expires_in":7200}`,
		`{"access_token":12,"expires_in":7200}`,
		`{"access_token":"x","expires_in":-1}`,
		`{"access_token":"x","expires_in":9223372036854775807}`,
		`{"access_token":"` + strings.Repeat("t", 2049) + `","expires_in":7200}`,
		`{"errcode":40125,"errmsg":"invalid appsecret ` + testSecret + ` rid: 6601a0-8"}`,
		`{"errcode":40164,"errmsg":"invalid ip 203.0.113.9 ipv6 ::ffff:203.0.113.9, not in whitelist rid: 6601a0-9"}`,
		`{"errcode":40013,"errmsg":"invalid appid"}`,
		`{"errcode":-1,"errmsg":"system error"}`,
		`{"access_token":"abc","expires_in":7200`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	page := []byte(`{"total":1,"count":1,"data":{"openid":["oA"]},"next_openid":"oA"}`)
	f.Fuzz(func(t *testing.T, body []byte, classic bool) {
		mode := TokenModeStable
		if classic {
			mode = TokenModeClassic
		}
		ft := &fuzzTransport{tokenBody: body, apiBody: page}
		c, logs := newFuzzClient(t, ft, mode)
		err := c.Token(context.Background())
		// The secret must never show; the token answered is arbitrary
		// here (it may be "wechat"), so only the secret is looked for.
		noLeak(t, err, logs.String())
		checkEnvelope[tokenResponse](t, body, err)
		if err != nil {
			return
		}
		var want tokenResponse
		if jerr := json.Unmarshal(body, &want); jerr != nil {
			t.Fatalf("accepted a token answer that does not decode: %v", jerr)
		}
		if p := checkToken(want.AccessToken); p != "" || want.ExpiresIn <= 0 {
			t.Fatalf("accepted access_token %q (%s), expires_in %d", want.AccessToken, p, want.ExpiresIn)
		}
		if _, err := c.ListFollowers(context.Background(), ""); err != nil {
			t.Fatalf("a call with the accepted token failed: %v", err)
		}
		ft.mu.Lock()
		defer ft.mu.Unlock()
		if len(ft.sent) != 1 || ft.sent[0] != want.AccessToken {
			t.Fatalf("the API call carried %q, the token answered was %q", ft.sent, want.AccessToken)
		}
		// Accepted with a positive lifetime, it is cached: the call above
		// asked for no second token.
		if ft.tokens != 1 {
			t.Fatalf("expires_in %d: %d token requests for one token and one call, want 1 (the token was not cached)", want.ExpiresIn, ft.tokens)
		}
	})
}

// FuzzErrorEnvelope builds an error envelope from a fuzzed errcode and
// errmsg and gives it to each API: the errcode comes back as an *APIError
// (or, for 0, the call goes on to its own validation), and the errmsg is
// scrubbed of the secret and the token whatever it holds.
func FuzzErrorEnvelope(f *testing.F) {
	for _, c := range []struct {
		code int
		msg  string
	}{
		{0, "ok"},
		{-1, "system error"},
		{40001, "invalid credential, access_token is invalid or not latest rid: 6601a0-10"},
		{40014, "token " + fuzzToken + " is malformed"},
		{42001, "access_token expired"},
		{40125, "invalid appsecret: " + testSecret + " rid: x"},
		{40164, "invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist rid: 6601a0-11"},
		{45009, "reach max api daily quota limit rid: 6601a0-12"},
		{45011, "api minute-quota reach limit  mustslower  retry next minute"},
		{48001, "api unauthorized rid:"},
		{61024, "rid: rid: rid:,;"},
		{1 << 40, testSecret + testSecret + fuzzToken},
	} {
		for api := uint8(0); api < 5; api++ {
			f.Add(c.code, c.msg, api)
		}
	}
	f.Fuzz(func(t *testing.T, code int, msg string, api uint8) {
		body, err := json.Marshal(map[string]any{"errcode": code, "errmsg": msg})
		if err != nil {
			t.Skip()
		}
		ft := &fuzzTransport{tokenBody: goodTokenBody(), apiBody: body}
		if api%5 == 4 { // the envelope answers the token request
			ft.tokenBody = body
		}
		c, logs := newFuzzClient(t, ft, TokenModeStable)
		ctx := context.Background()
		switch api % 5 {
		case 0, 4:
			_, err = c.ListFollowers(ctx, "")
		case 1:
			_, err = c.BatchGetUsers(ctx, fuzzAsked, "")
		case 2:
			_, err = c.Tags(ctx)
		case 3:
			_, err = c.Quota(ctx, pathUserGet)
		}
		if api%5 == 4 {
			noLeak(t, err, logs.String()) // no token was issued
		} else {
			noLeak(t, err, logs.String(), fuzzToken)
		}
		_ = Classify(err)
		if code == 0 {
			return // the answer's own validation decides; the other targets check it
		}
		var ae *APIError
		if !errors.As(err, &ae) || ae.Code != code {
			t.Fatalf("errcode %d answered, the call returned %v", code, err)
		}
	})
}
