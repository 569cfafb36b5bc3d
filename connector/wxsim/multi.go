package wxsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/wxsync/wxsync/connector/push"
)

// The third-party platform's endpoints a Multi serves.
const (
	PathComponentToken  = "/cgi-bin/component/api_component_token"
	PathAuthorizerToken = "/cgi-bin/component/api_authorizer_token"
)

// Errcodes of the platform endpoints. 61024 is documented (a platform
// account's own secret used for a token); the ticket and refresh-token
// codes are the simulator's choice where the documentation names none.
const (
	CodeComponentAccount = 61024
	CodeBadTicket        = 61006
	CodeBadRefreshToken  = 61023
)

// TicketTTL is how long a component_verify_ticket stays valid.
const TicketTTL = 12 * time.Hour

// PlatformOptions is the third-party platform a Multi simulates.
type PlatformOptions struct {
	// ComponentAppID and ComponentSecret are the platform's credentials.
	ComponentAppID, ComponentSecret string
	// Token and EncodingAESKey sign and encrypt the pushes to the
	// platform's authorisation-event URL.
	Token, EncodingAESKey string
	// KeepRefreshToken: an authorizer token answer repeats the refresh
	// token sent instead of rotating it (rotation, the default, issues a
	// new one each time and the previous one stops working at once).
	KeepRefreshToken bool
}

// Multi simulates many Official Accounts behind one API base URL, each a
// Server of its own (followers, secret, quotas, faults), and a third-party
// platform's component endpoints. Token requests are routed by appid, API
// calls by the access token's account. It is safe for concurrent use.
type Multi struct {
	platform PlatformOptions
	now      func() time.Time
	rid      uint64

	mu         sync.Mutex
	accounts   map[string]*multiAccount
	owner      map[string]*Server // access token → account
	tickets    map[string]time.Time
	components map[string]time.Time // component token → expiry
	calls      map[string]int       // the platform endpoints and unrouted calls
	service    int                  // tokens handed out by the token service
}

type multiAccount struct {
	s        *Server
	platform bool   // authorised the platform: its own secret answers 61024
	refresh  string // its current authorizer refresh token
}

// NewMulti returns a Multi with no account; p may be zero (no platform).
func NewMulti(p PlatformOptions) *Multi {
	return &Multi{platform: p, now: time.Now, accounts: map[string]*multiAccount{}, owner: map[string]*Server{},
		tickets: map[string]time.Time{}, components: map[string]time.Time{}, calls: map[string]int{}}
}

// Add adds the account opts describes (its own AppID, Secret, Seed,
// quotas and faults). With authorised, the account authorised the
// platform: its token comes from the authorizer endpoint, its own secret
// answers 61024, and the returned refresh token starts it.
func (m *Multi) Add(opts Options, authorised bool) (*Server, string, error) {
	s, err := New(opts)
	if err != nil {
		return nil, "", err
	}
	s.onIssue = func(tok string) {
		m.mu.Lock()
		m.owner[tok] = s
		m.mu.Unlock()
	}
	a := &multiAccount{s: s, platform: authorised}
	if authorised {
		a.refresh = "refreshtoken@@@" + randomString(24)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.accounts[opts.AppID]; dup {
		return nil, "", fmt.Errorf("wxsim: account %s added twice", opts.AppID)
	}
	m.accounts[opts.AppID] = a
	return s, a.refresh, nil
}

// Account returns the account appid's Server, or nil.
func (m *Multi) Account(appid string) *Server {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a := m.accounts[appid]; a != nil {
		return a.s
	}
	return nil
}

// RefreshToken returns account appid's current authorizer refresh token.
func (m *Multi) RefreshToken(appid string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a := m.accounts[appid]; a != nil {
		return a.refresh
	}
	return ""
}

// Calls returns the requests per path over every account, the platform
// endpoints included. Tokens of the token service are not calls.
func (m *Multi) Calls() map[string]int {
	m.mu.Lock()
	out := maps.Clone(m.calls)
	servers := make([]*Server, 0, len(m.accounts))
	for _, a := range m.accounts {
		servers = append(servers, a.s)
	}
	m.mu.Unlock()
	for _, s := range servers {
		for p, n := range s.Calls() {
			out[p] += n
		}
	}
	return out
}

// ServeHTTP serves every account's API and the platform's endpoints.
func (m *Multi) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case PathComponentToken:
		m.count(r.URL.Path)
		m.componentToken(w, r)
		return
	case PathAuthorizerToken:
		m.count(r.URL.Path)
		m.authorizerToken(w, r)
		return
	}
	a, code := m.route(r)
	if a == nil {
		m.count(r.URL.Path)
		m.fail(w, code, "invalid appid or access_token")
		return
	}
	if a.platform && (r.URL.Path == PathToken || r.URL.Path == PathStableToken) {
		m.count(r.URL.Path)
		m.fail(w, CodeComponentAccount, "the account is managed by a third-party platform: use its component (authorizer) token")
		return
	}
	a.s.ServeHTTP(w, r)
}

