package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/wxsync/wxsync/connector/wechat"
	"github.com/wxsync/wxsync/plugin/kind"
)

// referenceExamples is an example value of every setting, by environment
// variable, for the configuration reference. TestReferenceExamples fails
// when a Config field has none, or when the examples do not validate.
var referenceExamples = map[string]string{
	"WECHAT_APPID":                "wx0123456789abcdef",
	"WECHAT_SECRET":               "0123456789abcdef0123456789abcdef",
	"WECHAT_API_BASE":             "http://127.0.0.1:8099",
	"WECHAT_TOKEN_MODE":           "classic",
	"WECHAT_HTTP_TIMEOUT":         "30s",
	"WECHAT_MAX_ATTEMPTS":         "10",
	"WECHAT_MAX_RETRY_TIME":       "5m",
	"WECHAT_RATE_LIMIT":           "20",
	"CLICKHOUSE_DSN":              "clickhouse://wxsync:PASSWORD@ch.internal:9440/analytics?secure=true",
	"CLICKHOUSE_RETRY_TIME":       "10m",
	"CLICKHOUSE_CLUSTER":          "analytics",
	"CLICKHOUSE_ZK_PATH":          "/clickhouse/{layer}/tables/{shard}/{database}/{table}",
	"CLICKHOUSE_REPLICA":          "{replica}",
	"CLICKHOUSE_INSERT_QUORUM":    "2",
	"CLICKHOUSE_DDL_TIMEOUT":      "30s",
	"WXSYNC_SNAPSHOT_RETENTION":   "30",
	"WXSYNC_STREAMS":              "followers,tags",
	"WXSYNC_USERS_CONCURRENCY":    "4",
	"WXSYNC_USERS_MAX_AGE":        "24h",
	"WXSYNC_FULL_REFRESH":         "true",
	"WXSYNC_PLUGIN":               "/usr/local/libexec/wxsync/wxsync-source-wechat",
	"WXSYNC_PLUGIN_SHA256":        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	"WXSYNC_PLUGIN_MTLS":          "false",
	"WXSYNC_LOG_LEVEL":            "debug",
	"WXSYNC_LOG_FORMAT":           "json",
	"WXSYNC_PROGRESS_INTERVAL":    "1m",
	"WECHAT_TOKEN":                "t0ken-of-the-server-settings",
	"WECHAT_AES_KEY":              "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
	"WECHAT_AES_KEY_PREVIOUS":     "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG",
	"WECHAT_ORIGINAL_ID":          "gh_0123456789ab",
	"WECHAT_COMPONENT_APPID":      "wx0123456789abcdef",
	"WXSYNC_LISTEN_ADDR":          "127.0.0.1:8080",
	"WXSYNC_LISTEN_PATH":          "/wechat/push",
	"WXSYNC_METRICS_ADDR":         ":9100",
	"WXSYNC_TLS_CERT":             "/etc/wxsync/tls/fullchain.pem",
	"WXSYNC_TLS_KEY":              "/etc/wxsync/tls/privkey.pem",
	"WXSYNC_REPLAY_WINDOW":        "2m",
	"WXSYNC_LISTEN_MAX_BODY":      "32768",
	"WXSYNC_LISTEN_PROFILES":      "false",
	"WXSYNC_ACCOUNTS":             "/etc/wxsync/accounts.json",
	"WXSYNC_PARALLEL":             "8",
	"WXSYNC_ACCOUNTS_PER_PLUGIN":  "100",
	"WXSYNC_MAX_IN_FLIGHT":        "64",
	"WXSYNC_SHARD":                "2/4",
	"WXSYNC_CREDENTIALS_KEY":      "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
	"WXSYNC_CREDENTIALS_KEY_FILE": "/var/run/secrets/wxsync-key/key",
}

// setting is one Config field as its tags describe it.
type setting struct {
	env, flag, def, help, kind string
	// secret is the field's secret tag: "" (not secret), "true" (the
	// whole value), or "dsn" (a DSN whose password is secret).
	secret string
	// required: the defaults fail Validate(true) (sync, check) naming it.
	required bool
}

// settings reads Config's tags, in field order.
func settings() []setting {
	t := reflect.TypeFor[Config]()
	var out []setting
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("env")
		if tag == "" {
			continue
		}
		s := setting{flag: f.Tag.Get("flag"), help: f.Tag.Get("help"), secret: f.Tag.Get("secret"), kind: kindName(f.Type)}
		s.env, s.def = envTag(tag)
		if d, ok := wechatDefaults()[s.env]; ok && s.def == "" {
			s.def = d // the WeChat client's default (see Config)
		}
		out = append(out, s)
	}
	markRequired(out)
	return out
}

// envTag splits a go-envconfig tag, "NAME, default=VALUE": the default
// is everything after "default=", commas included.
func envTag(tag string) (name, def string) {
	name, opts, _ := strings.Cut(tag, ",")
	name = strings.TrimSpace(name)
	if i := strings.Index(opts, "default="); i >= 0 {
		def = strings.ReplaceAll(opts[i+len("default="):], `\,`, ",")
	}
	return name, def
}

