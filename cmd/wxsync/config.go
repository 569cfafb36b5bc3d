package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/wxsync/wxsync/connector/push"
	"github.com/wxsync/wxsync/connector/wechat"
	"github.com/wxsync/wxsync/plugin/kind"
	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
)

// Config is every setting of the host. Each field is read from the
// environment variable in its env tag and can be overridden by the flag in
// its flag tag. The configuration reference in docs/ is generated from
// these tags; `help` is the sentence it prints.
//
// A field with a wechat tag is a setting of the WeChat client: the tag
// names its wechat.Config field, whose default (wechat.DefaultConfig) and
// rules (wechat.Config.Validate) are the ones that apply; its env tag
// carries no default of its own.
type Config struct {
	AppID     string `env:"WECHAT_APPID" flag:"appid" wechat:"AppID" help:"The Official Account's AppID (wx...)."`
	Secret    string `env:"WECHAT_SECRET" flag:"secret" secret:"true" wechat:"Secret" help:"The account's AppSecret. Prefer the environment: a flag shows in the process list."`
	APIBase   string `env:"WECHAT_API_BASE" flag:"api-base" wechat:"BaseURL" help:"Base URL of the WeChat API (point it at wxsim for tests)."`
	TokenMode string `env:"WECHAT_TOKEN_MODE" flag:"token-mode" wechat:"TokenMode" help:"stable (POST /cgi-bin/stable_token, shares the token with other services) or classic (GET /cgi-bin/token, revokes other services' tokens)."`

	HTTPTimeout  time.Duration `env:"WECHAT_HTTP_TIMEOUT" flag:"http-timeout" wechat:"HTTPTimeout" help:"Timeout of one API request."`
	MaxAttempts  int           `env:"WECHAT_MAX_ATTEMPTS" flag:"max-attempts" wechat:"MaxAttempts" help:"Attempts per API call on -1, 45011, HTTP 5xx, timeouts and resets, the first included."`
	MaxRetryTime time.Duration `env:"WECHAT_MAX_RETRY_TIME" flag:"max-retry-time" wechat:"MaxElapsed" help:"Longest time one API call may spend retrying."`
	RateLimit    float64       `env:"WECHAT_RATE_LIMIT" flag:"rate-limit" wechat:"RateLimit" help:"API calls per second across all workers; 0 means no limit."`

	DSN               string        `env:"CLICKHOUSE_DSN, default=clickhouse://127.0.0.1:9000/default" flag:"dsn" secret:"dsn" help:"ClickHouse DSN (native protocol), e.g. clickhouse://user:password@host:9000/db?secure=true."`
	InsertRetryTime   time.Duration `env:"CLICKHOUSE_RETRY_TIME, default=2m" flag:"clickhouse-retry-time" help:"Longest time a failing insert or state write is retried before the run stops with exit 75."`
	Cluster           string        `env:"CLICKHOUSE_CLUSTER" flag:"clickhouse-cluster" help:"Name of a cluster in the servers' remote_servers: tables are then created ON CLUSTER, Replicated, behind Distributed tables of the same names, and inserts wait for the shards (docs/cluster.md). Empty: one server."`
	ZKPath            string        `env:"CLICKHOUSE_ZK_PATH, default=/clickhouse/tables/{shard}/{database}/{table}" flag:"clickhouse-zk-path" help:"On a cluster, the ZooKeeper path of each replicated table; wxsync fills {database} and {table}, the servers their macros ({shard}, ...)."`
	Replica           string        `env:"CLICKHOUSE_REPLICA, default={replica}" flag:"clickhouse-replica" help:"On a cluster, the replica name of each replicated table (server macros allowed)."`
	InsertQuorum      int           `env:"CLICKHOUSE_INSERT_QUORUM, default=0" flag:"clickhouse-insert-quorum" help:"On a cluster, replicas of each shard that must hold an insert before it counts as committed; 0: one (the others copy it in the background), so a run goes on with a replica down."`
	DDLTimeout        time.Duration `env:"CLICKHOUSE_DDL_TIMEOUT, default=1m" flag:"clickhouse-ddl-timeout" help:"On a cluster, how long creating or altering tables ON CLUSTER waits for every host; existing tables need no such statement."`
	SnapshotRetention int           `env:"WXSYNC_SNAPSHOT_RETENTION, default=7" flag:"snapshot-retention" help:"Complete snapshots kept per account and stream; older ones are dropped."`

	Streams          string        `env:"WXSYNC_STREAMS, default=followers,users,tags,blacklist" flag:"streams" help:"Comma-separated streams to sync: followers, users, tags, blacklist."`
	UsersConcurrency int           `env:"WXSYNC_USERS_CONCURRENCY, default=8" flag:"users-concurrency" help:"batchget calls in flight at once, under the shared rate limit."`
	UsersMaxAge      time.Duration `env:"WXSYNC_USERS_MAX_AGE, default=168h" flag:"users-max-age" help:"Profiles older than this are fetched again; newer ones are not."`
	FullRefresh      bool          `env:"WXSYNC_FULL_REFRESH, default=false" flag:"full-refresh" help:"Fetch every follower's profile, however fresh."`
	Plugin           string        `env:"WXSYNC_PLUGIN" flag:"plugin" help:"Path of the wxsync-source-wechat plugin; default: beside the wxsync binary."`
	PluginSHA256     string        `env:"WXSYNC_PLUGIN_SHA256" flag:"plugin-sha256" help:"SHA-256 (hex) the plugin binary must have; a mismatch refuses to run it (exit 78). Empty: not checked."`
	PluginMTLS       bool          `env:"WXSYNC_PLUGIN_MTLS, default=true" flag:"plugin-mtls" help:"Secure the host–plugin gRPC connection (and its broker) with mutual TLS: Ed25519 certificates made by the host for this process only, handed to the plugin through a pipe."`
	LogLevel         string        `env:"WXSYNC_LOG_LEVEL, default=info" flag:"log-level" help:"debug, info, warn or error."`
	LogFormat        string        `env:"WXSYNC_LOG_FORMAT, default=text" flag:"log-format" help:"text or json."`
	ProgressInterval time.Duration `env:"WXSYNC_PROGRESS_INTERVAL, default=5s" flag:"progress-interval" help:"When stderr is not a terminal, how often a progress line is logged per stream (on a terminal, bars are drawn instead)."`

	// wxsync listen: the account's message push (服务器配置).
	Token          string        `env:"WECHAT_TOKEN" flag:"token" secret:"true" help:"listen: the push Token of the account's server settings (3 to 32 characters); required by listen."`
	AESKey         string        `env:"WECHAT_AES_KEY" flag:"aes-key" secret:"true" help:"listen: the EncodingAESKey (43 characters); needed for the compatible and safe modes."`
	AESKeyPrevious string        `env:"WECHAT_AES_KEY_PREVIOUS" flag:"aes-key-previous" secret:"true" help:"listen: the EncodingAESKey being rotated out, still accepted; empty when none."`
	OriginalID     string        `env:"WECHAT_ORIGINAL_ID" flag:"original-id" help:"listen: the account's original id (gh_...); when set, a push to another account is refused."`
	ComponentAppID string        `env:"WECHAT_COMPONENT_APPID" flag:"component-appid" help:"listen: platform mode: the third-party platform's component appid. listen then receives the platform's authorisation events (授权事件接收URL) instead of an account's pushes, WECHAT_TOKEN and WECHAT_AES_KEY being the platform's message Token and EncodingAESKey, and stores each component_verify_ticket sealed in wxsync_credentials (needs the credentials key); WECHAT_APPID and WECHAT_SECRET are not needed. Empty: account mode."`
	ListenAddr     string        `env:"WXSYNC_LISTEN_ADDR, default=:8080" flag:"listen-addr" help:"listen: address the push endpoint listens on."`
	ListenPath     string        `env:"WXSYNC_LISTEN_PATH, default=/wechat" flag:"listen-path" help:"listen: path of the push URL."`
	MetricsAddr    string        `env:"WXSYNC_METRICS_ADDR, default=:9090" flag:"metrics-addr" help:"listen: address of /metrics (Prometheus), /healthz and /readyz; empty turns them off."`
	TLSCert        string        `env:"WXSYNC_TLS_CERT" flag:"tls-cert" help:"listen: PEM certificate (chain) for HTTPS on the push endpoint; empty: plain HTTP (behind a TLS proxy)."`
	TLSKey         string        `env:"WXSYNC_TLS_KEY" flag:"tls-key" help:"listen: PEM private key of WXSYNC_TLS_CERT."`
	ReplayWindow   time.Duration `env:"WXSYNC_REPLAY_WINDOW, default=5m" flag:"replay-window" help:"listen: a push whose signed timestamp is further than this from now is refused (replay)."`
	ListenMaxBody  int           `env:"WXSYNC_LISTEN_MAX_BODY, default=65536" flag:"listen-max-body" help:"listen: largest push body in bytes; larger ones are refused with 413."`
	ListenProfiles bool          `env:"WXSYNC_LISTEN_PROFILES, default=true" flag:"listen-profiles" help:"listen: fetch new followers' profiles into wechat_users (batchget, at most 100 a call, within a few seconds)."`

	// Many accounts (accounts.go, docs/accounts.md).
	Accounts           string `env:"WXSYNC_ACCOUNTS" flag:"accounts" help:"Account list (JSON, docs/accounts.md): sync or check every account in it instead of WECHAT_APPID."`
	Parallel           int    `env:"WXSYNC_PARALLEL, default=4" flag:"parallel" help:"With an account list: accounts synced at once (1–256)."`
	AccountsPerPlugin  int    `env:"WXSYNC_ACCOUNTS_PER_PLUGIN, default=1" flag:"accounts-per-plugin" help:"With an account list: accounts one plugin process syncs in a row before a fresh one starts (1–10000); 1, one plugin per account. A failed account always gets its plugin replaced."`
	MaxInFlight        int    `env:"WXSYNC_MAX_IN_FLIGHT, default=32" flag:"max-in-flight" help:"With an account list: API calls in flight across all running accounts; each gets an equal share (at least 2: its list walk and one batchget)."`
	Shard              string `env:"WXSYNC_SHARD" flag:"shard" help:"With an account list: I/N syncs only the accounts whose appid hashes to worker I of N (index/N: I from JOB_COMPLETION_INDEX)."`
	CredentialsKey     string `env:"WXSYNC_CREDENTIALS_KEY" flag:"credentials-key" secret:"true" help:"32-byte key (64 hex digits or base64) sealing verify tickets and rotated refresh tokens in wxsync_credentials (AES-256-GCM). Needed by platform accounts. Prefer the environment or the file."`
	CredentialsKeyFile string `env:"WXSYNC_CREDENTIALS_KEY_FILE" flag:"credentials-key-file" help:"File holding the credentials key (a Kubernetes secret mount); when set, it is used instead of WXSYNC_CREDENTIALS_KEY."`
}

