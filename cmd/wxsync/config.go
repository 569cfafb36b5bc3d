package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/wxsync/wxsync/connector/wechat"
	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
)

// Config is every setting of the host. Each field is read from the
// environment variable in its env tag and can be overridden by the flag in
// its flag tag. The configuration reference in docs/ is generated from
// these tags; `help` is the sentence it prints.
type Config struct {
	AppID     string `env:"WECHAT_APPID" flag:"appid" help:"The Official Account's AppID (wx...)."`
	Secret    string `env:"WECHAT_SECRET" flag:"secret" secret:"true" help:"The account's AppSecret. Prefer the environment: a flag shows in the process list."`
	APIBase   string `env:"WECHAT_API_BASE, default=https://api.weixin.qq.com" flag:"api-base" help:"Base URL of the WeChat API (point it at wxsim for tests)."`
	TokenMode string `env:"WECHAT_TOKEN_MODE, default=stable" flag:"token-mode" help:"stable (POST /cgi-bin/stable_token, shares the token with other services) or classic (GET /cgi-bin/token, revokes other services' tokens)."`

	HTTPTimeout  time.Duration `env:"WECHAT_HTTP_TIMEOUT, default=15s" flag:"http-timeout" help:"Timeout of one API request."`
	MaxAttempts  int           `env:"WECHAT_MAX_ATTEMPTS, default=6" flag:"max-attempts" help:"Attempts per API call on -1, 45011, HTTP 5xx, timeouts and resets, the first included."`
	MaxRetryTime time.Duration `env:"WECHAT_MAX_RETRY_TIME, default=2m" flag:"max-retry-time" help:"Longest time one API call may spend retrying."`
	RateLimit    float64       `env:"WECHAT_RATE_LIMIT, default=0" flag:"rate-limit" help:"API calls per second across all workers; 0 means no limit."`

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
	PluginMTLS       bool          `env:"WXSYNC_PLUGIN_MTLS, default=true" flag:"plugin-mtls" help:"Secure the host–plugin gRPC connection (and its broker) with one-off mutual TLS certificates."`
	LogLevel         string        `env:"WXSYNC_LOG_LEVEL, default=info" flag:"log-level" help:"debug, info, warn or error."`
	LogFormat        string        `env:"WXSYNC_LOG_FORMAT, default=text" flag:"log-format" help:"text or json."`
	ProgressInterval time.Duration `env:"WXSYNC_PROGRESS_INTERVAL, default=5s" flag:"progress-interval" help:"When stderr is not a terminal, how often a progress line is logged per stream (on a terminal, bars are drawn instead)."`
}

// loadConfig reads the environment (through lookup), then the flags in
// args, and returns the remaining arguments. Flag errors are usage errors.
func loadConfig(ctx context.Context, lookup envconfig.Lookuper, fs *flag.FlagSet, args []string) (Config, []string, error) {
	var c Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c, Lookuper: lookup}); err != nil {
		return c, nil, &configError{fmt.Errorf("environment: %w", err)}
	}
	bindFlags(fs, &c)
	if err := fs.Parse(args); err != nil {
		return c, nil, &usageError{err}
	}
	return c, fs.Args(), nil
}

// Validate checks every setting; account says whether the command needs
// the WeChat account's credentials (sync and check do). Every rule lives
// here.
func (c Config) Validate(account bool) error {
	var errs []error
	if account && c.AppID == "" {
		errs = append(errs, errors.New("WECHAT_APPID (--appid) is not set"))
	}
	if c.AppID != "" {
		if err := wechat.ValidateAppID(c.AppID); err != nil {
			errs = append(errs, fmt.Errorf("WECHAT_APPID (--appid): %w", err))
		}
	}
	if c.PluginSHA256 != "" {
		if b, err := hex.DecodeString(c.PluginSHA256); err != nil || len(b) != sha256.Size {
			errs = append(errs, fmt.Errorf("WXSYNC_PLUGIN_SHA256 %q: want the 64 hex digits of a SHA-256 (sha256sum wxsync-source-wechat)", c.PluginSHA256))
		}
	}
	if account && c.Secret == "" {
		errs = append(errs, errors.New("WECHAT_SECRET is not set"))
	}
	if u, err := url.Parse(c.APIBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("WECHAT_API_BASE %q is not an http(s) URL", c.APIBase))
	}
	if c.TokenMode != "stable" && c.TokenMode != "classic" {
		errs = append(errs, fmt.Errorf("WECHAT_TOKEN_MODE %q: want stable or classic", c.TokenMode))
	}
	if c.HTTPTimeout <= 0 || c.MaxRetryTime <= 0 || c.InsertRetryTime <= 0 {
		errs = append(errs, errors.New("timeouts (WECHAT_HTTP_TIMEOUT, WECHAT_MAX_RETRY_TIME, CLICKHOUSE_RETRY_TIME) must be positive"))
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 100 {
		errs = append(errs, fmt.Errorf("WECHAT_MAX_ATTEMPTS %d: want 1 to 100", c.MaxAttempts))
	}
	if c.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("WECHAT_RATE_LIMIT %g: want 0 (no limit) or more", c.RateLimit))
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
