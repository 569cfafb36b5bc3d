package wxsim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// API paths served by the simulator.
const (
	PathToken       = "/cgi-bin/token"
	PathStableToken = "/cgi-bin/stable_token"
	PathUserGet     = "/cgi-bin/user/get"
	PathUserInfo    = "/cgi-bin/user/info"
	PathBatchGet    = "/cgi-bin/user/info/batchget"
	PathTagsGet     = "/cgi-bin/tags/get"
	PathBlacklist   = "/cgi-bin/tags/members/getblacklist"
	PathQuotaGet    = "/cgi-bin/openapi/quota/get"
	PathClearQuota  = "/cgi-bin/clear_quota"
)

// AnyPath in [Fault.Path] matches every API path; the fault's Call then
// counts calls to all API paths together.
const AnyPath = "*"

// Limits of the real API that the simulator enforces.
const (
	MaxPageSize  = 10000 // most openids per user/get or getblacklist page
	MaxBatch     = 100   // most openids per batchget call
	OpenIDLength = 28
	// MaxFollowers bounds Options.Followers (far above any real account).
	MaxFollowers = 1 << 32
	// HugeBodySize is the least number of bytes a FaultHugeBody answer carries.
	HugeBodySize = 64<<20 + 1<<20
)

// apiPaths lists every path the simulator serves, in a fixed order.
func apiPaths() []string {
	return []string{PathToken, PathStableToken, PathUserGet, PathUserInfo, PathBatchGet,
		PathTagsGet, PathBlacklist, PathQuotaGet, PathClearQuota}
}

func knownPath(p string) bool {
	for _, q := range apiPaths() {
		if p == q {
			return true
		}
	}
	return false
}

// listPath reports whether p answers pages of openids (user/get, getblacklist).
func listPath(p string) bool { return p == PathUserGet || p == PathBlacklist }

// EndStyle selects how a paged list (user/get, getblacklist) says it is done.
type EndStyle int

const (
	// EndCountZero is what the live API does: the last page carries its last
	// openid as next_openid, and the call after it answers
	// {"total":N,"count":0,"next_openid":""} with no "data" key.
	EndCountZero EndStyle = iota
	// EndEmptyNext is what the documentation's text says: the last page
	// itself has next_openid "".
	EndEmptyNext
)

// String returns "count-zero" or "empty-next" (the CLI spelling).
func (e EndStyle) String() string {
	switch e {
	case EndCountZero:
		return "count-zero"
	case EndEmptyNext:
		return "empty-next"
	}
	return "EndStyle(" + strconv.Itoa(int(e)) + ")"
}

// ParseEndStyle parses "count-zero" or "empty-next".
func ParseEndStyle(s string) (EndStyle, error) {
	for _, e := range []EndStyle{EndCountZero, EndEmptyNext} {
		if s == e.String() {
			return e, nil
		}
	}
	return 0, fmt.Errorf("wxsim: unknown end style %q (want count-zero or empty-next)", s)
}

// Churn changes the follower set in the middle of a walk: once AfterCalls
// user/get calls have been made (counting every call since New, faulted ones
// included, unaffected by ResetCalls), the next user/get call first applies
// AddFollowers(Add) and then RemoveFollowers(Remove). It happens once. The
// zero value disables it.
type Churn struct {
	AfterCalls int
	Add        int
	Remove     int
}

// ParseChurn parses the CLI form "AFTER:ADD:REMOVE", e.g. "2:500:300".
func ParseChurn(s string) (Churn, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return Churn{}, fmt.Errorf("wxsim: churn %q: want AFTER:ADD:REMOVE", s)
	}
	var v [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return Churn{}, fmt.Errorf("wxsim: churn %q: field %d is not a non-negative integer", s, i+1)
		}
		v[i] = n
	}
	return Churn{AfterCalls: v[0], Add: v[1], Remove: v[2]}, nil
}

func (c Churn) enabled() bool { return c.Add > 0 || c.Remove > 0 }

// FaultKind is what a scripted [Fault] makes the simulator answer.
type FaultKind int

