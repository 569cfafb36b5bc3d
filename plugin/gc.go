package plugin

import (
	"runtime/debug"
)

// Garbage collector defaults of wxsync's two processes (TuneGC).
const (
	// GCPercent lets the heap grow to five times what is live before a
	// collection, instead of Go's twice. Both processes allocate a page's
	// buffers (a body, its openids, an Arrow batch, an insert block) and
	// drop them a page later, while what stays live is small and does not
	// grow with the account; at Go's default, collecting cost a fifth of
	// their CPU in a large sync (docs/benchmarks.md).
	GCPercent = 400
	// GCMemoryLimit is the soft limit on the Go heap that keeps the larger
	// GCPercent from growing a process past it: near it the collector runs
	// as often as it must. The profile set of a rerun lives outside the Go
	// heap and comes on top (96 MB at 10M fresh profiles).
	GCMemoryLimit = 64 << 20
)

// TuneGC sets GCPercent and GCMemoryLimit, each unless the environment
// (lookup) sets its own: GOGC and GOMEMLIMIT keep Go's meaning and win.
// The host and the plugin call it first thing in main.
func TuneGC(lookup func(string) (string, bool)) {
	if _, ok := lookup("GOGC"); !ok {
		debug.SetGCPercent(GCPercent)
	}
	if _, ok := lookup("GOMEMLIMIT"); !ok {
		debug.SetMemoryLimit(GCMemoryLimit)
	}
}
