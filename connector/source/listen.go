package source

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/wxsync/wxsync/connector/push"
	"github.com/wxsync/wxsync/connector/receiver"
	"github.com/wxsync/wxsync/connector/wechat"
	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/schema"
)

// ListenConfig is the configuration of a Listen, sent by the host as JSON:
// the API client's settings (for new followers' profiles) and the push
// endpoint's.
type ListenConfig struct {
	Config
	Token          string `json:"token"`
	AESKey         string `json:"aes_key"`
	PreviousAESKey string `json:"previous_aes_key"`
	OriginalID     string `json:"original_id"`
	// ComponentAppID, when set, is platform mode: the endpoint receives
	// this third-party platform's authorisation events (Token and AESKey
	// are then the platform's) instead of an account's pushes.
	ComponentAppID string `json:"component_appid"`
	// Addr is the listen address (host:port; port 0 picks one).
	Addr string `json:"addr"`
	// Path is the push URL's path, e.g. /wechat.
	Path string `json:"path"`
	// TLSCert and TLSKey are PEM files; both or neither.
	TLSCert string `json:"tls_cert"`
	TLSKey  string `json:"tls_key"`
	// ReplayWindow bounds |now − signed timestamp|; 0: push.DefaultWindow.
	ReplayWindow time.Duration `json:"replay_window"`
	// MaxBody bounds a push body; 0: push.DefaultMaxBody.
	MaxBody int64 `json:"max_body"`
	// AckTimeout: a push not committed within it is answered 503.
	AckTimeout time.Duration `json:"ack_timeout"`
	// Profiles fetches new followers' profiles; ProfileFlush bounds how
	// long a subscribe waits for its batch to fill (default 2 s).
	Profiles     bool          `json:"profiles"`
	ProfileFlush time.Duration `json:"profile_flush"`
	// StatsInterval is how often counters go to the host (default 1 s).
	StatsInterval time.Duration `json:"stats_interval"`
}

// String never shows a secret.
func (c ListenConfig) String() string {
	return fmt.Sprintf("source.ListenConfig{AppID:%q Secret:REDACTED Token:REDACTED AESKey:REDACTED Addr:%q Path:%q}", c.AppID, c.Addr, c.Path)
}

// ParseListenConfig decodes the JSON the host sends.
func ParseListenConfig(b []byte) (ListenConfig, error) {
	var c ListenConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return ListenConfig{}, fmt.Errorf("listen config: %w", err)
	}
	if c.Path == "" || c.Path[0] != '/' {
		return ListenConfig{}, fmt.Errorf("listen config: path %q must start with /", c.Path)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return ListenConfig{}, errors.New("listen config: a TLS certificate needs its key, and a key its certificate")
	}
	if c.ProfileFlush <= 0 {
		c.ProfileFlush = 2 * time.Second
	}
	if c.StatsInterval <= 0 {
		c.StatsInterval = time.Second
	}
	return c, nil
}

// Listen receives the account's pushes until req.Stop closes (graceful) or
// ctx ends. Follow events are committed through req.Host in groups and
// acknowledged after their commit (connector/receiver); with Profiles, the
// profiles of new followers are fetched in batches and committed too. In
// platform mode (ComponentAppID set) it receives the platform's
// authorisation events instead, and stores each verify ticket through
// req.Host (a plugin.TicketKeeper) before answering it.
func (s *Source) Listen(ctx context.Context, req plugin.ListenRequest, out plugin.ListenEmitter) error {
	cfg, err := ParseListenConfig(req.Config)
	if err != nil {
		return plugin.ConfigError(err)
	}
	s.setLevel(cfg.LogLevel)
	var ep endpoint
	var prof *newProfiles
	if cfg.ComponentAppID != "" {
		ep, err = s.platformEndpoint(cfg, req.Host)
	} else {
		ep, prof, err = s.accountEndpoint(cfg, req.Host)
	}
	if err != nil {
		return plugin.ConfigError(err)
	}
	ln, err := listen(cfg)
	if err != nil {
		return plugin.ConfigError(err)
	}
	l := &listening{src: s, cfg: cfg, ep: ep, prof: prof, out: out}
	return l.serve(ctx, ln, req.Stop)
}

