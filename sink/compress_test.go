package sink

import (
	"strings"
	"testing"
)

// TestDSNCompression: LZ4 unless the DSN's compress parameter says
// otherwise; methods the native protocol lacks are refused.
func TestDSNCompression(t *testing.T) {
	const base = "clickhouse://127.0.0.1:9000/db"
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
