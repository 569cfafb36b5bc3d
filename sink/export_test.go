package sink

import (
	"github.com/apache/arrow/go/v15/arrow"

	"github.com/wxsync/wxsync/schema"
)

// BuildColumns exposes buildColumns, the conversion of the plugin's record
// batches into the columns of an insert, to the fuzz target.
func BuildColumns(st schema.Stream, appid string, snapshotID uint64, recs []arrow.Record) ([]any, int, error) {
	return buildColumns(st, appid, snapshotID, recs)
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
