package sink

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/wxsync/wxsync/schema"
)

// sortByKey reorders the rows of cols (the columns of one insert, in
// st.Schema order, n rows each) by st's ORDER BY key, so that ClickHouse
// receives a block already in key order and skips sorting it (a block in
// key order costs it almost nothing; sorting 1M openids costs it seconds of
// CPU: docs/benchmarks.md). The sink-filled key columns (appid,
// snapshot_id) hold one value in an insert, so only the others are
// compared. The sort is stable: rows with equal keys keep their order,
// which is the order in which ClickHouse's own (stable) sort left them
// before, so a ReplacingMergeTree keeps the same row of two with equal
// keys and versions.
//
// Only the slices are reordered: a string moves as its header, its bytes
// stay where Arrow put them. A batch already in key order is left as it is.
func sortByKey(st schema.Stream, cols []any, n int) error {
	if n < 2 {
		return nil
	}
	compare, err := keyCompare(st, cols)
	if err != nil || compare == nil {
		return err
	}
	perm := make([]int32, n)
	for i := range perm {
		perm[i] = int32(i)
	}
	if key, ok := singleStringKey(st, cols); ok {
		perm = sortStrings(key, perm)
	} else {
		slices.SortFunc(perm, func(a, b int32) int {
			return cmp.Or(compare(int(a), int(b)), cmp.Compare(a, b))
		})
	}
	if isIdentity(perm) {
		return nil
	}
	for i, c := range cols {
		if schema.SinkFilled(st.Schema.Field(i)) {
			continue // one value in every row
		}
		p, err := permute(c, perm)
		if err != nil {
			return fmt.Errorf("sort column %s: %w", st.Schema.Field(i).Name, err)
		}
		cols[i] = p
	}
	return nil
}

// keyCompare returns a comparison of two rows by st's key columns that the
// plugin fills (nil when there are none).
func keyCompare(st schema.Stream, cols []any) (func(a, b int) int, error) {
	var cmps []func(a, b int) int
	for _, name := range st.OrderBy {
		i := st.Schema.FieldIndices(name)
		if len(i) != 1 {
			return nil, fmt.Errorf("sort key column %s is not in the stream's schema", name)
		}
		if schema.SinkFilled(st.Schema.Field(i[0])) {
			continue
		}
		switch c := cols[i[0]].(type) {
		case []string:
			cmps = append(cmps, func(a, b int) int { return strings.Compare(c[a], c[b]) })
		case []uint32:
			cmps = append(cmps, func(a, b int) int { return cmp.Compare(c[a], c[b]) })
		case []uint64:
			cmps = append(cmps, func(a, b int) int { return cmp.Compare(c[a], c[b]) })
		case []int64:
			cmps = append(cmps, func(a, b int) int { return cmp.Compare(c[a], c[b]) })
		case []uint8:
			cmps = append(cmps, func(a, b int) int { return cmp.Compare(c[a], c[b]) })
		case []time.Time:
			cmps = append(cmps, func(a, b int) int { return c[a].Compare(c[b]) })
		default:
			return nil, fmt.Errorf("sort key column %s: cannot sort %T", name, c)
		}
	}
	switch len(cmps) {
	case 0:
		return nil, nil
	case 1:
		return cmps[0], nil
	}
	return func(a, b int) int {
		for _, c := range cmps {
			if r := c(a, b); r != 0 {
				return r
			}
		}
		return 0
	}, nil
}

// singleStringKey returns the key column when it is one String column
// (followers, blacklist, users: openid).
func singleStringKey(st schema.Stream, cols []any) ([]string, bool) {
	var key []string
	for _, name := range st.OrderBy {
		i := st.Schema.FieldIndices(name)[0]
		if schema.SinkFilled(st.Schema.Field(i)) {
			continue
		}
		s, ok := cols[i].([]string)
		if !ok || key != nil {
			return nil, false
		}
		key = s
	}
	return key, key != nil
}

