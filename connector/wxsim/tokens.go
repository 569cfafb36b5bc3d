package wxsim

import (
	"crypto/rand"
	"encoding/base64"
	"time"
)

// Access tokens look like the live ones: "86_" and 136 characters of
// [A-Za-z0-9_-] (139 in all). Anything else is malformed (40014).
const (
	tokenPrefix  = "86_"
	tokenBodyLen = 136
	tokenLen     = len(tokenPrefix) + tokenBodyLen
)

type tokenState struct {
	stable   bool
	expires  time.Time
	revoked  bool
	revokeAt time.Time // with revoked: invalid from this instant on
}

func (t *tokenState) usable(now time.Time) bool {
	return (!t.revoked || now.Before(t.revokeAt)) && now.Before(t.expires)
}

// revokeFrom makes t invalid from at on (or earlier, if it already was).
func (t *tokenState) revokeFrom(at time.Time) {
	if !t.revoked || at.Before(t.revokeAt) {
		t.revoked, t.revokeAt = true, at
	}
}

func wellFormedToken(tok string) bool {
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	if len(tok) != tokenLen || !isDigit(tok[0]) || !isDigit(tok[1]) || tok[2] != '_' {
		return false
	}
	for i := 3; i < len(tok); i++ {
		if _, ok := b64val(tok[i]); !ok {
			return false
		}
	}
	return true
}

// newToken issues a token; s.mu is held.
func (s *Server) newToken(stable bool, now time.Time) string {
	raw := make([]byte, tokenBodyLen*6/8)
	_, _ = rand.Read(raw) // crypto/rand.Read never fails
	tok := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	s.tokens[tok] = &tokenState{stable: stable, expires: now.Add(s.opts.TokenTTL)}
	s.issued = append(s.issued, tok)
	if s.onIssue != nil {
		s.onIssue(tok)
	}
	return tok
}

// issueAuthorizer issues an authorizer access token (a third-party
// platform's token for this account): a new one each time, valid for
// TokenTTL, not revoking earlier ones.
func (s *Server) issueAuthorizer(now time.Time) (string, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newToken(false, now), s.opts.TokenTTL
}

// issueClassic answers /cgi-bin/token: a new token each call; the previous
// one stays valid for TokenGrace.
func (s *Server) issueClassic(now time.Time) (string, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev := s.tokens[s.classic]; prev != nil {
		prev.revokeFrom(now.Add(s.opts.TokenGrace))
	}
	s.classic = s.newToken(false, now)
	return s.classic, s.opts.TokenTTL
}

// issueStable answers /cgi-bin/stable_token: the current token while more
// than TokenGrace of it remains; a new one (the old one overlapping until
// its own expiry) once less remains; a new one revoking the old at once on
// force.
func (s *Server) issueStable(now time.Time, force bool) (string, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.tokens[s.stable]; cur != nil && cur.usable(now) {
		if force {
			cur.revokeFrom(now)
		} else if left := cur.expires.Sub(now); left > s.opts.TokenGrace {
			return s.stable, left
		}
	}
	s.stable = s.newToken(true, now)
	return s.stable, s.opts.TokenTTL
}

// checkToken returns 0 for a usable token, else the errcode and errmsg.
func (s *Server) checkToken(tok string, now time.Time) (int, string) {
	if tok == "" {
		return 41001, "access_token missing"
	}
	if !wellFormedToken(tok) {
		return 40014, "invalid access_token"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[tok]
	switch {
	case t == nil || (t.revoked && !now.Before(t.revokeAt)):
		return 40001, msgInvalidCredential
	case !now.Before(t.expires):
		return 42001, "access_token expired"
	}
	return 0, ""
}

const msgInvalidCredential = "invalid credential, access_token is invalid or not latest"

// Revoke invalidates every token issued so far, at once, as another service
// fetching a classic token (past the grace period) or forcing a stable
// refresh would: the next calls with them answer 40001.
func (s *Server) Revoke() { s.revokeAll(s.opts.Now()) }

// revokeAll invalidates every token issued so far from now on.
func (s *Server) revokeAll(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		t.revokeFrom(now)
	}
	s.classic, s.stable = "", ""
}

// expireToken makes token tok (if it is one) expire at now, as if its
// lifetime had run out: calls with it answer 42001, and stable_token
// hands out a new token.
func (s *Server) expireToken(tok string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tokens[tok]; t != nil && now.Before(t.expires) {
		t.expires = now
	}
}
