package plugin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/wxsync/wxsync/plugin/kind"
)

// ticketSource is a Listener that stores one verify ticket through its host
// and says "stored" once the host has answered.
type ticketSource struct{ scripted }

const testTicket = "ticket@@@SHH-over-grpc"

var testTicketTime = time.Unix(1_790_000_000, 0)

func (s *ticketSource) Listen(ctx context.Context, req ListenRequest, out ListenEmitter) error {
	k, ok := req.Host.(TicketKeeper)
	if !ok {
		return errors.New("the plugin's host is no TicketKeeper")
	}
	if err := k.StoreTicket(ctx, "wxcomp", testTicket, testTicketTime); err != nil {
		return err
	}
	return out.Listening("stored")
}

// listenHost commits nothing; as a ticketHost it keeps tickets.
type listenHost struct{}

func (listenHost) NeedProfiles(context.Context, []string) ([]string, error) { return nil, nil }
func (listenHost) CommitEvents(context.Context, arrow.Record) (int64, error) {
	return 0, errors.New("no events expected")
}
func (listenHost) CommitUsers(context.Context, arrow.Record) (int64, error) {
	return 0, errors.New("no users expected")
}

// ticketHost records the tickets it is asked to store, or fails with err.
type ticketHost struct {
	listenHost
	stored []string
	err    error
}

func (h *ticketHost) StoreTicket(_ context.Context, component, ticket string, created time.Time) error {
	if h.err != nil {
		return h.err
	}
	h.stored = append(h.stored, component+" "+ticket+" "+created.UTC().Format(time.RFC3339))
	return nil
}

// firstListenMessage runs a Listen of ticketSource against host and returns
// its first message.
func firstListenMessage(t *testing.T, host ListenHost) ListenMessage {
	t.Helper()
	c := connect(t, &ticketSource{})
	ls, err := c.Listen(context.Background(), []byte(`{}`), host)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ls.Next()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The StoreTicket RPC over the broker: the host receives exactly the
// plugin's component appid, ticket and push time, and the plugin hears
// back only once the host has stored it.
func TestStoreTicketOverBroker(t *testing.T) {
	h := &ticketHost{}
	m := firstListenMessage(t, h)
	if m.Listening != "stored" {
		t.Fatalf("got %+v, want the plugin's report after the store", m)
	}
	want := "wxcomp " + testTicket + " " + testTicketTime.UTC().Format(time.RFC3339)
	if len(h.stored) != 1 || h.stored[0] != want {
		t.Fatalf("host stored %q, want [%q]", h.stored, want)
	}
}

// A host that cannot store the ticket: the plugin gets a temporary error
// carrying the host's cause, never the ticket; a host that keeps no
// tickets says so.
func TestStoreTicketFailures(t *testing.T) {
	m := firstListenMessage(t, &ticketHost{err: errors.New("store the verify ticket of wxcomp: clickhouse is down")})
	if m.Err == nil || m.Err.Kind != kind.Temporary || !strings.Contains(m.Err.Error(), "clickhouse is down") || strings.Contains(m.Err.Error(), "SHH") {
		t.Fatalf("failing host: %+v", m)
	}
	m = firstListenMessage(t, listenHost{})
	if m.Err == nil || !strings.Contains(m.Err.Error(), "keeps no verify tickets") {
		t.Fatalf("host without tickets: %+v", m)
	}
}
