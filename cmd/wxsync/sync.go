package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/wxsync/wxsync/connector/source"
	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/plugin/host"
	"github.com/wxsync/wxsync/plugin/kind"
	"github.com/wxsync/wxsync/sink"
)

// runSync syncs cfg's streams through host.Run. Its error carries its kind
// (and so the exit code). A configuration that fails Validate is refused
// before the run starts: nothing is written (no table, no run record) and
// the error is its only output. Every run that starts and reaches
// ClickHouse is recorded in wxsync_runs, and ends with a summary on stderr
// (runs.go).
func runSync(ctx context.Context, cfg Config, stderr io.Writer) error {
	if err := cfg.Validate(true); err != nil {
		return kind.Mark(kind.Config, err)
	}
	if cfg.Accounts != "" {
		return runAccounts(ctx, cfg, stderr) // accounts.go
	}
	logs := &redirectWriter{w: stderr, stderr: stderr}
	log, hlog := newLoggers(cfg, logs)
	streams, _ := cfg.streamList() // validated above
	s := &syncRun{cfg: cfg, log: log, started: time.Now(), run: host.RunConfig{
		ID: uuid.NewString(), AppID: cfg.AppID, Streams: streams, SourceConfig: sourceConfig(cfg),
		UsersMaxAge: cfg.UsersMaxAge, FullRefresh: cfg.FullRefresh, Log: log,
	}}
	err := s.sync(ctx, hlog, stderr, logs)
	s.end(ctx, err, stderr)
	return err
}

// syncRun is one `wxsync sync`: its settings, and what host.Run reported.
type syncRun struct {
	cfg     Config
	log     *slog.Logger
	started time.Time
	run     host.RunConfig
	sink    *sink.Sink // nil until ClickHouse is reached
	report  host.Report
}

// sync opens ClickHouse, launches the plugin and runs the sync with a
// progress display.
func (s *syncRun) sync(ctx context.Context, hlog hclogLogger, stderr io.Writer, logs *redirectWriter) error {
	src, err := s.open(ctx, hlog)
	if err != nil {
		return err
	}
	defer src.Close()
	display := &progressObserver{start: func(resumed map[string]bool) progress {
		return newProgress(stderr, logs, s.log, s.cfg.ProgressInterval, s.run.Streams, resumed)
	}}
	defer display.stop()
	s.report, err = host.Run(ctx, s.run, src, s.sink, display)
	return err
}

// open opens ClickHouse (s.sink, closed by end after the run is recorded)
// and launches the plugin. The plugin starts while the tables are checked:
// it makes no API call before the Read, and is stopped again when
// ClickHouse fails, whose error then comes first (no ClickHouse, no
// record).
func (s *syncRun) open(ctx context.Context, hlog hclogLogger) (*plugin.Client, error) {
	type launched struct {
		src *plugin.Client
		err error
	}
	path, findErr := host.FindPlugin(s.cfg.Plugin)
	done := make(chan launched, 1)
	if findErr == nil {
		go func() {
			src, err := launchPlugin(ctx, s.cfg, path, hlog)
			done <- launched{src, err}
		}()
	}
	sk, err := openSink(ctx, s.cfg, s.log)
	if err != nil {
		if findErr == nil {
			if l := <-done; l.src != nil {
				l.src.Close()
			}
		}
		return nil, err
	}
	s.sink = sk
	if findErr != nil {
		return nil, findErr
	}
	l := <-done
	return l.src, l.err
}

// launchPlugin starts the plugin at path the way cfg says: its SHA-256
// checked first when WXSYNC_PLUGIN_SHA256 is set (a mismatch is a
// configuration error, exit 78, and the binary is not run), under mutual
// TLS when WXSYNC_PLUGIN_MTLS (plugin.Credentials), with an environment without the
// host's secrets.
func launchPlugin(ctx context.Context, cfg Config, path string, hlog hclogLogger) (*plugin.Client, error) {
	sum, _ := hex.DecodeString(cfg.PluginSHA256) // validated by Config.Validate; empty: not checked
	return host.Launch(ctx, host.LaunchConfig{Path: path, SHA256: sum, MTLS: cfg.PluginMTLS, Logger: hlog, Environ: os.Environ()})
}

// sourceConfig is the JSON config the plugin receives.
func sourceConfig(cfg Config) []byte {
	b, err := marshalSource(sourceSettings(cfg))
	if err != nil {
		panic(err.Error()) // plain fields always marshal
	}
	return b
}

// sourceSettings is the plugin's configuration as cfg sets it.
func sourceSettings(cfg Config) source.Config {
	return source.Config{
		AppID: cfg.AppID, Secret: cfg.Secret, APIBase: cfg.APIBase, TokenMode: cfg.TokenMode,
		HTTPTimeout: cfg.HTTPTimeout, MaxAttempts: cfg.MaxAttempts, MaxRetryTime: cfg.MaxRetryTime,
		RateLimit: cfg.RateLimit, LogLevel: cfg.LogLevel, Concurrency: cfg.UsersConcurrency,
	}
}

// marshalSource encodes a plugin configuration.
func marshalSource(sc source.Config) ([]byte, error) {
	b, err := json.Marshal(sc)
	if err != nil {
		return nil, fmt.Errorf("marshal source config: %w", err)
	}
	return b, nil
}

// hexSum decodes WXSYNC_PLUGIN_SHA256 (validated; empty: not checked).
func hexSum(s string) ([]byte, error) { return hex.DecodeString(s) }

// progressObserver feeds host.Run's progress to the display, which it
// starts when the run begins its Read.
type progressObserver struct {
	start func(resumed map[string]bool) progress
	p     progress
}

func (o *progressObserver) Begin(resumed map[string]bool) { o.p = o.start(resumed) }

func (o *progressObserver) Progress(stream string, total, fetched int64) {
	if o.p != nil {
		o.p.update(stream, total, fetched)
	}
}

func (o *progressObserver) Done(stream string) {
	if o.p != nil {
		o.p.done(stream)
	}
}

// stop draws the display's final state, if it was started.
func (o *progressObserver) stop() {
	if o.p != nil {
		o.p.stop()
	}
}

// newLoggers returns the host's logger and the go-plugin logger that
// re-levels the plugin's lines, both on stderr in the configured format.
func newLoggers(cfg Config, stderr io.Writer) (*slog.Logger, hclogLogger) {
	lvl, _ := parseLevel(cfg.LogLevel)
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewTextHandler(stderr, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(stderr, opts)
	}
	return slog.New(h), newHCLogger(cfg, stderr)
}

// redactor returns a function that removes cfg's secrets from a string:
// the AppSecret and the DSN's password. An error stored or printed never
// shows them.
func redactor(cfg Config) func(string) string {
	return func(s string) string {
		if cfg.Secret != "" {
			s = strings.ReplaceAll(s, cfg.Secret, "xxxxx")
		}
		return sink.RedactDSN(cfg.DSN, s)
	}
}
