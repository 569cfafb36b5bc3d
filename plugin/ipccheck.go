package plugin

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/apache/arrow/go/v15/arrow"
)

// Arrow's IPC reader trusts its input: the sizes in a message's metadata
// (message and body lengths, the number of fields, of metadata entries, of
// buffers) become allocations as they are, and a field may list itself as
// its own child. A recover cannot catch a failed 300 GB allocation or a
// stack overflow, so a malformed batch from a plugin would kill the host.
// checkIPC walks the stream's framing and flatbuffer metadata first and
// refuses anything that claims more than the bytes hold; validateArray then
// checks each decoded array's buffers against its length and offsets
// before anyone reads a value.

// Limits of what a plugin's IPC stream may declare; the streams' schemas
// use a fraction of each.
const (
	maxIPCFields   = 4096 // fields of a schema, nested ones included
	maxIPCDepth    = 32   // nesting of a field's children
	maxIPCMetadata = 4096 // custom metadata entries of a schema and its fields
)

// Message header and type union values of Arrow's Message.fbs and
// Schema.fbs; the vtable slot of field k of a table is 4+2k.
const (
	fbHeaderSchema      = 1
	fbHeaderRecordBatch = 3
)

var errFB = errors.New("malformed flatbuffer metadata")

// fbTable is a flatbuffer table with bounds-checked access.
type fbTable struct {
	buf            []byte
	pos, vt, vtLen int
}

func fbTableAt(buf []byte, pos int) (fbTable, error) {
	if pos < 0 || pos > len(buf)-4 {
		return fbTable{}, errFB
	}
	vt := pos - int(int32(binary.LittleEndian.Uint32(buf[pos:])))
	if vt < 0 || vt > len(buf)-4 {
		return fbTable{}, errFB
	}
	vtLen := int(binary.LittleEndian.Uint16(buf[vt:]))
	if vtLen < 4 || vt+vtLen > len(buf) {
		return fbTable{}, errFB
	}
	return fbTable{buf: buf, pos: pos, vt: vt, vtLen: vtLen}, nil
}

// field returns where field slot vo of t is, with size bytes there, or 0
// when the field is absent.
func (t fbTable) field(vo, size int) (int, error) {
	if vo >= t.vtLen { // as flatbuffers reads it: a slot is in the vtable if it starts there
		return 0, nil
	}
	if t.vt+vo+2 > len(t.buf) {
		return 0, errFB
	}
	o := int(binary.LittleEndian.Uint16(t.buf[t.vt+vo:]))
	if o == 0 {
		return 0, nil
	}
	p := t.pos + o
	if p+size > len(t.buf) {
		return 0, errFB
	}
	return p, nil
}

func (t fbTable) uint8(vo int) (uint8, error) {
	p, err := t.field(vo, 1)
	if p == 0 {
		return 0, err
	}
	return t.buf[p], nil
}

func (t fbTable) int64(vo int) (int64, error) {
	p, err := t.field(vo, 8)
	if p == 0 {
		return 0, err
	}
	return int64(binary.LittleEndian.Uint64(t.buf[p:])), nil
}

// deref follows the offset at position p to what it points at.
func (t fbTable) deref(p int) (int, error) {
	if p < 0 || p > len(t.buf)-4 {
		return 0, errFB
	}
	q := p + int(binary.LittleEndian.Uint32(t.buf[p:]))
	if q > len(t.buf)-4 {
		return 0, errFB
	}
	return q, nil
}

// table returns the table in field slot vo (ok false: absent).
func (t fbTable) table(vo int) (fbTable, bool, error) {
	p, err := t.field(vo, 4)
	if p == 0 {
		return fbTable{}, false, err
	}
	q, err := t.deref(p)
	if err != nil {
		return fbTable{}, false, err
	}
	tt, err := fbTableAt(t.buf, q)
	return tt, err == nil, err
}

// vector returns where the elements of the vector in field slot vo start
// and how many there are, each elem bytes long, all within the buffer.
func (t fbTable) vector(vo, elem int) (start, n int, err error) {
	p, err := t.field(vo, 4)
	if p == 0 {
		return 0, 0, err
	}
	q, err := t.deref(p)
	if err != nil {
		return 0, 0, err
	}
	n, start = int(binary.LittleEndian.Uint32(t.buf[q:])), q+4
	if n > (len(t.buf)-start)/elem {
		return 0, 0, fmt.Errorf("%w: a vector of %d elements in %d bytes", errFB, n, len(t.buf)-start)
	}
	return start, n, nil
}

// tables calls fn on each table of the vector of tables in slot vo.
func (t fbTable) tables(vo int, fn func(fbTable) error) error {
	start, n, err := t.vector(vo, 4)
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		q, err := t.deref(start + 4*i)
		if err != nil {
			return err
		}
		tt, err := fbTableAt(t.buf, q)
		if err != nil {
			return err
		}
		if err := fn(tt); err != nil {
			return err
		}
	}
	return nil
}

