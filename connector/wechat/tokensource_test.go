package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxsync/wxsync/plugin/kind"
)

const (
	testBearer          = "BeArEr-77aa-MUST-NOT-LEAK"
	testComponentAppID  = "wxc0ffee0000000001"
	testComponentSecret = "CoMpOnEnT-5ec-MUST-NOT-LEAK"
	testTicket          = "ticket@@@TiCkEt-MUST-NOT-LEAK"
	testRefresh         = "refreshtoken@@@ReFrEsH-0-MUST-NOT-LEAK"
)

// serveTokenService makes f answer GET /svc/token?appid= with its current
// stable token when the bearer matches; it returns the count of requests.
func serveTokenService(f *fakeWX) {
	f.handle("/svc/token", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testBearer || r.URL.Query().Get("appid") != testAppID {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		f.mu.Lock()
		if f.current == "" {
			f.current = f.issueLocked()
		}
		tok := f.current
		f.mu.Unlock()
		writeJSON(w, map[string]any{"access_token": tok, "expires_in": 7200})
	})
}

func serviceClient(t *testing.T, f *fakeWX) *Client {
	c, _, _ := newClient(t, f, func(c *Config) {
		c.Secret = ""
		c.TokenSource = TokenSourceService
		c.TokenService = TokenService{URL: f.srv.URL + "/svc/token", Bearer: testBearer}
	})
	return c
}

func TestTokenServiceIsAskedAndWeChatNever(t *testing.T) {
	f := newFake(t)
	serveTokenService(f)
	f.handle(pathUserGet, okFollowers(f))
	c := serviceClient(t, f)
	ctx := context.Background()
	for range 3 {
		if _, err := c.ListFollowers(ctx, ""); err != nil {
			t.Fatal(err)
		}
	}
	// The service rotates (another service refreshed): asked once more.
	f.rotateStable()
	if _, err := c.ListFollowers(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if n := f.hit("/svc/token"); n != 2 {
		t.Errorf("token service requests = %d, want 2 (one, then one after the rejection)", n)
	}
	if n := f.tokenHits(); n != 0 {
		t.Errorf("WeChat token endpoint called %d times, want never", n)
	}
	if got := c.Calls()[PathTokenService]; got != 2 {
		t.Errorf("Calls()[%s] = %d, want 2", PathTokenService, got)
	}
}

func TestTokenServiceRejectedTokenIsBounded(t *testing.T) {
	f := newFake(t)
	serveTokenService(f)
	f.handle(pathUserGet, okFollowers(f))
	c := serviceClient(t, f)
	ctx := context.Background()
	if err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	stale := f.current
	f.mu.Unlock()
	f.revoke(stale) // the service keeps handing out a token the API rejects
	_, err := c.ListFollowers(ctx, "")
	var tc *TokenConflictError
	if !errors.As(err, &tc) || Classify(err) != kind.Temporary {
		t.Fatalf("err = %v, want a temporary TokenConflictError", err)
	}
	if n := f.hit("/svc/token"); n != 1+MaxTokenRefreshes {
		t.Errorf("token service requests = %d, want %d", n, 1+MaxTokenRefreshes)
	}
	if f.tokenHits() != 0 {
		t.Error("a WeChat token endpoint was called")
	}
}

// platformFake serves the component endpoints on f: it checks the
// component credentials and ticket, and rotates the refresh token on each
// authorizer token request (the previous one stops working at once).
type platformFake struct {
	mu         sync.Mutex
	refresh    string
	seq        int
	components int
	component  string
}

func servePlatform(f *fakeWX) *platformFake {
	p := &platformFake{refresh: testRefresh}
	f.handle(pathComponentToken, func(w http.ResponseWriter, r *http.Request) {
		var b map[string]string
		_ = json.NewDecoder(r.Body).Decode(&b)
		if b["component_appid"] != testComponentAppID || b["component_appsecret"] != testComponentSecret || b["component_verify_ticket"] != testTicket {
			writeJSON(w, map[string]any{"errcode": 61006, "errmsg": "component ticket is invalid"})
			return
		}
		p.mu.Lock()
		p.components++
		p.component = "CompTok" + strings.Repeat("x", p.components) + "-LEAKMARK"
		tok := p.component
		p.mu.Unlock()
		writeJSON(w, map[string]any{"component_access_token": tok, "expires_in": 7200})
	})
	f.handle(pathAuthorizerToken, func(w http.ResponseWriter, r *http.Request) {
		var b map[string]string
		_ = json.NewDecoder(r.Body).Decode(&b)
		p.mu.Lock()
		defer p.mu.Unlock()
		if r.URL.Query().Get("component_access_token") != p.component {
			writeJSON(w, map[string]any{"errcode": 40001, "errmsg": "invalid credential"})
			return
		}
		if b["authorizer_appid"] != testAppID || b["authorizer_refresh_token"] != p.refresh {
			writeJSON(w, map[string]any{"errcode": 61023, "errmsg": "refresh_token is invalid"})
			return
		}
		p.seq++
		p.refresh = testRefresh[:len(testRefresh)-1] + string(rune('A'+p.seq))
		f.mu.Lock()
		tok := f.issueLocked()
		f.mu.Unlock()
		writeJSON(w, map[string]any{"authorizer_access_token": tok, "expires_in": 7200, "authorizer_refresh_token": p.refresh})
	})
	return p
}

func platformClient(t *testing.T, f *fakeWX, keep func(context.Context, string) error) (*Client, *syncBuffer, *testClock) {
	return newClient(t, f, func(c *Config) {
		c.Secret = ""
		c.TokenSource = TokenSourcePlatform
		c.Platform = Platform{ComponentAppID: testComponentAppID, ComponentSecret: testComponentSecret,
			VerifyTicket: testTicket, RefreshToken: testRefresh, KeepRefreshToken: keep}
	})
}

func TestPlatformTokensDerivedAndRefreshTokenKept(t *testing.T) {
	f := newFake(t)
	p := servePlatform(f)
	f.handle(pathUserGet, okFollowers(f))
	var kept []string
	c, logs, clk := platformClient(t, f, func(_ context.Context, tok string) error {
		kept = append(kept, tok)
		return nil
	})
	ctx := context.Background()
	if _, err := c.ListFollowers(ctx, ""); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour) // the authorizer token expires; the component token too
	if _, err := c.ListFollowers(ctx, ""); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	current, components := p.refresh, p.components
	p.mu.Unlock()
	if len(kept) != 2 || kept[1] != current || c.RefreshToken() != current {
		t.Errorf("kept %d refresh tokens, want 2 ending with the current one", len(kept))
	}
	if components != 2 || f.hit(pathAuthorizerToken) != 2 || f.tokenHits() != 0 {
		t.Errorf("component tokens %d, authorizer requests %d, own-secret token requests %d; want 2, 2, 0",
			components, f.hit(pathAuthorizerToken), f.tokenHits())
	}
	for _, s := range append(kept, testComponentSecret, testTicket, testRefresh) {
		if strings.Contains(logs.String(), s) {
			t.Errorf("logs leak a platform secret")
		}
	}
}

