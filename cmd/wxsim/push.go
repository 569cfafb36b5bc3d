package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"

	"github.com/wxsync/wxsync/connector/push"
	"github.com/wxsync/wxsync/connector/wxsim"
)

// pushSettings are the -push-* flags.
type pushSettings struct {
	o     wxsim.PushOptions
	url   string
	mode  string
	mix   string
	rate  float64
	count int
}

func pushFlags(fs *flag.FlagSet) *pushSettings {
	ps := &pushSettings{o: wxsim.DefaultPushOptions()}
	o := &ps.o
	fs.StringVar(&ps.url, "push-url", "", "push follow events to this URL like WeChat's message push (off when empty)")
	fs.StringVar(&ps.mode, "push-mode", o.Mode.String(), "message encryption mode: plaintext, compatible or safe")
	fs.StringVar(&o.Token, "push-token", "", "the push Token (3-32 characters)")
	fs.StringVar(&o.AESKey, "push-aes-key", "", "the EncodingAESKey (43 characters; compatible and safe modes)")
	fs.StringVar(&o.OriginalID, "push-original-id", "", "ToUserName of the pushes (default: gh_ id derived from -seed)")
	fs.Float64Var(&ps.rate, "push-rate", 10, "changes (events) per second")
	fs.IntVar(&ps.count, "push-count", 0, "stop pushing after this many changes (0: until stopped)")
	fs.StringVar(&ps.mix, "push-mix", o.Mix.String(), "SUBSCRIBE:UNSUBSCRIBE:SCAN weights of the changes")
	fs.Uint64Var(&o.Seed, "push-seed", o.Seed, "seed of the changes drawn")
	fs.DurationVar(&o.Timeout, "push-timeout", o.Timeout, "how long one attempt waits for the answer")
	fs.IntVar(&o.Attempts, "push-attempts", o.Attempts, "attempts per event before it is given up")
	fs.DurationVar(&o.RetryDelay, "push-retry-delay", o.RetryDelay, "pause between a failed attempt and the next")
	fs.IntVar(&o.Concurrency, "push-concurrency", o.Concurrency, "events being delivered at once")
	return ps
}

// pusher builds the Pusher the flags describe.
func (ps *pushSettings) pusher(srv *wxsim.Server) (*wxsim.Pusher, error) {
	var err error
	if ps.o.Mode, err = push.ParseMode(ps.mode); err != nil {
		return nil, err
	}
	if ps.o.Mix, err = wxsim.ParsePushMix(ps.mix); err != nil {
		return nil, err
	}
	if !(ps.rate > 0) || ps.count < 0 {
		return nil, fmt.Errorf("-push-rate must be positive and -push-count not negative")
	}
	ps.o.URL = ps.url
	return srv.NewPusher(ps.o)
}

// serveAndPush serves the simulator and pushes at the same time; GET
// /wxsim/pushes answers the pusher's counts (JSON). A line on stderr sums
// up the pushes as soon as pushing ends: -push-count reached, or ctx ended,
// which also stops the server.
func serveAndPush(ctx context.Context, srv *wxsim.Server, ps *pushSettings, addr, addrFile string, stderr io.Writer) error {
	p, err := ps.pusher(srv)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", srv)
	mux.HandleFunc("GET /wxsim/pushes", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(p.Stats())
	})
	done := make(chan error, 1)
	go func() {
		err := p.Run(ctx, ps.rate, ps.count)
		st := p.Stats() // printed as soon as pushing ends (-push-count reached, or stopped)
		fmt.Fprintf(stderr, "wxsim pushes: %d changes, %d delivered, %d given up, %d stopped, %d attempts\n",
			st.Changes, st.Delivered, st.GivenUp, st.Stopped, st.Attempts)
		done <- err
	}()
	serr := serve(ctx, mux, addr, addrFile, stderr)
	perr := <-done
	if serr != nil {
		return serr
	}
	if perr != nil && ctx.Err() == nil {
		return fmt.Errorf("pushing: %w", perr)
	}
	return nil
}
