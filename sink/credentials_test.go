package sink_test

import (
	"testing"
	"time"

	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

func TestCredentialNewestWins(t *testing.T) {
	s := sinktest.Open(t, sink.Config{})
	ctx := sinktest.Context(t)
	if _, ok, err := s.LoadCredential(ctx, "wxA", sink.CredentialRefreshToken); err != nil || ok {
		t.Fatalf("nothing stored: ok %v, err %v", ok, err)
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, v := range []string{"v1:first", "v1:second", "v1:third"} {
		if err := s.SaveCredential(ctx, "wxA", sink.CredentialRefreshToken, sink.Credential{Sealed: []byte(v), CreatedAt: created}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveCredential(ctx, "wxB", sink.CredentialRefreshToken, sink.Credential{Sealed: []byte("v1:other")}); err != nil {
		t.Fatal(err)
	}
	c, ok, err := s.LoadCredential(ctx, "wxA", sink.CredentialRefreshToken)
	if err != nil || !ok || string(c.Sealed) != "v1:third" || !c.CreatedAt.Equal(created) {
		t.Fatalf("LoadCredential = %q created %v, %v, %v; want the third", c.Sealed, c.CreatedAt, ok, err)
	}
	if _, ok, _ := s.LoadCredential(ctx, "wxA", sink.CredentialVerifyTicket); ok {
		t.Error("a refresh token was found as a ticket")
	}
}
