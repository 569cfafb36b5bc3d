package sink_test

import (
	"testing"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

// BenchmarkInsertFollowers inserts 10,000 followers rows (28-byte openids,
// one record batch) per operation into a real ClickHouse.
func BenchmarkInsertFollowers(b *testing.B) {
	const rows = 10000
	s := sinktest.Open(b, sink.Config{})
	st := sinktest.Stream(b, schema.Followers)
	rec := followersBatch(b, rows)
	defer rec.Release()
	recs := []arrow.Record{rec}
	ctx := sinktest.Context(b)
	id, err := s.BeginSnapshot(ctx, "wxbench", st.Name)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n, err := s.Insert(ctx, st, "wxbench", id, recs); err != nil || n != rows {
			b.Fatalf("Insert = %d, %v", n, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
