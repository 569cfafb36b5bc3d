package main

// `wxsync sync --accounts FILE` and `wxsync check --accounts FILE`: every
// account of a list (or of this worker's shard), through host.RunMany.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/plugin/host"
	"github.com/wxsync/wxsync/plugin/kind"
	"github.com/wxsync/wxsync/sink"
)

// accountsProblems checks the settings of the account-list mode.
func (c Config) accountsProblems() []error {
	var errs []error
	if c.Parallel < 1 || c.Parallel > 256 {
		errs = append(errs, fmt.Errorf("WXSYNC_PARALLEL %d: want 1 to 256", c.Parallel))
	}
	if c.AccountsPerPlugin < 1 || c.AccountsPerPlugin > 10000 {
		errs = append(errs, fmt.Errorf("WXSYNC_ACCOUNTS_PER_PLUGIN %d: want 1 to 10000", c.AccountsPerPlugin))
	}
	if c.MaxInFlight < 1 {
		errs = append(errs, fmt.Errorf("WXSYNC_MAX_IN_FLIGHT %d: want at least 1", c.MaxInFlight))
	}
	if _, err := host.ParseShard(c.Shard, os.LookupEnv); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// accountList loads the account list and keeps this worker's shard.
func accountList(cfg Config) ([]host.Account, host.Shard, error) {
	all, err := host.LoadAccounts(cfg.Accounts, os.LookupEnv)
	if err != nil {
		return nil, host.Shard{}, err
	}
	shard, err := host.ParseShard(cfg.Shard, os.LookupEnv)
	if err != nil {
		return nil, host.Shard{}, err
	}
	return shard.Select(all), shard, nil
}

// credentialsSealer reads the credentials key; nil when none is set.
func credentialsSealer(cfg Config) (*host.Sealer, error) {
	key := cfg.CredentialsKey
	if cfg.CredentialsKeyFile != "" {
		b, err := os.ReadFile(cfg.CredentialsKeyFile)
		if err != nil {
			return nil, kind.Mark(kind.Config, fmt.Errorf("WXSYNC_CREDENTIALS_KEY_FILE: %w", err))
		}
		key = string(b)
	}
	if key == "" {
		return nil, nil
	}
	return host.ParseSealerKey(key)
}

// accountsRun is one multi-account command: its settings, the accounts'
// secrets (kept out of the plugins' environment and of every error), and
// what it opened.
type accountsRun struct {
	cfg      Config
	log      *slog.Logger
	hlog     hclogLogger
	accounts []host.Account
	shard    host.Shard
	sealer   *host.Sealer
	sink     *sink.Sink
	plugin   string
	tls      *plugin.Credentials // every plugin's, when WXSYNC_PLUGIN_MTLS
	secrets  []string
}

// newAccountsRun loads the list and the key, opens ClickHouse and finds
// the plugin.
func newAccountsRun(ctx context.Context, cfg Config, stderr io.Writer) (*accountsRun, error) {
	a := &accountsRun{cfg: cfg}
	a.log, a.hlog = newLoggers(cfg, stderr)
	var err error
	if a.accounts, a.shard, err = accountList(cfg); err != nil {
		return nil, err
	}
	if a.sealer, err = credentialsSealer(cfg); err != nil {
		return nil, err
	}
	for _, acc := range a.accounts {
		a.secrets = append(a.secrets, acc.Secret, acc.ServiceBearer, acc.ComponentSecret, acc.RefreshToken)
		if acc.Source == host.SourcePlatform && a.sealer == nil {
			return nil, kind.Mark(kind.Config, fmt.Errorf("account %s uses a platform: set WXSYNC_CREDENTIALS_KEY (or _FILE), the key that seals its verify ticket and refresh tokens", acc.AppID))
		}
	}
	if a.plugin, err = host.FindPlugin(cfg.Plugin); err != nil {
		return nil, err
	}
	if cfg.PluginMTLS {
		if a.tls, err = plugin.NewCredentials(); err != nil {
			return nil, err
		}
	}
	if a.sink, err = openSink(ctx, cfg, a.log); err != nil {
		return nil, err
	}
	return a, nil
}

// redact removes every secret of the list, the key and the DSN password.
func (a *accountsRun) redact(s string) string {
	for _, x := range append(a.secrets, a.cfg.CredentialsKey) {
		if len(x) >= 4 {
			s = strings.ReplaceAll(s, x, "xxxxx")
		}
	}
	return redactor(a.cfg)(s)
}

// pluginEnv is the host's environment without its secrets, and without
// any variable holding one of the accounts' secrets or the key.
func (a *accountsRun) pluginEnv() []string {
	var out []string
	for _, kv := range host.PluginEnv(os.Environ()) {
		name, val, _ := strings.Cut(kv, "=")
		if name == "WXSYNC_CREDENTIALS_KEY" || (val != "" && a.holdsSecret(val)) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func (a *accountsRun) holdsSecret(v string) bool {
	for _, s := range a.secrets {
		if s != "" && strings.Contains(v, s) {
			return true
		}
	}
	return false
}

// launch starts one plugin (for WXSYNC_ACCOUNTS_PER_PLUGIN accounts in a row).
func (a *accountsRun) launch(ctx context.Context) (host.Source, func(), error) {
	sum, _ := hexSum(a.cfg.PluginSHA256)
	src, err := host.Launch(ctx, host.LaunchConfig{Path: a.plugin, SHA256: sum, MTLS: a.cfg.PluginMTLS, Credentials: a.tls, Logger: a.hlog, Environ: a.pluginEnv()})
	if err != nil {
		return nil, nil, err
	}
	return src, src.Close, nil
}

// concurrency is each account's batchget workers: its share of
// MaxInFlight (one call of which is its list walk), at most the
// configured WXSYNC_USERS_CONCURRENCY.
func (a *accountsRun) concurrency() int {
	running := max(1, min(a.cfg.Parallel, len(a.accounts)))
	return max(1, min(a.cfg.UsersConcurrency, a.cfg.MaxInFlight/running-1))
}

// sourceConfig is account acc's plugin configuration: the shared
// settings, its token source, and for a platform account the stored
// verify ticket and its newest refresh token.
func (a *accountsRun) sourceConfig(ctx context.Context, acc host.Account) ([]byte, plugin.Keeper, error) {
	sc := sourceSettings(a.cfg)
	sc.AppID, sc.Secret, sc.Concurrency = acc.AppID, acc.Secret, a.concurrency()
	sc.TokenSource = acc.Source
	sc.TokenServiceURL, sc.TokenServiceBearer = acc.ServiceURL, acc.ServiceBearer
	var keeper plugin.Keeper
	if acc.Source == host.SourcePlatform {
		ticket, err := host.LoadTicket(ctx, a.sink, a.sealer, acc.ComponentAppID, time.Now())
		if err != nil {
			return nil, nil, err
		}
		refresh := acc.RefreshToken
		if stored, ok, err := host.LoadRefreshToken(ctx, a.sink, a.sealer, acc.AppID); err != nil {
			return nil, nil, err
		} else if ok {
			refresh = stored
		}
		sc.ComponentAppID, sc.ComponentSecret, sc.VerifyTicket, sc.RefreshToken = acc.ComponentAppID, acc.ComponentSecret, ticket, refresh
		keeper = &host.Keeper{Store: a.sink, Sealer: a.sealer}
	}
	b, err := marshalSource(sc)
	return b, keeper, err
}

// runAccounts syncs every account of the list (or of this worker's
// shard) and prints a summary; its error carries the aggregate kind.
func runAccounts(ctx context.Context, cfg Config, stderr io.Writer) error {
	a, err := newAccountsRun(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.sink.Close()
	streams, _ := cfg.streamList() // validated
	started := time.Now()
	a.log.Info("syncing accounts", "accounts", len(a.accounts), "shard", a.shard.String(), "parallel", cfg.Parallel, "users_concurrency", a.concurrency())
	sum := host.RunMany(ctx, host.ManyConfig{
		Parallel: cfg.Parallel, AccountsPerSource: cfg.AccountsPerPlugin, Dst: a.sink, Redact: a.redact, Launch: a.launch,
		Prepare: func(ctx context.Context, acc host.Account) (host.RunConfig, error) {
			rc := host.RunConfig{ID: uuid.NewString(), AppID: acc.AppID, Streams: streams,
				UsersMaxAge: cfg.UsersMaxAge, FullRefresh: cfg.FullRefresh, Log: a.log.With("appid", acc.AppID)}
			var err error
			rc.SourceConfig, rc.Keeper, err = a.sourceConfig(ctx, acc)
			return rc, err
		},
		Done: func(r host.AccountResult) {
			a.log.Info("account finished", "appid", r.Account.AppID, "status", r.Record.Status, "exit_code", r.Record.ExitCode)
		},
	}, a.accounts)
	printAccountsSummary(stderr, sum, a.shard, time.Since(started))
	return summaryError(sum)
}

// summaryError is the error a summary's aggregate kind calls for (nil:
// every account completed).
func summaryError(sum host.Summary) error {
	k := sum.Kind()
	if k == kind.None {
		return nil
	}
	c := sum.Count()
	return kind.Mark(k, fmt.Errorf("%d of %d accounts did not complete: %d to retry later (exit 75), %d to fix (exit 78), %d failed (exit 1); see the summary above and %s",
		len(sum.Results)-c[kind.None], len(sum.Results), c[kind.Temporary], c[kind.Config], c[kind.Internal], sink.RunsTable))
}

// printAccountsSummary prints one line per account, then the totals.
func printAccountsSummary(w io.Writer, sum host.Summary, shard host.Shard, took time.Duration) {
	c := sum.Count()
	fmt.Fprintf(w, "\nwxsync sync: %d accounts (shard %s) in %s: %d ok, %d to retry, %d to fix, %d failed; exit %d\n",
		len(sum.Results), shard, took.Round(time.Millisecond), c[kind.None], c[kind.Temporary], c[kind.Config], c[kind.Internal], sum.Kind().ExitCode())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  APPID\tSTATUS\tEXIT\tROWS\tAPI CALLS\tERROR")
	for _, r := range sum.Results {
		status, exit := r.Record.Status, fmt.Sprint(r.Record.ExitCode)
		if !r.Started {
			status, exit = "not started", fmt.Sprint(kind.ExitTempFail)
		}
		var rows uint64
		for _, st := range r.Record.Streams {
			rows += st.Rows
		}
		var calls int64
		for _, n := range r.Record.Calls {
			calls += n
		}
		msg := r.Record.Error
		if !r.Started {
			msg = r.Err.Error()
		}
		if r.RecordErr != nil && r.Started {
			msg = strings.TrimSpace(msg + " (not recorded: " + r.RecordErr.Error() + ")")
		}
		if len(msg) > 160 {
			msg = msg[:157] + "..."
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d\t%s\n", r.Account.AppID, status, exit, rows, calls, msg)
	}
	tw.Flush()
}
