package sink

import (
	"context"
	"time"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/wxsync/wxsync/schema"
)

// BuildColumns exposes buildColumns, the conversion of the plugin's record
// batches into the columns of an insert, to the fuzz target.
func BuildColumns(st schema.Stream, appid string, snapshotID uint64, recs []arrow.Record) ([]any, int, error) {
	return buildColumns(st, appid, snapshotID, recs)
}

// WriteSnapshotRow writes one row of wechat_snapshots as it is, so that a
// test can place a snapshot's start where it needs it.
func (s *Sink) WriteSnapshotRow(ctx context.Context, appid, stream string, id uint64, started time.Time, status uint8) error {
	return s.writeSnapshots(ctx, []Snapshot{{AppID: appid, Stream: stream, ID: id, StartedAt: started, FinishedAt: started.Add(time.Hour), Status: status, Version: s.nextID(0)}})
}

// SortByKey exposes sortByKey to the tests of the insert order.
func SortByKey(st schema.Stream, cols []any, n int) error { return sortByKey(st, cols, n) }

// NewFreshSetOfHashes returns a FreshSet of the given hashes (in any
// order, repeats allowed), for tests of its index; Contains looks a hash up.
func NewFreshSetOfHashes(hashes []uint64) *FreshSet {
	f := &FreshSet{hashes: hashes}
	f.index()
	return f
}

// Contains exposes FreshSet.contains.
func (f *FreshSet) Contains(h uint64) bool { return f.contains(h) }

// VersionReads is how many queries SaveStates made for keys' newest
// versions.
func (s *Sink) VersionReads() int64 { return s.versionReads.Load() }

// FinalCounts is how many snapshots CompleteSnapshot counted with FINAL.
func (s *Sink) FinalCounts() int64 { return s.finalCounts.Load() }

// SetTallyRun sets how many hashes a snapshot's tally sorts at a time, so
// that a test spills runs to the tally's file with a few rows.
func (s *Sink) SetTallyRun(n int) { s.tallyRun = n }
