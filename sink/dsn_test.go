package sink_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/wxsync/wxsync/sink"
)

func TestParseDSN(t *testing.T) {
	d, err := sink.ParseDSN("clickhouse://wx:pw@h1:9000,h2:9000/analytics?secure=true")
	if err != nil || d.Database != "analytics" || d.User != "wx" || !slices.Equal(d.Addr, []string{"h1:9000", "h2:9000"}) {
		t.Fatalf("ParseDSN = %+v, %v", d, err)
	}
	if d, err := sink.ParseDSN("clickhouse://127.0.0.1:9000"); err != nil || d.Database != "default" {
		t.Fatalf("no database: %+v, %v, want default", d, err)
	}
	for _, bad := range []string{"http://u:s3cret@h:8123/db", "clickhouse://u:s3cret@h:9000/bad-db!", "clickhouse://u:s3cret@h:9000/db?dial_timeout=s3cret"} {
		_, err := sink.ParseDSN(bad)
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("ParseDSN(%q) = %v, want an error without the password", bad, err)
		}
	}
}

func TestRedactDSN(t *testing.T) {
	for dsn, pw := range map[string]string{
		"clickhouse://u:p%40ss@h:9000/db":      "p@ss",
		"clickhouse://u:a@b/c?d@h:9000/db":     "a@b/c?d",
		"clickhouse://h:9000/db?password=qpw1": "qpw1",
	} {
		got := sink.RedactDSN(dsn, "failed: "+pw+" in "+dsn)
		if strings.Contains(got, pw) || !strings.Contains(got, "xxxxx") {
			t.Errorf("RedactDSN(%s) = %q", dsn, got)
		}
	}
	if got := sink.RedactDSN("clickhouse://h:9000/db", "nothing secret"); got != "nothing secret" {
		t.Errorf("RedactDSN changed a clean string: %q", got)
	}
}
