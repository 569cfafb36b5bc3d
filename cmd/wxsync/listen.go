package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/wxsync/wxsync/connector/source"
	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/plugin/host"
	"github.com/wxsync/wxsync/plugin/kind"
)

// runListen is `wxsync listen`: the account's push receiver, until SIGTERM
// or SIGINT, after which it stops accepting, answers what is in flight and
// exits 0. With WECHAT_COMPONENT_APPID it runs in platform mode: the
// endpoint receives a third-party platform's authorisation events and the
// host stores each verify ticket, sealed. The work is the plugin's (the push endpoint) and plugin/host's
// (commits, metrics); this wires them.
func runListen(ctx context.Context, cfg Config, _ any, args []string, _, stderr io.Writer) error {
	if len(args) > 0 {
		return kind.Mark(kind.Usage, fmt.Errorf("unexpected argument %q", args[0]))
	}
	platform := cfg.ComponentAppID != ""
	if err := errors.Join(cfg.Validate(!platform), cfg.ValidateListen()); err != nil {
		return kind.Mark(kind.Config, err)
	}
	var sealer *host.Sealer
	if platform {
		s, err := credentialsSealer(cfg)
		if err == nil && s == nil {
			err = errors.New("WXSYNC_CREDENTIALS_KEY_FILE is empty: platform mode needs the credentials key")
		}
		if err != nil {
			return kind.Mark(kind.Config, err)
		}
		sealer = s
	}
	log, hlog := newLoggers(cfg, stderr)
	sk, err := openSink(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer sk.Close()
	pluginPath, err := host.FindPlugin(cfg.Plugin)
	if err != nil {
		return err
	}
	src, err := launchPlugin(ctx, cfg, pluginPath, hlog)
	if err != nil {
		return err
	}
	defer src.Close()
	h := host.NewListenHost(sk, cfg.AppID, cfg.UsersMaxAge, log)
	if platform {
		h.KeepTickets(sk, sealer, cfg.ComponentAppID)
	}
	stopOps, err := serveOps(cfg, log, h, []host.Check{
		{Name: "clickhouse", Run: func(ctx context.Context) error { return sk.Conn().Ping(ctx) }},
		{Name: "plugin", Run: func(context.Context) error { return pluginReady(src, h) }},
	})
	if err != nil {
		return kind.Mark(kind.Config, err)
	}
	defer stopOps()
	err = h.Run(ctx, src, listenConfig(cfg))
	events, users, failed := h.Committed()
	st := h.Stats()
	log.Info("listen stopped", "events_received", st.Received, "events_acknowledged", st.Acknowledged,
		"events_unacknowledged", st.Unacknowledged, "events_committed", events, "profiles_committed", users,
		"tickets_stored", h.Tickets(), "commits_failed", failed, "other_pushes", countList(st.Other), "rejected", countList(st.Rejected))
	switch {
	case err == nil:
		return nil
	case kind.Of(err) == kind.Config:
		return err
	default:
		return kind.Mark(kind.Temporary, fmt.Errorf("the push receiver stopped: %w", err))
	}
}

// pluginReady reports whether the plugin runs and accepts pushes.
func pluginReady(src *plugin.Client, h *host.ListenHost) error {
	if src.Exited() {
		return errors.New("the source plugin exited")
	}
	if h.Listening() == "" {
		return errors.New("the push endpoint is not accepting yet")
	}
	return nil
}

// serveOps serves /metrics, /healthz and /readyz on WXSYNC_METRICS_ADDR
// (nothing when it is empty) and returns the function that stops them.
func serveOps(cfg Config, log *slog.Logger, h *host.ListenHost, checks []host.Check) (func(), error) {
	if cfg.MetricsAddr == "" {
		return func() {}, nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(host.NewMetrics(h), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("WXSYNC_METRICS_ADDR: %w", err)
	}
	srv := &http.Server{Handler: host.OpsHandler(reg, checks...), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("serving /metrics, /healthz and /readyz", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// listenConfig is the JSON config the plugin's Listen receives.
func listenConfig(cfg Config) []byte {
	b, err := json.Marshal(source.ListenConfig{
		Config: source.Config{
			AppID: cfg.AppID, Secret: cfg.Secret, APIBase: cfg.APIBase, TokenMode: cfg.TokenMode,
			HTTPTimeout: cfg.HTTPTimeout, MaxAttempts: cfg.MaxAttempts, MaxRetryTime: cfg.MaxRetryTime,
			RateLimit: cfg.RateLimit, LogLevel: cfg.LogLevel,
		},
		Token: cfg.Token, AESKey: cfg.AESKey, PreviousAESKey: cfg.AESKeyPrevious, OriginalID: cfg.OriginalID, ComponentAppID: cfg.ComponentAppID,
		Addr: cfg.ListenAddr, Path: cfg.ListenPath, TLSCert: cfg.TLSCert, TLSKey: cfg.TLSKey,
		ReplayWindow: cfg.ReplayWindow, MaxBody: int64(cfg.ListenMaxBody), Profiles: cfg.ListenProfiles && cfg.ComponentAppID == "",
	})
	if err != nil {
		panic(fmt.Sprintf("marshal listen config: %v", err)) // plain fields always marshal
	}
	return b
}

// countList renders counts by name as "a=1,b=2", sorted by name.
func countList(m map[string]int64) string {
	names := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s=%d", n, m[n])
	}
	return strings.Join(parts, ",")
}
