package host

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wxsync/wxsync/plugin/kind"
	"github.com/wxsync/wxsync/sink"
)

// CredentialStore keeps sealed credentials; *sink.Sink implements it
// (wxsync_credentials).
type CredentialStore interface {
	SaveCredential(ctx context.Context, owner, name string, c sink.Credential) error
	LoadCredential(ctx context.Context, owner, name string) (c sink.Credential, ok bool, err error)
}

// TicketTTL is how long WeChat honours a component_verify_ticket; an
// older stored ticket is refused (WeChat pushes a new one every 10
// minutes to a running `wxsync listen`).
const TicketTTL = 12 * time.Hour

// sealedPrefix marks the format of a sealed value: AES-256-GCM, a random
// 12-byte nonce before the ciphertext, the owner and name as additional
// data (a sealed value copied to another row does not open), base64.
const sealedPrefix = "v1:"

// Sealer encrypts credentials before they reach ClickHouse. It never
// prints its key.
type Sealer struct{ aead cipher.AEAD }

// String redacts the key.
func (s *Sealer) String() string { return "host.Sealer(redacted)" }

// ParseSealerKey returns a Sealer for a 32-byte key given as 64 hex digits
// or as base64 (standard or URL alphabet, padded or not). Surrounding
// whitespace (a file's newline) is ignored. Its errors never quote the key.
func ParseSealerKey(s string) (*Sealer, error) {
	s = strings.TrimSpace(s)
	var key []byte
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		key = b
	} else {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
				key = b
				break
			}
		}
	}
	if key == nil {
		return nil, kind.Mark(kind.Config, fmt.Errorf("the credentials key must be 32 bytes as 64 hex digits or base64 (got %d characters): generate one with `openssl rand -hex 32`", len(s)))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("credentials key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("credentials key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

func additional(owner, name string) []byte { return []byte(owner + "\x00" + name) }

// Seal encrypts value for the row (owner, name).
func (s *Sealer) Seal(owner, name, value string) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal %s: %w", name, err)
	}
	ct := s.aead.Seal(nonce, nonce, []byte(value), additional(owner, name))
	return []byte(sealedPrefix + base64.StdEncoding.EncodeToString(ct)), nil
}

// Open decrypts a value Seal made for the row (owner, name). A value
// sealed with another key, or for another row, is a kind.Config error.
func (s *Sealer) Open(owner, name string, sealed []byte) (string, error) {
	body, ok := strings.CutPrefix(string(sealed), sealedPrefix)
	raw, err := base64.StdEncoding.DecodeString(body)
	if !ok || err != nil || len(raw) < s.aead.NonceSize() {
		return "", kind.Mark(kind.Config, fmt.Errorf("the stored %s of %s is not a sealed value", name, owner))
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], additional(owner, name))
	if err != nil {
		return "", kind.Mark(kind.Config, fmt.Errorf("the stored %s of %s does not open with the credentials key (WXSYNC_CREDENTIALS_KEY differs from the one that sealed it)", name, owner))
	}
	return string(plain), nil
}

// StoreTicket seals and stores a component_verify_ticket pushed to the
// platform componentAppID at created (the push's CreateTime): what `wxsync
// listen` in platform mode does with each ticket push it accepts.
func StoreTicket(ctx context.Context, store CredentialStore, sealer *Sealer, componentAppID, ticket string, created time.Time) error {
	if componentAppID == "" || ticket == "" {
		return errors.New("store ticket: empty component appid or ticket")
	}
	sealed, err := sealer.Seal(componentAppID, sink.CredentialVerifyTicket, ticket)
	if err != nil {
		return err
	}
	if err := store.SaveCredential(ctx, componentAppID, sink.CredentialVerifyTicket, sink.Credential{Sealed: sealed, CreatedAt: created}); err != nil {
		return kind.Mark(kind.Temporary, fmt.Errorf("store the verify ticket of %s: %w", componentAppID, err))
	}
	return nil
}

// LoadTicket returns the newest stored component_verify_ticket of the
// platform componentAppID. None, or one older than TicketTTL, is a
// kind.Config error that names `wxsync listen`.
func LoadTicket(ctx context.Context, store CredentialStore, sealer *Sealer, componentAppID string, now time.Time) (string, error) {
	c, ok, err := store.LoadCredential(ctx, componentAppID, sink.CredentialVerifyTicket)
	if err != nil {
		return "", kind.Mark(kind.Temporary, fmt.Errorf("load the verify ticket of %s: %w", componentAppID, err))
	}
	if !ok {
		return "", kind.Mark(kind.Config, fmt.Errorf("no component_verify_ticket stored for platform %s: run `wxsync listen` in platform mode at its authorisation-event URL (WeChat pushes one every 10 minutes)", componentAppID))
	}
	if age := now.Sub(c.CreatedAt); age > TicketTTL {
		return "", kind.Mark(kind.Config, fmt.Errorf("the newest component_verify_ticket of platform %s is %s old (valid %s): is `wxsync listen` receiving its pushes?", componentAppID, age.Round(time.Minute), TicketTTL))
	}
	return sealer.Open(componentAppID, sink.CredentialVerifyTicket, c.Sealed)
}

// LoadRefreshToken returns the newest refresh token of appid stored by a
// run (a rotated one); ok is false when none is.
func LoadRefreshToken(ctx context.Context, store CredentialStore, sealer *Sealer, appid string) (tok string, ok bool, err error) {
	c, ok, err := store.LoadCredential(ctx, appid, sink.CredentialRefreshToken)
	if err != nil {
		return "", false, kind.Mark(kind.Temporary, fmt.Errorf("load the refresh token of %s: %w", appid, err))
	}
	if !ok {
		return "", false, nil
	}
	tok, err = sealer.Open(appid, sink.CredentialRefreshToken, c.Sealed)
	return tok, err == nil, err
}

// Keeper stores the new refresh tokens a source hands the host
// (plugin.Keeper), sealed, in a CredentialStore.
type Keeper struct {
	Store  CredentialStore
	Sealer *Sealer
}

// KeepRefreshToken seals and stores appid's new refresh token.
func (k *Keeper) KeepRefreshToken(ctx context.Context, appid, refreshToken string) error {
	if appid == "" || refreshToken == "" {
		return errors.New("keep refresh token: empty appid or token")
	}
	sealed, err := k.Sealer.Seal(appid, sink.CredentialRefreshToken, refreshToken)
	if err != nil {
		return err
	}
	if err := k.Store.SaveCredential(ctx, appid, sink.CredentialRefreshToken, sink.Credential{Sealed: sealed}); err != nil {
		return fmt.Errorf("store the refresh token of %s: %w", appid, err)
	}
	return nil
}
