package main

// Bad input end to end. The client-level tests (connector/wechat) show that
// a bad answer is rejected; these show what the whole sync does about it:
// the exit code, that nothing bad is written, that the cursor stays at the
// last good page, and that the error names the page. And bad configuration:
// refused before the run starts, nothing written.

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/wxsync/wxsync/connector/wxsim"
)

// validOpenID is what an openid may be (wechat.ValidateOpenID), as a
// ClickHouse regular expression.
const validOpenID = `^[A-Za-z0-9_-]{1,64}$`

// Each fault hits user/get call 3 (page 3 of smallPages, after next_openid
// ids[1999]).
func TestSyncBadAPIInput(t *testing.T) {
	const call = 3
	for _, c := range []struct {
		kind  wxsim.FaultKind
		times int      // faulted calls from call 3 on (default 1)
		env   []string // for the faulted run
		want  int
		// says matches the run's last "wxsync: " line, after the page it
		// names; for exit 0, a line of the output, which also holds each
		// of fields (the plugin's fields come in any order).
		says   string
		fields []string
		// tries is how many times page 3 is asked for by the faulted run.
		tries int
		// rerun: the fault is spent, so a rerun resumes after page 2 and
		// completes.
		rerun bool
	}{
		{kind: wxsim.FaultBadOpenID, want: exitFailure, tries: 1, rerun: true,
			says: `invalid response: openid #500 of 1000 contains byte 0x2b at offset 27 \(allowed: A-Z a-z 0-9 _ -\); the page is rejected$`},
		{kind: wxsim.FaultEmptyOpenID, want: exitFailure, tries: 1, rerun: true,
			says: `invalid response: openid #500 of 1000 is empty; the page is rejected$`},
		// 65 MB through loopback: on a loaded machine that outlasts the
		// harness's 5 s, and the clock, not the size cap, would end it.
		{kind: wxsim.FaultHugeBody, want: exitFailure, tries: 1, rerun: true, env: []string{"WECHAT_HTTP_TIMEOUT=2m"},
			says: `invalid response: body larger than MaxBodyBytes \(67108864 bytes\)$`},
		{kind: wxsim.FaultBadUTF8, want: exitFailure, tries: 1, rerun: true,
			says: `invalid response: body is not valid UTF-8 \(content type "application/json; encoding=utf-8", \d+ bytes\)$`},
		// Not JSON is taken for a body cut short, and retried: once, the
		// run completes; as long as the attempts last, it stops with 75.
		{kind: wxsim.FaultNotJSON, want: exitOK, tries: 2,
			says: `plugin\S*: wechat request: .*invalid response: body is not JSON \(content type \\"text/plain\\", 5 bytes\).*`, fields: []string{"attempt=1"}},
		{kind: wxsim.FaultNotJSON, times: 2, env: []string{"WECHAT_MAX_ATTEMPTS=2"}, want: exitTempFail, tries: 2, rerun: true,
			says: `giving up after 2 attempt\(s\) in \S+; last error: wechat: /cgi-bin/user/get \(page next_openid="[A-Za-z0-9_-]+"\): invalid response: body is not JSON \(content type "text/plain", 5 bytes\): invalid character 'h' looking for beginning of value$`},
		// The list wins over its count: a warning, and the page is kept.
		{kind: wxsim.FaultCountMismatch, want: exitOK, tries: 1,
			says: `\[WARN\] +plugin\S*: wechat page count differs from its openid list; using the list: .*`, fields: []string{"path=/cgi-bin/user/get", "count=1001", "openids=1000"}},
		// An API that answers the cursor it was given, on and on: the walk
		// stops at the first repeat, after one call, not in a loop; a
		// temporary error (exit 75), the cursor after page 2.
		{kind: wxsim.FaultRepeatNext, times: 1000, want: exitTempFail, tries: 1,
			says: `again after 3 pages in this run: refusing to loop \(the list is inconsistent; retry later\)$`},
	} {
		name := c.kind.String()
		if c.times > 1 {
			name += fmt.Sprintf("x%d", c.times)
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts := smallPages()
			opts.Faults = []wxsim.Fault{{Path: wxsim.PathUserGet, Call: call, Times: c.times, Kind: c.kind}}
			e := newEnv(t, opts)
			ids := e.sim.FollowerOpenIDs()
			clean := walkCursors(ids, 0, opts.PageSize, opts.EndStyle)
			r := e.sync(c.want, append(slices.Clone(debug), c.env...)...)
			if n := e.count("SELECT count() AS x FROM {db}.wechat_followers WHERE NOT match(openid, ?)", validOpenID); n != 0 {
				t.Fatalf("wechat_followers holds %d invalid openids", n)
			}
			if c.want == exitOK {
				line := regexp.MustCompile(`(?m)` + c.says + `$`).FindString(r.output)
				if line == "" {
					t.Errorf("the output does not match %q:\n%s", c.says, r.output)
				}
				for _, f := range append(c.fields, fmt.Sprintf("next_openid=%s", clean[call-1])) {
					if c.kind == wxsim.FaultNotJSON && strings.HasPrefix(f, "next_openid") {
						f = fmt.Sprintf(`next_openid=\"%s\"`, clean[call-1]) // inside the quoted error
					}
					if !strings.Contains(line, f) {
						t.Errorf("%q lacks %q", line, f)
					}
				}
				want := slices.Concat(clean[:call], slices.Repeat(clean[call-1:call], c.tries-1), clean[call:])
				e.wantUserGets(want)
				e.wantOneSnapshot(0)
				return
			}

			// The faulted page was asked for c.tries times, and no page after it.
			e.wantUserGets(slices.Concat(clean[:call-1], slices.Repeat(clean[call-1:call], c.tries)))
			snapshot, next := e.wantResumable(ids, call-1)
			lines := regexp.MustCompile(`(?m)^wxsync: .*$`).FindAllString(r.output, -1)
			if len(lines) == 0 {
				t.Fatalf("no error line; output:\n%s", r.output)
			}
			last := lines[len(lines)-1]
			if page := fmt.Sprintf("next_openid %q", next); !strings.Contains(last, page) {
				t.Errorf("the error line does not name the page (%s): %s", page, last)
			}
			if !regexp.MustCompile(c.says).MatchString(last) {
				t.Errorf("the error line does not match %q: %s", c.says, last)
			}
			if got := e.runRecords(); !slices.Equal(got, []string{fmt.Sprintf("%s %d", runStatus(c.want), c.want)}) {
				t.Errorf("wxsync_runs holds %q, want one %s run", got, runStatus(c.want))
			}
			if !c.rerun {
				return
			}
			e.sim.ResetCalls()
			e.sync(exitOK)
			e.wantUserGets(clean[call-1:])
			e.wantOneSnapshot(snapshot)
		})
	}
}

