package sink_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

func TestRecordRun(t *testing.T) {
	s := sinktest.OpenEmpty(t, sink.Config{})
	ctx := sinktest.Context(t)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := columns(t, s, sink.RunsTable), []string{"run_id String", "appid String", "started_at DateTime", "finished_at DateTime",
		"status String", "exit_code UInt8", "streams Array(String)", "rows Array(UInt64)", "snapshot_ids Array(UInt64)",
		"api_paths Array(String)", "api_calls Array(UInt64)", "quota_paths Array(String)", "quota_remain Array(UInt64)", "error String"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%s columns %v, want %v", sink.RunsTable, got, want)
	}
	start := time.Date(2025, 6, 7, 8, 9, 10, 500, time.UTC)
	runs := []sink.Run{
		{
			ID: "run-1", AppID: "wxA", StartedAt: start, FinishedAt: start.Add(3 * time.Second), Status: sink.RunOK,
			Streams:     []sink.RunStream{{Stream: "followers", Rows: 23000, SnapshotID: 7}, {Stream: "tags", Rows: 3}},
			Calls:       map[string]int64{"/cgi-bin/user/get": 4, "/cgi-bin/stable_token": 1},
			QuotaRemain: map[string]int64{"/cgi-bin/user/get": 496},
		},
		// Nothing known but how it ended.
		{ID: "run-2", AppID: "wxA", StartedAt: start, FinishedAt: start, Status: sink.RunConfigError, ExitCode: 78, Error: "48001 api unauthorized"},
	}
	// Several runs go in one insert, each row with its own arrays.
	if err := s.RecordRuns(ctx, runs); err != nil {
		t.Fatal(err)
	}
	rows, err := s.Conn().Query(ctx, fmt.Sprintf("SELECT run_id, appid, started_at, finished_at, status, exit_code, streams, rows, snapshot_ids, "+
		"api_paths, api_calls, quota_paths, quota_remain, error FROM `%s`.%s ORDER BY run_id", s.Database(), sink.RunsTable))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var (
			id, appid, status, msg    string
			started, finished         time.Time
			code                      uint8
			streams, paths, qpaths    []string
			counts, snaps, calls, rem []uint64
		)
		if err := rows.Scan(&id, &appid, &started, &finished, &status, &code, &streams, &counts, &snaps, &paths, &calls, &qpaths, &rem, &msg); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %s %s %s %s %d %v %v %v %v %v %v %v %q", id, appid, started.UTC().Format(time.RFC3339), finished.UTC().Format(time.RFC3339),
			status, code, streams, counts, snaps, paths, calls, qpaths, rem, msg))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`run-1 wxA 2025-06-07T08:09:10Z 2025-06-07T08:09:13Z ok 0 [followers tags] [23000 3] [7 0] [/cgi-bin/stable_token /cgi-bin/user/get] [1 4] [/cgi-bin/user/get] [496] ""`,
		`run-2 wxA 2025-06-07T08:09:10Z 2025-06-07T08:09:10Z config_error 78 [] [] [] [] [] [] [] "48001 api unauthorized"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("wxsync_runs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := s.RecordRun(ctx, sink.Run{}); err == nil {
		t.Fatal("RecordRun without an id succeeded")
	}
}