// endpoint is what a Listen serves: the account's push receiver, or the
// platform's authorisation-event endpoint.
type endpoint struct {
	handler http.Handler
	run     func(context.Context) // runs until closed; nil: nothing to run
	close   func()
	stats   func() receiver.Stats
}

// accountEndpoint is the account's push receiver: follow events committed
// through host, and new followers' profiles with Profiles.
func (s *Source) accountEndpoint(cfg ListenConfig, host plugin.ListenHost) (endpoint, *newProfiles, error) {
	v, err := push.NewVerifier(push.Config{Token: cfg.Token, AppID: cfg.AppID, AESKey: cfg.AESKey, PreviousAESKey: cfg.PreviousAESKey,
		OriginalID: cfg.OriginalID, Window: cfg.ReplayWindow, MaxBody: cfg.MaxBody})
	if err != nil {
		return endpoint{}, nil, err
	}
	var prof *newProfiles
	if cfg.Profiles {
		api, err := wechat.New(cfg.clientConfig(s.log, nil, s.hc))
		if err != nil {
			return endpoint{}, nil, err
		}
		prof = newNewProfiles(api, host, cfg.ProfileFlush, s.log)
	}
	rc := receiver.Config{Verifier: v, AckTimeout: cfg.AckTimeout, Log: s.log}
	if prof != nil {
		rc.Committed = prof.add
	}
	rcv, err := receiver.New(rc, eventCommitter{host: host})
	if err != nil {
		return endpoint{}, nil, err
	}
	return endpoint{handler: rcv, run: rcv.Run, close: rcv.Close, stats: rcv.Stats}, prof, nil
}

// platformEndpoint is the third-party platform's authorisation-event
// endpoint: its pushes are always encrypted with the platform's key, the
// component appid as their appid; verify tickets are stored through host.
func (s *Source) platformEndpoint(cfg ListenConfig, host plugin.ListenHost) (endpoint, error) {
	if cfg.AESKey == "" {
		return endpoint{}, errors.New("platform mode: the platform's EncodingAESKey is required (its pushes are always encrypted)")
	}
	keeper, ok := host.(plugin.TicketKeeper)
	if !ok {
		return endpoint{}, errors.New("platform mode: the host keeps no verify tickets")
	}
	v, err := push.NewVerifier(push.Config{Token: cfg.Token, AppID: cfg.ComponentAppID, AESKey: cfg.AESKey, PreviousAESKey: cfg.PreviousAESKey,
		Window: cfg.ReplayWindow, MaxBody: cfg.MaxBody})
	if err != nil {
		return endpoint{}, err
	}
	c, err := receiver.NewComponent(receiver.ComponentConfig{Verifier: v, MaxBody: cfg.MaxBody, AckTimeout: cfg.AckTimeout, Log: s.log}, keeper)
	if err != nil {
		return endpoint{}, err
	}
	return endpoint{handler: c, close: c.Close, stats: c.Stats}, nil
}

