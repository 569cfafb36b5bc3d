package wxsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestErrcodeFaults(t *testing.T) {
	cases := []struct {
		kind FaultKind
		code int
		msg  string
	}{
		{FaultBusy, -1, "system error"},
		{FaultTooFrequent, 45011, "api minute-quota reach limit"},
		{FaultQuota, 45009, "reach max api daily quota limit"},
		{FaultExpired, 42001, "access_token expired"},
		{FaultInvalidToken, 40001, "invalid credential"},
		{FaultUnauthorized, 48001, "api unauthorized"},
		{FaultNotAuthorised, 50001, "user unauthorized"},
		{FaultIPWhitelist, 40164, "invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist"},
	}
	for _, c := range cases {
		t.Run(c.kind.String(), func(t *testing.T) {
			h := start(t, func(o *Options) {
				o.Faults = []Fault{{Path: PathUserGet, Call: 1, Kind: c.kind}, {Path: PathToken, Call: 2, Kind: c.kind}}
			})
			tok := h.token()
			msg := h.wantErr(h.get(PathUserGet, url.Values{"access_token": {tok}}), c.code)
			if !strings.HasPrefix(msg, c.msg) {
				t.Fatalf("errmsg %q, want prefix %q", msg, c.msg)
			}
			h.wantErr(h.get(PathToken, h.creds()), c.code)
			if a := h.userGet(tok, ""); a.Count != MaxPageSize {
				t.Fatalf("call after the fault: count %d", a.Count)
			}
			log := h.srv.CallLog()
			if len(log) != 4 || log[1].Fault != c.kind || log[1].ErrCode != c.code || log[3].Fault != 0 {
				t.Fatalf("call log %+v", log)
			}
		})
	}
}

func TestTransportFaults(t *testing.T) {
	h := start(t, func(o *Options) {
		o.Faults = []Fault{
			{Path: PathUserGet, Call: 1, Kind: FaultBadGateway},
			{Path: PathUserGet, Call: 2, Kind: FaultNotJSON},
			{Path: PathUserGet, Call: 3, Kind: FaultTruncated},
			{Path: PathUserGet, Call: 5, Kind: FaultBadUTF8},
			{Path: PathBatchGet, Call: 1, Kind: FaultBadUTF8},
		}
	})
	tok := h.token()
	q := url.Values{"access_token": {tok}}
	r := h.get(PathUserGet, q)
	if r.status != http.StatusBadGateway || r.ctype != "text/html" || !bytes.Contains(r.body, []byte("502 Bad Gateway")) {
		t.Fatalf("bad gateway: %d %q %s", r.status, r.ctype, r.body)
	}
	r = h.get(PathUserGet, q)
	if r.status != http.StatusOK || r.ctype != "text/plain" || string(r.body) != "hello" {
		t.Fatalf("not json: %d %q %s", r.status, r.ctype, r.body)
	}
	cut := h.get(PathUserGet, q)
	full := h.get(PathUserGet, q)
	if cut.status != http.StatusOK || len(cut.body) != len(full.body)/2 || !bytes.HasPrefix(full.body, cut.body) || json.Valid(cut.body) {
		t.Fatalf("truncated: %d bytes of %d", len(cut.body), len(full.body))
	}
	r = h.get(PathUserGet, q)
	if utf8.Valid(r.body) || !bytes.Contains(r.body, []byte{0xff}) {
		t.Fatal("bad-utf8: body is valid UTF-8")
	}
	var a listAnswer
	if err := json.Unmarshal(r.body, &a); err != nil {
		t.Fatalf("bad-utf8 body must still parse as JSON: %v", err)
	}
	// encoding/json turns the invalid byte into U+FFFD.
	if a.openids()[0] == full.body2list(t)[0] || !strings.ContainsRune(a.openids()[0], utf8.RuneError) {
		t.Fatalf("bad-utf8: first openid %q not corrupted", a.openids()[0])
	}
	r = h.post(PathBatchGet, tok, batchOf(h.srv.OpenID(1)))
	if utf8.Valid(r.body) {
		t.Fatal("bad-utf8 on batchget: body is valid UTF-8")
	}
}

func (r response) body2list(t *testing.T) []string {
	var a listAnswer
	if err := json.Unmarshal(r.body, &a); err != nil {
		t.Fatal(err)
	}
	return a.openids()
}

