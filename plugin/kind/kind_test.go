package kind

import (
	"errors"
	"fmt"
	"testing"
)

// The table as the docs, schedulers and wxsync_runs readers know it.
func TestOutcomeTable(t *testing.T) {
	want := []struct {
		k      Kind
		name   string
		exit   int
		status string
	}{
		{None, "none", 0, "ok"},
		{Temporary, "temporary", 75, "stopped"},
		{Config, "config", 78, "config_error"},
		{Usage, "usage", 2, "failed"},
		{Internal, "internal", 1, "failed"},
	}
	if len(All()) != len(want) {
		t.Fatalf("All() has %d kinds, the table %d", len(All()), len(want))
	}
	for i, w := range want {
		if All()[i] != w.k || w.k.String() != w.name || w.k.ExitCode() != w.exit || w.k.RunStatus() != w.status {
			t.Errorf("%v: %q exit %d status %q, want %q %d %q", w.k, w.k.String(), w.k.ExitCode(), w.k.RunStatus(), w.name, w.exit, w.status)
		}
	}
	if k := Kind(99); k.ExitCode() != 1 || k.RunStatus() != "failed" || k.String() != "Kind(99)" {
		t.Errorf("unknown kind: exit %d status %q name %q", k.ExitCode(), k.RunStatus(), k)
	}
}

func TestOf(t *testing.T) {
	base := errors.New("quota")
	cases := []struct {
		err  error
		want Kind
	}{
		{nil, None},
		{base, Internal},
		{Mark(Temporary, base), Temporary},
		{fmt.Errorf("stream x: %w", Mark(Config, base)), Config},
		// The outermost mark wins.
		{Mark(Temporary, fmt.Errorf("wrapped: %w", Mark(Config, base))), Temporary},
	}
	for _, c := range cases {
		if got := Of(c.err); got != c.want {
			t.Errorf("Of(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if Mark(Config, nil) != nil {
		t.Error("Mark(nil) is not nil")
	}
	m := Mark(Config, base)
	if m.Error() != "quota" || !errors.Is(m, base) {
		t.Errorf("Mark changes the message or hides the cause: %q", m)
	}
}
