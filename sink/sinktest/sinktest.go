package sinktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
)

// Environment variables read by this package.
const (
	// EnvDSN names the ClickHouse server the tests use.
	EnvDSN = "CLICKHOUSE_DSN"
	// EnvSkip, set to 1, turns an unreachable server into a skip.
	EnvSkip = "WXSYNC_SKIP_CLICKHOUSE"
)

// BaseDSN returns the DSN of the test server: CLICKHOUSE_DSN or
// sink.DefaultDSN.
func BaseDSN() string {
	if d := os.Getenv(EnvDSN); d != "" {
		return d
	}
	return sink.DefaultDSN
}

// DSN returns BaseDSN with its database replaced by db.
func DSN(tb testing.TB, db string) string {
	tb.Helper()
	u, err := url.Parse(BaseDSN())
	if err != nil {
		tb.Fatalf("sinktest: %s does not parse as a URL", EnvDSN) // the DSN may hold a password: not printed
	}
	u.Path = "/" + db
	return u.String()
}

// DatabaseName returns a fresh database name, wxsync_test_<16 hex digits>.
func DatabaseName(tb testing.TB) string {
	tb.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatalf("sinktest: random database name: %v", err)
	}
	return "wxsync_test_" + hex.EncodeToString(b[:])
}

// unavailable fails or skips the test because ClickHouse cannot be used.
func unavailable(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv(EnvSkip) == "1" {
		tb.Skipf("sinktest: ClickHouse unavailable, skipped because %s=1: %v", EnvSkip, err)
	}
	where := "(unparsable)"
	if u, perr := url.Parse(BaseDSN()); perr == nil {
		where = u.Redacted()
	}
	tb.Fatalf("sinktest: ClickHouse is not available at %s: %v\n"+
		"start one with: sink/devserver/clickhouse.sh start .clickhouse 9000 8123\n"+
		"or point %s at a server, or set %s=1 to skip the tests that need it",
		where, err, EnvDSN, EnvSkip)
}

// OpenEmpty opens a Sink on a new, empty database (created, not migrated)
// and drops the database and closes the Sink when the test ends. cfg.DSN
// is replaced; its other fields are kept (zero = default).
func OpenEmpty(tb testing.TB, cfg sink.Config) *sink.Sink {
	tb.Helper()
	db := DatabaseName(tb)
	cfg.DSN = DSN(tb, db)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := sink.Open(ctx, cfg)
	if err != nil {
		unavailable(tb, err)
	}
	if err := s.Conn().Exec(ctx, "CREATE DATABASE IF NOT EXISTS `"+db+"`"); err != nil {
		_ = s.Close()
		tb.Fatalf("sinktest: create database %s: %v", db, err)
	}
	tb.Cleanup(func() {
		// A test may have closed s: drop through a connection of our own.
		// The bound is a safety net: 18.16 drops a database of thousands
		// of parts (the many-accounts benchmark's) in well over 30 s.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		_ = s.Close()
		d, err := sink.Open(ctx, sink.Config{DSN: cfg.DSN})
		if err != nil {
			tb.Errorf("sinktest: drop database %s: %v", db, err)
			return
		}
		defer d.Close()
		if err := d.Conn().Exec(ctx, "DROP DATABASE IF EXISTS `"+db+"`"); err != nil {
			tb.Errorf("sinktest: drop database %s: %v", db, err)
		}
	})
	return s
}

// Open is OpenEmpty followed by Migrate.
func Open(tb testing.TB, cfg sink.Config) *sink.Sink {
	tb.Helper()
	s := OpenEmpty(tb, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Migrate(ctx); err != nil {
		tb.Fatalf("sinktest: migrate %s: %v", s.Database(), err)
	}
	return s
}

// Record builds a record batch of st.SourceSchema() from rows, one []any
// per row with one value per source column: string, uint8, uint32, uint64,
// int64, time.Time (for timestamps) or []uint32 (for lists of uint32); a
// nil value appends a null. The caller releases the record.
func Record(tb testing.TB, st schema.Stream, rows ...[]any) arrow.Record {
	tb.Helper()
	rec, err := BuildRecord(st.SourceSchema(), rows...)
	if err != nil {
		tb.Fatalf("sinktest: record of %s: %v", st.Name, err)
	}
	return rec
}

// BuildRecord builds a record batch of sc from rows, as Record does.
func BuildRecord(sc *arrow.Schema, rows ...[]any) (arrow.Record, error) {
	b := array.NewRecordBuilder(memory.NewGoAllocator(), sc)
	defer b.Release()
	for r, row := range rows {
		if len(row) != len(sc.Fields()) {
			return nil, fmt.Errorf("row %d has %d values, the schema %d columns", r, len(row), len(sc.Fields()))
		}
		for c, v := range row {
			if err := appendValue(b.Field(c), v); err != nil {
				return nil, fmt.Errorf("row %d column %s: %w", r, sc.Field(c).Name, err)
			}
		}
	}
	return b.NewRecord(), nil
}

func appendValue(fb array.Builder, v any) error {
	if v == nil {
		fb.AppendNull()
		return nil
	}
	ok := true
	switch b := fb.(type) {
	case *array.StringBuilder:
		var s string
		if s, ok = v.(string); ok {
			b.Append(s)
		}
	case *array.Uint8Builder:
		var x uint8
		if x, ok = v.(uint8); ok {
			b.Append(x)
		}
	case *array.Uint32Builder:
		var x uint32
		if x, ok = v.(uint32); ok {
			b.Append(x)
		}
	case *array.Uint64Builder:
		var x uint64
		if x, ok = v.(uint64); ok {
			b.Append(x)
		}
	case *array.Int64Builder:
		var x int64
		if x, ok = v.(int64); ok {
			b.Append(x)
		}
	case *array.TimestampBuilder:
		var t time.Time
		if t, ok = v.(time.Time); ok {
			b.Append(arrow.Timestamp(t.Unix()))
		}
	case *array.ListBuilder:
		var xs []uint32
		if xs, ok = v.([]uint32); ok {
			b.Append(true)
			vb, isU32 := b.ValueBuilder().(*array.Uint32Builder)
			if !isU32 {
				return fmt.Errorf("list builder of %T is not supported", b.ValueBuilder())
			}
			vb.AppendValues(xs, nil)
		}
	default:
		return fmt.Errorf("builder %T is not supported", fb)
	}
	if !ok {
		return fmt.Errorf("value %v (%T) does not fit builder %T", v, v, fb)
	}
	return nil
}