// loadConfig reads the environment (through lookup), then the flags in
// args, and returns the remaining arguments. Flag errors are usage errors.
func loadConfig(ctx context.Context, lookup envconfig.Lookuper, fs *flag.FlagSet, args []string) (Config, []string, error) {
	var c Config
	if err := processEnv(ctx, lookup, &c); err != nil {
		return c, nil, kind.Mark(kind.Config, fmt.Errorf("environment: %w", err))
	}
	bindFlags(fs, &c)
	if err := fs.Parse(args); err != nil {
		return c, nil, kind.Mark(kind.Usage, err)
	}
	return c, fs.Args(), nil
}

// processEnv fills c from the environment (through lookup); a WeChat
// client setting that is not set takes the client's default.
func processEnv(ctx context.Context, lookup envconfig.Lookuper, c *Config) error {
	defaults := envconfig.MapLookuper(wechatDefaults())
	return envconfig.ProcessWith(ctx, &envconfig.Config{Target: c, Lookuper: envconfig.MultiLookuper(lookup, defaults)})
}

// Validate checks every setting; account says whether the command needs
// the WeChat account's credentials (sync and check do). The WeChat client
// settings are checked by the client's own rules (wechat.Config.Validate);
// every other rule lives here.
func (c Config) Validate(account bool) error {
	var errs []error
	if account && c.Accounts == "" && c.AppID == "" {
		errs = append(errs, errors.New("WECHAT_APPID (--appid) is not set"))
	}
	errs = append(errs, c.accountsProblems()...)
	if account && c.Accounts == "" && c.Secret == "" {
		errs = append(errs, errors.New("WECHAT_SECRET is not set"))
	}
	errs = append(errs, c.wechatProblems()...)
	if c.PluginSHA256 != "" {
		if b, err := hex.DecodeString(c.PluginSHA256); err != nil || len(b) != sha256.Size {
			errs = append(errs, fmt.Errorf("WXSYNC_PLUGIN_SHA256 %q: want the 64 hex digits of a SHA-256 (sha256sum wxsync-source-wechat)", c.PluginSHA256))
		}
	}
	if c.InsertRetryTime <= 0 {
		errs = append(errs, fmt.Errorf("CLICKHOUSE_RETRY_TIME %s: want a positive duration", c.InsertRetryTime))
	}
	if c.UsersConcurrency < 1 || c.UsersConcurrency > 64 {
		errs = append(errs, fmt.Errorf("WXSYNC_USERS_CONCURRENCY %d: want 1 to 64", c.UsersConcurrency))
	}
	if c.UsersMaxAge <= 0 {
		errs = append(errs, fmt.Errorf("WXSYNC_USERS_MAX_AGE %s: want a positive duration", c.UsersMaxAge))
	}
	if c.Cluster != "" {
		if err := (schema.Cluster{Name: c.Cluster, ZKPath: c.ZKPath, Replica: c.Replica}).Validate(); err != nil {
			errs = append(errs, fmt.Errorf("CLICKHOUSE_CLUSTER, CLICKHOUSE_ZK_PATH, CLICKHOUSE_REPLICA: %w", err))
		}
		if c.DDLTimeout < time.Second {
			errs = append(errs, fmt.Errorf("CLICKHOUSE_DDL_TIMEOUT %s: want at least 1s", c.DDLTimeout))
		}
	}
	if c.InsertQuorum < 0 || c.InsertQuorum > 16 || (c.InsertQuorum > 1 && c.Cluster == "") {
		errs = append(errs, fmt.Errorf("CLICKHOUSE_INSERT_QUORUM %d: want 0 to 16, and above 1 only with CLICKHOUSE_CLUSTER", c.InsertQuorum))
	}
	if c.SnapshotRetention < 1 {
		errs = append(errs, fmt.Errorf("WXSYNC_SNAPSHOT_RETENTION %d: want at least 1", c.SnapshotRetention))
	}
	if _, err := c.streamList(); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.ProgressInterval <= 0 {
		errs = append(errs, fmt.Errorf("WXSYNC_PROGRESS_INTERVAL %s: want a positive duration", c.ProgressInterval))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("WXSYNC_LOG_FORMAT %q: want text or json", c.LogFormat))
	}
	return errors.Join(errs...)
}

