package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/wxsync/wxsync/connector/push"
)

func TestRunPushesToAReceiver(t *testing.T) {
	const token, key = "demoToken", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
	v, err := push.NewVerifier(push.Config{Token: token, AppID: "wxsim0000000000001", AESKey: key})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[push.EventID]int{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, err := v.ReadRequest(r)
		if err != nil {
			t.Errorf("rejected: %v", err)
			http.Error(w, "rejected", 400)
			return
		}
		mu.Lock()
		got[m.ID()]++
		mu.Unlock()
		w.Write([]byte("success"))
	}))
	defer recv.Close()

	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-followers", "50", "-push-url", recv.URL + "/wechat",
			"-push-mode", "safe", "-push-token", token, "-push-aes-key", key, "-push-rate", "1000", "-push-count", "12"}, pw)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	var summary string
	for lines.Scan() {
		if l := lines.Text(); strings.HasPrefix(l, "wxsim pushes:") {
			summary = l
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if summary != "wxsim pushes: 12 changes, 12 delivered, 0 given up, 0 stopped, 12 attempts" {
		t.Fatalf("summary %q", summary)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 12 {
		t.Fatalf("receiver got %d events", len(got))
	}
	for id, n := range got {
		if n != 1 {
			t.Fatalf("%v received %d times", id, n)
		}
	}
}

func TestRunRejectsBadPushFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-push-url", "http://127.0.0.1:1/", "-push-token", "abc", "-push-mode", "aes"},
		{"-push-url", "http://127.0.0.1:1/", "-push-token", "abc", "-push-mode", "safe"},
		{"-push-url", "http://127.0.0.1:1/", "-push-token", "abc", "-push-mix", "1:2"},
		{"-push-url", "http://127.0.0.1:1/", "-push-token", "abc", "-push-rate", "0"},
		{"-push-url", "http://127.0.0.1:1/", "-push-token", "ab"},
	} {
		if err := run(context.Background(), append(args, "-addr", "127.0.0.1:0"), io.Discard); err == nil {
			t.Errorf("run %q: no error", args)
		}
	}
}
