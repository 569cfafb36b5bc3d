package source

import (
	"hash/maphash"
	"math/bits"
)

// pageSet finds the openids a page repeats. It is an open-addressing hash
// table of positions in the page, cleared and reused from page to page, so
// that checking a page of 10,000 openids allocates nothing and costs a hash
// and a probe or two per openid (a map built per page cost about a tenth
// of the plugin's CPU in a large walk).
type pageSet struct {
	seed  maphash.Seed
	slots []int32 // 1 + the position of an openid in the page; 0 is empty
}

// uniq returns ids with repeats removed, in first-seen order: ids itself
// when there are none (the usual case), else a new slice. ids is never
// changed.
func (s *pageSet) uniq(ids []string) []string {
	if len(ids) < 2 {
		return ids
	}
	if s.slots == nil {
		s.seed = maphash.MakeSeed()
	}
	size := 1 << bits.Len(uint(2*len(ids)-1)) // at most half full
	if cap(s.slots) < size {
		s.slots = make([]int32, size)
	} else {
		s.slots = s.slots[:size]
		clear(s.slots)
	}
	mask := uint64(size - 1)
	var out []string // nil until the first repeat
	for i, id := range ids {
		for j := maphash.String(s.seed, id) & mask; ; j = (j + 1) & mask {
			k := s.slots[j]
			if k == 0 {
				s.slots[j] = int32(i + 1)
				if out != nil {
					out = append(out, id)
				}
				break
			}
			if ids[k-1] == id {
				if out == nil {
					out = append(make([]string, 0, len(ids)-1), ids[:i]...)
				}
				break
			}
		}
	}
	if out == nil {
		return ids
	}
	return out
}