func TestResetFault(t *testing.T) {
	h := start(t, func(o *Options) { o.Faults = []Fault{{Path: PathUserGet, Call: 1, Kind: FaultReset}} })
	tok := h.token()
	// A fresh transport: the request is not on a reused connection, so Go's
	// transport does not retry it on its own.
	c := &http.Client{Transport: &http.Transport{}}
	resp, err := c.Get(h.hs.URL + PathUserGet + "?access_token=" + tok)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("reset: got HTTP %d, want a transport error", resp.StatusCode)
	}
	if a := h.userGet(tok, ""); a.Count != MaxPageSize {
		t.Fatal("call after the reset failed")
	}
	if log := h.srv.CallLog(); log[1].Fault != FaultReset || log[1].Status != 0 {
		t.Fatalf("call log %+v", log[1])
	}
}

func TestSlowFaultStopsWhenClientLeaves(t *testing.T) {
	h := start(t, func(o *Options) {
		o.Faults = []Fault{{Path: PathUserGet, Call: 1, Kind: FaultSlow, Delay: time.Hour}}
	})
	tok := h.token()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.hs.URL+PathUserGet+"?access_token="+tok, nil)
	resp, err := h.hs.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("slow call answered")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow call: %v, want deadline exceeded", err)
	}
	if a := h.userGet(tok, ""); a.Count != MaxPageSize {
		t.Fatal("call after the slow one failed")
	}
	h.hs.Close() // returns only once the slow handler noticed the client left
	log := h.srv.CallLog()
	i := slices.IndexFunc(log, func(c Call) bool { return c.Fault == FaultSlow })
	if len(log) != 3 || i < 0 || log[i].Status != 0 {
		t.Fatalf("call log %+v", log)
	}
}

func TestSlowFaultThenNormalAnswer(t *testing.T) {
	h := start(t, func(o *Options) {
		o.Faults = []Fault{{Path: PathUserGet, Call: 1, Kind: FaultSlow, Delay: time.Millisecond}}
	})
	if a := h.userGet(h.token(), ""); a.Count != MaxPageSize {
		t.Fatal("slow call did not answer normally")
	}
}

// headTail keeps the first and last bytes of a stream and counts the rest.
type headTail struct {
	head, tail []byte
	n          int
}

func (w *headTail) Write(b []byte) (int, error) {
	w.n += len(b)
	if room := 1<<20 - len(w.head); room > 0 {
		w.head = append(w.head, b[:min(room, len(b))]...)
	}
	w.tail = append(w.tail, b...)
	if len(w.tail) > 4096 {
		w.tail = append(w.tail[:0], w.tail[len(w.tail)-1024:]...)
	}
	return len(b), nil
}

func TestHugeBody(t *testing.T) {
	h := start(t, func(o *Options) { o.Faults = []Fault{{Path: PathUserGet, Call: 1, Kind: FaultHugeBody}} })
	resp, err := h.hs.Client().Get(h.hs.URL + PathUserGet + "?access_token=" + h.token())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != -1 || resp.Header.Get("Content-Type") != jsonContentType {
		t.Fatalf("huge body: Content-Length %d, type %q", resp.ContentLength, resp.Header.Get("Content-Type"))
	}
	var w headTail
	if _, err := io.Copy(&w, resp.Body); err != nil {
		t.Fatal(err)
	}
	if w.n <= 64<<20 || !bytes.HasPrefix(w.head, []byte(`{"total":23000,"count":10000,"data":{"openid":["o`)) {
		t.Fatalf("huge body: %d bytes, head %q", w.n, w.head[:60])
	}
	// Valid JSON: the head cut after an entry, joined to the tail from an entry on.
	head := w.head[:bytes.LastIndex(w.head, []byte(`","o`))+2]
	tail := w.tail[bytes.Index(w.tail, []byte(`","o`))+2:]
	if !json.Valid(append(head, tail...)) || !bytes.HasSuffix(tail, []byte(`"}`)) {
		t.Fatalf("huge body is not valid JSON: ...%s", tail)
	}
}