// route finds the account of a request: by appid on the token
// endpoints, by access token elsewhere; code is the errcode when none.
func (m *Multi) route(r *http.Request) (*multiAccount, int) {
	var appid string
	switch r.URL.Path {
	case PathToken:
		appid = r.URL.Query().Get("appid")
	case PathStableToken:
		body, _ := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
		r.Body = io.NopCloser(bytes.NewReader(body))
		var req stableReq
		_ = json.Unmarshal(body, &req)
		appid = req.AppID
	default:
		tok := r.URL.Query().Get("access_token")
		m.mu.Lock()
		s := m.owner[tok]
		m.mu.Unlock()
		if s == nil {
			if tok == "" {
				return nil, 41001
			}
			return nil, 40001
		}
		return &multiAccount{s: s}, 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if a := m.accounts[appid]; a != nil {
		return a, 0
	}
	return nil, 40013
}

func (m *Multi) count(path string) {
	m.mu.Lock()
	m.calls[path]++
	m.mu.Unlock()
}

// fail answers an API error.
func (m *Multi) fail(w http.ResponseWriter, code int, msg string) {
	m.mu.Lock()
	m.rid++
	rid := m.rid
	m.mu.Unlock()
	writeJSONAnswer(w, map[string]any{"errcode": code, "errmsg": msg + " rid: " + strconv.FormatUint(rid, 16)})
}

func writeJSONAnswer(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", jsonContentType)
	_ = json.NewEncoder(w).Encode(v)
}

// componentToken answers api_component_token: the platform's credentials
// and a ticket pushed within TicketTTL.
func (m *Multi) componentToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AppID  string `json:"component_appid"`
		Secret string `json:"component_appsecret"`
		Ticket string `json:"component_verify_ticket"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(io.LimitReader(r.Body, maxRequestBody)).Decode(&req) != nil {
		m.fail(w, 47001, "data format error")
		return
	}
	now := m.now()
	m.mu.Lock()
	pushed, ok := m.tickets[req.Ticket]
	p := m.platform
	m.mu.Unlock()
	switch {
	case p.ComponentAppID == "" || req.AppID != p.ComponentAppID:
		m.fail(w, 40013, "invalid component appid")
	case req.Secret != p.ComponentSecret:
		m.fail(w, 40125, "invalid component appsecret")
	case !ok || now.Sub(pushed) > TicketTTL:
		m.fail(w, CodeBadTicket, "component_verify_ticket is invalid or expired")
	default:
		tok := tokenPrefix + randomString(tokenBodyLen*6/8)
		m.mu.Lock()
		m.components[tok] = now.Add(2 * time.Hour)
		m.mu.Unlock()
		writeJSONAnswer(w, map[string]any{"component_access_token": tok, "expires_in": 7200})
	}
}

// authorizerToken answers api_authorizer_token: a valid component token,
// an authorised account and its current refresh token; it rotates the
// refresh token unless PlatformOptions.KeepRefreshToken.
func (m *Multi) authorizerToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AppID      string `json:"component_appid"`
		Authorizer string `json:"authorizer_appid"`
		Refresh    string `json:"authorizer_refresh_token"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(io.LimitReader(r.Body, maxRequestBody)).Decode(&req) != nil {
		m.fail(w, 47001, "data format error")
		return
	}
	now := m.now()
	m.mu.Lock()
	exp, ok := m.components[r.URL.Query().Get("component_access_token")]
	a := m.accounts[req.Authorizer]
	var refresh string
	code := 0
	switch {
	case !ok || !now.Before(exp):
		code = 40001
	case req.AppID != m.platform.ComponentAppID:
		code = 40013
	case a == nil || !a.platform:
		code = 61003 // the account has not authorised the platform
	case req.Refresh != a.refresh:
		code = CodeBadRefreshToken
	default:
		if !m.platform.KeepRefreshToken {
			a.refresh = "refreshtoken@@@" + randomString(24)
		}
		refresh = a.refresh
	}
	m.mu.Unlock()
	if code != 0 {
		m.fail(w, code, "authorizer token refused")
		return
	}
	tok, ttl := a.s.issueAuthorizer(now)
	writeJSONAnswer(w, map[string]any{"authorizer_access_token": tok, "expires_in": int64(ttl.Seconds()), "authorizer_refresh_token": refresh})
}

// PushTicket issues a new component_verify_ticket and pushes it, signed
// and encrypted with the platform's Token and EncodingAESKey as WeChat
// does, to the platform's authorisation-event URL. It returns the ticket
// and the HTTP status the URL answered.
func (m *Multi) PushTicket(ctx context.Context, url string) (string, int, error) {
	p := m.platform
	key, err := push.ParseKey(p.EncodingAESKey)
	if err != nil {
		return "", 0, err
	}
	ticket := "ticket@@@" + randomString(48)
	now := m.now()
	m.mu.Lock()
	m.tickets[ticket] = now
	m.mu.Unlock()
	s := push.Sender{Mode: push.ModeSafe, Token: p.Token, Key: key, AppID: p.ComponentAppID, Random: rand.Reader}
	q, body, err := s.SealComponent(push.EncodeVerifyTicket(p.ComponentAppID, ticket, now.Unix()), now.Unix(), randomString(6))
	if err != nil {
		return "", 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		return "", 0, fmt.Errorf("wxsim: ticket push request: %w", err)
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ticket, 0, fmt.Errorf("wxsim: ticket push: %w", err)
	}
	resp.Body.Close()
	return ticket, resp.StatusCode, nil
}

// TokenService returns a central token service for the accounts of m:
// GET ?appid=APPID with "Authorization: Bearer <bearer>" (when bearer is
// set) answers {"access_token", "expires_in"} with the account's current
// stable token, obtained inside the simulator: no WeChat token call is
// made or counted.
func (m *Multi) TokenService(bearer string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if bearer != "" && r.Header.Get("Authorization") != "Bearer "+bearer {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		m.mu.Lock()
		a := m.accounts[r.URL.Query().Get("appid")]
		if a != nil {
			m.service++
		}
		m.mu.Unlock()
		if a == nil {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		tok, left := a.s.issueStable(m.now(), false)
		writeJSONAnswer(w, map[string]any{"access_token": tok, "expires_in": int64(left.Seconds())})
	})
}

// ServiceTokens is how many tokens the token service handed out.
func (m *Multi) ServiceTokens() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.service
}

// randomString is n random bytes in URL-safe base64 (no padding).
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}
