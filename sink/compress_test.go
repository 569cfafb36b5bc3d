package sink

import (
	"strings"
	"testing"
)

// TestDSNCompression: LZ4 unless the DSN's compress parameter says
// otherwise, or every address is on this machine (none, then); methods
// the native protocol lacks are refused.
func TestDSNCompression(t *testing.T) {
	for dsn, want := range map[string]string{
		"clickhouse://127.0.0.1:9000/db":                    "",
		"clickhouse://127.8.9.10:9000/db":                   "",
		"clickhouse://localhost:9000/db":                    "",
		"clickhouse://[::1]:9000/db":                        "",
		"clickhouse://localhost:9000,127.0.0.1:9001/db":     "",
		"clickhouse://ch.example.com:9000/db":               "lz4",
		"clickhouse://10.0.0.5:9000/db":                     "lz4",
		"clickhouse://localhost:9000,10.0.0.5:9000/db":      "lz4",
		"clickhouse://localhost.example.com:9000/db":        "lz4",
		"clickhouse://127.0.0.1:9000/db?compress=lz4":       "lz4",
		"clickhouse://ch.example.com:9000/db?compress=none": "none",
	} {
		opts, _, err := parseDSN(dsn)
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		got := ""
		if opts.Compression != nil {
			got = opts.Compression.Method.String()
		}
		if got != want {
			t.Errorf("%s: compression %q, want %q", dsn, got, want)
		}
	}
	const base = "clickhouse://ch.example.com:9000/db"
	for _, c := range []struct {
		query string
		want  string // "" for no compression
	}{
		{"", "lz4"}, {"?secure=false", "lz4"}, {"?compress=true", "lz4"}, {"?compress=1", "lz4"},
		{"?compress=lz4", "lz4"}, {"?compress=zstd", "zstd"}, {"?compress=none", "none"},
		{"?compress=false", ""}, {"?compress=0", ""},
	} {
		opts, _, err := parseDSN(base + c.query)
		if err != nil {
			t.Fatalf("%s: %v", c.query, err)
		}
		got := ""
		if opts.Compression != nil {
			got = opts.Compression.Method.String()
		}
		if got != c.want {
			t.Errorf("%q: compression %q, want %q", c.query, got, c.want)
		}
	}
	for _, q := range []string{"?compress=gzip", "?compress=br", "?compress=LZ4", "?compress="} {
		if _, _, err := parseDSN(base + q); err == nil || !strings.Contains(err.Error(), "the native protocol takes lz4, zstd, none") {
			t.Errorf("%q: %v, want the compress methods named", q, err)
		}
	}
}
