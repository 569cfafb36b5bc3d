package main

import (
	"flag"
	"fmt"
	"net/http"

	"github.com/wxsync/wxsync/connector/wxsim"
)

// multiSettings are the flags of the many-accounts mode.
type multiSettings struct {
	accounts int
	bearer   string
}

func multiFlags(fs *flag.FlagSet) *multiSettings {
	m := &multiSettings{}
	fs.IntVar(&m.accounts, "accounts", 0, "serve this many accounts (wxsim.Multi): appid wxsimNNNNNNNNNNNNN and secret <-secret>-N for account N (from 0), seed <-seed>+N, every other flag as given; 0: one account")
	fs.StringVar(&m.bearer, "token-service-bearer", "", "with -accounts: the bearer credential of the central token service at /wxsim/token?appid= (empty: none asked)")
	return m
}

// multiAppID is account n's appid in the many-accounts mode.
func multiAppID(n int) string { return fmt.Sprintf("wxsim%013d", n) }

// handler serves the accounts, built from o, and the token service.
func (m *multiSettings) handler(o wxsim.Options) (http.Handler, error) {
	multi := wxsim.NewMulti(wxsim.PlatformOptions{})
	for n := range m.accounts {
		a := o
		a.AppID, a.Secret, a.Seed = multiAppID(n), fmt.Sprintf("%s-%d", o.Secret, n), o.Seed+uint64(n)
		a.Quotas = make(map[string]int, len(o.Quotas))
		for k, v := range o.Quotas {
			a.Quotas[k] = v
		}
		if _, _, err := multi.Add(a, false); err != nil {
			return nil, err
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/wxsim/token", multi.TokenService(m.bearer))
	mux.Handle("/", multi)
	return mux, nil
}
