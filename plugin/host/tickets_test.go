package host

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/sink"
)

// savingStore is a CredentialStore that records each save, or fails them
// all with err.
type savingStore struct {
	saves []string // owner/name
	creds map[string]sink.Credential
	err   error
}

func (s *savingStore) SaveCredential(_ context.Context, owner, name string, c sink.Credential) error {
	if s.err != nil {
		return s.err
	}
	s.saves = append(s.saves, owner+"/"+name)
	s.creds[owner+"/"+name] = c
	return nil
}

func (s *savingStore) LoadCredential(_ context.Context, owner, name string) (sink.Credential, bool, error) {
	c, ok := s.creds[owner+"/"+name]
	return c, ok, nil
}

// The host's side of the StoreTicket RPC: a ticket of the configured
// platform is sealed and stored with the push's time; anything else is
// refused and nothing is stored; the ticket never reaches the log.
func TestListenHostStoreTicket(t *testing.T) {
	var _ plugin.TicketKeeper = (*ListenHost)(nil)
	sealer, err := ParseSealerKey(strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	created := time.Unix(1_790_000_000, 0)
	const ticket = "ticket@@@SHH-secret-ticket"
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	// Not in platform mode: refused.
	h := NewListenHost(&fakeStore{}, "", time.Hour, log)
	if err := h.StoreTicket(ctx, "wxcomp", ticket, created); err == nil || !strings.Contains(err.Error(), "not in platform mode") {
		t.Errorf("without KeepTickets: %v", err)
	}

	store := &savingStore{creds: map[string]sink.Credential{}}
	h.KeepTickets(store, sealer, "wxcomp")
	if err := h.StoreTicket(ctx, "wxother", ticket, created); err == nil {
		t.Error("a ticket of another platform was accepted")
	}
	if len(store.saves) != 0 {
		t.Fatalf("refused tickets were stored: %v", store.saves)
	}
	if err := h.StoreTicket(ctx, "wxcomp", ticket, created); err != nil {
		t.Fatal(err)
	}
	if want := []string{"wxcomp/" + sink.CredentialVerifyTicket}; !slices.Equal(store.saves, want) {
		t.Fatalf("saves %v, want %v", store.saves, want)
	}
	c := store.creds["wxcomp/"+sink.CredentialVerifyTicket]
	// '@' is not in base64's alphabet: only a ticket stored in clear holds it.
	if !c.CreatedAt.Equal(created) || bytes.Contains(c.Sealed, []byte("ticket@@@")) {
		t.Errorf("stored %+v: want created %v and the ticket sealed", c, created)
	}
	if got, err := LoadTicket(ctx, store, sealer, "wxcomp", created.Add(time.Minute)); err != nil || got != ticket {
		t.Errorf("LoadTicket = %q, %v", got, err)
	}
	if h.Tickets() != 1 {
		t.Errorf("Tickets() = %d, want 1", h.Tickets())
	}

	// A store that fails: an error (temporary), counted, not stored.
	store.err = errors.New("clickhouse is down")
	err = h.StoreTicket(ctx, "wxcomp", ticket, created)
	if err == nil || !strings.Contains(err.Error(), "clickhouse is down") || strings.Contains(err.Error(), "SHH") {
		t.Errorf("failing store: %v", err)
	}
	if _, _, failed := h.Committed(); failed != 1 || h.Tickets() != 1 {
		t.Errorf("failed %d, tickets %d: want 1 and 1", failed, h.Tickets())
	}
	if strings.Contains(logs.String(), "SHH") {
		t.Errorf("the log shows the ticket:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "component_verify_ticket stored") {
		t.Errorf("the log does not say the ticket was stored:\n%s", logs.String())
	}
}