// listen opens the push endpoint's socket, with TLS when configured.
func listen(cfg ListenConfig) (net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if cfg.TLSCert == "" {
		return ln, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("load the TLS certificate %s and its key: %w", cfg.TLSCert, err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), nil
}

// listening is one running Listen.
type listening struct {
	src  *Source
	cfg  ListenConfig
	ep   endpoint
	prof *newProfiles
	out  plugin.ListenEmitter
}

// serve runs the HTTP server, the committers, the profile batches and the
// stats until stop closes or ctx ends, then winds them down in order.
func (l *listening) serve(ctx context.Context, ln net.Listener, stop <-chan struct{}) error {
	mux := http.NewServeMux()
	mux.Handle(l.cfg.Path, l.ep.handler)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
	var wg sync.WaitGroup
	if l.ep.run != nil {
		wg.Go(func() { l.ep.run(ctx) })
	}
	profDone := make(chan struct{})
	go func() {
		defer close(profDone)
		if l.prof != nil {
			l.prof.run(ctx)
		}
	}()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if err := l.out.Listening(ln.Addr().String()); err != nil {
		srv.Close()
		return err
	}
	l.src.log.Info("receiving pushes", "addr", ln.Addr().String(), "path", l.cfg.Path, "tls", l.cfg.TLSCert != "", "platform", l.cfg.ComponentAppID)
	tick := time.NewTicker(l.cfg.StatsInterval)
	defer tick.Stop()
	var serveErr error
loop:
	for {
		select {
		case <-tick.C:
			_ = l.out.Stats(l.stats())
		case <-stop:
			break loop
		case <-ctx.Done():
			break loop
		case serveErr = <-served:
			break loop
		}
	}
	// Stop accepting; wait for the handlers, which wait for their commits
	// (each at most AckTimeout).
	shutCtx, cancel := context.WithTimeout(ctx, 2*l.cfgAckTimeout())
	_ = srv.Shutdown(shutCtx)
	cancel()
	srv.Close()
	l.ep.close()
	wg.Wait()
	if l.prof != nil {
		l.prof.close()
	}
	<-profDone
	_ = l.out.Stats(l.stats())
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return plugin.TemporaryError(fmt.Errorf("push server: %w", serveErr))
	}
	return nil
}

func (l *listening) cfgAckTimeout() time.Duration {
	if l.cfg.AckTimeout > 0 {
		return l.cfg.AckTimeout
	}
	return receiver.DefaultAckTimeout
}

// stats gathers the counters for the host.
func (l *listening) stats() plugin.ListenStats {
	r := l.ep.stats()
	st := plugin.ListenStats{
		Received: r.Received, Acknowledged: r.Acknowledged, Unacknowledged: r.Unacknowledged, Verified: r.Verified,
		Rejected: r.Rejected, Other: r.Other,
		AckBounds: receiver.AckBounds, AckCounts: r.AckCounts, AckCount: r.AckCount, AckSum: r.AckSum,
	}
	if l.prof != nil {
		st.ProfilesFetched, st.Calls = l.prof.counts()
	}
	return st
}

// eventCommitter commits follow events through the host.
type eventCommitter struct{ host plugin.ListenHost }

func (c eventCommitter) Commit(ctx context.Context, events []receiver.Event) error {
	rec := EventRecord(events)
	defer rec.Release()
	_, err := c.host.CommitEvents(ctx, rec)
	return err
}

// EventRecord builds the follow_events record of events, in the stream's
// source column order: what the plugin sends the host in CommitEvents (the
// listen benchmark's in-process receiver builds its records with it too).
// The caller releases it.
func EventRecord(events []receiver.Event) arrow.Record {
	st := schema.FollowEventsStream()
	b := array.NewRecordBuilder(memory.NewGoAllocator(), st.SourceSchema())
	defer b.Release()
	f := b.Fields()
	for _, e := range events {
		m := e.Msg
		f[0].(*array.StringBuilder).Append(m.OpenID)
		f[1].(*array.StringBuilder).Append(m.Event)
		f[2].(*array.TimestampBuilder).Append(arrow.Timestamp(m.CreateTime))
		f[3].(*array.StringBuilder).Append(m.Scene)
		f[4].(*array.StringBuilder).Append(m.EventKey)
		f[5].(*array.StringBuilder).Append(m.Ticket)
		f[6].(*array.TimestampBuilder).Append(arrow.Timestamp(e.ReceivedAt.Unix()))
	}
	return b.NewRecord()
}
