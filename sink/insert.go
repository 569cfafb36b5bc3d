package sink

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"

	"github.com/wxsync/wxsync/schema"
)

// NotCommittedError is returned by Insert when the rows could not be
// written: they were not committed (or their commit was not confirmed) and
// the caller must not advance past them. Inserting them again is safe.
type NotCommittedError struct {
	// Stream is the stream whose rows were not committed.
	Stream string
	// AppID is the account the rows belong to.
	AppID string
	// Rows is how many rows were not committed.
	Rows int
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *NotCommittedError) Error() string {
	return fmt.Sprintf("insert %s for %s: %d rows not committed: %v", e.Stream, e.AppID, e.Rows, e.Err)
}

// Unwrap returns the cause.
func (e *NotCommittedError) Unwrap() error { return e.Err }

// Insert writes recs, record batches of st.SourceSchema(), into st's table
// as one batch, in st.Schema column order, filling appid and (for Snapshot
// streams) snapshot_id itself; snapshotID is ignored by Latest streams. The
// rows are sent sorted by the table's key (stably), so that ClickHouse does
// not have to sort them.
// It returns the number of rows written.
//
// A batch whose schema differs from st.SourceSchema(), or that holds a
// null, fails before anything is sent. A transient failure is retried with
// backoff (a fresh batch per attempt) for up to Config.InsertMaxElapsed;
// on final failure the error is a *NotCommittedError saying how many rows
// were not committed.
func (s *Sink) Insert(ctx context.Context, st schema.Stream, appid string, snapshotID uint64, recs []arrow.Record) (rows int, err error) {
	qtable, err := schema.Ident(st.Table)
	if err != nil {
		return 0, fmt.Errorf("insert %s: %w", st.Name, err)
	}
	if appid == "" {
		return 0, fmt.Errorf("insert %s: empty appid", st.Name)
	}
	if st.Kind == schema.Snapshot && snapshotID == 0 {
		return 0, fmt.Errorf("insert %s for %s: snapshot stream needs a snapshot id (BeginSnapshot)", st.Name, appid)
	}
	cols, n, err := buildColumns(st, appid, snapshotID, recs)
	if err != nil {
		return 0, fmt.Errorf("insert %s for %s: %w", st.Name, appid, err)
	}
	if n == 0 {
		return 0, nil
	}
	var hashes []uint64
	if st.Kind == schema.Snapshot {
		hashes = s.tallyHashes(st, appid, snapshotID, cols)
	}
	if err := sortByKey(st, cols, n); err != nil {
		return 0, fmt.Errorf("insert %s for %s: %w", st.Name, appid, err)
	}
	query := fmt.Sprintf("INSERT INTO %s.%s (%s)", s.qdb, qtable, strings.Join(st.Columns(), ", "))
	what := fmt.Sprintf("insert %d rows into %s.%s", n, s.db, st.Table)
	err = s.retry(ctx, what, func(ctx context.Context) error { return s.sendColumns(ctx, query, cols) })
	if st.Kind == schema.Snapshot {
		s.tallyInsert(st, appid, snapshotID, hashes, err)
	}
	if err != nil {
		return 0, &NotCommittedError{Stream: st.Name, AppID: appid, Rows: n, Err: err}
	}
	return n, nil
}

// insertBlockRows is the most rows sendColumns puts in one block of an
// INSERT. A larger batch goes out as several blocks of the one INSERT, which
// ClickHouse squashes back into one part: the driver then reuses its column
// buffers from block to block instead of growing them (in 1.25x steps, each
// a copy) to the size of the whole batch, and the server reads a block
// while the next is encoded.
const insertBlockRows = 16384

