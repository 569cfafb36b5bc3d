package plugin

import (
	"bytes"
	"fmt"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

// EncodeRecord frames one record batch as an Arrow IPC stream (its schema
// followed by the batch), so that every message stands on its own.
func EncodeRecord(rec arrow.Record) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(encodedSizeHint(rec))
	w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()))
	if err := w.Write(rec); err != nil {
		return nil, fmt.Errorf("encode arrow record: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encode arrow record: %w", err)
	}
	return buf.Bytes(), nil
}

// encodedSizeHint is about the size of rec framed by EncodeRecord: its
// buffers, padded, plus room for the schema and the batch's metadata.
func encodedSizeHint(rec arrow.Record) int {
	n := 4096
	var add func(d arrow.ArrayData)
	add = func(d arrow.ArrayData) {
		for _, b := range d.Buffers() {
			if b != nil {
				n += b.Len() + 8
			}
		}
		for _, c := range d.Children() {
			add(c)
		}
	}
	for _, col := range rec.Columns() {
		add(col.Data())
	}
	return n
}

// DecodeRecord reads back a record batch framed by EncodeRecord. The stream
// must hold exactly one batch. The caller releases the record.
func DecodeRecord(b []byte, mem memory.Allocator) (rec arrow.Record, err error) {
	// The IPC reader trusts its input and can panic on corrupt bytes; a
	// corrupt batch is an error like any other.
	defer func() {
		if p := recover(); p != nil {
			if rec != nil {
				rec.Release()
			}
			rec, err = nil, fmt.Errorf("decode arrow record: corrupt IPC stream: %v", p)
		}
	}()
	if err := checkIPC(b); err != nil {
		return nil, fmt.Errorf("decode arrow record: %w", err)
	}
	r, err := ipc.NewReader(bytes.NewReader(b), ipc.WithAllocator(mem))
	if err != nil {
		return nil, fmt.Errorf("decode arrow record: %w", err)
	}
	defer r.Release()
	if !r.Next() {
		if err := r.Err(); err != nil {
			return nil, fmt.Errorf("decode arrow record: %w", err)
		}
		return nil, fmt.Errorf("decode arrow record: the IPC stream holds no record batch")
	}
	rec = r.Record()
	rec.Retain()
	if r.Next() {
		rec.Release()
		return nil, fmt.Errorf("decode arrow record: the IPC stream holds more than one record batch")
	}
	if err := r.Err(); err != nil {
		rec.Release()
		return nil, fmt.Errorf("decode arrow record: %w", err)
	}
	if err := validateRecord(rec); err != nil {
		rec.Release()
		return nil, fmt.Errorf("decode arrow record: %w", err)
	}
	return rec, nil
}

// validateRecord checks that every column has as many rows as the record
// claims and buffers that hold them, so that a malformed batch fails here
// and not in the sink.
func validateRecord(rec arrow.Record) error {
	for i, col := range rec.Columns() {
		if int64(col.Len()) != rec.NumRows() {
			return fmt.Errorf("column %d has %d rows, the batch %d", i, col.Len(), rec.NumRows())
		}
		if err := validateArray(col.Data(), 0); err != nil {
			return fmt.Errorf("column %d: %w", i, err)
		}
	}
	return nil
}

// EncodeSchema frames a schema alone as an Arrow IPC stream.
func EncodeSchema(s *arrow.Schema) ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(s))
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encode arrow schema: %w", err)
	}
	return buf.Bytes(), nil
}

// DecodeSchema reads back a schema framed by EncodeSchema.
func DecodeSchema(b []byte) (s *arrow.Schema, err error) {
	defer func() {
		if p := recover(); p != nil {
			s, err = nil, fmt.Errorf("decode arrow schema: corrupt IPC stream: %v", p)
		}
	}()
	if err := checkIPC(b); err != nil {
		return nil, fmt.Errorf("decode arrow schema: %w", err)
	}
	r, err := ipc.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("decode arrow schema: %w", err)
	}
	defer r.Release()
	return r.Schema(), nil
}