// checkIPC checks the Arrow IPC stream b (a schema message, then record
// batch messages, optionally an end-of-stream marker) before arrow's reader
// is given it.
func checkIPC(b []byte) error {
	budget := &fbBudget{fields: maxIPCFields, metadata: maxIPCMetadata}
	for off, i := 0, 0; off < len(b); i++ {
		if len(b)-off < 4 {
			return fmt.Errorf("message %d: truncated", i)
		}
		msgLen := int64(int32(binary.LittleEndian.Uint32(b[off:])))
		off += 4
		if uint32(msgLen) == 0xFFFFFFFF { // continuation marker, then the length
			if len(b)-off < 4 {
				return fmt.Errorf("message %d: truncated", i)
			}
			msgLen = int64(int32(binary.LittleEndian.Uint32(b[off:])))
			off += 4
		}
		if msgLen == 0 {
			return nil // end of stream
		}
		if msgLen < 0 || msgLen > int64(len(b)-off) {
			return fmt.Errorf("message %d: metadata of %d bytes, %d left", i, msgLen, len(b)-off)
		}
		meta := b[off : off+int(msgLen)]
		off += int(msgLen)
		body, err := checkMessage(meta, i, budget)
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		if body < 0 || body > int64(len(b)-off) {
			return fmt.Errorf("message %d: body of %d bytes, %d left", i, body, len(b)-off)
		}
		off += int(body)
	}
	return nil
}

// fbBudget is what is left of the limits, and what the schema's fields
// need of each record batch: arrow's reader takes one field node per field
// and a type's fixed number of buffers, by index, without comparing the
// index with the vectors' lengths.
type fbBudget struct {
	fields, metadata int
	nodes, buffers   int
}

// fbBuffers is, for each Arrow type (Schema.fbs Type union) a plugin may
// send, the number of buffers arrow's reader takes for a field of it
// (validity bitmap included, children not): the types whose arrays
// validateArray checks. Dictionaries, unions, views, large and fixed-size
// layouts are refused.
var fbBuffers = map[uint8]int{
	2: 2, 3: 2, 6: 2, 8: 2, 9: 2, 10: 2, 18: 2, // fixed width: validity, values
	4: 3, 5: 3, // binary, utf8: validity, offsets, values
	12: 2, // list: validity, offsets
	13: 1, // struct: validity
}

// checkMessage checks one message's metadata and returns its body length.
func checkMessage(meta []byte, i int, budget *fbBudget) (int64, error) {
	if len(meta) < 4 {
		return 0, errFB
	}
	root, err := fbTableAt(meta, int(binary.LittleEndian.Uint32(meta)))
	if err != nil {
		return 0, err
	}
	kind, err := root.uint8(6)
	if err != nil {
		return 0, err
	}
	body, err := root.int64(10)
	if err != nil {
		return 0, err
	}
	header, ok, err := root.table(8)
	if err != nil || !ok {
		return 0, errors.Join(errFB, err)
	}
	switch {
	case i == 0 && kind == fbHeaderSchema:
		if err := checkMetadata(header, 8, budget); err != nil {
			return 0, err
		}
		return body, header.tables(6, func(f fbTable) error { return checkField(f, 0, budget) })
	case i > 0 && kind == fbHeaderRecordBatch:
		return body, checkRecordBatch(header, body, budget)
	}
	return 0, fmt.Errorf("unexpected message type %d (want a schema, then record batches)", kind)
}

func checkMetadata(t fbTable, vo int, budget *fbBudget) error {
	_, n, err := t.vector(vo, 4)
	if budget.metadata -= n; budget.metadata < 0 {
		return fmt.Errorf("more than %d custom metadata entries", maxIPCMetadata)
	}
	return err
}

// checkField checks a Field table and its children.
func checkField(f fbTable, depth int, budget *fbBudget) error {
	if budget.fields--; budget.fields < 0 {
		return fmt.Errorf("more than %d fields", maxIPCFields)
	}
	if depth > maxIPCDepth {
		return fmt.Errorf("fields nested more than %d deep", maxIPCDepth)
	}
	typ, err := f.uint8(8)
	if err != nil {
		return err
	}
	nb, ok := fbBuffers[typ]
	if !ok {
		return fmt.Errorf("a field of Arrow type #%d, which a plugin may not send", typ)
	}
	budget.nodes++
	budget.buffers += nb
	if p, err := f.field(12, 4); p != 0 || err != nil {
		return errors.Join(errors.New("a dictionary-encoded field, which a plugin may not send"), err)
	}
	if err := checkMetadata(f, 16, budget); err != nil {
		return err
	}
	return f.tables(14, func(c fbTable) error { return checkField(c, depth+1, budget) })
}