// Fault kinds. Errcode kinds answer HTTP 200 with {"errcode":N,"errmsg":"... rid: ..."}
// before the access token is even looked at; the list kinds (marked "list")
// only apply to user/get and getblacklist.
const (
	FaultBusy          FaultKind = iota + 1 // errcode -1 system error
	FaultTooFrequent                        // errcode 45011
	FaultQuota                              // errcode 45009 (quota counters untouched)
	FaultBadGateway                         // HTTP 502, text/html body, as a proxy answers
	FaultTruncated                          // HTTP 200, the normal JSON body cut in half (Content-Length of the half)
	FaultReset                              // connection hijacked and closed (RST) without a response
	FaultSlow                               // the answer is delayed by Fault.Delay (or Options.SlowDelay), then normal
	FaultExpired                            // errcode 42001
	FaultInvalidToken                       // errcode 40001
	FaultUnauthorized                       // errcode 48001 api unauthorized
	FaultNotAuthorised                      // errcode 50001
	FaultIPWhitelist                        // errcode 40164 invalid ip ..., not in whitelist
	FaultDuplicates                         // list: repeats the previous page's last openids and some of its own
	FaultCountMismatch                      // list: count = len(openids)+1
	FaultRepeatNext                         // list: next_openid = the request's next_openid/begin_openid
	FaultEmptyOpenID                        // list: an "" inserted in the middle of the list
	FaultBadOpenID                          // list: a 28-char openid with '+' and a 40-char one inserted
	FaultHugeBody                           // > 64 MiB of valid JSON (user/get page shape), chunked
	FaultNotJSON                            // HTTP 200, text/plain body "hello"
	FaultBadUTF8                            // byte 0xff inside the first openid string of the body
	FaultEarlyEnd                           // list: the end-of-list answer (count 0) while more remain, as a stale cursor gets
	FaultRevokeToken                        // every token issued so far is revoked (as Revoke), then errcode 40001: another service took over
	FaultExpireToken                        // the token the call sent expires now, then errcode 42001; stable_token hands out a new one
	faultKindEnd
)

func faultKindNames() []string {
	return []string{"", "busy", "too-frequent", "quota", "bad-gateway", "truncated", "reset", "slow",
		"expired", "invalid-token", "unauthorized", "not-authorised", "ip-whitelist", "duplicates",
		"count-mismatch", "repeat-next", "empty-openid", "bad-openid", "huge-body", "not-json",
		"bad-utf8", "early-end", "revoke-token", "expire-token"}
}

// String returns the CLI name of k, e.g. "too-frequent" ("none" for 0).
func (k FaultKind) String() string {
	if k == 0 {
		return "none"
	}
	if k > 0 && k < faultKindEnd {
		return faultKindNames()[k]
	}
	return "FaultKind(" + strconv.Itoa(int(k)) + ")"
}

// FaultKinds returns every fault kind, in declaration order.
func FaultKinds() []FaultKind {
	kinds := make([]FaultKind, 0, faultKindEnd-1)
	for k := FaultKind(1); k < faultKindEnd; k++ {
		kinds = append(kinds, k)
	}
	return kinds
}

