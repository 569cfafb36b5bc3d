package sink_test

import (
	"os"
	"testing"

	"github.com/wxsync/wxsync/sink/sinktest"
)

// TestMain names the ClickHouse server the tests run against and records
// it for `make test` (see sinktest.Run).
func TestMain(m *testing.M) { os.Exit(sinktest.Run(m)) }
