package plugin

import (
	"math"
	"runtime/debug"
	"testing"
)

// gcSettings reads the collector's percent and memory limit, and restores
// them when the test ends.
func gcSettings(t *testing.T) (percent int, limit int64) {
	t.Helper()
	percent = debug.SetGCPercent(100)
	debug.SetGCPercent(percent)
	limit = debug.SetMemoryLimit(-1)
	return percent, limit
}

func restoreGC(t *testing.T) {
	percent, limit := gcSettings(t)
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
}

func TestTuneGCSetsDefaults(t *testing.T) {
	restoreGC(t)
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	TuneGC(func(string) (string, bool) { return "", false })
	if p, l := gcSettings(t); p != GCPercent || l != GCMemoryLimit {
		t.Fatalf("after TuneGC: GOGC %d, limit %d; want %d, %d", p, l, GCPercent, GCMemoryLimit)
	}
}

func TestTuneGCLeavesTheEnvironmentsSettings(t *testing.T) {
	restoreGC(t)
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	env := map[string]string{"GOGC": "100", "GOMEMLIMIT": "off"}
	TuneGC(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if p, l := gcSettings(t); p != 100 || l != math.MaxInt64 {
		t.Fatalf("with GOGC and GOMEMLIMIT set: GOGC %d, limit %d; want them untouched", p, l)
	}
}