// sortStrings sorts perm, the row numbers of keys, by key and row number.
// Openids of one account share a prefix (6 bytes at WeChat), so each row
// is given the 8 bytes after the block's common prefix, packed in a uint64
// (a short key padded with zero bytes, which keeps the order); a stable
// radix sort orders the rows by it in four passes, and only runs of rows
// whose 8 bytes tie are then compared as strings.
func sortStrings(keys []string, perm []int32) []int32 {
	p := commonPrefix(keys)
	rows := make([]keyRow, len(perm))
	for j, i := range perm {
		var b [8]byte
		if len(keys[i]) > p {
			copy(b[:], keys[i][p:])
		}
		rows[j] = keyRow{binary.BigEndian.Uint64(b[:]), i}
	}
	if len(rows) < radixMinRows {
		slices.SortFunc(rows, func(a, b keyRow) int { return cmp.Or(cmp.Compare(a.k, b.k), cmp.Compare(a.i, b.i)) })
	} else {
		rows = radixSort(rows, make([]keyRow, len(rows)))
	}
	for lo := 0; lo < len(rows); {
		hi := lo + 1
		for hi < len(rows) && rows[hi].k == rows[lo].k {
			hi++
		}
		if hi-lo > 1 {
			slices.SortStableFunc(rows[lo:hi], func(a, b keyRow) int { return strings.Compare(keys[a.i], keys[b.i]) })
		}
		lo = hi
	}
	for j := range rows {
		perm[j] = rows[j].i
	}
	return perm
}

// radixMinRows is the fewest rows sorted by radix; fewer are compared,
// which costs less than the radix sort's four histograms.
const radixMinRows = 4096

// keyRow is a row number with the 8 bytes of its key that sort it first.
type keyRow struct {
	k uint64
	i int32
}

// radixSort sorts rows by k, stably, 16 bits a pass from the lowest,
// using tmp (as long as rows) as the other buffer; a pass whose 16 bits
// are the same in every row is skipped. It returns the sorted slice,
// which is rows or tmp.
func radixSort(rows, tmp []keyRow) []keyRow {
	count := make([]int32, 1<<16)
	for shift := uint(0); shift < 64; shift += 16 {
		clear(count)
		for _, r := range rows {
			count[uint16(r.k>>shift)]++
		}
		if int(count[uint16(rows[0].k>>shift)]) == len(rows) {
			continue
		}
		var sum int32
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for _, r := range rows {
			d := uint16(r.k >> shift)
			tmp[count[d]] = r
			count[d]++
		}
		rows, tmp = tmp, rows
	}
	return rows
}

// commonPrefix returns the length of the prefix every key shares.
func commonPrefix(keys []string) int {
	p := keys[0]
	for _, k := range keys[1:] {
		if strings.HasPrefix(k, p) { // the usual case, one vector compare
			continue
		}
		n := min(len(p), len(k))
		i := 0
		for i < n && p[i] == k[i] {
			i++
		}
		p = p[:i]
		if p == "" {
			break
		}
	}
	return len(p)
}

func isIdentity(perm []int32) bool {
	for i, p := range perm {
		if int(p) != i {
			return false
		}
	}
	return true
}

// permute returns the column c (a slice of one of the types buildColumns
// makes) with its rows in the order perm.
func permute(c any, perm []int32) (any, error) {
	switch c := c.(type) {
	case []string:
		return permuteStrings(c, perm), nil
	case []uint8:
		return permuteSlice(c, perm), nil
	case []uint32:
		return permuteSlice(c, perm), nil
	case []uint64:
		return permuteSlice(c, perm), nil
	case []int64:
		return permuteSlice(c, perm), nil
	case []time.Time:
		return permuteSlice(c, perm), nil
	case [][]uint32:
		return permuteSlice(c, perm), nil
	}
	return nil, fmt.Errorf("cannot reorder a column of %T", c)
}

func permuteSlice[T any](s []T, perm []int32) []T {
	out := make([]T, len(s))
	for j, i := range perm {
		out[j] = s[i]
	}
	return out
}

// permuteStrings returns s in the order perm. When its strings all have one
// length (openids), it copies their bytes into one buffer in that order,
// reading s in its own order (where Arrow wrote them, one after another)
// and writing each where it belongs, and returns strings that point into
// the buffer: the driver, which copies them into its column in order, then
// reads memory in order too. Read in perm's order instead, nearly every
// string was a cache miss, and gathering them was a fifth of a followers
// insert's CPU (BenchmarkInsertCommit). Other columns keep their order of
// strings and only have their headers moved.
func permuteStrings(s []string, perm []int32) []string {
	if len(s) == 0 || len(s[0]) == 0 {
		return permuteSlice(s, perm)
	}
	width := len(s[0])
	for _, x := range s {
		if len(x) != width {
			return permuteSlice(s, perm)
		}
	}
	rank := make([]int32, len(perm))
	for j, i := range perm {
		rank[i] = int32(j)
	}
	buf := make([]byte, len(s)*width)
	for i, x := range s {
		copy(buf[int(rank[i])*width:], x)
	}
	all := unsafe.String(&buf[0], len(buf)) // buf is not written again
	out := make([]string, len(s))
	for j := range out {
		out[j] = all[j*width : (j+1)*width]
	}
	return out
}