// ParseFaultKind parses a CLI fault name such as "busy" or "bad-utf8".
func ParseFaultKind(s string) (FaultKind, error) {
	names := faultKindNames()
	for k := FaultKind(1); k < faultKindEnd; k++ {
		if names[k] == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("wxsim: unknown fault kind %q (want one of %s)", s, strings.Join(names[1:], ", "))
}

// listOnly reports whether k only makes sense on a paged list endpoint.
func (k FaultKind) listOnly() bool {
	switch k {
	case FaultDuplicates, FaultCountMismatch, FaultRepeatNext, FaultEmptyOpenID, FaultBadOpenID, FaultEarlyEnd:
		return true
	}
	return false
}

// tokenOnly reports whether k acts on the access token a call sends.
func (k FaultKind) tokenOnly() bool { return k == FaultRevokeToken || k == FaultExpireToken }

// Fault scripts a misbehaviour on selected calls to one path.
type Fault struct {
	// Path is an API path (PathUserGet, ...) or AnyPath.
	Path string
	// Call is the 1-based number of the first call to Path that fails,
	// counted from New (or from AddFaults for faults added later); 0 means
	// every call.
	Call int
	// Times is how many consecutive calls fail from Call on; 0 means 1.
	// Ignored when Call is 0.
	Times int
	// Kind is what the faulted calls answer.
	Kind FaultKind
	// Delay is how long FaultSlow holds the answer; 0 means Options.SlowDelay.
	Delay time.Duration
}

// ParseFault parses the CLI form PATH:CALL:KIND[:TIMES], e.g.
// "/cgi-bin/user/get:3:busy:2" or "*:0:slow".
func ParseFault(spec string) (Fault, error) {
	parts := strings.Split(spec, ":")
	if len(parts) < 3 || len(parts) > 4 {
		return Fault{}, fmt.Errorf("wxsim: fault %q: want PATH:CALL:KIND[:TIMES]", spec)
	}
	f := Fault{Path: parts[0]}
	n, err := strconv.Atoi(parts[1])
	if err != nil || n < 0 {
		return Fault{}, fmt.Errorf("wxsim: fault %q: CALL %q is not a non-negative integer", spec, parts[1])
	}
	f.Call = n
	if f.Kind, err = ParseFaultKind(parts[2]); err != nil {
		return Fault{}, fmt.Errorf("wxsim: fault %q: %w", spec, err)
	}
	if len(parts) == 4 {
		n, err := strconv.Atoi(parts[3])
		if err != nil || n < 1 {
			return Fault{}, fmt.Errorf("wxsim: fault %q: TIMES %q is not a positive integer", spec, parts[3])
		}
		f.Times = n
	}
	if err := f.validate(); err != nil {
		return Fault{}, err
	}
	return f, nil
}

func (f Fault) validate() error {
	switch {
	case f.Path != AnyPath && !knownPath(f.Path):
		return fmt.Errorf("wxsim: fault on unknown path %q (want an API path such as %s, or %q)", f.Path, PathUserGet, AnyPath)
	case f.Kind <= 0 || f.Kind >= faultKindEnd:
		return fmt.Errorf("wxsim: fault on %s: invalid kind %d", f.Path, int(f.Kind))
	case f.Call < 0 || f.Times < 0 || f.Delay < 0:
		return fmt.Errorf("wxsim: fault %s on %s: Call, Times and Delay must not be negative", f.Kind, f.Path)
	case f.Kind.listOnly() && f.Path != AnyPath && !listPath(f.Path):
		return fmt.Errorf("wxsim: fault %s only applies to %s and %s, not %s", f.Kind, PathUserGet, PathBlacklist, f.Path)
	case f.Kind.tokenOnly() && (f.Path == PathToken || f.Path == PathStableToken):
		return fmt.Errorf("wxsim: fault %s only applies to paths that take an access token, not %s", f.Kind, f.Path)
	}
	return nil
}

// Options configures a [Server]. Start from [DefaultOptions]: New uses the
// values exactly as given and rejects invalid ones (see [Options.Validate]).
type Options struct {
	AppID  string // the account's AppID; default "wxsim0000000000001"
	Secret string // its AppSecret; default "wxsim-secret"

	Followers int    // N, the initial followers (indices 0..N-1); default 23,000
	Seed      uint64 // everything deterministic derives from it; default 1

	PageSize          int      // openids per user/get page; default 10,000 (the API's maximum)
	EndStyle          EndStyle // end-of-list style of user/get and getblacklist; default EndCountZero
	Blacklisted       int      // blacklisted followers (every (N/B)-th index); default 0
	BlacklistPageSize int      // openids per getblacklist page; default 10,000 (1,000 in the newer docs)

	TokenTTL time.Duration // access token lifetime (expires_in); default 7200 s
	// TokenGrace is the platform's overlap: a classic token stays valid for
	// TokenGrace after the next /cgi-bin/token call, and a stable token is
	// renewed once less than TokenGrace of it remains. Default 5 min.
	TokenGrace time.Duration

	// Quotas maps an API path to its daily limit, counted in calls (batchget
	// too). A path missing from the map is unlimited and unknown to
	// quota/get (76021). A limit of 0 rejects every call.
	Quotas map[string]int

	Latency   time.Duration // added to every API call; default 0
	SlowDelay time.Duration // delay of FaultSlow when Fault.Delay is 0; default 60 s
	BusyRate  float64       // fraction of API calls answering -1, drawn from an RNG seeded by Seed; default 0
	Faults    []Fault       // scripted faults; the first matching one applies
	Churn     Churn         // follower churn during a walk; default none

	// CallLogLimit is how many of the most recent calls CallLog keeps;
	// 0 keeps none. Default 100,000.
	CallLogLimit int

	// Now is the clock for tokens, quotas and the call log; default time.Now.
	Now func() time.Time
}

// DefaultOptions returns the default options; it is the only place defaults
// are defined.
func DefaultOptions() Options {
	return Options{
		AppID:             "wxsim0000000000001",
		Secret:            "wxsim-secret",
		Followers:         23000,
		Seed:              1,
		PageSize:          MaxPageSize,
		EndStyle:          EndCountZero,
		BlacklistPageSize: MaxPageSize,
		TokenTTL:          7200 * time.Second,
		TokenGrace:        5 * time.Minute,
		Quotas: map[string]int{
			PathToken:       2000,
			PathStableToken: 10000,
			PathUserGet:     500,
			PathUserInfo:    5000000,
			PathBatchGet:    5000000,
			PathTagsGet:     1000,
			PathBlacklist:   1000,
		},
		SlowDelay:    60 * time.Second,
		CallLogLimit: 100000,
		Now:          time.Now,
	}
}

// Validate reports every invalid option at once.
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.AppID == "" {
		bad("AppID is empty")
	}
	if o.Secret == "" {
		bad("Secret is empty")
	}
	if o.Followers < 0 || o.Followers > MaxFollowers {
		bad("Followers %d out of range [0, %d]", o.Followers, MaxFollowers)
	}
	if o.PageSize < 1 || o.PageSize > MaxPageSize {
		bad("PageSize %d out of range [1, %d]", o.PageSize, MaxPageSize)
	}
	if o.BlacklistPageSize < 1 || o.BlacklistPageSize > MaxPageSize {
		bad("BlacklistPageSize %d out of range [1, %d]", o.BlacklistPageSize, MaxPageSize)
	}
	if o.EndStyle != EndCountZero && o.EndStyle != EndEmptyNext {
		bad("EndStyle %d is invalid", int(o.EndStyle))
	}
	if o.Blacklisted < 0 || o.Blacklisted > o.Followers {
		bad("Blacklisted %d out of range [0, Followers=%d]", o.Blacklisted, o.Followers)
	}
	if o.TokenTTL < time.Second {
		bad("TokenTTL %v is shorter than 1s", o.TokenTTL)
	}
	if o.TokenGrace < 0 || o.TokenGrace >= o.TokenTTL {
		bad("TokenGrace %v out of range [0, TokenTTL=%v)", o.TokenGrace, o.TokenTTL)
	}
	for p, l := range o.Quotas {
		if !knownPath(p) {
			bad("Quotas: unknown path %q", p)
		}
		if l < 0 {
			bad("Quotas[%s] = %d is negative (remove the entry for no limit)", p, l)
		}
	}
	if o.Latency < 0 || o.SlowDelay < 0 {
		bad("Latency and SlowDelay must not be negative")
	}
	if !(o.BusyRate >= 0 && o.BusyRate <= 1) {
		bad("BusyRate %v out of range [0, 1]", o.BusyRate)
	}
	for _, f := range o.Faults {
		if err := f.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	c := o.Churn
	if c.AfterCalls < 0 || c.Add < 0 || c.Remove < 0 {
		bad("Churn fields must not be negative")
	}
	if c.Remove > o.Followers+c.Add {
		bad("Churn.Remove %d exceeds Followers+Churn.Add", c.Remove)
	}
	if o.CallLogLimit < 0 {
		bad("CallLogLimit %d is negative", o.CallLogLimit)
	}
	if o.Now == nil {
		bad("Now is nil")
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("wxsim: invalid options (start from DefaultOptions): %w", errors.Join(errs...))
}
