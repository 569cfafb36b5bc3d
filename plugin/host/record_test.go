package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wxsync/wxsync/plugin/kind"
	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
)

// The run record takes its status and exit code from the kind table, lists
// every selected stream in run order (those never started with 0 rows),
// and holds the error without its secrets.
func TestNewRecord(t *testing.T) {
	cfg := RunConfig{ID: "r1", AppID: "wxA", Streams: []string{schema.Followers, schema.Users, schema.Tags}}
	rep := Report{Streams: map[string]StreamReport{schema.Followers: {Rows: 5, SnapshotID: 3}, schema.Users: {Rows: 4}},
		Calls: map[string]int64{"/cgi-bin/user/get": 2}}
	started := time.Unix(1700000000, 0)
	redact := func(s string) string { return strings.ReplaceAll(s, "s3cret", "xxxxx") }
	cases := []struct {
		err    error
		status string
		exit   uint8
	}{
		{nil, "ok", 0},
		{kind.Mark(kind.Temporary, errors.New("insert failed for s3cret")), "stopped", 75},
		{fmt.Errorf("stream followers: %w", kind.Mark(kind.Config, errors.New("48001"))), "config_error", 78},
		{errors.New("the source plugin died"), "failed", 1},
	}
	for _, c := range cases {
		run := NewRecord(cfg, started, rep, c.err, redact)
		if run.Status != c.status || run.ExitCode != c.exit || run.ID != "r1" || run.AppID != "wxA" || !run.StartedAt.Equal(started) {
			t.Errorf("%v: status %q exit %d, want %q %d", c.err, run.Status, run.ExitCode, c.status, c.exit)
		}
		want := fmt.Sprint([]sink.RunStream{{Stream: "followers", Rows: 5, SnapshotID: 3}, {Stream: "users", Rows: 4}, {Stream: "tags"}})
		if fmt.Sprint(run.Streams) != want || run.Calls["/cgi-bin/user/get"] != 2 {
			t.Errorf("streams %v calls %v, want %s", run.Streams, run.Calls, want)
		}
		if c.err != nil && (strings.Contains(run.Error, "s3cret") || run.Error == "") {
			t.Errorf("error %q, want it redacted", run.Error)
		}
	}
	if err := WriteRecord(context.Background(), nil, sink.Run{ID: "r1"}); !errors.Is(err, ErrNotReached) {
		t.Errorf("WriteRecord without a destination: %v", err)
	}
	d := newFakeDest()
	if err := WriteRecord(context.Background(), d, sink.Run{ID: "r1"}); err != nil || len(d.runs) != 1 || d.runs[0].ID != "r1" {
		t.Errorf("WriteRecord: %v, %v", err, d.runs)
	}
}
