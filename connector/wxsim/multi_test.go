package wxsim

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wxsync/wxsync/connector/push"
	"github.com/wxsync/wxsync/connector/wechat"
)

func multiAccountOptions(appid string, seed uint64, followers int) Options {
	o := DefaultOptions()
	o.AppID, o.Secret, o.Seed, o.Followers = appid, "secret-of-"+appid, seed, followers
	return o
}

func TestMultiServesEachAccountItsOwnFollowersAndTokenSources(t *testing.T) {
	p := PlatformOptions{ComponentAppID: "wxc0mp0nent0000001", ComponentSecret: "component-secret", Token: "platformtoken", EncodingAESKey: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}
	m := NewMulti(p)
	own, _, _ := m.Add(multiAccountOptions("wxaccount000000001", 1, 3), false)
	plat, refresh, _ := m.Add(multiAccountOptions("wxaccount000000002", 2, 5), true)
	svc, _, _ := m.Add(multiAccountOptions("wxaccount000000003", 3, 7), false)
	api := httptest.NewServer(m)
	defer api.Close()
	tokens := httptest.NewServer(m.TokenService("bearer"))
	defer tokens.Close()

	// The platform's listener receives the ticket push.
	var got push.ComponentEvent
	listener := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := push.NewVerifier(push.Config{Token: p.Token, AppID: p.ComponentAppID, AESKey: p.EncodingAESKey})
		body := make([]byte, r.ContentLength)
		_, _ = r.Body.Read(body)
		ev, err := v.OpenComponent(r.URL.Query(), body)
		if err != nil {
			t.Errorf("OpenComponent: %v", err)
		}
		got = ev
	}))
	defer listener.Close()
	ticket, status, err := m.PushTicket(context.Background(), listener.URL)
	if err != nil || status != http.StatusOK || got.Ticket != ticket {
		t.Fatalf("push: status %d, err %v, ticket received %v", status, err, got.Ticket == ticket)
	}

	ctx := context.Background()
	clients := map[*Server]wechat.Config{
		own: {AppID: "wxaccount000000001", Secret: "secret-of-wxaccount000000001"},
		plat: {AppID: "wxaccount000000002", TokenSource: wechat.TokenSourcePlatform, Platform: wechat.Platform{
			ComponentAppID: p.ComponentAppID, ComponentSecret: p.ComponentSecret, VerifyTicket: ticket, RefreshToken: refresh}},
		svc: {AppID: "wxaccount000000003", TokenSource: wechat.TokenSourceService, TokenService: wechat.TokenService{URL: tokens.URL, Bearer: "bearer"}},
	}
	for s, cfg := range clients {
		cfg.BaseURL = api.URL
		c, err := wechat.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		page, err := c.ListFollowers(ctx, "")
		if err != nil {
			t.Fatalf("%s: %v", cfg.AppID, err)
		}
		if page.Total != s.Total() || len(page.OpenIDs) != s.Total() || page.OpenIDs[0] != s.OpenID(0) {
			t.Errorf("%s: listed %d of %d followers, first %s", cfg.AppID, len(page.OpenIDs), s.Total(), page.OpenIDs[0])
		}
	}
	if m.RefreshToken("wxaccount000000002") == refresh {
		t.Error("the refresh token did not rotate")
	}
	// The platform account's own secret answers 61024.
	c, _ := wechat.New(wechat.Config{AppID: "wxaccount000000002", Secret: "secret-of-wxaccount000000002", BaseURL: api.URL})
	var ae *wechat.APIError
	if err := c.Token(ctx); !errors.As(err, &ae) || ae.Code != CodeComponentAccount {
		t.Errorf("own secret of a platform account: %v, want 61024", err)
	}
	calls := m.Calls()
	if calls[PathStableToken] != 2 || calls[PathComponentToken] != 1 || calls[PathAuthorizerToken] != 1 || m.ServiceTokens() != 1 {
		t.Errorf("calls %v, service tokens %d", calls, m.ServiceTokens())
	}
}
