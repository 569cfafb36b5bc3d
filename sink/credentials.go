package sink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/wxsync/wxsync/schema"
)

// CredentialsTable holds credentials wxsync receives or is handed anew and
// must keep across runs and machines: a third-party platform's
// component_verify_ticket, an account's rotated authorizer refresh token.
// Their values are stored sealed (the host encrypts them); the sink never
// sees one in clear.
const CredentialsTable = "wxsync_credentials"

// Names of the credentials kept in CredentialsTable.
const (
	// CredentialVerifyTicket is a platform's component_verify_ticket; its
	// owner is the component appid.
	CredentialVerifyTicket = "component_verify_ticket"
	// CredentialRefreshToken is an account's authorizer refresh token; its
	// owner is the account's appid.
	CredentialRefreshToken = "authorizer_refresh_token"
)

// credentialsTable describes wxsync_credentials as a schema.Stream.
func credentialsTable() schema.Stream {
	str := arrow.BinaryTypes.String
	return schema.Stream{
		Name: CredentialsTable, Table: CredentialsTable, Kind: schema.Latest,
		Doc: "Credentials kept across runs (a platform's verify ticket, rotated refresh tokens), sealed by the host; the newest version wins.",
		Schema: arrow.NewSchema([]arrow.Field{
			{Name: "owner", Type: str},
			{Name: "name", Type: str},
			{Name: "sealed", Type: str},
			{Name: "created_at", Type: dateTime()},
			{Name: "updated_at", Type: dateTime()},
			{Name: "version", Type: arrow.PrimitiveTypes.Uint64},
		}, nil),
		OrderBy: []string{"owner", "name"},
		Version: "version",
	}
}

// Credential is one stored credential.
type Credential struct {
	// Sealed is the value as the host sealed it.
	Sealed []byte
	// CreatedAt is when the credential was issued (a ticket's CreateTime),
	// UpdatedAt when it was stored; UTC, whole seconds.
	CreatedAt, UpdatedAt time.Time
}

// SaveCredential stores c as the newest credential name of owner,
// retrying a transient failure like an insert.
func (s *Sink) SaveCredential(ctx context.Context, owner, name string, c Credential) error {
	if owner == "" || name == "" || len(c.Sealed) == 0 {
		return errors.New("save credential: empty owner, name or value")
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = time.Now()
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = c.UpdatedAt
	}
	qmax := fmt.Sprintf("SELECT max(`version`) FROM %s.`%s` WHERE `owner` = ? AND `name` = ?", s.qdb, CredentialsTable)
	qins := fmt.Sprintf("INSERT INTO %s.`%s` (`owner`, `name`, `sealed`, `created_at`, `updated_at`, `version`)", s.qdb, CredentialsTable)
	return s.retry(ctx, fmt.Sprintf("save %s of %s", name, owner), func(ctx context.Context) error {
		var floor uint64
		if err := s.conn.QueryRow(ctx, qmax, owner, name).Scan(&floor); err != nil {
			return fmt.Errorf("read credential version: %w", err)
		}
		return s.sendColumns(ctx, qins, []any{
			[]string{owner}, []string{name}, []string{string(c.Sealed)},
			[]time.Time{c.CreatedAt.UTC().Truncate(time.Second)}, []time.Time{c.UpdatedAt.UTC().Truncate(time.Second)},
			[]uint64{s.nextID(floor)},
		})
	})
}

// LoadCredential returns the newest credential name of owner; ok is false
// when none is stored.
func (s *Sink) LoadCredential(ctx context.Context, owner, name string) (c Credential, ok bool, err error) {
	q := fmt.Sprintf("SELECT `sealed`, `created_at`, `updated_at` FROM %s.`%s` WHERE `owner` = ? AND `name` = ? ORDER BY `version` DESC LIMIT 1", s.qdb, CredentialsTable)
	err = s.retry(ctx, fmt.Sprintf("load %s of %s", name, owner), func(ctx context.Context) error {
		rows, err := s.conn.Query(ctx, q, owner, name)
		if err != nil {
			return fmt.Errorf("read %s: %w", CredentialsTable, err)
		}
		defer rows.Close()
		ok = false
		for rows.Next() {
			var sealed string
			if err := rows.Scan(&sealed, &c.CreatedAt, &c.UpdatedAt); err != nil {
				return fmt.Errorf("read %s: %w", CredentialsTable, err)
			}
			c.Sealed, ok = []byte(sealed), true
		}
		return rows.Err()
	})
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, ok, err
}
