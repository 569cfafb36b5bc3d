package sink_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

// proxy forwards TCP connections from a local address to ClickHouse and
// can be stopped (listener and every connection closed, so the address
// refuses connections) and started again on the same address.
type proxy struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target}
	p.start("127.0.0.1:0")
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) start(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("proxy listen %s: %v", addr, err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *proxy) stop() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *proxy) restart() { p.start(p.addr) }

// proxiedSink opens a Sink on a migrated test database through a proxy.
func proxiedSink(t *testing.T, maxElapsed time.Duration) (*sink.Sink, *sink.Sink, *proxy) {
	return proxiedSinkLogging(t, maxElapsed, nil)
}

// proxiedSinkLogging is proxiedSink with the Sink logging to log (nil:
// the default).
func proxiedSinkLogging(t *testing.T, maxElapsed time.Duration, log *slog.Logger) (*sink.Sink, *sink.Sink, *proxy) {
	direct := sinktest.Open(t, sink.Config{})
	u, err := url.Parse(sinktest.DSN(t, direct.Database()))
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, u.Host)
	u.Host = p.addr
	s, err := sink.Open(sinktest.Context(t), sink.Config{DSN: u.String(), InsertMaxElapsed: maxElapsed, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, direct, p
}

func followersBatch(t testing.TB, n int) arrow.Record {
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{fmt.Sprintf("oGZUI0uKz7%018d", i), t0}
	}
	return sinktest.Record(t, sinktest.Stream(t, schema.Followers), rows...)
}

func TestInsertFailsWhenServerUnreachable(t *testing.T) {
	s, direct, p := proxiedSink(t, 1500*time.Millisecond)
	st := sinktest.Stream(t, schema.Followers)
	rec := followersBatch(t, 10)
	defer rec.Release()
	insert(t, s, st, "wxA", 1, rec) // the proxy works
	p.stop()
	start := time.Now()
	n, err := s.Insert(sinktest.Context(t), st, "wxA", 2, []arrow.Record{rec})
	took := time.Since(start)
	if err == nil {
		t.Fatalf("Insert through a stopped proxy succeeded (%d rows)", n)
	}
	t.Logf("after %s: %v", took, err)
	var nce *sink.NotCommittedError
	if !errors.As(err, &nce) || nce.Rows != 10 || n != 0 {
		t.Fatalf("Insert = %d, %v; want a NotCommittedError for 10 rows", n, err)
	}
	if !strings.Contains(err.Error(), "10 rows not committed") || !strings.Contains(err.Error(), "gave up after") {
		t.Errorf("error does not say what was lost and why: %v", err)
	}
	if took < 500*time.Millisecond || took > 10*time.Second {
		t.Errorf("gave up after %s, want about InsertMaxElapsed (1.5s)", took)
	}
	if got := sinktest.Count(t, direct, "SELECT count() FROM "+direct.Database()+".wechat_followers WHERE snapshot_id = 2"); got != 0 {
		t.Errorf("%d rows written", got)
	}
	// State writes fail the same way.
	if err := s.SaveState(sinktest.Context(t), "wxA", "followers", sink.State{SnapshotID: 2}); err == nil || !strings.Contains(err.Error(), "gave up after") {
		t.Errorf("SaveState through a stopped proxy: %v", err)
	}
}

// retryWatch is a slog handler that closes failed at the Sink's first
// "retrying" record (keeping its error) and counts its "succeeded after retries" records.
type retryWatch struct {
	once      sync.Once
	failed    chan struct{}
	firstErr  string // the error of the first "retrying" record, set before failed closes
	succeeded atomic.Int64
}

func (w *retryWatch) Enabled(context.Context, slog.Level) bool { return true }
func (w *retryWatch) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *retryWatch) WithGroup(string) slog.Handler            { return w }
func (w *retryWatch) Handle(_ context.Context, r slog.Record) error {
	switch r.Message {
	case "clickhouse write failed, retrying":
		w.once.Do(func() {
			r.Attrs(func(a slog.Attr) bool {
				if a.Key == "err" {
					w.firstErr = a.Value.String()
				}
				return true
			})
			close(w.failed)
		})
	case "clickhouse write succeeded after retries":
		w.succeeded.Add(1)
	}
	return nil
}

func TestInsertRetriesUntilServerIsBack(t *testing.T) {
	w := &retryWatch{failed: make(chan struct{})}
	s, direct, p := proxiedSinkLogging(t, 20*time.Second, slog.New(w))
	st := sinktest.Stream(t, schema.Followers)
	rec := followersBatch(t, 100)
	defer rec.Release()
	insert(t, s, st, "wxA", 1, rec) // a pooled connection that the stop breaks
	p.stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-w.failed // the server comes back once an attempt has failed
		p.restart()
	}()
	n, err := s.Insert(sinktest.Context(t), st, "wxA", 2, []arrow.Record{rec})
	if err != nil || n != 100 {
		t.Fatalf("Insert across a restart = %d, %v", n, err)
	}
	<-done
	if got := w.succeeded.Load(); got != 1 {
		t.Errorf("%d inserts succeeded after retries, want 1", got)
	}
	if got := sinktest.Count(t, direct, "SELECT count() FROM "+direct.Database()+".wechat_followers FINAL WHERE snapshot_id = 2"); got != 100 {
		t.Errorf("%d rows of snapshot 2, want 100", got)
	}
}

func TestInsertAfterCloseFailsFast(t *testing.T) {
	s, _, _ := proxiedSink(t, time.Minute)
	rec := followersBatch(t, 3)
	defer rec.Release()
	s.Close()
	start := time.Now()
	_, err := s.Insert(sinktest.Context(t), sinktest.Stream(t, schema.Followers), "wxA", 1, []arrow.Record{rec})
	var nce *sink.NotCommittedError
	if !errors.As(err, &nce) || nce.Rows != 3 {
		t.Fatalf("Insert on a closed Sink: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("Insert on a closed Sink took %s (retried?)", time.Since(start))
	}
	t.Log(err)
}

func TestInsertServerErrorNotRetried(t *testing.T) {
	// No tables: the server rejects the insert (UNKNOWN_TABLE) at once.
	s := sinktest.OpenEmpty(t, sink.Config{InsertMaxElapsed: time.Minute})
	rec := followersBatch(t, 3)
	defer rec.Release()
	start := time.Now()
	_, err := s.Insert(sinktest.Context(t), sinktest.Stream(t, schema.Followers), "wxA", 1, []arrow.Record{rec})
	if err == nil || !strings.Contains(err.Error(), "3 rows not committed") {
		t.Fatalf("Insert into a missing table: %v", err)
	}
	if time.Since(start) > 5*time.Second || strings.Contains(err.Error(), "gave up") {
		t.Errorf("a server error was retried (%s): %v", time.Since(start), err)
	}
	t.Log(err)
}

func TestInsertHonoursContext(t *testing.T) {
	s, _, p := proxiedSink(t, time.Minute)
	rec := followersBatch(t, 3)
	defer rec.Release()
	p.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Insert(ctx, sinktest.Stream(t, schema.Followers), "wxA", 1, []arrow.Record{rec})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Insert with an expiring context: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("Insert outlived its context by %s", time.Since(start))
	}
	t.Log(err)
}
