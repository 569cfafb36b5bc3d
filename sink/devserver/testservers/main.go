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

// flagRaceEveryServer, among the flags, runs every server's pass under
// -race; without it only the first server's pass does (see doc.go).
const flagRaceEveryServer = "-race-every-server"

// isRace reports whether a go test flag turns the race detector on.
func isRace(f string) bool { return f == "-race" || f == "-race=true" }

const sinktestPkg = "github.com/wxsync/wxsync/sink/sinktest"

// server is one ClickHouse test server.
type server struct {
	dsn, version string
	seen         string // the file of sinktest.EnvSeen
	started      int64  // when the server started, in Unix seconds (now() - uptime())
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

	raceEvery := slices.Contains(flags, flagRaceEveryServer)
	flags = slices.DeleteFunc(flags, func(f string) bool { return f == flagRaceEveryServer })
	groups := []*group{{name: "the packages without ClickHouse", pkgs: plainPkgs, flags: flags}}
	for i, s := range servers {
		g := &group{name: "ClickHouse " + s.version, pkgs: chPkgs, prefix: "[ClickHouse " + s.version + "] ", flags: flags,
			env: []string{sinktest.EnvDSN + "=" + s.dsn, sinktest.EnvSeen + "=" + s.seen}}
		if i > 0 { // the cluster tests use the cluster, not s: once is enough
			g.env = append(g.env, sinktest.EnvClusterPass+"=0")
		}
		if i > 0 && !raceEvery && slices.ContainsFunc(flags, isRace) {
			g.flags = slices.DeleteFunc(slices.Clone(flags), isRace)
			fmt.Fprintf(out, "testservers: ClickHouse %s: without -race (the same Go code runs under it on ClickHouse %s; %s races every server)\n",
				s.version, servers[0].version, flagRaceEveryServer)
		}
		groups = append(groups, g)
	}
	runGroups(ctx, groups, out)

	var failed []string
	for _, g := range groups {
		if g.err != nil {
			failed = append(failed, g.name)
		}
	}
	for _, s := range servers {
		if missing := notSeen(s, chPkgs); len(missing) > 0 {
			fmt.Fprintf(out, "testservers: FAIL: these packages did not run (or were skipped) on ClickHouse %s at %s: %s\n",
				s.version, redact(s.dsn), strings.Join(missing, " "))
			failed = append(failed, "ClickHouse "+s.version+" (skipped)")
		}
		if why := restarted(ctx, s); why != "" {
			fmt.Fprintf(out, "testservers: FAIL: ClickHouse %s at %s %s: the tests that used it then failed, or did not test it\n",
				s.version, redact(s.dsn), why)
			failed = append(failed, "ClickHouse "+s.version+" (restarted)")
		}
	}
	if len(failed) > 0 {
		summarize(groups, out)
		return fmt.Errorf("FAIL: %s", strings.Join(failed, ", "))
	}
	var vs []string
	for _, s := range servers {
		vs = append(vs, s.version)
	}
	fmt.Fprintf(out, "testservers: ok: every ClickHouse package passed on ClickHouse %s\n", strings.Join(vs, " and "))
	return nil
}

// group is one go test run: the packages without ClickHouse, or the
// ClickHouse packages against one server.
type group struct {
	name, prefix     string
	pkgs, env, flags []string // flags: go test's
	err              error    // go test's
	failures         []string // its lines that report a failure
}

// runGroups runs every group to its end, side by side: a failing group
// stops none of the others.
func runGroups(ctx context.Context, groups []*group, out io.Writer) {
	var mu sync.Mutex // out
	var wg sync.WaitGroup
	for _, g := range groups {
		if len(g.pkgs) == 0 {
			continue
		}
		wg.Go(func() {
			g.err = goTest(ctx, g, out, &mu)
		})
	}
	wg.Wait()
}

// summarize repeats, after everything ran, the failure lines of every
// group, so that no failure is lost in the interleaved output.
func summarize(groups []*group, out io.Writer) {
	fmt.Fprintln(out, "testservers: failures:")
	for _, g := range groups {
		if g.err == nil {
			continue
		}
		fmt.Fprintf(out, "  %s: %v\n", g.name, g.err)
		for _, l := range g.failures {
			fmt.Fprintf(out, "    %s\n", l)
		}
	}
}

// isFailure reports whether a line of go test's output reports a failure:
// a failed test, a failed package, a panic or a build error.
func isFailure(line string) bool {
	t := strings.TrimSpace(line)
	return strings.HasPrefix(t, "--- FAIL") || strings.HasPrefix(t, "FAIL\t") || strings.HasPrefix(t, "panic:") ||
		strings.HasPrefix(t, "# ") || strings.Contains(t, "[build failed]") || strings.Contains(t, "[setup failed]")
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
		v, started, err := serverVersion(ctx, d)
		if err != nil {
			return nil, fmt.Errorf("ClickHouse at %s (from %s): %w", redact(d), EnvDSNs, err)
		}
		servers = append(servers, &server{dsn: d, version: v, started: started})
	}
	return servers, nil
}

// serverVersion asks a server its version and when it started.
func serverVersion(ctx context.Context, dsn string) (version string, started int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := sink.Open(ctx, sink.Config{DSN: dsn})
	if err != nil {
		return "", 0, err
	}
	defer s.Close()
	err = s.Conn().QueryRow(ctx, "SELECT version(), toInt64(toUnixTimestamp(now())) - toInt64(uptime())").Scan(&version, &started)
	if err != nil {
		return "", 0, fmt.Errorf("clickhouse server version: %w", err)
	}
	return version, started, nil
}

// restarted says how s is not the server the tests started with (it does
// not answer, or it started again since), or "" when it is.
func restarted(ctx context.Context, s *server) string {
	_, started, err := serverVersion(ctx, s.dsn)
	switch {
	case err != nil:
		return fmt.Sprintf("no longer answers (%v)", err)
	case started-s.started > 1: // now() and uptime() are read apart: a second of slack
		return fmt.Sprintf("restarted during the tests (started at %s, then again at %s)",
			time.Unix(s.started, 0).UTC().Format(time.TimeOnly), time.Unix(started, 0).UTC().Format(time.TimeOnly))
	}
	return ""
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

// goTest runs go test on g's packages with g's environment added, each
// output line prefixed with g.prefix; it keeps the lines that report a
// failure in g.failures.
func goTest(ctx context.Context, g *group, out io.Writer, mu *sync.Mutex) error {
	cmd := exec.CommandContext(ctx, "go", append(append([]string{"test"}, g.flags...), g.pkgs...)...)
	cmd.Env = append(withoutSkip(os.Environ()), g.env...)
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
			fmt.Fprintf(out, "%s%s\n", g.prefix, sc.Text())
			mu.Unlock()
			if isFailure(sc.Text()) {
				g.failures = append(g.failures, sc.Text())
			}
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
