// Package sinktest helps tests that need a real ClickHouse: it opens a
// sink.Sink on a database of its own (wxsync_test_<random>), dropped when
// the test ends, builds Arrow record batches for a stream, and starts a
// server of a test's own, of the kind under test, for the tests that stop
// or fail one (StartServer). It must not hold what a test checks.
//
// The server comes from CLICKHOUSE_DSN (default sink.DefaultDSN; its
// database part is replaced). When the server cannot be reached the test
// fails, with a message saying how to start one, unless
// WXSYNC_SKIP_CLICKHOUSE=1, in which case it is skipped.
package sinktest