func TestListFaults(t *testing.T) {
	for _, path := range []string{PathUserGet, PathBlacklist} {
		for _, kind := range []FaultKind{FaultDuplicates, FaultCountMismatch, FaultRepeatNext, FaultEmptyOpenID, FaultBadOpenID, FaultEarlyEnd} {
			t.Run(path+"/"+kind.String(), func(t *testing.T) {
				h := start(t, func(o *Options) {
					o.Followers, o.Blacklisted = 23000, 23000
					o.Faults = []Fault{{Path: path, Call: 2, Kind: kind}}
				})
				tok := h.token()
				page := h.userGet
				if path == PathBlacklist {
					page = h.blacklistGet
				}
				p1 := page(tok, "")
				cursor := *p1.NextOpenID
				got := page(tok, cursor)
				want := page(tok, cursor) // the same page, unfaulted
				ids, wantIDs := got.openids(), want.openids()
				switch kind {
				case FaultDuplicates:
					prev := p1.openids()[MaxPageSize-5:]
					if !slices.Equal(ids[:5], prev) {
						t.Fatalf("page does not start with the previous page's last 5 openids")
					}
					if ids[5] != wantIDs[0] || ids[6] != wantIDs[0] {
						t.Fatalf("page does not repeat its first openid")
					}
					if got.Count != len(ids) || len(ids) != MaxPageSize || *got.NextOpenID != ids[len(ids)-1] {
						t.Fatalf("duplicates page: count %d len %d", got.Count, len(ids))
					}
				case FaultCountMismatch:
					if got.Count != len(ids)+1 || !slices.Equal(ids, wantIDs) {
						t.Fatalf("count %d for %d openids", got.Count, len(ids))
					}
				case FaultRepeatNext:
					if *got.NextOpenID != cursor || !slices.Equal(ids, wantIDs) {
						t.Fatalf("next_openid %q, want the request's %q", *got.NextOpenID, cursor)
					}
				case FaultEmptyOpenID:
					if !slices.Contains(ids, "") || got.Count != len(ids) || len(ids) != MaxPageSize {
						t.Fatal("no empty openid in the page")
					}
				case FaultBadOpenID:
					var plus, long bool
					for _, id := range ids {
						plus = plus || (len(id) == OpenIDLength && strings.Contains(id, "+"))
						long = long || len(id) == 40
					}
					if !plus || !long || got.Count != len(ids) {
						t.Fatal("bad openids missing")
					}
				case FaultEarlyEnd:
					if got.Count != 0 || got.Data != nil || *got.NextOpenID != "" || got.Total != 23000 {
						t.Fatalf("early end: %+v", got)
					}
				}
			})
		}
	}
}

func TestFaultNumbering(t *testing.T) {
	h := start(t, func(o *Options) {
		o.Faults = []Fault{
			{Path: PathUserGet, Call: 2, Times: 2, Kind: FaultBusy},
			{Path: AnyPath, Call: 7, Kind: FaultTooFrequent},
			{Path: PathTagsGet, Call: 0, Kind: FaultUnauthorized},
		}
	})
	tok := h.token() // any-path call 1
	var codes []int
	for range 5 { // any-path calls 2..6
		var e apiError
		h.decode(h.get(PathUserGet, url.Values{"access_token": {tok}}), &e)
		codes = append(codes, e.ErrCode)
	}
	if !slices.Equal(codes, []int{0, -1, -1, 0, 0}) {
		t.Fatalf("errcodes %v", codes)
	}
	h.wantErr(h.get(PathUserGet, url.Values{"access_token": {tok}}), 45011) // any-path call 7
	h.wantErr(h.get(PathTagsGet, url.Values{"access_token": {tok}}), 48001)
	h.wantErr(h.get(PathTagsGet, nil), 48001) // faults come before the token check
	if c := h.srv.Calls(); c[PathUserGet] != 6 || c[PathTagsGet] != 2 || c[PathToken] != 1 {
		t.Fatalf("Calls = %v", c)
	}
	// Faults added later count from then on.
	if err := h.srv.AddFaults(Fault{Path: PathUserGet, Call: 2, Kind: FaultQuota}); err != nil {
		t.Fatal(err)
	}
	h.userGet(tok, "")
	h.wantErr(h.get(PathUserGet, url.Values{"access_token": {tok}}), 45009)
	if err := h.srv.AddFaults(Fault{Path: PathBatchGet, Kind: FaultDuplicates}); err == nil {
		t.Fatal("AddFaults accepted a list fault on batchget")
	}
	h.srv.ResetCalls()
	if len(h.srv.Calls()) != 0 || len(h.srv.CallLog()) != 0 {
		t.Fatal("ResetCalls left calls")
	}
}

