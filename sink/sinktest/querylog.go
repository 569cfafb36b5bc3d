package sinktest

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxsync/wxsync/sink"
)

// LoggedDSN is DSN(tb, db) with log_queries=1: what a Sink opened on it
// sends shows in system.query_log (see QueryLog).
func LoggedDSN(tb testing.TB, db string) string {
	tb.Helper()
	u, err := url.Parse(DSN(tb, db))
	if err != nil {
		tb.Fatal("sinktest: the DSN does not parse") // it may hold a password: not printed
	}
	q := u.Query()
	q.Set("log_queries", "1")
	u.RawQuery = q.Encode()
	return u.String()
}

// OpenLogged opens another Sink on s's database on LoggedDSN, closed when
// the test ends.
func OpenLogged(tb testing.TB, s *sink.Sink, cfg sink.Config) *sink.Sink {
	tb.Helper()
	cfg.DSN = LoggedDSN(tb, s.Database())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := sink.Open(ctx, cfg)
	if err != nil {
		unavailable(tb, err)
	}
	tb.Cleanup(func() { _ = l.Close() })
	return l
}

// QueryLog reads from system.query_log the statements that name one
// database and finished (or failed) after Mark: those of a Sink opened
// with OpenLogged and, where the server logs every query, the test's own,
// so a test reads them before it looks at its tables.
type QueryLog struct {
	s     *sink.Sink
	seen  map[string]bool // query ids logged before the mark
	marks int
}

// NewQueryLog returns a QueryLog of s (opened by OpenLogged), marked now.
// It skips the test when the server keeps no query log.
func NewQueryLog(tb testing.TB, s *sink.Sink) *QueryLog {
	tb.Helper()
	l := &QueryLog{s: s}
	l.Mark(tb)
	return l
}

// Mark forgets every statement logged so far.
func (l *QueryLog) Mark(tb testing.TB) {
	tb.Helper()
	l.seen = map[string]bool{}
	for _, r := range l.settle(tb) {
		l.seen[r[0]] = true
	}
}

// Statements returns the statements logged since the mark, each as its
// kind (see StatementKind).
func (l *QueryLog) Statements(tb testing.TB) []string {
	tb.Helper()
	var out []string
	for _, r := range l.settle(tb) {
		if !l.seen[r[0]] {
			out = append(out, StatementKind(r[1]))
		}
	}
	return out
}

// markText starts the text of the queries settle sends.
const markText = "SELECT 'wxsync query log mark"

// settle returns (query_id, query) of every statement naming the database
// that finished or failed, the marks left out, once the log holds all of
// them: it sends a mark of its own after them and reads the log until
// the mark is in it. The server logs a query before it answers, but
// writes its log in the background (18.16's SYSTEM FLUSH LOGS does not
// wait), so the log is read until it has caught up, within the test's
// context.
func (l *QueryLog) settle(tb testing.TB) [][2]string {
	tb.Helper()
	ctx := Context(tb)
	l.marks++
	mark := fmt.Sprintf("%s %s %d'", markText, l.s.Database(), l.marks)
	if err := l.s.Conn().Exec(ctx, mark); err != nil {
		tb.Fatalf("sinktest: %s: %v", mark, err)
	}
	for {
		rows, ok := l.read(tb, ctx, mark)
		if ok {
			return rows
		}
		if ctx.Err() != nil {
			tb.Fatalf("sinktest: system.query_log never showed %s", mark)
		}
	}
}

// read flushes the logs and returns (query_id, query) of every statement
// naming the database that finished or failed, marks left out, and
// whether mark was among them.
func (l *QueryLog) read(tb testing.TB, ctx context.Context, mark string) ([][2]string, bool) {
	tb.Helper()
	c := l.s.Conn()
	if err := c.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		tb.Fatalf("sinktest: SYSTEM FLUSH LOGS: %v", err)
	}
	var exists uint8
	if err := c.QueryRow(ctx, "SELECT toUInt8(count() > 0) FROM system.tables WHERE database = 'system' AND name = 'query_log'").Scan(&exists); err != nil {
		tb.Fatalf("sinktest: look for system.query_log: %v", err)
	}
	if exists == 0 {
		// chDB's server (the 26.x test server) keeps no query log.
		tb.Skip("sinktest: the server keeps no system.query_log: statements cannot be counted")
	}
	// type 1 is QueryStart; each statement has one row of a later type.
	// These reads of the log name the database too: left out.
	rows, err := c.Query(ctx, "SELECT query_id, query FROM system.query_log WHERE type != 1 AND event_date >= yesterday() AND position(query, ?) > 0 AND position(query, 'system.query_log') = 0", l.s.Database())
	if err != nil {
		tb.Fatalf("sinktest: read system.query_log: %v", err)
	}
	defer rows.Close()
	var (
		out  [][2]string
		seen bool
	)
	for rows.Next() {
		var id, q string
		if err := rows.Scan(&id, &q); err != nil {
			tb.Fatalf("sinktest: read system.query_log: %v", err)
		}
		if strings.HasPrefix(q, markText) {
			seen = seen || q == mark
			continue
		}
		out = append(out, [2]string{id, q})
	}
	if err := rows.Err(); err != nil {
		tb.Fatalf("sinktest: read system.query_log: %v", err)
	}
	return out, seen
}

var (
	kindVerb  = regexp.MustCompile(`^\s*(\w+)`)
	kindTable = regexp.MustCompile("(?i)(?:FROM|INTO|TABLE|VIEW)\\s+(?:IF\\s+NOT\\s+EXISTS\\s+)?(?:`?\\w+`?\\.)?`?(\\w+)`?")
)

// StatementKind names a statement by its verb and the first table it
// reads or writes, e.g. "INSERT wxsync_state", "SELECT parts" (of
// system.parts); a SELECT of max(...) is "SELECT max wechat_snapshots".
func StatementKind(q string) string {
	verb := "?"
	if m := kindVerb.FindStringSubmatch(q); m != nil {
		verb = strings.ToUpper(m[1])
	}
	table := "?"
	if m := kindTable.FindStringSubmatch(q); m != nil {
		table = m[1]
	}
	if verb == "SELECT" && strings.Contains(q, "max(") {
		verb += " max"
	}
	return verb + " " + table
}
