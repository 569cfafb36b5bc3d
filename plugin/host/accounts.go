package host

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/wxsync/wxsync/plugin/kind"
)

// Token sources of an Account.
const (
	SourceSecret   = "secret"
	SourceService  = "service"
	SourcePlatform = "platform"
)

// Account is one account of an account list, its secrets resolved. Its
// String never shows a secret.
type Account struct {
	AppID string
	// Source is SourceSecret, SourceService or SourcePlatform.
	Source string
	// Secret is the account's AppSecret (SourceSecret).
	Secret string
	// ServiceURL and ServiceBearer are its central token service.
	ServiceURL, ServiceBearer string
	// ComponentAppID, ComponentSecret: the platform it authorised;
	// RefreshToken: its authorizer refresh token as configured (a newer one
	// stored by a run takes precedence).
	ComponentAppID, ComponentSecret, RefreshToken string
}

// String shows the account and its token source, never a secret.
func (a Account) String() string {
	switch a.Source {
	case SourceService:
		return fmt.Sprintf("%s (token service %s)", a.AppID, a.ServiceURL)
	case SourcePlatform:
		return fmt.Sprintf("%s (platform %s)", a.AppID, a.ComponentAppID)
	}
	return a.AppID + " (own secret)"
}

// GoString redacts like String.
func (a Account) GoString() string { return a.String() }

// accountFile is the JSON of an account list (docs/accounts.md).
type accountFile struct {
	TokenServices map[string]serviceEntry  `json:"token_services"`
	Platforms     map[string]platformEntry `json:"platforms"`
	Accounts      []accountEntry           `json:"accounts"`
}

type serviceEntry struct {
	URL        string `json:"url"`
	BearerEnv  string `json:"bearer_env"`
	BearerFile string `json:"bearer_file"`
}

type platformEntry struct {
	ComponentAppID      string `json:"component_appid"`
	ComponentSecretEnv  string `json:"component_secret_env"`
	ComponentSecretFile string `json:"component_secret_file"`
}

type accountEntry struct {
	AppID            string `json:"appid"`
	SecretEnv        string `json:"secret_env"`
	SecretFile       string `json:"secret_file"`
	TokenService     string `json:"token_service"`
	Platform         string `json:"platform"`
	RefreshTokenEnv  string `json:"refresh_token_env"`
	RefreshTokenFile string `json:"refresh_token_file"`
}

// LoadAccounts reads the account list at path, resolving each secret
// reference (…_env: the variable's value through getenv; …_file: the
// file's content, trailing newline dropped). Every problem found is
// reported at once, as a kind.Config error naming the entry; no error
// quotes a secret.
func LoadAccounts(path string, getenv func(string) (string, bool)) ([]Account, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, kind.Mark(kind.Config, fmt.Errorf("account list: %w", err))
	}
	return ParseAccounts(b, getenv)
}

// ParseAccounts is LoadAccounts of the file's content.
func ParseAccounts(b []byte, getenv func(string) (string, bool)) ([]Account, error) {
	var f accountFile
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&f); err != nil {
		return nil, kind.Mark(kind.Config, fmt.Errorf("account list: %w", err))
	}
	r := &resolver{getenv: getenv}
	seen := map[string]bool{}
	var out []Account
	for i, e := range f.Accounts {
		where := fmt.Sprintf("accounts[%d] (%s)", i, e.AppID)
		if e.AppID == "" {
			r.bad("accounts[%d]: appid is missing", i)
			continue
		}
		if seen[e.AppID] {
			r.bad("%s: appid listed twice", where)
		}
		seen[e.AppID] = true
		out = append(out, r.account(where, e, f))
	}
	if len(out) == 0 && len(r.errs) == 0 {
		r.bad("account list: no accounts")
	}
	if len(r.errs) > 0 {
		return nil, kind.Mark(kind.Config, errors.Join(r.errs...))
	}
	return out, nil
}

// resolver resolves secret references and gathers problems.
type resolver struct {
	getenv func(string) (string, bool)
	errs   []error
}

func (r *resolver) bad(format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf(format, args...))
}

