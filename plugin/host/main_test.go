package host

import (
	"os"
	"testing"

	"github.com/wxsync/wxsync/sink/sinktest"
)

// TestMain names the ClickHouse server of the tests that use one and
// records it for `make test` (sink/devserver/testservers), which fails a
// package that uses sinktest and recorded no run on a server.
func TestMain(m *testing.M) { os.Exit(sinktest.Run(m)) }
