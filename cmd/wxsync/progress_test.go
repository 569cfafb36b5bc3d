package main

// Progress display: bars on a terminal (driven through a pseudo-terminal),
// structured log lines elsewhere.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/wxsync/wxsync/connector/wxsim"
)

// progressLine is a "progress" log line in JSON.
type progressLine struct {
	Msg     string   `json:"msg"`
	Level   string   `json:"level"`
	Stream  string   `json:"stream"`
	Fetched *int64   `json:"fetched"`
	Total   *int64   `json:"total"`
	Rate    *float64 `json:"rate"`
	Done    *bool    `json:"done"`
}

// progressLines returns the JSON progress lines of output.
func progressLines(t *testing.T, output string) []progressLine {
	t.Helper()
	var out []progressLine
	for _, l := range strings.Split(output, "\n") {
		var p progressLine
		if json.Unmarshal([]byte(l), &p) != nil || p.Msg != "progress" {
			continue
		}
		if p.Level != "INFO" || p.Stream == "" || p.Fetched == nil || p.Total == nil || p.Rate == nil || p.Done == nil || *p.Rate < 0 {
			t.Fatalf("progress line without its fields: %s", l)
		}
		out = append(out, p)
	}
	return out
}

// Off a terminal, each stream's progress is logged in the configured
// format: every interval while it runs, and once when it is done.
func TestProgressLogJSON(t *testing.T) {
	opts := wxsim.DefaultOptions()
	opts.Blacklisted = 50
	e := newEnv(t, opts)
	// While the second page is held, the interval must log the first.
	h := e.holdUserGet(2)
	p := e.start([]string{everyStream, "WXSYNC_LOG_FORMAT=json", "WXSYNC_PROGRESS_INTERVAL=10ms"}, "sync")
	h.wait(p)
	p.waitOutput(`"msg":"progress","stream":"followers","fetched":10000,"total":23000,"rate":`)
	h.Release()
	r := p.waitExit(exitOK)

	lines := progressLines(t, r.output)
	final := map[string]progressLine{}
	for _, l := range lines {
		if *l.Done {
			if _, dup := final[l.Stream]; dup {
				t.Fatalf("stream %s logged done twice", l.Stream)
			}
			final[l.Stream] = l
		}
	}
	n := int64(e.sim.Total())
	for stream, want := range map[string][2]int64{
		"followers": {n, n},
		"users":     {n, n},
		"tags":      {int64(len(e.sim.Tags())), int64(len(e.sim.Tags()))},
		"blacklist": {50, 50},
	} {
		l, ok := final[stream]
		if !ok {
			t.Fatalf("no final progress line for %s in:\n%s", stream, r.output)
		}
		if *l.Fetched != want[0] || *l.Total != want[1] {
			t.Fatalf("final %s progress %d of %d, want %d of %d", stream, *l.Fetched, *l.Total, want[0], want[1])
		}
	}
	if !strings.Contains(r.output, "\nwxsync sync: ok, exit 0, in ") {
		t.Fatalf("no summary after the JSON log:\n%s", r.output)
	}
}

// The default interval is long: a short run logs each stream once, done.
func TestProgressLogText(t *testing.T) {
	e := newEnv(t, smallPages())
	r := e.sync(exitOK)
	re := regexp.MustCompile(`(?m)^time=\S+ level=INFO msg=progress stream=followers fetched=5500 total=5500 rate=[0-9.e+]+ done=true$`)
	if got := re.FindAllString(r.output, -1); len(got) != 1 {
		t.Fatalf("%d final followers progress lines, want 1:\n%s", len(got), r.output)
	}
}

// ansi matches the terminal control sequences mpb writes.
var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// On a terminal every stream has a live bar, and on a successful run each
// ends complete; the log lines and the summary print around the bars.
func TestProgressTerminal(t *testing.T) {
	opts := wxsim.DefaultOptions()
	opts.Blacklisted = 50
	e := newEnv(t, opts)
	var unused bytes.Buffer
	cmd := e.command(&unused, []string{everyStream, "TERM=xterm"}, "sync")
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 140}); err != nil {
		t.Fatal(err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close() // the child holds it now: EOF (EIO) once it exits
	read := make(chan []byte)
	go func() {
		var out bytes.Buffer
		buf := make([]byte, 32<<10)
		for {
			n, err := ptmx.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				break
			}
		}
		read <- out.Bytes()
	}()
	var raw []byte
	select {
	case raw = <-read:
	case <-time.After(procTimeout):
		_ = cmd.Process.Kill()
		t.Fatalf("wxsync did not finish within %v", procTimeout)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	screen := string(raw)
	if code := cmd.ProcessState.ExitCode(); code != exitOK {
		t.Fatalf("wxsync exited %d; terminal:\n%s", code, screen)
	}
	// The last frame each bar drew, control sequences removed.
	last := map[string]string{}
	for _, l := range regexp.MustCompile(`[\r\n]+`).Split(ansi.ReplaceAllString(screen, ""), -1) {
		if f := strings.Fields(l); len(f) > 0 {
			switch f[0] {
			case "followers", "users", "tags", "blacklist":
				if strings.Contains(l, "/s") {
					last[f[0]] = l
				}
			}
		}
	}
	n := e.sim.Total()
	tags := len(e.sim.Tags())
	for stream, counts := range map[string]string{
		"followers": fmt.Sprintf("%d/%d", n, n),
		"users":     fmt.Sprintf("%d/%d", n, n),
		"tags":      fmt.Sprintf("%d/%d", tags, tags),
		"blacklist": "50/50",
	} {
		l := last[stream]
		if !strings.Contains(l, " "+counts+" 100% ") || !strings.HasSuffix(strings.TrimSpace(l), " done") {
			t.Fatalf("the %s bar ends %q, want %s at 100%% and done; terminal:\n%q", stream, l, counts, screen)
		}
	}
	for _, s := range []string{"snapshot complete", "wxsync sync: ok, exit 0, in "} {
		if !strings.Contains(screen, s) {
			t.Fatalf("the terminal does not show %q:\n%s", s, screen)
		}
	}
}
