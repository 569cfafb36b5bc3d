package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"

	"github.com/wxsync/wxsync/plugin"
)

// TestReferenceUpToDate fails when docs/configuration.md is not what
// `wxsync config-reference` prints for the current Config.
func TestReferenceUpToDate(t *testing.T) {
	want := configReference()
	got, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatalf("%v: run `make docs` to generate it", err)
	}
	if string(got) != want {
		t.Fatalf("docs/configuration.md is out of date with the Config struct in cmd/wxsync/config.go: run `make docs` and commit the result\n%s", firstLineDiff(string(got), want))
	}
}

// firstLineDiff names the first line where got and want differ.
func firstLineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "first difference at line " + strconv.Itoa(i+1) + ":\n  file:      " + gl + "\n  generated: " + wl
		}
	}
	return ""
}

// TestReferenceExamples: every setting has an example value, no example
// names a setting that is gone, and the examples, all set at once, make a
// valid configuration.
func TestReferenceExamples(t *testing.T) {
	names := map[string]bool{}
	for _, s := range settings() {
		names[s.env] = true
		if _, ok := referenceExamples[s.env]; !ok {
			t.Errorf("setting %s has no example: add one to referenceExamples in cmd/wxsync/reference.go", s.env)
		}
		if s.flag == "" || s.help == "" {
			t.Errorf("setting %s lacks a flag or help tag", s.env)
		}
	}
	for env := range referenceExamples {
		if !names[env] {
			t.Errorf("referenceExamples names %s, which is not a setting of Config", env)
		}
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg, _, err := loadConfig(context.Background(), envconfig.MapLookuper(referenceExamples), fs, nil)
	if err != nil {
		t.Fatalf("the examples do not load: %v", err)
	}
	if err := cfg.Validate(true); err != nil {
		t.Fatalf("the examples do not validate: %v", err)
	}
}

// TestReferenceDefaults: the defaults the reference prints are the ones
// go-envconfig applies, and only WECHAT_APPID and WECHAT_SECRET are
// required.
func TestReferenceDefaults(t *testing.T) {
	var byEnv Config
	if err := processEnv(context.Background(), envconfig.MapLookuper(nil), &byEnv); err != nil {
		t.Fatal(err)
	}
	var byTag Config
	defaults := map[string]string{}
	for _, s := range settings() {
		if s.def != "" {
			defaults[s.env] = s.def
		}
		if s.required != (s.env == "WECHAT_APPID" || s.env == "WECHAT_SECRET") {
			t.Errorf("%s: required = %v", s.env, s.required)
		}
	}
	if err := envconfig.ProcessWith(context.Background(), &envconfig.Config{Target: &byTag, Lookuper: envconfig.MapLookuper(defaults)}); err != nil {
		t.Fatal(err)
	}
	if byEnv != byTag {
		t.Errorf("defaults parsed from the tags differ from go-envconfig's:\n tags: %+v\n  env: %+v", byTag, byEnv)
	}
}

// TestReferenceCommand runs `wxsync config-reference`; it is not in the
// usage text.
func TestReferenceCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"config-reference"}, envconfig.MapLookuper(nil), &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if stdout.String() != configReference() {
		t.Error("config-reference printed something other than configReference()")
	}
	if code := run(context.Background(), []string{"config-reference", "extra"}, envconfig.MapLookuper(nil), &stdout, &stderr); code != exitUsage {
		t.Errorf("config-reference extra: exit %d, want %d", code, exitUsage)
	}
	if strings.Contains(usage, "config-reference") {
		t.Error("config-reference is meant to stay out of the usage text")
	}
}

// envName matches a wxsync environment variable in prose.
var envName = regexp.MustCompile(`\b(?:WECHAT|CLICKHOUSE|WXSYNC)_[A-Z0-9_]+\b`)

// TestReferenceDocsNameRealSettings: the README and the docs name no
// WECHAT_/CLICKHOUSE_/WXSYNC_ variable that is not a setting (a renamed
// or removed one), apart from the test and benchmark variables.
func TestReferenceDocsNameRealSettings(t *testing.T) {
	known := map[string]bool{"WXSYNC_BENCH_OUT": true, "WXSYNC_SKIP_CLICKHOUSE": true, "CLICKHOUSE_TEST_DSNS": true, "WXSYNC_BENCH_INCR_SYNC": true, envKillSeed: true, envKillPoints: true,
		"WXSYNC_CHDB_DIR": true, // make test's chDB library, for servers of a test's own
		"WXSYNC_DATAFS":   true, // sink/devserver/datafs.sh: make's servers on a journaled image
		plugin.EnvTLSFD:   true} // set by the host for its plugin, not by users
	for _, s := range settings() {
		known[s.env] = true
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	files = append(files, filepath.Join("..", "..", "README.md"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range envName.FindAllString(string(b), -1) {
			if !known[m] {
				t.Errorf("%s names %s, which is not a wxsync setting (see docs/configuration.md)", filepath.Base(f), m)
			}
		}
	}
}
