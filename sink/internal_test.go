package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
)

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}, true},
		{fmt.Errorf("send data: %w", syscall.ECONNRESET), true},
		{fmt.Errorf("read: %w", io.EOF), true},
		{fmt.Errorf("write: %w", syscall.EPIPE), true},
		{clickhouse.ErrAcquireConnTimeout, true},
		{context.DeadlineExceeded, true}, // an attempt's own deadline
		{&clickhouse.Exception{Code: 252, Message: "Too many parts"}, true},
		{fmt.Errorf("x: %w", &clickhouse.Exception{Code: 210, Message: "Connection refused"}), true},
		{fmt.Errorf("complete snapshot: %w", &staleReplicaError{"no such snapshot"}), true},
		{&clickhouse.Exception{Code: 60, Message: "Table doesn't exist"}, false},
		{&clickhouse.Exception{Code: 53, Message: "Type mismatch"}, false},
		{&column.ColumnConverterError{Op: "Append", To: "String", From: "int"}, false},
		{clickhouse.ErrConnectionClosed, false},
		{context.Canceled, false},
		{errors.New("block cannot be sorted - missing columns in requested order"), false},
	} {
		if got := Retryable(tc.err); got != tc.want {
			t.Errorf("Retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestDSNSecrets(t *testing.T) {
	for dsn, want := range map[string]string{
		"clickhouse://u:p%40ss@h:9000/db":      "p@ss",
		"clickhouse://u:a@b/c?d@h:9000/db":     "a@b/c?d",
		"clickhouse://u:plain@h:9000/db":       "plain",
		"clickhouse://h:9000/db?password=qpw1": "qpw1",
	} {
		err := redact(errors.New("failed: "+want+" and "+dsn), dsnSecrets(dsn))
		if strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", dsn, err)
		}
	}
	if err := redact(errors.New("nothing secret"), dsnSecrets("clickhouse://h:9000/db")); err.Error() != "nothing secret" {
		t.Errorf("redact changed a clean error: %v", err)
	}
}

func TestBookkeepingDDL(t *testing.T) {
	for _, tc := range []struct {
		st   func() string
		want string
	}{
		{func() string { d, _ := snapshotsTable().CreateTable("db"); return d }, "CREATE TABLE IF NOT EXISTS `db`.`wechat_snapshots` (\n" +
			"    `appid` String,\n    `stream` String,\n    `snapshot_id` UInt64,\n    `started_at` DateTime,\n    `finished_at` DateTime,\n" +
			"    `reported_total` UInt64,\n    `rows` UInt64,\n    `complete` UInt8,\n    `version` UInt64\n" +
			") ENGINE = ReplacingMergeTree(`version`)\nORDER BY (`appid`, `stream`, `snapshot_id`)"},
		{func() string { d, _ := stateTable().CreateTable("db"); return d }, "CREATE TABLE IF NOT EXISTS `db`.`wxsync_state` (\n" +
			"    `appid` String,\n    `stream` String,\n    `snapshot_id` UInt64,\n    `cursor` String,\n    `updated_at` DateTime,\n    `version` UInt64\n" +
			") ENGINE = ReplacingMergeTree(`version`)\nORDER BY (`appid`, `stream`)"},
	} {
		if got := tc.st(); got != tc.want {
			t.Errorf("got\n%s\nwant\n%s", got, tc.want)
		}
	}
}

// Retention over a list of snapshots, newest first: on one server an
// in-progress snapshot older than the newest complete one is abandoned at
// once; on a cluster (a list that may be stale, so that it may be complete)
// it is kept while fewer than retention complete ones are newer, without
// taking a complete one's place.
func TestPruneCandidates(t *testing.T) {
	sn := func(id uint64, status uint8) Snapshot { return Snapshot{ID: id, Status: status} }
	var (
		ip, done = SnapshotInProgress, SnapshotComplete
		pruned   = SnapshotPruned
	)
	for _, tc := range []struct {
		name       string
		snaps      []Snapshot
		maybeStale bool
		want       []string // id:new status:mark
	}{
		{"one server", []Snapshot{sn(9, ip), sn(8, done), sn(7, ip), sn(6, done), sn(5, done), sn(4, pruned)}, false,
			[]string{fmt.Sprintf("7:%d:true", SnapshotAbandoned), fmt.Sprintf("5:%d:true", pruned), fmt.Sprintf("4:%d:false", pruned)}},
		{"cluster, within retention", []Snapshot{sn(9, ip), sn(8, done), sn(7, ip), sn(6, done), sn(5, done), sn(4, pruned)}, true,
			[]string{fmt.Sprintf("5:%d:true", pruned), fmt.Sprintf("4:%d:false", pruned)}},
		{"cluster, beyond retention", []Snapshot{sn(8, done), sn(7, done), sn(6, ip), sn(5, done)}, true,
			[]string{fmt.Sprintf("6:%d:true", SnapshotAbandoned), fmt.Sprintf("5:%d:true", pruned)}},
		{"no complete snapshot", []Snapshot{sn(3, ip), sn(2, ip)}, false, nil},
	} {
		var got []string
		for _, c := range pruneCandidates(tc.snaps, 2, tc.maybeStale) {
			got = append(got, fmt.Sprintf("%d:%d:%v", c.sn.ID, c.sn.Status, c.mark))
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s: drops %v, want %v", tc.name, got, tc.want)
		}
	}
}
