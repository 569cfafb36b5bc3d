package wxsim

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// tokenCode returns the errcode a user/get call with tok gets (0 = accepted).
func (h *harness) tokenCode(tok string) int {
	h.t.Helper()
	var e apiError
	h.decode(h.get(PathTagsGet, url.Values{"access_token": {tok}}), &e)
	return e.ErrCode
}

func TestClassicTokenGraceAndExpiry(t *testing.T) {
	h := start(t, nil)
	var a tokenAnswer
	h.decode(h.get(PathToken, h.creds()), &a)
	if a.ExpiresIn != 7200 || !wellFormedToken(a.AccessToken) || len(a.AccessToken) != tokenLen {
		t.Fatalf("token answer %+v", a)
	}
	t1 := a.AccessToken
	t2 := h.token()
	if t1 == t2 {
		t.Fatal("/cgi-bin/token returned the same token twice")
	}
	if h.tokenCode(t1) != 0 || h.tokenCode(t2) != 0 {
		t.Fatal("previous token invalid during the grace period")
	}
	h.clock.Advance(5*time.Minute - time.Second)
	if h.tokenCode(t1) != 0 {
		t.Fatal("previous token invalid 1s before the end of the grace period")
	}
	h.clock.Advance(time.Second)
	if c := h.tokenCode(t1); c != 40001 {
		t.Fatalf("previous token after grace: %d, want 40001", c)
	}
	if h.tokenCode(t2) != 0 {
		t.Fatal("latest token rejected")
	}
	// A third token starts t2's grace; t1 stays revoked.
	t3 := h.token()
	if h.tokenCode(t2) != 0 || h.tokenCode(t1) != 40001 || h.tokenCode(t3) != 0 {
		t.Fatal("grace of t2 / revocation of t1 wrong")
	}
	// Expiry: 42001 once TokenTTL has passed.
	h.clock.Advance(7200*time.Second - time.Second)
	if h.tokenCode(t3) != 0 {
		t.Fatal("token rejected before its expiry")
	}
	h.clock.Advance(time.Second)
	if c := h.tokenCode(t3); c != 42001 {
		t.Fatalf("expired token: %d, want 42001", c)
	}
	if got := h.srv.TokensIssued(); len(got) != 3 || got[0] != t1 || got[2] != t3 {
		t.Fatalf("TokensIssued = %d tokens", len(got))
	}
}

func TestStableToken(t *testing.T) {
	h := start(t, nil)
	a1, e := h.stable(false)
	if e.ErrCode != 0 || a1.ExpiresIn != 7200 {
		t.Fatalf("stable token: %+v %+v", a1, e)
	}
	h.clock.Advance(100 * time.Second)
	a2, _ := h.stable(false)
	if a2.AccessToken != a1.AccessToken || a2.ExpiresIn != 7100 {
		t.Fatalf("second stable call: same=%v expires_in=%d, want same token and 7100", a2.AccessToken == a1.AccessToken, a2.ExpiresIn)
	}
	// Classic and stable tokens are separate: fetching a classic token does
	// not revoke the stable one, and vice versa.
	classic := h.token()
	h.token()
	h.clock.Advance(6 * time.Minute)
	if h.tokenCode(a1.AccessToken) != 0 {
		t.Fatal("classic token fetches revoked the stable token")
	}
	if h.tokenCode(classic) != 40001 {
		t.Fatal("classic token not revoked by the next classic fetch")
	}
	// Within the last TokenGrace of its life the stable token is renewed;
	// the old one overlaps until its own expiry.
	h.clock.Advance(7200*time.Second - 100*time.Second - 6*time.Minute - 4*time.Minute) // 4 min left
	a3, _ := h.stable(false)
	if a3.AccessToken == a1.AccessToken || a3.ExpiresIn != 7200 {
		t.Fatalf("stable token not renewed near expiry: expires_in %d", a3.ExpiresIn)
	}
	if h.tokenCode(a1.AccessToken) != 0 || h.tokenCode(a3.AccessToken) != 0 {
		t.Fatal("old and renewed stable tokens must overlap")
	}
	h.clock.Advance(4 * time.Minute)
	if c := h.tokenCode(a1.AccessToken); c != 42001 {
		t.Fatalf("old stable token after expiry: %d, want 42001", c)
	}
	// force_refresh issues a new token and invalidates the old one at once.
	a4, _ := h.stable(true)
	if a4.AccessToken == a3.AccessToken || a4.ExpiresIn != 7200 {
		t.Fatal("force_refresh did not issue a new token")
	}
	if c := h.tokenCode(a3.AccessToken); c != 40001 {
		t.Fatalf("token replaced by force_refresh: %d, want 40001", c)
	}
	if h.tokenCode(a4.AccessToken) != 0 {
		t.Fatal("force-refreshed token rejected")
	}
	if a5, _ := h.stable(false); a5.AccessToken != a4.AccessToken {
		t.Fatal("stable token changed without reason")
	}
}

