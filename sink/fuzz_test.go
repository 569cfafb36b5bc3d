package sink_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

// sampleRow is one row of sc with a value of every column's type; strings
// carry quotes and backslashes.
func sampleRow(t testing.TB, sc *arrow.Schema, i int) []any {
	t.Helper()
	row := make([]any, 0, len(sc.Fields()))
	for _, f := range sc.Fields() {
		switch f.Type.ID() {
		case arrow.STRING:
			row = append(row, []string{"oA-1_x", `it's "q" \ \\`, "中文 🙂", ""}[i%4])
		case arrow.UINT8:
			row = append(row, uint8(i))
		case arrow.UINT32:
			row = append(row, uint32(i)<<20)
		case arrow.UINT64:
			row = append(row, uint64(i)<<40)
		case arrow.INT64:
			row = append(row, int64(-i))
		case arrow.TIMESTAMP:
			row = append(row, time.Unix(1700000000+int64(i), 0))
		case arrow.LIST:
			row = append(row, []uint32{2, 134, uint32(i)}[:i%4])
		default:
			t.Fatalf("column %s: no sample value for %s", f.Name, f.Type)
		}
	}
	return row
}

// FuzzHostRecord fuzzes what the host does with the bytes of a
// RecordBatch message: decode the Arrow IPC stream (plugin.DecodeRecord),
// match its schema against a stream's (as the host's read loop does), and
// convert it into the insert's columns (what Insert sends). Nothing may
// panic; a conversion that succeeds has one value per row in every column.
func FuzzHostRecord(f *testing.F) {
	for _, st := range schema.All() {
		sc := st.SourceSchema()
		for n := 0; n < 3; n++ {
			rows := make([][]any, n)
			for i := range rows {
				rows[i] = sampleRow(f, sc, i)
			}
			rec := sinktest.Record(f, st, rows...)
			b, err := plugin.EncodeRecord(rec)
			rec.Release()
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
			if n == 2 {
				f.Add(b[:len(b)/2])
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := plugin.DecodeRecord(b, memory.NewGoAllocator())
		if err != nil {
			return
		}
		defer rec.Release()
		for _, st := range schema.All() {
			if !rec.Schema().Equal(st.SourceSchema()) {
				continue // the host refuses a batch of another schema
			}
			cols, n, err := sink.BuildColumns(st, "wx'\\appid", 7, []arrow.Record{rec})
			if err != nil {
				continue
			}
			if int64(n) != rec.NumRows() || len(cols) != len(st.Schema.Fields()) {
				t.Fatalf("stream %s: %d rows and %d columns from a batch of %d rows", st.Name, n, len(cols), rec.NumRows())
			}
			for i, c := range cols {
				if l := reflect.ValueOf(c).Len(); l != n {
					t.Fatalf("stream %s: column %d has %d values, want %d", st.Name, i, l, n)
				}
			}
		}
	})
}
