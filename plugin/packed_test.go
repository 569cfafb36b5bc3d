package plugin

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// A page packs and unpacks to itself: empty openids, long ones (a
// two-byte length), non-UTF-8 bytes and an empty page included.
func TestPackedOpenIDsRoundTrip(t *testing.T) {
	for _, page := range [][]string{
		nil,
		{"oA"},
		{"", "oB", ""},
		{strings.Repeat("x", 300), "o\xff\xfe", "o" + strings.Repeat("7", 27)},
	} {
		got, err := unpackOpenIDs(packOpenIDs(page))
		if err != nil || !slices.Equal(got, page) {
			t.Errorf("unpack(pack(%q)) = %q, %v", page, got, err)
		}
	}
}

// A packed page whose lengths run past its end, or are not uvarints, is
// refused, never read out of bounds.
func TestUnpackOpenIDsRefusesMalformed(t *testing.T) {
	for _, b := range [][]byte{
		{5, 'o', 'A'},
		{2, 'o', 'A', 9},
		{0x80},
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		bytes.Repeat([]byte{0x80}, 11),
	} {
		if got, err := unpackOpenIDs(b); err == nil {
			t.Errorf("unpack(%v) = %q, want an error", b, got)
		}
	}
}

// The host answers positions of the needed openids; the plugin maps them
// back, and refuses positions out of the page or out of order.
func TestNeedPositions(t *testing.T) {
	page := []string{"a", "b", "a", "c", "d"}
	for _, need := range [][]string{nil, {"a", "a"}, {"b", "d"}, {"a", "b", "a", "c", "d"}} {
		pos, err := needPositions(page, need)
		if err != nil {
			t.Fatalf("needPositions(%q): %v", need, err)
		}
		got, err := needAt(page, pos)
		if err != nil || !slices.Equal(got, need) {
			t.Errorf("needAt(needPositions(%q) = %v) = %q, %v", need, pos, got, err)
		}
	}
	for _, need := range [][]string{{"e"}, {"d", "a"}, {"a", "a", "a"}} {
		if pos, err := needPositions(page, need); err == nil {
			t.Errorf("needPositions(%q) = %v, want an error", need, pos)
		}
	}
	for _, pos := range [][]uint32{{5}, {1, 1}, {3, 2}, {0, 99}} {
		if got, err := needAt(page, pos); err == nil {
			t.Errorf("needAt(%v) = %q, want an error", pos, got)
		}
	}
}

// FuzzUnpackOpenIDs: any bytes either unpack to openids that pack back to
// the same bytes, or are refused.
func FuzzUnpackOpenIDs(f *testing.F) {
	f.Add(packOpenIDs([]string{"oA", "", "o\"B\\"}))
	f.Add([]byte{5, 'o'})
	f.Fuzz(func(t *testing.T, b []byte) {
		page, err := unpackOpenIDs(b)
		if err != nil {
			return
		}
		// A uvarint may be written with redundant bytes; its canonical
		// form is never longer.
		if again := packOpenIDs(page); len(again) > len(b) {
			t.Fatalf("%v unpacks to %q, which packs to the longer %v", b, page, again)
		}
		if again, err := unpackOpenIDs(packOpenIDs(page)); err != nil || !slices.Equal(again, page) {
			t.Fatalf("%q does not round-trip: %q, %v", page, again, err)
		}
	})
}