func TestTokenCredentialErrors(t *testing.T) {
	h := start(t, nil)
	o := h.srv.Options()
	q := func(grant, appid, secret string) url.Values {
		return url.Values{"grant_type": {grant}, "appid": {appid}, "secret": {secret}}
	}
	h.wantErr(h.get(PathToken, q("client_credential", "wxWRONG", o.Secret)), 40013)
	msg := h.wantErr(h.get(PathToken, q("client_credential", o.AppID, "wrong")), 40001)
	if strings.Contains(msg, "wrong") {
		t.Fatalf("errmsg echoes the secret: %q", msg)
	}
	h.wantErr(h.get(PathToken, q("password", o.AppID, o.Secret)), 40002)
	h.wantErr(h.get(PathToken, q("client_credential", "", o.Secret)), 41002)
	h.wantErr(h.get(PathToken, q("client_credential", o.AppID, "")), 41004)

	st := func(appid, secret string) response {
		return h.do(http.MethodPost, PathStableToken, nil, stableReq{GrantType: "client_credential", AppID: appid, Secret: secret})
	}
	h.wantErr(st("wxWRONG", o.Secret), 40013)
	h.wantErr(st(o.AppID, "wrong"), 40125)
	h.wantErr(h.do(http.MethodPost, PathStableToken, nil, []byte("{")), 47001)
	h.wantErr(h.do(http.MethodPost, PathStableToken, nil, []byte("")), 44002)
	h.wantErr(h.get(PathStableToken, nil), 43002)
	if n := len(h.srv.TokensIssued()); n != 0 {
		t.Fatalf("%d tokens issued on failed requests", n)
	}
}

func TestAccessTokenErrors(t *testing.T) {
	h := start(t, nil)
	tok := h.token()
	for _, path := range []string{PathUserGet, PathUserInfo, PathTagsGet} {
		h.wantErr(h.get(path, nil), 41001)
		h.wantErr(h.get(path, url.Values{"access_token": {"not-a-token"}}), 40014)
		h.wantErr(h.get(path, url.Values{"access_token": {tok[:len(tok)-1]}}), 40014)
		h.wantErr(h.get(path, url.Values{"access_token": {"86_" + strings.Repeat("A", tokenBodyLen)}}), 40001)
	}
	for _, path := range []string{PathBatchGet, PathBlacklist, PathQuotaGet} {
		h.wantErr(h.post(path, "", []byte("{}")), 41001)
		h.wantErr(h.post(path, "x", []byte("{}")), 40014)
	}
	h.clock.Advance(7200 * time.Second)
	h.wantErr(h.get(PathUserGet, url.Values{"access_token": {tok}}), 42001)
}

func TestRevoke(t *testing.T) {
	h := start(t, nil)
	c := h.token()
	s, _ := h.stable(false)
	h.srv.Revoke()
	if h.tokenCode(c) != 40001 || h.tokenCode(s.AccessToken) != 40001 {
		t.Fatal("Revoke left a token valid")
	}
	s2, _ := h.stable(false)
	if s2.AccessToken == s.AccessToken || h.tokenCode(s2.AccessToken) != 0 {
		t.Fatal("stable_token after Revoke must issue a new, valid token")
	}
	if h.tokenCode(h.token()) != 0 {
		t.Fatal("classic token after Revoke rejected")
	}
}

func TestRidIsFresh(t *testing.T) {
	h := start(t, nil)
	seen := map[string]bool{}
	for range 100 {
		msg := h.wantErr(h.get(PathUserGet, nil), 41001)
		if seen[msg] {
			t.Fatalf("rid repeated: %q", msg)
		}
		seen[msg] = true
		if !strings.HasPrefix(msg, "access_token missing rid: ") {
			t.Fatalf("errmsg %q", msg)
		}
	}
}