// wechatProblems checks the WeChat client settings by the client's rules
// and names each problem by its variable and flag. A missing credential is
// not one of them: Validate reports it for the commands that need it.
func (c Config) wechatProblems() []error {
	err := c.wechatConfig().Validate()
	if err == nil {
		return nil
	}
	all := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok { // errors.Join's
		all = j.Unwrap()
	}
	var out []error
	for _, e := range all {
		var ce *wechat.ConfigError
		if !errors.As(e, &ce) {
			out = append(out, e)
			continue
		}
		if (ce.Field == "AppID" && c.AppID == "") || (ce.Field == "Secret" && c.Secret == "") {
			continue
		}
		env, flagName := wechatSettingNames(ce.Field)
		out = append(out, fmt.Errorf("%s (--%s): %s", env, flagName, ce.Problem))
	}
	return out
}

// wechatFields calls fn with each Config field that is a WeChat client
// setting, its index and the wechat.Config field it sets.
func wechatFields(fn func(i int, f reflect.StructField, clientField string)) {
	t := reflect.TypeFor[Config]()
	for i := 0; i < t.NumField(); i++ {
		if name := t.Field(i).Tag.Get("wechat"); name != "" {
			fn(i, t.Field(i), name)
		}
	}
}

// wechatConfig is the WeChat client configuration the settings make
// (zero fields: the client's defaults).
func (c Config) wechatConfig() wechat.Config {
	var w wechat.Config
	wv, cv := reflect.ValueOf(&w).Elem(), reflect.ValueOf(c)
	wechatFields(func(i int, _ reflect.StructField, clientField string) {
		dst := wv.FieldByName(clientField)
		dst.Set(cv.Field(i).Convert(dst.Type()))
	})
	return w
}