func TestPlatformRefreshTokenNotKeptIsTemporary(t *testing.T) {
	f := newFake(t)
	servePlatform(f)
	c, _, _ := platformClient(t, f, func(context.Context, string) error {
		return errors.New("clickhouse away")
	})
	err := c.Token(context.Background())
	var ke *KeepError
	if !errors.As(err, &ke) || Classify(err) != kind.Temporary {
		t.Fatalf("err = %v, want a temporary KeepError", err)
	}
	if strings.Contains(err.Error(), "ReFrEsH") {
		t.Error("the error shows a refresh token")
	}
}

func TestPlatformRejectedComponentTokenFetchedAgain(t *testing.T) {
	f := newFake(t)
	p := servePlatform(f)
	c, _, _ := platformClient(t, f, nil)
	ctx := context.Background()
	if _, err := c.componentToken(ctx, false); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.component = "revoked-elsewhere"
	p.mu.Unlock()
	if err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	if n := f.hit(pathComponentToken); n != 2 {
		t.Errorf("component token requests = %d, want 2", n)
	}
}

func TestTokenSourceValidation(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg   Config
		field string
	}{
		"service without URL":  {Config{AppID: testAppID, TokenSource: TokenSourceService}, "TokenService.URL"},
		"platform, no ticket":  {Config{AppID: testAppID, TokenSource: TokenSourcePlatform, Platform: Platform{ComponentAppID: testComponentAppID, ComponentSecret: "x", RefreshToken: "y"}}, "Platform.VerifyTicket"},
		"platform, no refresh": {Config{AppID: testAppID, TokenSource: TokenSourcePlatform, Platform: Platform{ComponentAppID: testComponentAppID, ComponentSecret: "x", VerifyTicket: "t"}}, "Platform.RefreshToken"},
		"unknown source":       {Config{AppID: testAppID, Secret: "s", TokenSource: "magic"}, "TokenSource"},
	} {
		err := tc.cfg.Validate()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%s: err = %v, want a ConfigError on %s", name, err, tc.field)
		}
	}
	ok := Config{AppID: testAppID, TokenSource: TokenSourceService, TokenService: TokenService{URL: "https://tokens.internal/token"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("a service source needs no secret: %v", err)
	}
}