func TestBusyRateIsDeterministic(t *testing.T) {
	run := func() []int {
		h := start(t, func(o *Options) { o.BusyRate, o.Seed = 0.3, 5 })
		var codes []int
		for range 400 {
			var e apiError
			h.decode(h.get(PathToken, h.creds()), &e)
			codes = append(codes, e.ErrCode)
		}
		return codes
	}
	a, b := run(), run()
	if !slices.Equal(a, b) {
		t.Fatal("BusyRate differs between two runs with the same seed")
	}
	busy := 0
	for _, c := range a {
		if c == -1 {
			busy++
		}
	}
	if busy < 60 || busy > 180 {
		t.Fatalf("%d of 400 calls busy at rate 0.3", busy)
	}
}

func TestParseFault(t *testing.T) {
	f, err := ParseFault("/cgi-bin/user/get:3:busy:2")
	if err != nil || f != (Fault{Path: PathUserGet, Call: 3, Times: 2, Kind: FaultBusy}) {
		t.Fatalf("ParseFault: %+v %v", f, err)
	}
	if f, err := ParseFault("*:0:bad-utf8"); err != nil || f.Kind != FaultBadUTF8 || f.Path != AnyPath {
		t.Fatalf("ParseFault any: %+v %v", f, err)
	}
	for _, bad := range []string{"", "/cgi-bin/user/get:1", "/nope:1:busy", "/cgi-bin/user/get:x:busy",
		"/cgi-bin/user/get:1:explode", "/cgi-bin/user/get:1:busy:0", "/cgi-bin/user/info/batchget:1:duplicates",
		"/cgi-bin/stable_token:1:revoke-token", "/cgi-bin/token:1:expire-token"} {
		if _, err := ParseFault(bad); err == nil {
			t.Errorf("ParseFault(%q) accepted", bad)
		}
	}
	for k := FaultKind(1); k < faultKindEnd; k++ {
		if got, err := ParseFaultKind(k.String()); err != nil || got != k {
			t.Fatalf("kind %d does not round-trip through %q", k, k.String())
		}
	}
}

// revoke-token revokes every token, then answers 40001; expire-token makes
// the token sent expire, then answers 42001. Either way the token stays
// rejected and the next token request hands out a new one.
func TestTokenFaults(t *testing.T) {
	for _, c := range []struct {
		kind FaultKind
		code int
	}{{FaultRevokeToken, 40001}, {FaultExpireToken, 42001}} {
		t.Run(c.kind.String(), func(t *testing.T) {
			h := start(t, func(o *Options) {
				o.Faults = []Fault{{Path: PathUserGet, Call: 2, Kind: c.kind}}
			})
			st, _ := h.stable(false)
			classic := h.token()
			tok := st.AccessToken
			if a := h.userGet(tok, ""); a.Count != MaxPageSize {
				t.Fatal("call before the fault failed")
			}
			h.wantErr(h.get(PathUserGet, url.Values{"access_token": {tok}}), c.code)
			if got := h.tokenCode(tok); got != c.code {
				t.Fatalf("the token after the fault: errcode %d, want %d", got, c.code)
			}
			// revoke-token revokes every token; expire-token only the one sent.
			if got, want := h.tokenCode(classic), map[FaultKind]int{FaultRevokeToken: 40001, FaultExpireToken: 0}[c.kind]; got != want {
				t.Fatalf("the classic token after the fault: errcode %d, want %d", got, want)
			}
			next, _ := h.stable(false)
			if next.AccessToken == tok || h.tokenCode(next.AccessToken) != 0 {
				t.Fatal("stable_token did not hand out a new, valid token after the fault")
			}
			if a := h.userGet(next.AccessToken, ""); a.Count != MaxPageSize {
				t.Fatal("call with the new token failed")
			}
			if log := h.srv.CallLog(); log[3].Fault != c.kind || log[3].ErrCode != c.code {
				t.Fatalf("call log %+v", log)
			}
		})
	}
}