// markRequired marks the settings whose default fails Validate(true) by
// name, so "required" follows Validate rather than a list kept here.
func markRequired(ss []setting) {
	var c Config
	if err := processEnv(context.Background(), envconfig.MapLookuper(nil), &c); err != nil {
		return
	}
	err := c.Validate(true)
	if err == nil {
		return
	}
	for i := range ss {
		if ss[i].def == "" && strings.Contains(err.Error(), ss[i].env+" ") {
			ss[i].required = true
		}
	}
}

func kindName(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "duration"
	case t.Kind() == reflect.Bool:
		return "true/false"
	case t.Kind() == reflect.Int:
		return "integer"
	case t.Kind() == reflect.Float64:
		return "number"
	}
	return "string"
}

// configReference renders docs/configuration.md: every setting of Config,
// from its tags, then every command's own flags.
func configReference() string {
	var b strings.Builder
	b.WriteString(`<!-- Generated by 'wxsync config-reference' from the Config struct in cmd/wxsync/config.go. Do not edit: run 'make docs'. -->
# Configuration reference

Every setting is an environment variable and a flag of the same meaning; a flag given on the
command line wins over the environment, which wins over the default. The flags go after the
command: ` + "`wxsync sync --rate-limit 20`" + `. ` + "`wxsync sync -h`" + ` prints the same list.

Durations are Go durations (` + "`90s`, `15m`, `168h`" + `); true/false settings also take ` + "`1`/`0`" + `.
**Secret** settings are never printed as flag defaults; give them through the environment (a
secret store, a Kubernetes Secret, a 0600 ` + "`EnvironmentFile`" + `), not as a flag, which any user
on the machine can read in the process list. Only ` + "`sync`" + ` and ` + "`check`" + ` need the
account's credentials; ` + "`state reset`" + ` needs ` + "`WECHAT_APPID`" + ` to know whose cursors to forget.

The ` + "`WECHAT_`" + ` settings are the WeChat client's (` + "`connector/wechat`" + `): their defaults and
rules are its own, and ` + "`0`" + ` in a number or duration among them means its default (for ` + "`WECHAT_RATE_LIMIT`" + `, no limit);
` + "`WECHAT_MAX_ATTEMPTS`" + ` is at most ` + fmt.Sprint(wechat.MaxMaxAttempts) + `.

| variable | flag | type | default | example | meaning |
|---|---|---|---|---|---|
`)
	writeSettingRows(&b)
	b.WriteString(`
## Command flags

Besides the settings above, some commands have flags of their own.

| command | flag | default | meaning |
|---|---|---|---|
`)
	writeCommandFlagRows(&b)
	b.WriteString(`
See [troubleshooting.md](troubleshooting.md) for what each error means and
[schedulers.md](schedulers.md) for where to put these settings in Airflow, Dagster, Kubernetes,
cron and systemd.
`)
	return b.String()
}

// writeSettingRows writes the settings table's row of each setting.
func writeSettingRows(b *strings.Builder) {
	for _, s := range settings() {
		name := "`" + s.env + "`"
		switch s.secret {
		case "":
		case "dsn":
			name += " (**secret**: holds the password)"
		default:
			name += " (**secret**)"
		}
		def := "(empty)"
		if s.def != "" {
			def = "`" + s.def + "`"
		}
		if s.required {
			def = "**required** for sync and check"
		}
		fl := ""
		if s.flag != "" {
			fl = "`--" + s.flag + "`"
		}
		ex := ""
		if v, ok := referenceExamples[s.env]; ok {
			ex = "`" + v + "`"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", name, fl, s.kind, def, ex, cell(s.help))
	}
}

// writeCommandFlagRows writes the command flags table: each command's own
// flags, commands in name order.
func writeCommandFlagRows(b *strings.Builder) {
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := cmds[n]
		if c.flags == nil {
			continue
		}
		label := n
		if n == "state" {
			label = "state show, state reset"
		}
		fs := flag.NewFlagSet(n, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		c.flags(fs)
		fs.VisitAll(func(f *flag.Flag) {
			def := "(none)"
			if f.DefValue != "" {
				def = "`" + f.DefValue + "`"
			}
			fmt.Fprintf(b, "| `%s` | `--%s` | %s | %s |\n", label, f.Name, def, cell(f.Usage))
		})
	}
}

// cell makes s safe inside a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}

// runConfigReference is `wxsync config-reference`: it prints the
// configuration reference (docs/configuration.md) on stdout.
func runConfigReference(_ context.Context, _ Config, _ any, args []string, stdout, _ io.Writer) error {
	if len(args) > 0 {
		return kind.Mark(kind.Usage, fmt.Errorf("unexpected argument %q", args[0]))
	}
	_, err := io.WriteString(stdout, configReference())
	return err
}
