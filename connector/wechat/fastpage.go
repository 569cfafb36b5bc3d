package wechat

// A follower page is ~330 KB of JSON holding 10,000 openids, and decoding it
// with encoding/json (reflection, a validity pass over the whole body, one
// string allocation per openid) was about 40% of the plugin's CPU in a
// followers sync. The API always sends it in one plain shape:
//
//	{"total":23000,"count":10000,"data":{"openid":["o...","o..."]},"next_openid":"o..."}
//
// decodeFast reads exactly that shape (keys in any order, JSON whitespace
// anywhere, errcode/errmsg too) and nothing else: at the first thing it does
// not expect (an escape in a string, a null, a key it does not know or has
// already seen, a number that is not a plain int, trailing bytes) it gives
// up and the caller decodes the body with encoding/json as before. So every
// answer is decoded as encoding/json decodes it: FuzzPageFastDecode checks
// that whatever decodeFast accepts, encoding/json accepts with the same
// result. The openids are substrings of one copy of the body, not a string
// each: whoever keeps one beyond the page keeps the page's ~330 KB (the
// openids go into Arrow records, which copy them); next_openid and errmsg
// are copies of their own.

import (
	"math/bits"
	"strings"
)

// decodeFast decodes data, which must be valid UTF-8 (decode checks it
// first), into p when it has the shape above, and reports whether it did;
// p is left as it was when it did not.
func (p *pageResponse) decodeFast(data []byte) bool {
	d := pageScanner{s: string(data)}
	var out pageResponse
	if !d.object(func(key string) bool { return d.pageField(key, &out) }) {
		return false
	}
	d.ws()
	if d.i != len(d.s) {
		return false
	}
	*p = out
	return true
}

// pageScanner walks a JSON text held in a string.
type pageScanner struct {
	s    string
	i    int
	seen uint8 // top-level keys already read, one bit each
}

// Bits of pageScanner.seen.
const (
	seenTotal = 1 << iota
	seenCount
	seenData
	seenNext
	seenErrCode
	seenErrMsg
)

// pageField reads the value of a top-level key into out; a key it does
// not know, or has read already, ends the fast path.
func (d *pageScanner) pageField(key string, out *pageResponse) bool {
	switch key {
	case "total":
		n, ok := d.int()
		out.Total = &n
		return d.once(seenTotal) && ok
	case "count":
		var ok bool
		out.Count, ok = d.int()
		return d.once(seenCount) && ok
	case "errcode":
		var ok bool
		out.ErrCode, ok = d.int()
		return d.once(seenErrCode) && ok
	case "next_openid":
		// A copy: the walk keeps every page's next_openid for the run (a
		// cursor seen twice is a loop), and a substring would keep its
		// whole page alive with it.
		v, ok := d.str()
		out.NextOpenID = strings.Clone(v)
		return d.once(seenNext) && ok
	case "errmsg":
		v, ok := d.str()
		out.ErrMsg = strings.Clone(v)
		return d.once(seenErrMsg) && ok
	case "data":
		return d.once(seenData) && d.data(out)
	}
	return false
}

// once marks a top-level key read and reports whether it was the first
// time.
func (d *pageScanner) once(bit uint8) bool {
	first := d.seen&bit == 0
	d.seen |= bit
	return first
}

// data reads {"openid":[...]}.
func (d *pageScanner) data(out *pageResponse) bool {
	out.Data = &struct {
		OpenID []string `json:"openid"`
	}{}
	read := false
	return d.object(func(key string) bool {
		if key != "openid" || read {
			return false
		}
		read = true
		ids, ok := d.stringArray()
		out.Data.OpenID = ids
		return ok
	})
}

// object reads a JSON object, calling field for each key with the scanner
// on its value.
func (d *pageScanner) object(field func(key string) bool) bool {
	if !d.next('{') {
		return false
	}
	if d.next('}') {
		return true
	}
	for {
		key, ok := d.str()
		if !ok || !d.next(':') || !field(key) {
			return false
		}
		if d.next('}') {
			return true
		}
		if !d.next(',') {
			return false
		}
	}
}

// stringArray reads an array of strings; [] gives an empty, non-nil slice,
// as encoding/json does.
func (d *pageScanner) stringArray() ([]string, bool) {
	if !d.next('[') {
		return nil, false
	}
	// One slot per comma, at most: the array's length before reading it.
	ids := make([]string, 0, 1+countCommas(d.s[d.i:]))
	if d.next(']') {
		return ids, true
	}
	for {
		id, ok := d.str()
		if !ok {
			return nil, false
		}
		ids = append(ids, id)
		if d.next(']') {
			return ids, true
		}
		if !d.next(',') {
			return nil, false
		}
	}
}

// countCommas counts the commas up to the first ']' of s (all of s if
// none): an upper bound on the elements of a string array that starts s.
// Both searches are the runtime's vector ones, not a loop over the bytes:
// a page's array is 300 KB.
func countCommas(s string) int {
	if end := strings.IndexByte(s, ']'); end >= 0 {
		s = s[:end]
	}
	return strings.Count(s, ",")
}

// str reads a string with no escape and no control character in it. It
// skips eight plain bytes at a time (plainRun), then looks at the bytes
// one by one from the first that may end the string or make it one to
// leave to encoding/json.
func (d *pageScanner) str() (string, bool) {
	if !d.next('"') {
		return "", false
	}
	start := d.i
	d.i += plainRun(d.s[d.i:])
	for ; d.i < len(d.s); d.i++ {
		switch c := d.s[d.i]; {
		case c == '"':
			d.i++
			return d.s[start : d.i-1], true
		case c == '\\' || c < 0x20:
			return "", false
		}
	}
	return "", false
}

// int reads -?(0|[1-9][0-9]*) of at most 18 digits (no overflow), followed
// by a byte that cannot continue a JSON number.
func (d *pageScanner) int() (int, bool) {
	d.ws()
	neg := d.i < len(d.s) && d.s[d.i] == '-'
	if neg {
		d.i++
	}
	start, n := d.i, 0
	for ; d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9'; d.i++ {
		n = n*10 + int(d.s[d.i]-'0')
	}
	digits := d.i - start
	if digits == 0 || digits > 18 || (digits > 1 && d.s[start] == '0') {
		return 0, false
	}
	if d.i < len(d.s) {
		if c := d.s[d.i]; c == '.' || c == 'e' || c == 'E' {
			return 0, false
		}
	}
	if neg {
		n = -n
	}
	return n, true
}

// next skips whitespace and reads c if it comes next; else it reads
// nothing more.
func (d *pageScanner) next(c byte) bool {
	d.ws()
	if d.i < len(d.s) && d.s[d.i] == c {
		d.i++
		return true
	}
	return false
}

// ws skips JSON whitespace.
func (d *pageScanner) ws() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// plainRun returns the length of a prefix of s in which no byte is '"',
// '\\' or a control byte (below 0x20): up to the first such byte, or, when
// there is none, to the end of the last whole word of eight bytes. Per
// word, the lowest byte flagged by the zero-byte tests below is exactly the
// first such byte (a borrow only flags bytes above a real one, and a byte
// of 0x80 or more is never flagged), so no byte is skipped wrongly.
func plainRun(s string) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		q, bs := x^(ones*'"'), x^(ones*'\\')
		special := ((q-ones)&^q | (bs-ones)&^bs | (x-ones*0x20)&^x) & highs
		if special != 0 {
			return i + bits.TrailingZeros64(special)/8
		}
	}
	return i
}
