package sink_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

func TestConfigValidate(t *testing.T) {
	if err := sink.DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	if err := (sink.Config{}).Validate(); err != nil {
		t.Fatalf("zero config (defaults): %v", err)
	}
	for name, c := range map[string]sink.Config{
		"negative retention": {Retention: -1},
		"negative elapsed":   {InsertMaxElapsed: -time.Second},
		"http protocol":      {DSN: "http://127.0.0.1:8123/default"},
		"bad database":       {DSN: "clickhouse://127.0.0.1:9000/my-db"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, c)
		}
	}
}

// closedPort returns a local TCP port nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestOpenErrorsHidePassword(t *testing.T) {
	const pw = "s3cr3t-P4ss"
	unreachable := closedPort(t)
	for name, dsn := range map[string]string{
		"bad port":        "clickhouse://default:" + pw + "@127.0.0.1:notaport/default",
		"bad escape":      "clickhouse://default:" + pw + "%zz@127.0.0.1:9000/default",
		"not native":      "http://default:" + pw + "@127.0.0.1:8123/default",
		"bad database":    "clickhouse://default:" + pw + "@127.0.0.1:9000/no-such-db!",
		"no host":         "clickhouse://default:" + pw + "@/default",
		"unreachable":     "clickhouse://default:" + pw + "@" + unreachable + "/default?dial_timeout=2s",
		"password in url": "clickhouse://default:" + pw + "@" + unreachable + "/default?password=" + pw,
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			s, err := sink.Open(ctx, sink.Config{DSN: dsn})
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded")
			}
			if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("error leaks the password: %v", err)
			}
			for e := error(err); e != nil; e = errors.Unwrap(e) {
				if strings.Contains(e.Error(), "s3cr3t") {
					t.Fatalf("wrapped error leaks the password: %v", e)
				}
			}
			if time.Since(start) > 15*time.Second {
				t.Errorf("Open took %s", time.Since(start))
			}
			t.Logf("%v", err)
			if name == "unreachable" && !strings.Contains(err.Error(), "connection refused") {
				t.Errorf("error does not say the connection was refused: %v", err)
			}
		})
	}
}

func TestOpenWrongPassword(t *testing.T) {
	sinktest.OpenEmpty(t, sink.Config{}) // the server is there
	const pw = "wr0ng-S3cret"
	dsn := strings.Replace(sinktest.DSN(t, "default"), "://", "://nobody_wxsync:"+pw+"@", 1)
	if strings.Contains(sinktest.BaseDSN(), "@") {
		t.Skip("CLICKHOUSE_DSN has credentials of its own")
	}
	if sinktest.ServedByChDB(t) {
		// A chDB-served server aborts as a whole on a failed native login
		// (clickhouse-server does not): this one is the test's own.
		srv := sinktest.StartServer(t)
		dsn = strings.Replace(srv.DSN("default"), "://", "://nobody_wxsync:"+pw+"@", 1)
	}
	s2, err := sink.Open(sinktest.Context(t), sink.Config{DSN: dsn})
	if err == nil {
		s2.Close()
		t.Fatal("Open with an unknown user succeeded")
	}
	if strings.Contains(err.Error(), pw) {
		t.Fatalf("error leaks the password: %v", err)
	}
	t.Logf("%v", err)
}

func TestServerVersionAndDatabase(t *testing.T) {
	s := sinktest.OpenEmpty(t, sink.Config{})
	v, err := s.ServerVersion(sinktest.Context(t))
	if err != nil || v == "" {
		t.Fatalf("ServerVersion = %q, %v", v, err)
	}
	t.Logf("ClickHouse %s, database %s", v, s.Database())
	if !strings.HasPrefix(s.Database(), "wxsync_test_") {
		t.Errorf("Database() = %q", s.Database())
	}
}
