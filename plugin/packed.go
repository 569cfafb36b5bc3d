package plugin

// The packed form of a NeedProfiles call: a page's openids in one bytes
// field, the answer as their positions.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"
)

// packOpenIDs returns openids as NeedProfilesRequest.openids carries them:
// each one's length in bytes (a uvarint), then its bytes.
func packOpenIDs(openids []string) []byte {
	n := 0
	for _, id := range openids {
		n += uvarintLen(len(id)) + len(id)
	}
	b := make([]byte, 0, n)
	for _, id := range openids {
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
	}
	return b
}

// unpackOpenIDs reads a packed page. The strings share b's memory, which
// must not change while they are used.
func unpackOpenIDs(b []byte) ([]string, error) {
	out := make([]string, 0, countPacked(b))
	for len(b) > 0 {
		id, rest, ok := nextPacked(b)
		if !ok {
			return nil, fmt.Errorf("packed openids: malformed length at openid %d", len(out))
		}
		if len(id) == 0 {
			out = append(out, "")
		} else {
			out = append(out, unsafe.String(&id[0], len(id)))
		}
		b = rest
	}
	return out, nil
}

// nextPacked splits b, a packed page, after its first openid; ok is false
// when its length is malformed or runs past b's end.
func nextPacked(b []byte) (id, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, false
	}
	return b[k : k+int(n)], b[k+int(n):], true
}

// uvarintLen is how many bytes binary.AppendUvarint writes for n.
func uvarintLen(n int) int {
	k := 1
	for ; n >= 0x80; n >>= 7 {
		k++
	}
	return k
}

// countPacked counts the openids of a packed page, to size the slice that
// unpacks it (it stops at the first malformed length, which unpacking
// then reports).
func countPacked(b []byte) int {
	n := 0
	for len(b) > 0 {
		_, rest, ok := nextPacked(b)
		if !ok {
			break
		}
		b = rest
		n++
	}
	return n
}

// needPositions returns the positions in page of need, a subsequence of
// page in page order (what Host.NeedProfiles returns).
func needPositions(page, need []string) ([]uint32, error) {
	pos := make([]uint32, 0, len(need))
	j := 0
	for i := 0; i < len(page) && j < len(need); i++ {
		if page[i] == need[j] {
			pos = append(pos, uint32(i))
			j++
		}
	}
	if j < len(need) {
		return nil, errors.New("the profile filter answered openids that are not the page's, or out of its order")
	}
	return pos, nil
}

// needAt returns the openids of page at positions pos, which must be
// ascending and inside the page.
func needAt(page []string, pos []uint32) ([]string, error) {
	need := make([]string, 0, len(pos))
	for k, p := range pos {
		if int(p) >= len(page) || (k > 0 && p <= pos[k-1]) {
			return nil, fmt.Errorf("the host answered position %d of a page of %d openids (after %d positions)", p, len(page), k)
		}
		need = append(need, page[p])
	}
	return need, nil
}
