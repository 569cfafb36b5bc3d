package main

// wxsync listen under faults: the host SIGKILLed under load and started
// again; ClickHouse stopped under load and started again. WeChat (wxsim's
// pusher) retries; what it got success for must be stored, once.

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wxsync/wxsync/connector/push"
	"github.com/wxsync/wxsync/connector/wxsim"
)

// gatedTransport is the pusher's HTTP transport. It closes reached once k
// pushes have been answered 200, and holds an attempt whose connection is
// refused (the receiver down) until up is closed, so that WeChat's retries
// meet the restarted receiver without the test sleeping. The hold ignores
// the attempt's own deadline: a restart under load can outlast WeChat's
// 5 s answer timeout, and every retry of an event in flight would then
// expire before the receiver is back.
type gatedTransport struct {
	base    http.RoundTripper
	k       int
	reached chan struct{}
	up      chan struct{}
	upOnce  sync.Once

	mu sync.Mutex
	ok int
}

func newGatedTransport(t *testing.T, k int) *gatedTransport {
	g := &gatedTransport{base: http.DefaultTransport.(*http.Transport).Clone(), k: k, reached: make(chan struct{}), up: make(chan struct{})}
	t.Cleanup(g.open) // a test that fails early leaves no attempt held
	return g
}

// open releases the held attempts and lets every later one through.
func (g *gatedTransport) open() { g.upOnce.Do(func() { close(g.up) }) }

func (g *gatedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := g.base.RoundTrip(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			<-g.up
		}
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		g.mu.Lock()
		g.ok++
		if g.ok == g.k {
			close(g.reached)
		}
		g.mu.Unlock()
	}
	return resp, nil
}

// pushInBackground pushes n events through g and returns a channel closed
// when every one is delivered or given up.
func pushInBackground(t *testing.T, p *wxsim.Pusher, n int) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := p.Push(context.Background(), n); err != nil {
			t.Errorf("push: %v", err)
		}
	}()
	return done
}

// wantAcknowledgedStored fails the test unless every event the pusher got
// success for is in wechat_follow_events FINAL, each identity once, and
// nothing else but events it pushed.
func wantAcknowledgedStored(t *testing.T, e *env, p *wxsim.Pusher) {
	t.Helper()
	stored := e.storedEvents() // fails on an identity stored twice
	delivered := keys(p.Outcomes(wxsim.Delivered))
	wantSubset(t, "acknowledged events in wechat_follow_events", delivered, stored)
	var all []push.Message
	for _, r := range p.Results() {
		all = append(all, r.Message)
	}
	wantSubset(t, "stored events among those pushed", stored, keys(all))
	t.Logf("pusher %+v; %d events stored", p.Stats(), len(stored))
}

// SIGKILL of the receiver (host and plugin) under load, then a restart:
// every event WeChat got success for is stored, and those it had to retry
// land once.
func TestListenKilledUnderLoad(t *testing.T) {
	e := newEnv(t, smallPages())
	r := e.newReceiver(t)
	g := newGatedTransport(t, 100)
	p := r.pusher(t, push.ModeSafe, func(o *wxsim.PushOptions) { o.Client = &http.Client{Transport: g} })
	extra := []string{"WECHAT_ORIGINAL_ID=" + p.OriginalID(), "WXSYNC_LISTEN_PROFILES=false"}
	first := r.start(extra...)
	done := pushInBackground(t, p, 600)
	<-g.reached

	host := first.cmd.Process.Pid
	plug := pluginPID(t, host)
	pidfd, err := unix.PidfdOpen(plug, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	sendSignal(t, host, syscall.SIGKILL)
	sendSignal(t, plug, syscall.SIGKILL)
	first.wait()
	waitProcessExit(t, pidfd, plug) // its port is free again

	r.start(extra...)
	g.open()
	<-done
	out := r.stop()
	e.noSecrets(out.output)

	wantAcknowledgedStored(t, e, p)
	retried := 0
	for _, res := range p.Results() {
		if res.Outcome == wxsim.Delivered && len(res.Attempts) > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Fatal("no event was delivered on a retry: the kill did not meet pushes in flight")
	}
}

// ClickHouse stopped under load and started again: the receiver answers
// 503 meanwhile (WeChat retries, or gives up), never success for an event
// it did not commit; it goes on once ClickHouse is back, and exits 0 on
// SIGTERM.
func TestListenClickHouseStoppedUnderLoad(t *testing.T) {
	t.Parallel()
	ch := startDisposableCH(t)
	e := newEnv(t, smallPages())
	const db = "wxsync_listen_ch_stopped"
	ch.attach(e, db)
	r := e.newReceiver(t)
	g := newGatedTransport(t, 100)
	g.open() // the receiver stays up
	p := r.pusher(t, push.ModeCompatible, func(o *wxsim.PushOptions) { o.Client = &http.Client{Transport: g} })
	r.start("WECHAT_ORIGINAL_ID="+p.OriginalID(), "WXSYNC_LISTEN_PROFILES=false")
	done := pushInBackground(t, p, 500)
	<-g.reached
	ch.stop()
	ch.start()
	<-done
	out := r.stop()
	e.noSecrets(out.output)
	ch.attach(e, db)
	wantAcknowledgedStored(t, e, p)
}
