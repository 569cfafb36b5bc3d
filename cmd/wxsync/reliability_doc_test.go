package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every test named in the fault matrix of docs/reliability.md exists, as
// `func TestName(` in a _test.go file of the repository, and every row of
// the matrix names at least one: the document cannot go stale.
func TestReliabilityDocNamesRealTests(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "docs", "reliability.md"))
	if err != nil {
		t.Fatal(err)
	}
	names, rows := reliabilityMatrixTests(t, string(doc))
	if rows < 30 {
		t.Fatalf("the fault matrix of docs/reliability.md has %d rows; it lost its table?", rows)
	}

	defined := map[string]bool{}
	funcRE := regexp.MustCompile(`(?m)^func (Test\w+)\(`)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "bin" || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range funcRE.FindAllStringSubmatch(string(b), -1) {
			defined[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if !defined[name] {
			t.Errorf("docs/reliability.md names %s, but no _test.go file defines func %s(", name, name)
		}
	}
}

// reliabilityMatrixTests returns the test names in the last column of the
// fault matrix (the table whose header is "| fault | how injected |
// expected outcome | test |") and its number of rows; it fails the test on
// a row that names none.
func reliabilityMatrixTests(t *testing.T, doc string) (names []string, rows int) {
	t.Helper()
	nameRE := regexp.MustCompile("`(Test\\w+)`")
	in := false
	for i, line := range strings.Split(doc, "\n") {
		line = strings.TrimSpace(line)
		cells := strings.Split(strings.Trim(line, "|"), "|")
		switch {
		case !in:
			if len(cells) == 4 && strings.TrimSpace(cells[0]) == "fault" && strings.TrimSpace(cells[3]) == "test" {
				in = true
			}
			continue
		case !strings.HasPrefix(line, "|"):
			return names, rows
		case strings.HasPrefix(line, "|---"):
			continue
		}
		rows++
		last := cells[len(cells)-1]
		found := nameRE.FindAllStringSubmatch(last, -1)
		if len(cells) != 4 || len(found) == 0 || !onlySeparators(nameRE.ReplaceAllString(last, "")) {
			t.Errorf("docs/reliability.md line %d: want 4 cells, the last naming tests as `TestName`, comma-separated: %s", i+1, line)
		}
		for _, m := range found {
			names = append(names, m[1])
		}
	}
	if !in {
		t.Fatal("docs/reliability.md has no fault matrix (| fault | how injected | expected outcome | test |)")
	}
	return names, rows
}

// onlySeparators reports whether s holds nothing but commas and spaces.
func onlySeparators(s string) bool { return strings.Trim(s, ", ") == "" }