// checkRecordBatch checks that every buffer lies within the body and that
// the batch is not compressed.
func checkRecordBatch(rb fbTable, body int64, need *fbBudget) error {
	if p, err := rb.field(10, 4); p != 0 || err != nil {
		return errors.Join(errors.New("a compressed record batch, which a plugin may not send"), err)
	}
	if p, err := rb.field(12, 4); p != 0 || err != nil {
		return errors.Join(errors.New("variadic buffers, which a plugin may not send"), err)
	}
	_, nodes, err := rb.vector(6, 16) // FieldNode structs
	if err != nil {
		return err
	}
	start, n, err := rb.vector(8, 16) // Buffer structs: offset, length
	if err != nil {
		return err
	}
	if nodes < need.nodes || n < need.buffers {
		return fmt.Errorf("%d field nodes and %d buffers, the schema needs %d and %d", nodes, n, need.nodes, need.buffers)
	}
	for k := 0; k < n; k++ {
		off := int64(binary.LittleEndian.Uint64(rb.buf[start+16*k:]))
		size := int64(binary.LittleEndian.Uint64(rb.buf[start+16*k+8:]))
		if off < 0 || size < 0 || off > body || size > body-off {
			return fmt.Errorf("buffer %d (offset %d, %d bytes) lies outside the body of %d bytes", k, off, size, body)
		}
	}
	return nil
}

// validateArray checks that data's buffers hold what its length, offsets
// and null count say, for every type checkIPC accepts, so that reading any
// value of it cannot go out of bounds.
func validateArray(data arrow.ArrayData, depth int) error {
	if depth > maxIPCDepth {
		return fmt.Errorf("nested more than %d deep", maxIPCDepth)
	}
	n, off := data.Len(), data.Offset()
	if n < 0 || off < 0 {
		return fmt.Errorf("negative length %d or offset %d", n, off)
	}
	end := off + n
	bufs := data.Buffers()
	bytesOf := func(i int) []byte {
		if i < len(bufs) && bufs[i] != nil {
			return bufs[i].Bytes()
		}
		return nil
	}
	if bm := bytesOf(0); len(bm) > 0 {
		if int64(len(bm))*8 < int64(end) {
			return fmt.Errorf("validity bitmap of %d bytes for %d values", len(bm), end)
		}
	} else if n > 0 && data.NullN() != 0 {
		return fmt.Errorf("%d nulls without a validity bitmap", data.NullN())
	}
	if n == 0 {
		return nil
	}
	offsets := func(limit int) error { return checkOffsets(bytesOf(1), off, n, limit) }
	dt := data.DataType()
	switch dt.ID() {
	case arrow.STRING, arrow.BINARY:
		return offsets(len(bytesOf(2)))
	case arrow.LIST:
		ch := data.Children()
		if len(ch) != 1 {
			return fmt.Errorf("a list with %d child arrays", len(ch))
		}
		if err := offsets(ch[0].Len()); err != nil {
			return err
		}
		return validateArray(ch[0], depth+1)
	case arrow.STRUCT:
		for i, c := range data.Children() {
			if c.Len() < end {
				return fmt.Errorf("struct field %d has %d values, the struct %d", i, c.Len(), end)
			}
			if err := validateArray(c, depth+1); err != nil {
				return fmt.Errorf("struct field %d: %w", i, err)
			}
		}
		return nil
	}
	fw, ok := dt.(arrow.FixedWidthDataType)
	if !ok {
		return fmt.Errorf("Arrow type %s, which a plugin may not send", dt)
	}
	if need := (int64(end)*int64(fw.BitWidth()) + 7) / 8; int64(len(bytesOf(1))) < need {
		return fmt.Errorf("%d bytes of values for %d values of %s", len(bytesOf(1)), n, dt)
	}
	return nil
}

// checkOffsets checks the n+1 int32 offsets in raw from off: non-negative,
// never decreasing, the last at most limit.
func checkOffsets(raw []byte, off, n, limit int) error {
	end := off + n
	if len(raw)/4 < end+1 {
		return fmt.Errorf("%d bytes of offsets for %d values", len(raw), n)
	}
	prev := int32(binary.LittleEndian.Uint32(raw[4*off:]))
	if prev < 0 {
		return fmt.Errorf("negative offset %d", prev)
	}
	for k := off + 1; k <= end; k++ {
		o := int32(binary.LittleEndian.Uint32(raw[4*k:]))
		if o < prev {
			return fmt.Errorf("offset %d (%d) is below the one before (%d)", k, o, prev)
		}
		prev = o
	}
	if int(prev) > limit {
		return fmt.Errorf("offsets reach %d, beyond the %d values", prev, limit)
	}
	return nil
}
