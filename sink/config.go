package sink

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults of Config.
const (
	// DefaultDSN is the ClickHouse used when Config.DSN is empty.
	DefaultDSN = "clickhouse://127.0.0.1:9000/default"
	// DefaultRetention is the number of complete snapshots kept per
	// (appid, stream) when Config.Retention is zero.
	DefaultRetention = 7
	// DefaultInsertMaxElapsed is how long a failing write is retried when
	// Config.InsertMaxElapsed is zero.
	DefaultInsertMaxElapsed = 2 * time.Minute
)

// Config configures a Sink. Zero values mean the defaults.
type Config struct {
	// DSN locates ClickHouse and names the database, for example
	// clickhouse://user:pass@host:9000/db?secure=true. Only the native
	// protocol is accepted. Default DefaultDSN.
	DSN string
	// Retention is how many complete snapshots are kept per (appid,
	// stream); older ones are pruned. Default DefaultRetention, at least 1.
	Retention int
	// InsertMaxElapsed is how long a failing insert or state write is
	// retried with exponential backoff before giving up. Default
	// DefaultInsertMaxElapsed.
	InsertMaxElapsed time.Duration
	// Logger receives the sink's and the driver's log. Default: discard.
	Logger *slog.Logger
}

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	return Config{
		DSN:              DefaultDSN,
		Retention:        DefaultRetention,
		InsertMaxElapsed: DefaultInsertMaxElapsed,
		Logger:           slog.New(slog.DiscardHandler),
	}
}

// withDefaults returns c with its zero fields replaced by the defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.DSN == "" {
		c.DSN = d.DSN
	}
	if c.Retention == 0 {
		c.Retention = d.Retention
	}
	if c.InsertMaxElapsed == 0 {
		c.InsertMaxElapsed = d.InsertMaxElapsed
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	return c
}

// Validate reports whether c, with its zero fields defaulted, is usable: a
// DSN that parses (native protocol, valid database name), Retention >= 1
// and a positive InsertMaxElapsed. Its errors never contain the password.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Retention < 1 {
		errs = append(errs, fmt.Errorf("retention must be at least 1, got %d", c.Retention))
	}
	if c.InsertMaxElapsed < 0 {
		errs = append(errs, fmt.Errorf("insert max elapsed must be positive, got %s", c.InsertMaxElapsed))
	}
	if _, _, err := parseDSN(c.DSN); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sink config: %w", err)
	}
	return nil
}