// wechatSettingNames returns the variable and flag of the setting for
// wechat.Config field clientField.
func wechatSettingNames(clientField string) (env, flagName string) {
	env, flagName = clientField, clientField
	wechatFields(func(_ int, f reflect.StructField, name string) {
		if name == clientField {
			env, _, _ = strings.Cut(f.Tag.Get("env"), ",")
			flagName = f.Tag.Get("flag")
		}
	})
	return env, flagName
}

// wechatDefaults returns, by variable, the default of each WeChat client
// setting as wechat.DefaultConfig defines it (none for the credentials).
func wechatDefaults() map[string]string {
	d := reflect.ValueOf(wechat.DefaultConfig())
	out := map[string]string{}
	wechatFields(func(_ int, f reflect.StructField, clientField string) {
		if v := formatSetting(d.FieldByName(clientField)); v != "" {
			env, _, _ := strings.Cut(f.Tag.Get("env"), ",")
			out[env] = v
		}
	})
	return out
}

// formatSetting writes v as a setting's value is written in the
// environment: durations short (2m, not 2m0s).
func formatSetting(v reflect.Value) string {
	if d, ok := v.Interface().(time.Duration); ok {
		s := d.String()
		if strings.HasSuffix(s, "m0s") {
			s = s[:len(s)-2]
		}
		if strings.HasSuffix(s, "h0m") {
			s = s[:len(s)-2]
		}
		return s
	}
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Int, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	}
	return fmt.Sprint(v.Interface())
}

