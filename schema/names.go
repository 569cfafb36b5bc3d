package schema

// The name checks below are written out rather than as regular
// expressions: a bounded repetition such as {0,127} compiles to that many
// copies of its class, and compiling three of them at package init cost
// 10-20 ms of every process start, the source plugin's included (it is
// launched once per account). names_test.go holds them equal to the
// expressions they replace.

// maxIdentLen is the longest identifier Ident accepts.
const maxIdentLen = 128

// maxTemplateLen is the longest ZooKeeper path or replica template, in
// characters.
const maxTemplateLen = 512

func isLetter(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isIdent reports whether s is 1-128 ASCII letters, digits and _, not
// starting with a digit: ^[A-Za-z_][A-Za-z0-9_]{0,127}$.
func isIdent(s string) bool {
	if len(s) == 0 || len(s) > maxIdentLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && c != '_' && (i == 0 || !isDigit(c)) {
			return false
		}
	}
	return true
}

// isClusterName reports whether s is 1-128 ASCII letters, digits, _, . and
// -, starting with a letter, digit or _: ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$.
func isClusterName(s string) bool {
	if len(s) == 0 || len(s) > maxIdentLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !isDigit(c) && c != '_' && (i == 0 || c != '.' && c != '-') {
			return false
		}
	}
	return true
}

// isTemplate reports whether s can go into a quoted literal of DDL (a
// ZooKeeper path or replica name): 1-512 characters, none a quote, a
// backslash or a control character below space: ^[^'\\\x00-\x1f]{1,512}$
// (a byte that is not UTF-8 counts as one character, as in Go's regexp).
func isTemplate(s string) bool {
	n := 0
	for _, r := range s {
		if r == '\'' || r == '\\' || r < 0x20 {
			return false
		}
		n++
	}
	return n >= 1 && n <= maxTemplateLen
}
