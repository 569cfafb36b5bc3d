package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/schema"
)

// Store is what a Listen needs of the destination; *sink.Sink implements
// it. Insert commits recs (record batches of st.SourceSchema()) for appid
// and returns only once they are durable; FreshProfiles returns which of
// openids have a profile fetched at or after since.
type Store interface {
	Insert(ctx context.Context, st schema.Stream, appid string, snapshotID uint64, recs []arrow.Record) (int, error)
	FreshProfiles(ctx context.Context, appid string, openids []string, since time.Time) (map[string]bool, error)
}

// ListenHost commits what a plugin's Listen receives, for one account. It
// implements plugin.ListenHost: the plugin acknowledges a push only after
// CommitEvents for its group returned nil.
type ListenHost struct {
	store  Store
	appid  string
	maxAge time.Duration
	log    *slog.Logger

	events, users, failed atomic.Int64 // rows committed; commits failed
	tickets               atomic.Int64 // verify tickets stored

	// Platform mode (KeepTickets): where verify tickets go.
	creds     CredentialStore
	sealer    *Sealer
	component string

	mu        sync.Mutex
	stats     plugin.ListenStats // the plugin's latest
	listening string             // the address the plugin accepts on, once it does
}

// NewListenHost returns the host side of a Listen for appid: events and
// profiles go into store; a profile fetched within maxAge is not due.
func NewListenHost(store Store, appid string, maxAge time.Duration, log *slog.Logger) *ListenHost {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ListenHost{store: store, appid: appid, maxAge: maxAge, log: log}
}

// KeepTickets puts h in platform mode: the component_verify_tickets the
// plugin receives for the platform componentAppID are sealed with sealer
// and stored in creds (StoreTicket). Call it before Run.
func (h *ListenHost) KeepTickets(creds CredentialStore, sealer *Sealer, componentAppID string) {
	h.creds, h.sealer, h.component = creds, sealer, componentAppID
}

// StoreTicket seals and stores a component_verify_ticket the plugin
// received (plugin.TicketKeeper); nil means stored, and the plugin may
// answer WeChat "success". A ticket for another platform than the one
// configured, or in a Listen not in platform mode, is refused. The ticket
// never reaches a log or an error.
func (h *ListenHost) StoreTicket(ctx context.Context, componentAppID, ticket string, created time.Time) error {
	switch {
	case h.creds == nil || h.sealer == nil:
		return errors.New("this listen is not in platform mode: it keeps no verify tickets")
	case componentAppID != h.component:
		return fmt.Errorf("a verify ticket for platform %q, but this listen receives those of %q", componentAppID, h.component)
	}
	if err := StoreTicket(ctx, h.creds, h.sealer, componentAppID, ticket, created); err != nil {
		h.failed.Add(1)
		h.log.Warn("storing the verify ticket failed; the plugin answers WeChat 503", "component_appid", componentAppID, "error", err.Error())
		return err
	}
	h.tickets.Add(1)
	h.log.Info("component_verify_ticket stored", "component_appid", componentAppID, "created", created.UTC().Format(time.RFC3339))
	return nil
}

// Tickets returns the verify tickets stored so far.
func (h *ListenHost) Tickets() int64 { return h.tickets.Load() }

// NeedProfiles returns, of openids, those with no profile fetched within
// the maximum age, in order.
func (h *ListenHost) NeedProfiles(ctx context.Context, openids []string) ([]string, error) {
	fresh, err := h.store.FreshProfiles(ctx, h.appid, openids, time.Now().Add(-h.maxAge))
	if err != nil {
		return nil, err
	}
	need := make([]string, 0, len(openids)-len(fresh))
	for _, id := range openids {
		if !fresh[id] {
			need = append(need, id)
		}
	}
	return need, nil
}

// CommitEvents inserts a follow_events batch; nil means durable.
func (h *ListenHost) CommitEvents(ctx context.Context, rec arrow.Record) (int64, error) {
	n, err := h.commit(ctx, schema.FollowEventsStream(), rec)
	if err == nil {
		h.events.Add(n)
	}
	return n, err
}

// CommitUsers inserts a users batch (new followers' profiles).
func (h *ListenHost) CommitUsers(ctx context.Context, rec arrow.Record) (int64, error) {
	st, _ := schema.Lookup(schema.Users) // a known stream
	n, err := h.commit(ctx, st, rec)
	if err == nil {
		h.users.Add(n)
	}
	return n, err
}

func (h *ListenHost) commit(ctx context.Context, st schema.Stream, rec arrow.Record) (int64, error) {
	if !rec.Schema().Equal(st.SourceSchema()) {
		return 0, fmt.Errorf("stream %s: the plugin's batch schema %s differs from the expected %s", st.Name, rec.Schema(), st.SourceSchema())
	}
	n, err := h.store.Insert(ctx, st, h.appid, 0, []arrow.Record{rec})
	if err != nil {
		h.failed.Add(1)
		h.log.Warn("commit failed; the plugin answers WeChat 503 and WeChat retries", "stream", st.Name, "rows", rec.NumRows(), "error", err.Error())
		return 0, err
	}
	return int64(n), nil
}

// Committed returns the follow events and profiles committed so far, and
// the commits that failed.
func (h *ListenHost) Committed() (events, users, failed int64) {
	return h.events.Load(), h.users.Load(), h.failed.Load()
}

// Stats returns the plugin's latest counters.
func (h *ListenHost) Stats() plugin.ListenStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stats
}

// Listening returns the address the plugin accepts pushes on ("" until it
// does).
func (h *ListenHost) Listening() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.listening
}

// StopGrace bounds a graceful stop: the pushes in flight need at most
// their acknowledgement deadline (4 s), the last profile batch a few
// seconds more.
const StopGrace = 20 * time.Second

// ListenSource is the plugin as a Listen sees it; *plugin.Client is one.
type ListenSource interface {
	Listen(ctx context.Context, config []byte, host plugin.ListenHost) (*plugin.ListenStream, error)
}

// Run runs the plugin's Listen with config until ctx ends, then stops it
// gracefully: the plugin stops accepting, answers the pushes in flight once
// their commits return, and ends the Listen; Run returns nil then. An
// error the plugin reports ends Run with that error (a *plugin.Error, of
// its Kind); so does the plugin dying.
func (h *ListenHost) Run(ctx context.Context, src ListenSource, config []byte) error {
	// The call itself must outlive ctx: a graceful stop is a message on it.
	callCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	ls, err := src.Listen(callCtx, config, h)
	if err != nil {
		return err
	}
	stopped := context.AfterFunc(ctx, func() {
		h.log.Info("stopping: no new pushes are accepted; those in flight are answered after their commit")
		_ = ls.Stop()
		// A plugin that does not wind down in time is cut off.
		time.AfterFunc(StopGrace, cancel)
	})
	defer stopped()
	for {
		m, err := ls.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case m.Err != nil:
			return m.Err
		case m.Stats != nil:
			h.mu.Lock()
			h.stats = *m.Stats
			h.mu.Unlock()
		case m.Listening != "":
			h.mu.Lock()
			h.listening = m.Listening
			h.mu.Unlock()
			h.log.Info("listening for WeChat pushes", "addr", m.Listening)
		}
	}
}
