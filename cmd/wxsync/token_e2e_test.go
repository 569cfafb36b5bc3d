package main

// End-to-end token faults: another service expiring or revoking the
// account's access tokens in the middle of a sync.

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/wxsync/wxsync/connector/wechat"
	"github.com/wxsync/wxsync/connector/wxsim"
	"github.com/wxsync/wxsync/sink"
)

// A user/get call answered 42001, whose retry (with a new token) is
// answered 40001, and whose next retry succeeds: the sync ends exact with
// exit 0. Where the tokens really expire and are revoked, each event costs
// one token request.
func TestSyncTokenExpiredThenRevoked(t *testing.T) {
	for _, c := range []struct {
		name   string
		faults []wxsim.Fault
		env    []string
		path   string // token path
		tokens int    // token requests (0: not checked)
	}{
		{
			name: "stable",
			faults: []wxsim.Fault{
				{Path: wxsim.PathUserGet, Call: 2, Kind: wxsim.FaultExpireToken},
				{Path: wxsim.PathUserGet, Call: 3, Kind: wxsim.FaultRevokeToken},
			},
			path: wxsim.PathStableToken, tokens: 3,
		},
		{
			name: "classic",
			faults: []wxsim.Fault{
				{Path: wxsim.PathUserGet, Call: 2, Kind: wxsim.FaultExpireToken},
				{Path: wxsim.PathUserGet, Call: 3, Kind: wxsim.FaultRevokeToken},
			},
			env:  []string{"WECHAT_TOKEN_MODE=classic"},
			path: wxsim.PathToken, tokens: 3,
		},
		{
			// The errcodes alone: the tokens stay valid, so stable_token
			// answers the rejected token again (and the client forces a
			// refresh once, then retries the token it is given).
			name: "errcodes-only",
			faults: []wxsim.Fault{
				{Path: wxsim.PathUserGet, Call: 2, Kind: wxsim.FaultExpired},
				{Path: wxsim.PathUserGet, Call: 3, Kind: wxsim.FaultInvalidToken},
			},
			path: wxsim.PathStableToken,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			opts := smallPages()
			opts.Faults = c.faults
			e := newEnv(t, opts)
			r := e.sync(exitOK, c.env...)
			e.wantOneSnapshot(0)
			calls := e.sim.Calls()
			if want := walkCalls(e.sim.Total(), opts.PageSize, opts.EndStyle) + 2; calls[wxsim.PathUserGet] != want {
				t.Errorf("user/get calls = %d, want %d (a clean walk and the two rejected calls)", calls[wxsim.PathUserGet], want)
			}
			if c.tokens != 0 && calls[c.path] != c.tokens {
				t.Errorf("%s calls = %d, want %d (the first token, one per token event)", c.path, calls[c.path], c.tokens)
			}
			wantNoTokens(t, e, r.output)
		})
	}
}

// A token revoked on every try of one user/get call: after
// wechat.MaxTokenRefreshes refreshes the run stops with exit 75, says
// another service revokes the tokens and how to fix it, and keeps the
// cursor of the pages before; a rerun without the fault ends exact.
func TestSyncTokenRevokedOnEveryTry(t *testing.T) {
	for _, c := range []struct {
		name string
		env  []string
		path string
	}{
		{name: "stable", path: wxsim.PathStableToken},
		{name: "classic", env: []string{"WECHAT_TOKEN_MODE=classic"}, path: wxsim.PathToken},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			opts := smallPages()
			tries := 1 + wechat.MaxTokenRefreshes
			opts.Faults = []wxsim.Fault{{Path: wxsim.PathUserGet, Call: 2, Times: tries, Kind: wxsim.FaultRevokeToken}}
			e := newEnv(t, opts)
			ids := e.sim.FollowerOpenIDs()
			r := e.sync(exitTempFail, c.env...)
			for _, s := range []string{
				fmt.Sprintf("rejected again after each of %d refreshes", wechat.MaxTokenRefreshes),
				"another service is revoking this AppID's access tokens",
				"stable_token with force_refresh=false",
			} {
				if !strings.Contains(r.output, s) {
					t.Errorf("the output does not say %q:\n%s", s, r.output)
				}
			}
			if calls := e.sim.Calls(); calls[wxsim.PathUserGet] != 1+tries || calls[c.path] != tries {
				t.Errorf("user/get calls %d, %s calls %d; want %d and %d", calls[wxsim.PathUserGet], c.path, calls[c.path], 1+tries, tries)
			}
			wantNoTokens(t, e, r.output)
			id, _ := e.wantResumable(ids, 1)

			e.sync(exitOK, c.env...) // the fault is spent
			e.wantOneSnapshot(id)
			if got, want := e.runRecords(), []string{sink.RunStopped + " 75", sink.RunOK + " 0"}; !slices.Equal(sorted(got), sorted(want)) {
				t.Errorf("wxsync_runs holds %q, want %q", got, want)
			}
		})
	}
}

// wantNoTokens fails the test if output holds a token wxsim issued.
func wantNoTokens(t *testing.T, e *env, output string) {
	t.Helper()
	tokens := e.sim.TokensIssued()
	if len(tokens) == 0 {
		t.Fatal("no token was issued")
	}
	for _, tok := range append(tokens, e.sim.Options().Secret) {
		if strings.Contains(output, tok) {
			t.Fatalf("the output holds a token or the secret:\n%s", output)
		}
	}
}
