package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wxsync/wxsync/connector/wxsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "wxsim:", strings.TrimPrefix(err.Error(), "wxsim: "))
		os.Exit(2)
	}
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func run(ctx context.Context, args []string, stderr io.Writer) error {
	o := wxsim.DefaultOptions()
	fs := flag.NewFlagSet("wxsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8099", "TCP address to listen on (port 0: any free port)")
	addrFile := fs.String("addr-file", "", "write the bound host:port to this file once listening")
	fs.StringVar(&o.AppID, "appid", o.AppID, "the account's AppID")
	fs.StringVar(&o.Secret, "secret", o.Secret, "the account's AppSecret")
	fs.IntVar(&o.Followers, "followers", o.Followers, "initial number of followers")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "seed of openids, profiles, removals and -busy-rate")
	fs.IntVar(&o.PageSize, "page-size", o.PageSize, "openids per user/get page (at most 10000)")
	endStyle := fs.String("end-style", o.EndStyle.String(), "end of list: count-zero (live API) or empty-next (documented)")
	fs.IntVar(&o.Blacklisted, "blacklisted", o.Blacklisted, "number of blacklisted followers")
	fs.IntVar(&o.BlacklistPageSize, "blacklist-page-size", o.BlacklistPageSize, "openids per getblacklist page (10000 or 1000)")
	fs.DurationVar(&o.TokenTTL, "token-ttl", o.TokenTTL, "access token lifetime")
	fs.DurationVar(&o.TokenGrace, "token-grace", o.TokenGrace, "overlap of an old classic token / renewal window of a stable token")
	fs.DurationVar(&o.Latency, "latency", o.Latency, "added to every API call")
	fs.DurationVar(&o.SlowDelay, "slow-delay", o.SlowDelay, "delay of the 'slow' fault")
	fs.Float64Var(&o.BusyRate, "busy-rate", o.BusyRate, "fraction of API calls answering errcode -1")
	quotaUserGet := fs.Int("quota-user-get", o.Quotas[wxsim.PathUserGet], "daily limit of /cgi-bin/user/get calls")
	quotaBatch := fs.Int("quota-batchget", o.Quotas[wxsim.PathBatchGet], "daily limit of /cgi-bin/user/info/batchget calls")
	var quotas, faults listFlag
	fs.Var(&quotas, "quota", "PATH=N daily limit of an API path, or PATH=off for none (repeatable)")
	fs.Var(&faults, "fault", "PATH:CALL:KIND[:TIMES] scripted fault, PATH may be * (repeatable); kinds: "+faultKinds())
	churn := fs.String("churn", "", "AFTER:ADD:REMOVE: after AFTER user/get calls, ADD followers appear and REMOVE leave")
	pf := pushFlags(fs)
	mf := multiFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	var err error
	if o.EndStyle, err = wxsim.ParseEndStyle(*endStyle); err != nil {
		return err
	}
	o.Quotas[wxsim.PathUserGet], o.Quotas[wxsim.PathBatchGet] = *quotaUserGet, *quotaBatch
	for _, q := range quotas {
		path, n, ok := strings.Cut(q, "=")
		if !ok {
			return fmt.Errorf("-quota %q: want PATH=N or PATH=off", q)
		}
		if n == "off" {
			delete(o.Quotas, path)
			continue
		}
		if o.Quotas[path], err = strconv.Atoi(n); err != nil {
			return fmt.Errorf("-quota %q: %w", q, err)
		}
	}
	for _, spec := range faults {
		f, err := wxsim.ParseFault(spec)
		if err != nil {
			return err
		}
		o.Faults = append(o.Faults, f)
	}
	if *churn != "" {
		if o.Churn, err = wxsim.ParseChurn(*churn); err != nil {
			return err
		}
	}
	if mf.accounts > 0 {
		h, err := mf.handler(o)
		if err != nil {
			return err
		}
		return serve(ctx, h, *addr, *addrFile, stderr)
	}
	srv, err := wxsim.New(o)
	if err != nil {
		return err
	}
	if pf.url == "" {
		return serve(ctx, srv, *addr, *addrFile, stderr)
	}
	return serveAndPush(ctx, srv, pf, *addr, *addrFile, stderr)
}

func faultKinds() string {
	var names []string
	for _, k := range wxsim.FaultKinds() {
		names = append(names, k.String())
	}
	return strings.Join(names, ", ")
}

func serve(ctx context.Context, h http.Handler, addr, addrFile string, stderr io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	bound := ln.Addr().String()
	if addrFile != "" {
		if err := writeFileAtomic(addrFile, bound+"\n"); err != nil {
			ln.Close()
			return err
		}
	}
	fmt.Fprintf(stderr, "wxsim listening on http://%s\n", bound)
	// Handlers waiting out -latency or a slow fault end when baseCtx does.
	baseCtx, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	fmt.Fprintln(stderr, "wxsim shutting down")
	cancelBase()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

// writeFileAtomic writes content to path through a temporary file, so a
// script polling for path never reads half an address.
func writeFileAtomic(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".wxsim-addr-*")
	if err != nil {
		return fmt.Errorf("writing -addr-file: %w", err)
	}
	_, werr := tmp.WriteString(content)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing -addr-file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing -addr-file %s: %w", path, err)
	}
	return nil
}
