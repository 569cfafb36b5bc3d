package sink_test

import (
	"math/rand/v2"
	"slices"
	"syscall"
	"testing"
	"time"

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

// BenchmarkSortByKey sorts the columns of a 100,000-row followers insert
// (the host's largest) whose openids share a 6-byte prefix, as an
// account's do, and come in no order.
func BenchmarkSortByKey(b *testing.B) {
	const rows = 100_000
	st := sinktest.Stream(b, schema.Followers)
	rng := rand.New(rand.NewPCG(1, 1))
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	ids := make([]string, rows)
	for i := range ids {
		buf := []byte("oGZUI0")
		for range 22 {
			buf = append(buf, b64[rng.IntN(64)])
		}
		ids[i] = string(buf)
	}
	at := make([]time.Time, rows)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cols := []any{nil, nil, slices.Clone(ids), at}
		if err := sink.SortByKey(st, cols, rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}

// BenchmarkInsertCommit inserts one commit as the host makes it in a
// followers sync: 10 record batches of 10,000 openids each, in no order,
// into a fresh snapshot per operation (so the snapshot tally runs too).
func BenchmarkInsertCommit(b *testing.B) {
	const pages, rows = 10, 10000
	s := sinktest.Open(b, sink.Config{})
	st := sinktest.Stream(b, schema.Followers)
	rng := rand.New(rand.NewPCG(2, 2))
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	recs := make([]arrow.Record, pages)
	for p := range recs {
		page := make([][]any, rows)
		for i := range page {
			buf := []byte("oGZUI0")
			for range 22 {
				buf = append(buf, b64[rng.IntN(64)])
			}
			page[i] = []any{string(buf), t0}
		}
		recs[p] = sinktest.Record(b, st, page...)
		defer recs[p].Release()
	}
	ctx := sinktest.Context(b)
	b.ReportAllocs()
	b.ResetTimer()
	var cpu time.Duration // this process's: the sink's and the driver's
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		id, err := s.BeginSnapshot(ctx, "wxbench", st.Name)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		before := processCPU(b)
		if n, err := s.Insert(ctx, st, "wxbench", id, recs); err != nil || n != pages*rows {
			b.Fatalf("Insert = %d, %v", n, err)
		}
		cpu += processCPU(b) - before
	}
	b.StopTimer()
	b.ReportMetric(float64(pages*rows*b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(pages*rows*b.N), "cpu-ns/row")
}

// processCPU is this process's user and system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
