package sinktest_test

// The test server outlives clients that vanish: a SIGKILLed client leaves a
// reset connection (RST, not FIN) when its socket held unread data, which a
// clickhouse-local server (the chDB one of sink/devserver) once answered by
// aborting as a whole. Each case resets a connection at one point of the
// protocol and then checks that the server still answers.

import (
	"context"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

func TestMain(m *testing.M) { os.Exit(sinktest.Run(m)) }

// resettable is a native connection whose TCP connection the test can
// reset (SO_LINGER 0, then close: the peer reads ECONNRESET).
type resettable struct {
	conn driver.Conn
	tcp  *net.TCPConn
}

func dialResettable(t *testing.T) *resettable {
	t.Helper()
	opts, err := clickhouse.ParseDSN(sinktest.BaseDSN())
	if err != nil {
		t.Fatalf("%s does not parse", sinktest.EnvDSN)
	}
	r := &resettable{}
	opts.MaxOpenConns, opts.MaxIdleConns = 1, 1
	opts.DialContext = func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err == nil && r.tcp == nil {
			r.tcp = c.(*net.TCPConn)
		}
		return c, err
	}
	if r.conn, err = clickhouse.Open(opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.conn.Close() })
	return r
}

func (r *resettable) reset(t *testing.T) {
	t.Helper()
	if r.tcp == nil {
		t.Fatal("no connection was dialled")
	}
	if err := r.tcp.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	if err := r.tcp.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestServerOutlivesResetConnections(t *testing.T) {
	cases := map[string]func(t *testing.T, ctx context.Context, r *resettable){
		"before the handshake": func(t *testing.T, ctx context.Context, _ *resettable) {
			u, err := url.Parse(sinktest.BaseDSN())
			if err != nil {
				t.Fatal(err)
			}
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", u.Host)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write([]byte{0}); err != nil { // the first byte of a Hello packet
				t.Fatal(err)
			}
			(&resettable{tcp: c.(*net.TCPConn)}).reset(t)
		},
		"idle after a query": func(t *testing.T, ctx context.Context, r *resettable) {
			var one uint8
			if err := r.conn.QueryRow(ctx, "SELECT toUInt8(1)").Scan(&one); err != nil || one != 1 {
				t.Fatalf("SELECT 1 = %d, %v", one, err)
			}
			r.reset(t)
		},
		"in the middle of a SELECT": func(t *testing.T, ctx context.Context, r *resettable) {
			rows, err := r.conn.Query(ctx, "SELECT number FROM system.numbers LIMIT 100000000 SETTINGS max_block_size = 1000")
			if err != nil {
				t.Fatal(err)
			}
			if !rows.Next() {
				t.Fatalf("no first row: %v", rows.Err())
			}
			r.reset(t)
			for rows.Next() { // until the reset ends the stream: the driver's reader must finish first
			}
			rows.Close()
		},
		"in the middle of an INSERT": func(t *testing.T, ctx context.Context, r *resettable) {
			s := sinktest.OpenEmpty(t, sink.Config{})
			table := "`" + s.Database() + "`.t"
			if err := s.Conn().Exec(ctx, "CREATE TABLE "+table+" (n UInt64) ENGINE = MergeTree ORDER BY n"); err != nil {
				t.Fatal(err)
			}
			b, err := r.conn.PrepareBatch(ctx, "INSERT INTO "+table+" (n)")
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Append(uint64(1)); err != nil {
				t.Fatal(err)
			}
			r.reset(t)
		},
	}
	for name, provoke := range cases {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			provoke(t, ctx, dialResettable(t))
			wantServerAnswers(t, ctx)
		})
	}
}

// wantServerAnswers fails the test unless the server answers a query on a
// new connection, three times. A server that has met the fatal error
// answers "The server is shutting down due to a fatal error" from then on,
// for the second or so until it is gone; the connection that follows a
// reset may still be served before the server has read the reset, which
// the later ones leave little room for (a missed abort still fails the run:
// testservers checks that no server restarted).
func wantServerAnswers(t *testing.T, ctx context.Context) {
	t.Helper()
	for range 3 {
		s, err := sink.Open(ctx, sink.Config{DSN: sinktest.BaseDSN()})
		if err != nil {
			t.Fatalf("the server no longer answers: %v", err)
		}
		v, err := s.ServerVersion(ctx)
		s.Close()
		if err != nil || !strings.Contains(v, ".") {
			t.Fatalf("the server no longer answers: version %q, %v", v, err)
		}
	}
}
