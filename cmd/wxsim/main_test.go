package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxsync/wxsync/connector/wxsim"
)

func TestRunServesAndShutsDown(t *testing.T) {
	addrFile := filepath.Join(t.TempDir(), "addr")
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-addr-file", addrFile, "-followers", "25",
			"-end-style", "empty-next", "-fault", "/cgi-bin/user/get:2:busy", "-quota", "/cgi-bin/tags/get=off"}, pw)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatal("no output")
	}
	first := lines.Text()
	go func() { _, _ = io.Copy(io.Discard, pr) }() // drain the rest
	const prefix = "wxsim listening on http://"
	if !strings.HasPrefix(first, prefix) {
		t.Fatalf("first line %q", first)
	}
	addr := strings.TrimPrefix(first, prefix)
	if b, err := os.ReadFile(addrFile); err != nil || strings.TrimSpace(string(b)) != addr {
		t.Fatalf("addr file %q (%v), want %q", b, err, addr)
	}
	base := "http://" + addr
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	getJSON(t, base+"/cgi-bin/token?grant_type=client_credential&appid=wxsim0000000000001&secret=wxsim-secret", &tok)
	var page struct {
		Total      int    `json:"total"`
		Count      int    `json:"count"`
		NextOpenID string `json:"next_openid"`
	}
	getJSON(t, base+"/cgi-bin/user/get?access_token="+tok.AccessToken, &page)
	if page.Total != 25 || page.Count != 25 || page.NextOpenID != "" {
		t.Fatalf("page %+v", page)
	}
	var e struct {
		ErrCode int `json:"errcode"`
	}
	getJSON(t, base+"/cgi-bin/user/get?access_token="+tok.AccessToken, &e)
	if e.ErrCode != -1 {
		t.Fatalf("scripted fault: errcode %d", e.ErrCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-fault", "/cgi-bin/user/get:1:nope"},
		{"-end-style", "sideways"},
		{"-quota", "/cgi-bin/user/get"},
		{"-followers", "-5"},
		{"-churn", "1:2"},
		{"extra"},
	} {
		if err := run(context.Background(), append(args, "-addr", "127.0.0.1:0"), io.Discard); err == nil {
			t.Errorf("run %q: no error", args)
		}
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func TestMultiAccountsMode(t *testing.T) {
	m := &multiSettings{accounts: 3, bearer: "b"}
	o := wxsim.DefaultOptions()
	o.Followers = 5
	h, err := m.handler(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/wxsim/token?appid="+multiAppID(2), nil)
	req.Header.Set("Authorization", "Bearer b")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	resp, err = http.Get(srv.URL + wxsim.PathUserGet + "?access_token=" + tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Total int `json:"total"`
		Data  struct {
			OpenID []string `json:"openid"`
		} `json:"data"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if page.Total != 5 || len(page.Data.OpenID) != 5 || page.Data.OpenID[0] != wxsim.OpenID(o.Seed+2, 0) {
		t.Errorf("account 2 listed %+v", page)
	}
}
