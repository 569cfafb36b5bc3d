package receiver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/wxsync/wxsync/connector/push"
)

// TicketStore stores a third-party platform's component_verify_ticket.
// StoreTicket returns nil only once the ticket is durable.
type TicketStore interface {
	StoreTicket(ctx context.Context, componentAppID, ticket string, created time.Time) error
}

// ComponentConfig configures a Component. Verifier is required and must
// be configured with the platform's Token, EncodingAESKey and, as AppID,
// the component appid; zero fields take their defaults.
type ComponentConfig struct {
	Verifier *push.Verifier
	// MaxBody bounds a push body, as the Verifier's MaxBody does; 0:
	// push.DefaultMaxBody.
	MaxBody int64
	// AckTimeout: a ticket not stored within it is answered 503.
	AckTimeout time.Duration
	// Log receives warnings (failed stores) and each event's type; never a
	// ticket.
	Log *slog.Logger
	// Now is the clock of the latencies; nil: time.Now.
	Now func() time.Time
}

// Component is a third-party platform's authorisation-event endpoint
// (授权事件接收URL): it answers "success" to a component_verify_ticket
// push only once the ticket is stored, and at once to the authorisation
// events (authorized, updateauthorized, unauthorized), which it counts in
// Stats.Other as "component:" + InfoType and stores nowhere.
type Component struct {
	cfg    ComponentConfig
	store  TicketStore
	stats  stats
	closed atomic.Bool
}

// NewComponent returns a Component that stores tickets through store.
func NewComponent(cfg ComponentConfig, store TicketStore) (*Component, error) {
	if cfg.Verifier == nil {
		return nil, errors.New("receiver: a Verifier is required")
	}
	if store == nil {
		return nil, errors.New("receiver: a TicketStore is required")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = push.DefaultMaxBody
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = DefaultAckTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Component{cfg: cfg, store: store}
	c.stats.init()
	return c, nil
}

// Close makes every later ticket push answered 503 (the endpoint is
// shutting down); the authorisation events are still answered.
func (c *Component) Close() { c.closed.Store(true) }

// ServeHTTP answers one push to the authorisation-event URL.
func (c *Component) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	start := c.cfg.Now()
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		c.reject(w, &push.Error{Reason: push.ReasonBadMethod, Detail: "the authorisation-event URL takes POST only"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, c.cfg.MaxBody+1))
	if err != nil {
		c.reject(w, &push.Error{Reason: push.ReasonBadXML, Detail: "the body could not be read"})
		return
	}
	ev, err := c.cfg.Verifier.OpenComponent(req.URL.Query(), body)
	if err != nil {
		c.reject(w, err)
		return
	}
	if ev.InfoType != push.InfoVerifyTicket {
		c.stats.otherKind("component:" + ev.InfoType)
		c.cfg.Log.Info("platform authorisation event", "info_type", ev.InfoType, "authorizer_appid", ev.AuthorizerAppID)
		success(w)
		return
	}
	c.stats.received.Add(1)
	err = errClosed
	if !c.closed.Load() {
		ctx, cancel := context.WithTimeout(req.Context(), c.cfg.AckTimeout-c.cfg.Now().Sub(start))
		err = c.store.StoreTicket(ctx, ev.AppID, ev.Ticket, time.Unix(ev.CreateTime, 0))
		cancel()
	}
	c.stats.ack(c.cfg.Now().Sub(start), err == nil)
	if err != nil {
		c.stats.commitFailed(1)
		c.cfg.Log.Warn("the verify ticket was not stored; answered 503", "error", err.Error())
		unavailable(w, errors.New("the verify ticket is not stored"))
		return
	}
	c.stats.committed.Add(1)
	success(w)
}

// reject answers a refused request with its 4xx and counts it.
func (c *Component) reject(w http.ResponseWriter, err error) {
	var pe *push.Error
	if !errors.As(err, &pe) {
		pe = &push.Error{Reason: push.ReasonBadXML, Detail: "the body could not be read"}
	}
	c.stats.reject(pe.Reason)
	http.Error(w, "rejected: "+string(pe.Reason), pe.HTTPStatus())
}

// Stats returns the counters so far: Received counts ticket pushes,
// Committed the tickets stored, Acknowledged and Unacknowledged their
// answers; Other the authorisation events by "component:" + InfoType.
func (c *Component) Stats() Stats { return statsOf(&c.stats) }