// secret resolves the reference (env or file) of what, which must be set.
func (r *resolver) secret(where, what, env, file string) string {
	switch {
	case env != "" && file != "":
		r.bad("%s: give %s_env or %s_file, not both", where, what, what)
	case env != "":
		v, ok := r.getenv(env)
		if !ok || v == "" {
			r.bad("%s: %s_env names %s, which is not set", where, what, env)
		}
		return v
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			r.bad("%s: %s_file: cannot read %s: %v", where, what, file, errors.Unwrap(err))
			return ""
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			r.bad("%s: %s_file %s is empty", where, what, file)
		}
		return v
	default:
		r.bad("%s: %s_env or %s_file is required", where, what, what)
	}
	return ""
}

// account resolves one entry.
func (r *resolver) account(where string, e accountEntry, f accountFile) Account {
	a := Account{AppID: e.AppID}
	switch {
	case e.TokenService != "" && e.Platform != "":
		r.bad("%s: give token_service or platform, not both", where)
	case e.TokenService != "":
		s, ok := f.TokenServices[e.TokenService]
		if !ok {
			r.bad("%s: token_service %q is not in token_services", where, e.TokenService)
			break
		}
		a.Source, a.ServiceURL = SourceService, s.URL
		if s.URL == "" {
			r.bad("token_services.%s: url is missing", e.TokenService)
		}
		if s.BearerEnv != "" || s.BearerFile != "" {
			a.ServiceBearer = r.secret("token_services."+e.TokenService, "bearer", s.BearerEnv, s.BearerFile)
		}
	case e.Platform != "":
		p, ok := f.Platforms[e.Platform]
		if !ok {
			r.bad("%s: platform %q is not in platforms", where, e.Platform)
			break
		}
		a.Source, a.ComponentAppID = SourcePlatform, p.ComponentAppID
		if p.ComponentAppID == "" {
			r.bad("platforms.%s: component_appid is missing", e.Platform)
		}
		a.ComponentSecret = r.secret("platforms."+e.Platform, "component_secret", p.ComponentSecretEnv, p.ComponentSecretFile)
		a.RefreshToken = r.secret(where, "refresh_token", e.RefreshTokenEnv, e.RefreshTokenFile)
	default:
		a.Source = SourceSecret
		a.Secret = r.secret(where, "secret", e.SecretEnv, e.SecretFile)
	}
	if a.Source != SourceSecret && (e.SecretEnv != "" || e.SecretFile != "") {
		r.bad("%s: a secret is given, but the token comes from its %s", where, a.Source)
	}
	return a
}

// Shard is worker Index of Count (0 ≤ Index < Count): it syncs the
// accounts whose appid hashes to it. Count 0 (the zero Shard) is every
// account.
type Shard struct{ Index, Count int }

// ParseShard parses "I/N" (0 ≤ I < N). I may be the word "index", read
// from JOB_COMPLETION_INDEX through getenv (a Kubernetes Indexed Job).
func ParseShard(s string, getenv func(string) (string, bool)) (Shard, error) {
	if s == "" {
		return Shard{}, nil
	}
	is, ns, ok := strings.Cut(s, "/")
	if is == "index" {
		is, _ = getenv("JOB_COMPLETION_INDEX")
	}
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, kind.Mark(kind.Usage, fmt.Errorf("shard %q: want I/N with 0 ≤ I < N (I may be \"index\": JOB_COMPLETION_INDEX)", s))
	}
	return Shard{Index: i, Count: n}, nil
}

// String is "I/N", or "all".
func (s Shard) String() string {
	if s.Count == 0 {
		return "all"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Owns reports whether appid belongs to this shard: jump consistent
// hashing (Lamping and Veach) of the FNV-1a hash of the appid, so that
// going from N to N+1 workers moves only about 1/(N+1) of the accounts.
func (s Shard) Owns(appid string) bool {
	if s.Count <= 1 {
		return true
	}
	return ShardOf(appid, s.Count) == s.Index
}

// ShardOf is the worker (0..n-1) that syncs appid among n.
func ShardOf(appid string, n int) int {
	h := fnv.New64a()
	h.Write([]byte(appid))
	return jumpHash(h.Sum64(), n)
}

// jumpHash maps key to a bucket in [0, n).
func jumpHash(key uint64, n int) int {
	var b, j int64 = -1, 0
	for j < int64(n) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}

// Select returns the accounts of the shard, sorted by appid.
func (s Shard) Select(accounts []Account) []Account {
	var out []Account
	for _, a := range accounts {
		if s.Owns(a.AppID) {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AppID < out[j].AppID })
	return out
}
