package wxsim

import (
	"cmp"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxsync/wxsync/connector/push"
)

const (
	pushToken  = "simToken42"
	pushAESKey = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
)

// got is one request a test receiver accepted.
type got struct {
	msg   push.Message
	nonce string
}

// receiver is a push receiver built on connector/push; answer decides the
// reply to the n-th request (1-based) carrying an event identity.
type receiver struct {
	t      *testing.T
	v      *push.Verifier
	answer func(n int, w http.ResponseWriter, r *http.Request)
	hs     *httptest.Server

	mu   sync.Mutex
	seen []got
	per  map[push.EventID]int
}

func newReceiver(t *testing.T, h *harness, p *Pusher, answer func(int, http.ResponseWriter, *http.Request)) *receiver {
	t.Helper()
	v, err := push.NewVerifier(push.Config{Token: pushToken, AppID: h.srv.Options().AppID, AESKey: pushAESKey,
		OriginalID: p.OriginalID(), Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{t: t, v: v, answer: answer, per: map[push.EventID]int{}}
	rc.hs = httptest.NewServer(rc)
	t.Cleanup(rc.hs.Close)
	return rc
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m, err := rc.v.ReadRequest(r)
	if err != nil {
		rc.t.Errorf("receiver rejected a push: %v", err)
		http.Error(w, string(push.ReasonOf(err)), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.seen = append(rc.seen, got{msg: m, nonce: r.URL.Query().Get("nonce")})
	rc.per[m.ID()]++
	n := rc.per[m.ID()]
	rc.mu.Unlock()
	if rc.answer == nil {
		w.Write([]byte("success"))
		return
	}
	rc.answer(n, w, r)
}

func (rc *receiver) requests() []got {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.seen)
}

// newPusher starts a simulator with followers and a pusher aimed at a
// receiver answering with answer.
func newPusher(t *testing.T, followers int, mode push.Mode, edit func(*PushOptions), answer func(int, http.ResponseWriter, *http.Request)) (*harness, *Pusher, *receiver) {
	t.Helper()
	h := start(t, func(o *Options) { o.Followers = followers })
	o := DefaultPushOptions()
	o.URL, o.Mode, o.Token, o.AESKey = "http://placeholder.invalid/wechat", mode, pushToken, pushAESKey
	if edit != nil {
		edit(&o)
	}
	p, err := h.srv.NewPusher(o)
	if err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t, h, p, answer)
	o.URL = rc.hs.URL + "/wechat?from=test"
	if p, err = h.srv.NewPusher(o); err != nil {
		t.Fatal(err)
	}
	return h, p, rc
}

func byID(a, b push.Message) int {
	return cmp.Or(cmp.Compare(a.CreateTime, b.CreateTime), strings.Compare(a.OpenID, b.OpenID),
		strings.Compare(a.Event, b.Event), strings.Compare(a.EventKey, b.EventKey))
}

func TestPusherEveryMode(t *testing.T) {
	for _, mode := range []push.Mode{push.ModePlaintext, push.ModeCompatible, push.ModeSafe} {
		h, p, rc := newPusher(t, 1000, mode, nil, nil)
		if err := p.Push(context.Background(), 300); err != nil {
			t.Fatal(err)
		}
		sent := p.Outcomes(Delivered)
		received := make([]push.Message, 0, 300)
		for _, g := range rc.requests() {
			received = append(received, g.msg)
		}
		slices.SortFunc(sent, byID)
		slices.SortFunc(received, byID)
		if len(sent) != 300 || !slices.Equal(sent, received) {
			t.Fatalf("%s: %d delivered, receiver got %d, equal %v", mode, len(sent), len(received), slices.Equal(sent, received))
		}
		kinds := map[push.Kind]int{}
		for _, m := range sent {
			kinds[m.Kind]++
			if m.Mode != mode || m.ToUserName != p.OriginalID() || m.CreateTime != h.clock.Now().Unix() {
				t.Fatalf("%s: message %+v", mode, m)
			}
		}
		if kinds[push.KindSubscribe] < 120 || kinds[push.KindUnsubscribe] < 50 || kinds[push.KindScan] < 10 {
			t.Fatalf("%s: mix %v", mode, kinds)
		}
		if st := p.Stats(); st != (PushStats{Changes: 300, Delivered: 300, Attempts: 300}) {
			t.Fatalf("%s: stats %+v", mode, st)
		}
	}
}

// The account changes as the events say: user/get serves the initial
// followers plus every subscribe minus every unsubscribe, and the profiles
// of new followers agree with their events.
func TestPusherFollowerSetConsistent(t *testing.T) {
	h, p, _ := newPusher(t, 2000, push.ModeSafe, func(o *PushOptions) { o.Concurrency = 8 }, nil)
	want := map[string]bool{}
	for _, id := range h.srv.FollowerOpenIDs() {
		want[id] = true
	}
	for range 6 { // six seconds of pushes
		if err := p.Push(context.Background(), 250); err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(time.Second)
	}
	joinedAt := map[string]int64{}
	profiles := 0
	for _, r := range p.Results() {
		m := r.Message
		switch m.Kind {
		case push.KindSubscribe:
			if want[m.OpenID] {
				t.Fatalf("subscribe of a follower %s", m.OpenID)
			}
			want[m.OpenID], joinedAt[m.OpenID] = true, m.CreateTime
			prof, _ := h.srv.Profile(m.OpenID)
			checked := 0
			if prof.Subscribe == 1 { // not left since
				checked++
				qr := prof.SubscribeScene == sceneQR
				if qr != strings.HasPrefix(m.EventKey, push.QRScenePrefix) || prof.SubscribeTime != m.CreateTime ||
					(qr && m.Scene != prof.QRSceneStr && m.Scene != strconv.Itoa(prof.QRScene)) {
					t.Fatalf("profile %+v disagrees with event %+v", prof, m)
				}
			}
			profiles += checked
		case push.KindUnsubscribe:
			if !want[m.OpenID] || joinedAt[m.OpenID] == m.CreateTime {
				t.Fatalf("unsubscribe of %s: follower %v, joined %d, left %d", m.OpenID, want[m.OpenID], joinedAt[m.OpenID], m.CreateTime)
			}
			delete(want, m.OpenID)
		}
	}
	walked, _ := h.walk(h.token(), h.userGet, MaxPageSize)
	slices.Sort(walked)
	wantList := slices.Sorted(func(yield func(string) bool) {
		for id := range want {
			if !yield(id) {
				return
			}
		}
	})
	if profiles < 500 {
		t.Fatalf("only %d new followers' profiles checked", profiles)
	}
	if len(p.Results()) != 1500 || !slices.Equal(walked, wantList) {
		t.Fatalf("user/get lists %d followers, events say %d", len(walked), len(wantList))
	}
}

func TestPusherRetriesWithTheSameCreateTime(t *testing.T) {
	failures := map[string]func(w http.ResponseWriter, r *http.Request){
		"no answer": func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
		"HTTP 500":  func(w http.ResponseWriter, r *http.Request) { http.Error(w, "busy", 500) },
		"JSON":      func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"ok":true}`)) },
	}
	for name, fail := range failures {
		answer := func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				fail(w, r)
				return
			}
			w.Write(nil) // an empty answer also counts
		}
		_, p, rc := newPusher(t, 100, push.ModeSafe, func(o *PushOptions) { o.Timeout = time.Second }, answer) // generous: the retry must be answered within it
		if err := p.Push(context.Background(), 20); err != nil {
			t.Fatal(err)
		}
		res := p.Results()
		if len(res) != 20 || len(p.Outcomes(Delivered)) != 20 {
			t.Fatalf("%s: %d results, %d delivered", name, len(res), len(p.Outcomes(Delivered)))
		}
		for _, r := range res {
			if len(r.Attempts) != 2 || r.Attempts[1].Status != 200 || (name == "no answer") != (r.Attempts[0].Err == "timeout") {
				t.Fatalf("%s: attempts %+v", name, r.Attempts)
			}
		}
		reqs := rc.requests()
		first := map[push.EventID]got{}
		for _, g := range reqs {
			if f, ok := first[g.msg.ID()]; ok && (f.msg != g.msg || f.nonce == g.nonce) {
				t.Fatalf("%s: retry %+v (nonce %s) differs from %+v (nonce %s)", name, g.msg, g.nonce, f.msg, f.nonce)
			}
			first[g.msg.ID()] = g
		}
		if len(reqs) != 40 || len(first) != 20 {
			t.Fatalf("%s: %d requests for %d events", name, len(reqs), len(first))
		}
	}
}

func TestPusherGivesUpAfterThreeAttempts(t *testing.T) {
	hang := func(_ int, w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	_, p, rc := newPusher(t, 100, push.ModeCompatible, func(o *PushOptions) { o.Timeout = 200 * time.Millisecond }, hang)
	if err := p.Push(context.Background(), 5); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st != (PushStats{Changes: 5, GivenUp: 5, Attempts: 15}) {
		t.Fatalf("stats %+v", st)
	}
	for _, r := range p.Results() {
		if r.Outcome != GivenUp || len(r.Attempts) != 3 || r.Attempts[2].Err != "timeout" {
			t.Fatalf("result %+v", r)
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for id, n := range rc.per {
		if n != 3 {
			t.Fatalf("%v reached the receiver %d times", id, n)
		}
	}
	if len(rc.per) != 5 {
		t.Fatalf("%d events reached the receiver", len(rc.per))
	}
}

// Ending the context stops deliveries in flight: they are Stopped, not
// given up, and Push returns the context's error.
func TestPusherStopped(t *testing.T) {
	arrived := make(chan struct{}, 10)
	hang := func(_ int, w http.ResponseWriter, r *http.Request) { arrived <- struct{}{}; <-r.Context().Done() }
	_, p, _ := newPusher(t, 100, push.ModePlaintext, nil, hang) // Timeout 5 s: never reached
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Push(ctx, 3) }()
	for range 3 {
		<-arrived
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Push: %v", err)
	}
	if st := p.Stats(); st != (PushStats{Changes: 3, Stopped: 3, Attempts: 3}) {
		t.Fatalf("stats %+v", st)
	}
}

// The same seed and clock make the same changes.
func TestPusherDeterministic(t *testing.T) {
	changes := func() []push.Message {
		h := start(t, func(o *Options) { o.Followers = 500 })
		o := DefaultPushOptions()
		o.URL, o.Token, o.Seed = "http://127.0.0.1:1/", pushToken, 9
		p, err := h.srv.NewPusher(o)
		if err != nil {
			t.Fatal(err)
		}
		var out []push.Message
		for range 400 {
			_, m := p.Change()
			out = append(out, m)
		}
		return out
	}
	a, b := changes(), changes()
	if !slices.Equal(a, b) {
		t.Fatal("two pushers with one seed made different changes")
	}
}

func TestPushOptionsValidate(t *testing.T) {
	o := DefaultPushOptions()
	o.URL, o.Mode, o.Token, o.AESKey = "ftp://x", push.ModeSafe, "secretTokenValue", pushAESKey[:40]+"!!!"
	o.Attempts, o.Mix = 0, PushMix{}
	err := o.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"URL", "AESKey", "Mix", "Attempts"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "secretTokenValue") || strings.Contains(err.Error(), pushAESKey[:40]) {
		t.Fatalf("error leaks a secret: %v", err)
	}
	if m, err := ParsePushMix("6:3:1"); err != nil || m != (PushMix{6, 3, 1}) || m.String() != "6:3:1" {
		t.Fatalf("ParsePushMix: %v %v", m, err)
	}
	if _, err := ParsePushMix("6:-3:1"); err == nil {
		t.Fatal("negative weight accepted")
	}
}
