package sinktest

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
)

// Context returns the context of one test's ClickHouse calls: two
// minutes, cancelled when the test ends.
func Context(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// Stream returns the stream of package schema called name.
func Stream(tb testing.TB, name string) schema.Stream {
	tb.Helper()
	st, err := schema.Lookup(name)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// Rows returns every row of query as one line each, the values formatted
// with %v, strings quoted, times in UTC as RFC 3339.
func Rows(tb testing.TB, s *sink.Sink, query string, args ...any) []string {
	tb.Helper()
	var (
		rows driver.Rows
		err  error
	)
	// A test's own read is retried on a connection failure, as the sink
	// retries its reads: the chDB server has been seen, rarely, to hand
	// the pool a connection that fails at once ("use of closed network
	// connection").
	for attempt := 0; attempt < 3; attempt++ {
		if rows, err = s.Conn().Query(Context(tb), query, args...); err == nil || !sink.Retryable(err) {
			break
		}
		tb.Logf("%s: %v; retrying", query, err)
	}
	if err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var vals []any
		for _, ct := range rows.ColumnTypes() {
			vals = append(vals, reflect.New(ct.ScanType()).Interface())
		}
		if err := rows.Scan(vals...); err != nil {
			tb.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			switch x := reflect.ValueOf(v).Elem().Interface().(type) {
			case time.Time:
				parts[i] = x.UTC().Format(time.RFC3339)
			case string:
				parts[i] = fmt.Sprintf("%q", x)
			default:
				parts[i] = fmt.Sprintf("%v", x)
			}
		}
		out = append(out, strings.Join(parts, " "))
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// Count returns the one UInt64 that query returns.
func Count(tb testing.TB, s *sink.Sink, query string, args ...any) uint64 {
	tb.Helper()
	var n uint64
	if err := s.Conn().QueryRow(Context(tb), query, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}
