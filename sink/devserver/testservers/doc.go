// Command testservers runs the project's tests against every ClickHouse
// test server; `make test` runs it.
//
//	go run ./sink/devserver/testservers [go test flags, as -flag=value] [packages]
//
// The servers are the DSNs of CLICKHOUSE_TEST_DSNS (separated by spaces or
// commas). The packages whose tests use ClickHouse (those that import
// sink/sinktest) run once per server, with CLICKHOUSE_DSN set to it and
// every line of their output prefixed with "[ClickHouse <version>] "; the
// others run once. Afterwards it checks that every such package recorded a
// run against every server (sinktest.Run writes the record to the file of
// WXSYNC_TEST_SEEN) and fails when one was skipped, and that every server
// is still the one it asked at the start: a server that restarted (or
// stopped) during the run fails it, since the tests that used it then
// failed or did not test it. WXSYNC_SKIP_CLICKHOUSE is removed from the
// tests' environment.
//
// With -race, the packages without ClickHouse and the first server's pass
// run under the race detector, the other servers' passes without it: the
// Go code is the same whatever the server (DDL and queries are one text
// for every version, and no code branches on the version), so racing it
// once keeps the race coverage, and a pass without -race costs a fraction
// of the CPU (the end-to-end suites' binaries are built without -race in
// either pass). -race-every-server races every pass.
//
// Every group (the packages without ClickHouse, and the ClickHouse ones on
// each server) runs to its end, side by side; a failing group stops none
// of the others. At the end the failure lines of every group are repeated
// and the exit status is 1 if any group failed.
//
// It owns nothing but this orchestration: starting the servers is the
// Makefile's (sink/devserver/*.sh), and what a test checks is the test's.
package main