// A configuration that fails validation is refused before the run starts:
// exit 78, one line naming the setting, no API call, nothing written to
// ClickHouse (no table, no run record). From the environment or a flag.
// (An unknown flag, exit 2, writes nothing either: TestSyncExitCodes.)
func TestSyncBadConfigWritesNothing(t *testing.T) {
	const line = "wxsync: configuration error: WXSYNC_USERS_CONCURRENCY 1000: want 1 to 64\n"
	e := newEnv(t, smallPages())
	for _, c := range []struct {
		env  []string
		args []string
	}{
		{env: []string{"WXSYNC_USERS_CONCURRENCY=1000"}, args: []string{"sync"}},
		{args: []string{"sync", "--users-concurrency", "1000"}},
	} {
		r := e.run(append([]string{streamsAccount}, c.env...), c.args...)
		if r.code != exitConfigErr || r.output != line {
			t.Errorf("%v %v: exited %d with output %q, want %d and the one line %q", c.env, c.args, r.code, r.output, exitConfigErr, line)
		}
	}
	if tables := e.tables(); len(tables) != 0 {
		t.Fatalf("runs refused for their configuration created %q, want nothing written", tables)
	}
	if calls := e.sim.Calls(); len(calls) != 0 {
		t.Fatalf("runs refused for their configuration called the API: %v", calls)
	}
}
