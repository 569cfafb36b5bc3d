package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

// EnvDSNs lists the servers the tests run against.
const EnvDSNs = "CLICKHOUSE_TEST_DSNS"

const sinktestPkg = "github.com/wxsync/wxsync/sink/sinktest"

// server is one ClickHouse test server.
type server struct {
	dsn, version string
	seen         string // the file of sinktest.EnvSeen
}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "testservers:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	flags, patterns := splitArgs(args)
	servers, err := probeServers(ctx, os.Getenv(EnvDSNs))
	if err != nil {
		return err
	}
	chPkgs, plainPkgs, err := listPackages(ctx, patterns)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "wxsync-seen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for i, s := range servers {
		s.seen = filepath.Join(tmp, fmt.Sprintf("server-%d", i))
		fmt.Fprintf(out, "testservers: ClickHouse %s at %s: %d packages\n", s.version, redact(s.dsn), len(chPkgs))
	}
	fmt.Fprintf(out, "testservers: %d packages without ClickHouse, once\n", len(plainPkgs))

	var failed []string
	var mu sync.Mutex // out
	var wg sync.WaitGroup
	fail := func(what string) { mu.Lock(); failed = append(failed, what); mu.Unlock() }
	if len(plainPkgs) > 0 {
		wg.Go(func() {
			if err := goTest(ctx, flags, plainPkgs, nil, "", out, &mu); err != nil {
				fail("the packages without ClickHouse")
			}
		})
	}
	for i, s := range servers {
		wg.Go(func() {
			env := []string{sinktest.EnvDSN + "=" + s.dsn, sinktest.EnvSeen + "=" + s.seen}
			if i > 0 { // the cluster tests use the cluster, not s: once is enough
				env = append(env, sinktest.EnvClusterPass+"=0")
			}
			if err := goTest(ctx, flags, chPkgs, env, "[ClickHouse "+s.version+"] ", out, &mu); err != nil {
				fail("ClickHouse " + s.version)
			}
		})
	}
	wg.Wait()
	for _, s := range servers {
		if missing := notSeen(s, chPkgs); len(missing) > 0 {
			fmt.Fprintf(out, "testservers: FAIL: these packages did not run (or were skipped) on ClickHouse %s at %s: %s\n",
				s.version, redact(s.dsn), strings.Join(missing, " "))
			failed = append(failed, "ClickHouse "+s.version+" (skipped)")
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("FAIL: %s", strings.Join(failed, ", "))
	}
	var vs []string
	for _, s := range servers {
		vs = append(vs, s.version)
	}
	fmt.Fprintf(out, "testservers: ok: every ClickHouse package passed on ClickHouse %s\n", strings.Join(vs, " and "))
	return nil
}

// splitArgs separates go test flags (starting with -, values joined with
// =) from package patterns.
func splitArgs(args []string) (flags, patterns []string) {
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			flags = append(flags, a)
		} else {
			patterns = append(patterns, a)
		}
	}
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	return append(flags, "-count=1"), patterns // cached results would record nothing
}

// probeServers parses the list of DSNs and asks each server its version.
func probeServers(ctx context.Context, list string) ([]*server, error) {
	dsns := strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' })
	if len(dsns) == 0 {
		return nil, fmt.Errorf("%s is empty: name at least one ClickHouse server", EnvDSNs)
	}
	var servers []*server
	for i, d := range dsns {
		if slices.Contains(dsns[:i], d) {
			return nil, fmt.Errorf("%s names %s twice", EnvDSNs, redact(d))
		}
		v, err := serverVersion(ctx, d)
		if err != nil {
			return nil, fmt.Errorf("ClickHouse at %s (from %s): %w", redact(d), EnvDSNs, err)
		}
		servers = append(servers, &server{dsn: d, version: v})
	}
	return servers, nil
}

func serverVersion(ctx context.Context, dsn string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := sink.Open(ctx, sink.Config{DSN: dsn})
	if err != nil {
		return "", err
	}
	defer s.Close()
	return s.ServerVersion(ctx)
}

// listPackages splits the packages of patterns into those whose tests
// import sinktest and the others.
func listPackages(ctx context.Context, patterns []string) (ch, plain []string, err error) {
	args := append([]string{"list", "-f", "{{.ImportPath}} {{join .TestImports \" \"}} {{join .XTestImports \" \"}}"}, patterns...)
	b, err := exec.CommandContext(ctx, "go", args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, nil, fmt.Errorf("go list: %w\n%s", err, ee.Stderr)
		}
		return nil, nil, fmt.Errorf("go list: %w", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if slices.Contains(f[1:], sinktestPkg) {
			ch = append(ch, f[0])
		} else {
			plain = append(plain, f[0])
		}
	}
	return ch, plain, nil
}

// goTest runs go test on pkgs with env added, each output line prefixed.
func goTest(ctx context.Context, flags, pkgs, env []string, prefix string, out io.Writer, mu *sync.Mutex) error {
	cmd := exec.CommandContext(ctx, "go", append(append([]string{"test"}, flags...), pkgs...)...)
	cmd.Env = append(withoutSkip(os.Environ()), env...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
		for sc.Scan() {
			mu.Lock()
			fmt.Fprintf(out, "%s%s\n", prefix, sc.Text())
			mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, pr) // a line too long: keep the test from blocking
	}()
	err := cmd.Wait()
	pw.Close()
	<-done
	return err
}

// withoutSkip drops WXSYNC_SKIP_CLICKHOUSE: here every server must be tested.
func withoutSkip(environ []string) []string {
	return slices.DeleteFunc(slices.Clone(environ), func(kv string) bool {
		return strings.HasPrefix(kv, sinktest.EnvSkip+"=") || strings.HasPrefix(kv, sinktest.EnvDSN+"=")
	})
}

// notSeen returns the packages of pkgs that recorded no run against s.
func notSeen(s *server, pkgs []string) []string {
	b, _ := os.ReadFile(s.seen) // no file: nothing ran
	seen := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[1] == s.version {
			seen[f[0]] = true
		}
	}
	var missing []string
	for _, p := range pkgs {
		if !seen[p] {
			missing = append(missing, p)
		}
	}
	return missing
}

// redact hides the password of a DSN.
func redact(dsn string) string {
	return sinktest.RedactDSN(dsn)
}