// sendColumns inserts one batch whose columns, in query order, are typed
// slices of equal length.
func (s *Sink) sendColumns(ctx context.Context, query string, cols []any) error {
	batch, err := s.conn.PrepareBatch(ctx, query)
	if err != nil {
		return fmt.Errorf("prepare batch: %w", err)
	}
	defer func() { _ = batch.Close() }()
	n := 0
	if len(cols) > 0 {
		n = reflect.ValueOf(cols[0]).Len()
	}
	for lo := 0; ; lo += insertBlockRows {
		hi := min(lo+insertBlockRows, n)
		for i, c := range cols {
			if n > insertBlockRows {
				c = reflect.ValueOf(c).Slice(lo, hi).Interface()
			}
			if err := batch.Column(i).Append(c); err != nil {
				return fmt.Errorf("append column %d: %w", i, err)
			}
		}
		if hi >= n {
			break
		}
		if err := batch.Flush(); err != nil {
			return fmt.Errorf("send block: %w", err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	return nil
}

// checkSchema reports whether got has the fields of want: same names and
// types, in order. Nullability and metadata are not compared.
func checkSchema(want, got *arrow.Schema) error {
	wf, gf := want.Fields(), got.Fields()
	if len(wf) != len(gf) {
		return fmt.Errorf("record has %d columns (%s), the stream %d (%s)", len(gf), fieldList(gf), len(wf), fieldList(wf))
	}
	for i := range wf {
		if wf[i].Name != gf[i].Name || !arrow.TypeEqual(wf[i].Type, gf[i].Type) {
			return fmt.Errorf("record column %d is %s %s, the stream wants %s %s", i, gf[i].Name, gf[i].Type, wf[i].Name, wf[i].Type)
		}
	}
	return nil
}

func fieldList(fs []arrow.Field) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Name + " " + f.Type.String()
	}
	return strings.Join(names, ", ")
}

// buildColumns converts recs to one typed slice per column of st.Schema and
// returns them with the row count. It copies nothing per value beyond what
// the target slice needs: no pointer or interface per value.
func buildColumns(st schema.Stream, appid string, snapshotID uint64, recs []arrow.Record) ([]any, int, error) {
	src := st.SourceSchema()
	n := 0
	for i, rec := range recs {
		if rec == nil {
			return nil, 0, fmt.Errorf("record %d is nil", i)
		}
		if err := checkSchema(src, rec.Schema()); err != nil {
			return nil, 0, fmt.Errorf("record %d: schema mismatch: %w", i, err)
		}
		for j, col := range rec.Columns() {
			if int64(col.Len()) != rec.NumRows() {
				return nil, 0, fmt.Errorf("record %d column %s has %d rows, the record %d", i, src.Field(j).Name, col.Len(), rec.NumRows())
			}
			if col.NullN() > 0 {
				return nil, 0, fmt.Errorf("record %d column %s holds %d nulls; the sink accepts none", i, src.Field(j).Name, col.NullN())
			}
		}
		n += int(rec.NumRows())
	}
	cols := make([]any, 0, len(st.Schema.Fields()))
	j := 0 // index of the next source column
	for _, f := range st.Schema.Fields() {
		if schema.SinkFilled(f) {
			switch f.Name {
			case schema.ColAppID:
				cols = append(cols, repeat(appid, n))
			case schema.ColSnapshotID:
				cols = append(cols, repeat(snapshotID, n))
			default:
				return nil, 0, fmt.Errorf("column %s: the sink does not know how to fill it", f.Name)
			}
			continue
		}
		c, err := convertColumn(f, j, recs, n)
		if err != nil {
			return nil, 0, err
		}
		cols = append(cols, c)
		j++
	}
	return cols, n, nil
}

func repeat[T any](v T, n int) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// convertColumn concatenates column j of every record into the slice type
// clickhouse-go appends for f's ClickHouse type.
func convertColumn(f arrow.Field, j int, recs []arrow.Record, n int) (any, error) {
	bad := func(a arrow.Array) error {
		return fmt.Errorf("column %s: unexpected Arrow array %T for type %s", f.Name, a, f.Type)
	}
	switch f.Type.ID() {
	case arrow.STRING:
		out := make([]string, 0, n)
		for _, rec := range recs {
			a, ok := rec.Column(j).(*array.String)
			if !ok {
				return nil, bad(rec.Column(j))
			}
			for k := 0; k < a.Len(); k++ {
				out = append(out, a.Value(k))
			}
		}
		return out, nil
	case arrow.UINT8:
		return concat(recs, j, n, bad, (*array.Uint8).Uint8Values)
	case arrow.UINT32:
		return concat(recs, j, n, bad, (*array.Uint32).Uint32Values)
	case arrow.UINT64:
		return concat(recs, j, n, bad, (*array.Uint64).Uint64Values)
	case arrow.INT64:
		return concat(recs, j, n, bad, (*array.Int64).Int64Values)
	case arrow.TIMESTAMP:
		if ts, ok := f.Type.(*arrow.TimestampType); !ok || ts.Unit != arrow.Second {
			return nil, fmt.Errorf("column %s: only second timestamps are supported, got %s", f.Name, f.Type)
		}
		// Seconds as int64, which clickhouse-go's DateTime takes as they
		// are: 8 bytes a row and no pointer for the collector to scan,
		// where a time.Time is 24 bytes and holds one.
		out := make([]int64, 0, n)
		for _, rec := range recs {
			a, ok := rec.Column(j).(*array.Timestamp)
			if !ok {
				return nil, bad(rec.Column(j))
			}
			for _, v := range a.TimestampValues() {
				out = append(out, int64(v))
			}
		}
		return out, nil
	case arrow.LIST:
		lt := f.Type.(*arrow.ListType)
		if lt.Elem().ID() != arrow.UINT32 {
			return nil, fmt.Errorf("column %s: only lists of uint32 are supported, got %s", f.Name, f.Type)
		}
		out := make([][]uint32, 0, n)
		for _, rec := range recs {
			a, ok := rec.Column(j).(*array.List)
			if !ok {
				return nil, bad(rec.Column(j))
			}
			vals, ok := a.ListValues().(*array.Uint32)
			if !ok {
				return nil, bad(a.ListValues())
			}
			raw := vals.Uint32Values()
			for k := 0; k < a.Len(); k++ {
				beg, end := a.ValueOffsets(k)
				if vals.NullN() > 0 {
					for x := beg; x < end; x++ {
						if vals.IsNull(int(x)) {
							return nil, fmt.Errorf("column %s: row %d holds a null element; the sink accepts none", f.Name, k)
						}
					}
				}
				out = append(out, raw[beg:end:end])
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("column %s: Arrow type %s is not supported by the sink", f.Name, f.Type)
}

// concat appends the values of column j of every record, which must be an
// array of type A, into one slice.
func concat[A arrow.Array, T any](recs []arrow.Record, j, n int, bad func(arrow.Array) error, values func(A) []T) ([]T, error) {
	out := make([]T, 0, n)
	for _, rec := range recs {
		a, ok := rec.Column(j).(A)
		if !ok {
			return nil, bad(rec.Column(j))
		}
		out = append(out, values(a)...)
	}
	return out, nil
}
