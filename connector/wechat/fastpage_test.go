package wechat

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"
)

// fastPageSeeds are bodies decodeFast must take (the first ones) or leave
// to encoding/json (from the escape on).
var fastPageSeeds = []string{
	`{"total":2,"count":2,"data":{"openid":["oA-1","oB_2"]},"next_openid":"oB_2"}`,
	` { "next_openid" : "" , "data" : { "openid" : [ ] } , "count" : 0 , "total" : 0 } `,
	`{"total":23000,"count":0}`,
	`{"errcode":45009,"errmsg":"reach max api daily quota limit rid: 6000-1"}`,
	`{"total":-1,"count":-0,"data":{},"next_openid":"o"}`,
	"{\n\t\"total\":1,\r\n\"count\":1,\"data\":{\"openid\":[\"oé\"]}}",
	`{}`,
	`{"total":1,"count":1,"data":{"openid":["o\u0041"]}}`,
	`{"total":null,"count":1}`,
	`{"total":1,"total":2}`,
	`{"Total":1}`,
	`{"total":1.5}`,
	`{"total":1e3}`,
	`{"total":01}`,
	`{"total":1234567890123456789}`,
	`{"count":"5"}`,
	`{"data":null}`,
	`{"data":{"openid":["a"],"openid":["b"]}}`,
	`{"data":{"openid":["a",]}}`,
	`{"data":{"openid":["a" "b"]}}`,
	`{"next_openid":"a"}x`,
	`{"next_openid":"a",}`,
	`{"next_openid":"tab	in"}`,
	`{"total":1`,
	`[]`,
	``,
}

// TestPageFastDecodeShapes: the API's shapes are decoded without
// encoding/json, into what it would give; the rest is left to it.
func TestPageFastDecodeShapes(t *testing.T) {
	for i, body := range fastPageSeeds {
		var p pageResponse
		ok := p.decodeFast([]byte(body))
		if want := i < 7; ok != want {
			t.Errorf("decodeFast(%q) = %v, want %v", body, ok, want)
		}
		checkFastPage(t, []byte(body))
	}
	var p pageResponse
	if !p.decodeFast([]byte(fastPageSeeds[0])) || p.Total == nil || *p.Total != 2 || p.Count != 2 || p.NextOpenID != "oB_2" ||
		p.Data == nil || !reflect.DeepEqual(p.Data.OpenID, []string{"oA-1", "oB_2"}) {
		t.Fatalf("decoded %+v", p)
	}
	before := p
	if p.decodeFast([]byte(`{"total":7,"count":1,"data":{"openid":["\u0041"]}}`)) || !reflect.DeepEqual(p, before) {
		t.Fatalf("a body it gave up on changed the page: %+v", p)
	}
}

// checkFastPage fails when decodeFast accepts body and encoding/json does
// not, or decodes it otherwise.
func checkFastPage(t *testing.T, body []byte) {
	t.Helper()
	if !utf8.Valid(body) {
		return // decode rejects the body before either decoder sees it
	}
	var fast, std pageResponse
	if !fast.decodeFast(body) {
		return
	}
	if err := json.Unmarshal(body, &std); err != nil {
		t.Fatalf("decodeFast took %q, encoding/json rejects it: %v", body, err)
	}
	if !reflect.DeepEqual(fast, std) {
		t.Fatalf("decodeFast(%q) = %+v, encoding/json %+v", body, fast, std)
	}
}

// FuzzPageFastDecode: whatever decodeFast takes, encoding/json takes with
// the same result, so a page decodes the same either way.
func FuzzPageFastDecode(f *testing.F) {
	for _, s := range append(fastPageSeeds, pageSeeds()...) {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"total":3,"count":3,"data":{"openid":["` + strings.Repeat("o", 28) + `","b","c"]},"next_openid":"c","errcode":0,"errmsg":"ok"}`))
	f.Fuzz(func(t *testing.T, body []byte) { checkFastPage(t, body) })
}

// TestPageFastDecodeCursorIsACopy: next_openid does not point into the
// body, whose openids it would keep alive: the walk keeps every page's
// next_openid for the run (measured before this: 520 MiB of plugin at 10M
// followers).
func TestPageFastDecodeCursorIsACopy(t *testing.T) {
	body := []byte(`{"total":1,"count":1,"data":{"openid":["oSame_1"]},"next_openid":"oSame_1"}`)
	var p pageResponse
	if !p.decodeFast(body) || p.Data == nil || len(p.Data.OpenID) != 1 || p.NextOpenID != "oSame_1" {
		t.Fatalf("decoded %+v", p)
	}
	id := uintptr(unsafe.Pointer(unsafe.StringData(p.Data.OpenID[0])))
	next := uintptr(unsafe.Pointer(unsafe.StringData(p.NextOpenID)))
	if next+uintptr(len(body)) > id && next < id+uintptr(len(body)) {
		t.Fatalf("next_openid at %#x lies within the body's copy around the openid at %#x", next, id)
	}
}

// plainRun stops at the first '"', '\\' or control byte wherever it is in
// its word, never before, whatever the bytes around it (UTF-8 bytes of
// 0x80 and more, bytes just above the special ones, runs shorter than a
// word).
func TestPlainRun(t *testing.T) {
	naive := func(s string) int {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c == '"' || c == '\\' || c < 0x20 {
				return i
			}
		}
		return len(s)
	}
	fillers := []byte{'a', 'Z', '0', '_', '-', ' ', 0x21, 0x23, 0x5d, 0x7f, 0x80, 0xa2, 0xdc, 0xe9, 0xff}
	specials := []byte{'"', '\\', 0x00, 0x01, 0x1f, '\n', '\t'}
	for n := 0; n <= 20; n++ {
		for _, f := range fillers {
			plain := strings.Repeat(string([]byte{f}), n)
			if got, want := plainRun(plain), n/8*8; got != want {
				t.Fatalf("plainRun(%d × %#x) = %d, want %d", n, f, got, want)
			}
			for at := 0; at < n; at++ {
				for _, sp := range specials {
					b := []byte(plain)
					b[at] = sp
					if at+1 < n {
						b[at+1] = sp - 1 // a borrow's neighbour
					}
					first := naive(string(b))
					if got, want := plainRun(string(b)), min(first, len(b)/8*8); got != want {
						t.Fatalf("plainRun(%q) = %d, want %d (first special byte at %d)", b, got, want, first)
					}
				}
			}
		}
	}
}