// ValidateListen checks the settings only `wxsync listen` uses; Validate
// checks the rest. No message holds a secret's value.
func (c Config) ValidateListen() error {
	var errs []error
	if n := len(c.Token); n < 3 || n > 32 {
		errs = append(errs, fmt.Errorf("WECHAT_TOKEN (--token): want the push Token, 3 to 32 characters (got %d)", n))
	}
	for _, k := range []struct{ name, v string }{{"WECHAT_AES_KEY (--aes-key)", c.AESKey}, {"WECHAT_AES_KEY_PREVIOUS (--aes-key-previous)", c.AESKeyPrevious}} {
		if k.v == "" {
			continue
		}
		if _, err := push.ParseKey(k.v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k.name, err))
		}
	}
	if c.AESKeyPrevious != "" && c.AESKey == "" {
		errs = append(errs, errors.New("WECHAT_AES_KEY_PREVIOUS is set without WECHAT_AES_KEY"))
	}
	if c.ComponentAppID != "" && c.AESKey == "" {
		errs = append(errs, errors.New("WECHAT_COMPONENT_APPID (platform mode) needs WECHAT_AES_KEY, the platform's EncodingAESKey: its pushes are always encrypted"))
	}
	if c.ComponentAppID != "" && c.CredentialsKey == "" && c.CredentialsKeyFile == "" {
		errs = append(errs, errors.New("WECHAT_COMPONENT_APPID (platform mode) needs WXSYNC_CREDENTIALS_KEY or WXSYNC_CREDENTIALS_KEY_FILE: verify tickets are stored sealed"))
	}
	if c.OriginalID != "" && !strings.HasPrefix(c.OriginalID, "gh_") {
		errs = append(errs, fmt.Errorf("WECHAT_ORIGINAL_ID %q: want the account's original id, gh_...", c.OriginalID))
	}
	if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		errs = append(errs, fmt.Errorf("WXSYNC_LISTEN_ADDR %q: want host:port or :port", c.ListenAddr))
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			errs = append(errs, fmt.Errorf("WXSYNC_METRICS_ADDR %q: want host:port, :port or empty", c.MetricsAddr))
		}
	}
	if !strings.HasPrefix(c.ListenPath, "/") {
		errs = append(errs, fmt.Errorf("WXSYNC_LISTEN_PATH %q: want a path starting with /", c.ListenPath))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("WXSYNC_TLS_CERT and WXSYNC_TLS_KEY go together: set both or neither"))
	}
	if c.ReplayWindow <= 0 {
		errs = append(errs, fmt.Errorf("WXSYNC_REPLAY_WINDOW %s: want a positive duration", c.ReplayWindow))
	}
	if c.ListenMaxBody < 1024 || c.ListenMaxBody > 10<<20 {
		errs = append(errs, fmt.Errorf("WXSYNC_LISTEN_MAX_BODY %d: want 1024 to 10485760 bytes", c.ListenMaxBody))
	}
	return errors.Join(errs...)
}

