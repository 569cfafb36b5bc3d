package schema

import (
	"regexp"
	"strings"
	"testing"
)

// The expressions the name checks replace; the checks must agree with them
// on every input.
var (
	identExpr    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
	clusterExpr  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	templateExpr = regexp.MustCompile(`^[^'\\\x00-\x1f]{1,512}$`)
)

// nameCorpus is inputs at every edge of the three checks: lengths around
// the limits, each class's first and last characters, multi-byte and
// invalid UTF-8.
func nameCorpus() []string {
	out := []string{"", "a", "_", "0", "9a", "a9", "Z_z", ".", "-", "a.b-c", "a b", "a'b", `a\b`, "a\x1fb", "a\x20b",
		"\x00", "\x7f", "é", "日本", "\xff", "a\xffb", "/clickhouse/{shard}/{table}", "{replica}", "a\n", "\na", "a$", "^a"}
	for _, n := range []int{127, 128, 129, 511, 512, 513} {
		for _, c := range []string{"a", "_", "9", ".", "é", "\xff"} {
			out = append(out, strings.Repeat(c, n), "x"+strings.Repeat(c, n-1))
		}
	}
	for c := 0; c < 256; c++ {
		out = append(out, string([]byte{byte(c)}), "a"+string([]byte{byte(c)}), string([]byte{byte(c)})+"a")
	}
	return out
}

func checkNames(t *testing.T, s string) {
	t.Helper()
	if got, want := isIdent(s), identExpr.MatchString(s); got != want {
		t.Errorf("isIdent(%q) = %v, want %v", s, got, want)
	}
	if got, want := isClusterName(s), clusterExpr.MatchString(s); got != want {
		t.Errorf("isClusterName(%q) = %v, want %v", s, got, want)
	}
	if got, want := isTemplate(s), templateExpr.MatchString(s); got != want {
		t.Errorf("isTemplate(%q) = %v, want %v", s, got, want)
	}
}

func TestNameChecksMatchTheirExpressions(t *testing.T) {
	for _, s := range nameCorpus() {
		checkNames(t, s)
	}
}

func FuzzNameChecks(f *testing.F) {
	for _, s := range nameCorpus() {
		f.Add(s)
	}
	f.Fuzz(checkNames)
}