// sinkConfig is the ClickHouse sink's part of the configuration.
func (c Config) sinkConfig(log *slog.Logger) sink.Config {
	return sink.Config{
		DSN: c.DSN, Retention: c.SnapshotRetention, InsertMaxElapsed: c.InsertRetryTime, Logger: log,
		Cluster: c.Cluster, ZKPath: c.ZKPath, Replica: c.Replica, InsertQuorum: c.InsertQuorum, DDLTimeout: c.DDLTimeout,
	}
}

// streamList parses Streams: known names, each once, in run order.
func (c Config) streamList() ([]string, error) {
	want := map[string]bool{}
	for _, s := range strings.Split(c.Streams, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if _, err := schema.Lookup(s); err != nil {
			return nil, fmt.Errorf("WXSYNC_STREAMS (--streams): %w", err)
		}
		want[s] = true
	}
	if len(want) == 0 {
		return nil, errors.New("WXSYNC_STREAMS (--streams) names no stream")
	}
	var out []string
	for _, s := range schema.Names() {
		if want[s] {
			out = append(out, s)
		}
	}
	return out, nil
}

// bindFlags registers one flag per Config field that has a flag tag, with
// the field (already filled from the environment) as its default.
func bindFlags(fs *flag.FlagSet, c *Config) {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("flag")
		if name == "" {
			continue
		}
		env, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		fs.Var(&fieldValue{v: v.Field(i), secret: f.Tag.Get("secret") != ""}, name, f.Tag.Get("help")+" (env "+env+")")
	}
}

// fieldValue is a flag.Value over one Config field.
type fieldValue struct {
	v      reflect.Value
	secret bool
}

func (f *fieldValue) String() string {
	if f == nil || !f.v.IsValid() || f.secret {
		return "" // never print a secret as a flag default
	}
	return fmt.Sprint(f.v.Interface())
}

// IsBoolFlag lets a bool field be given as a bare --flag.
func (f *fieldValue) IsBoolFlag() bool { return f.v.Kind() == reflect.Bool }

func (f *fieldValue) Set(s string) error {
	switch f.v.Interface().(type) {
	case string:
		f.v.SetString(s)
	case bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false")
		}
		f.v.SetBool(b)
	case int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("want a whole number")
		}
		f.v.SetInt(int64(n))
	case float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("want a number")
		}
		f.v.SetFloat(x)
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("want a duration such as 30s or 2m")
		}
		f.v.SetInt(int64(d))
	default:
		return fmt.Errorf("unsupported flag type %s", f.v.Type())
	}
	return nil
}
