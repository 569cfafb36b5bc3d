package host

import (
	"context"
	"time"

	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/sink"
)

// freshSetLoader is a Destination that can load, once per run, the set of
// an account's fresh profiles (*sink.Sink can). With it, each page's
// decision costs the same whatever the account's size; without it (a test
// destination), each page asks FreshProfiles.
type freshSetLoader interface {
	LoadFreshProfiles(ctx context.Context, appid string, since time.Time) (*sink.FreshSet, error)
}

// profileFilter is the plugin.Host a Run serves when users is synced: it
// answers NeedProfiles from the destination: the openids with no profile
// yet or one older than maxAge (all of them, with full).
type profileFilter struct {
	dst    Destination
	appid  string
	maxAge time.Duration
	full   bool

	// loaded is closed once set and err are: the set of fresh profiles,
	// loaded by start when dst can (nil: each page asks FreshProfiles).
	loaded chan struct{}
	set    *sink.FreshSet
	err    error
}

// start begins loading the run's set of fresh profiles, when dst can and
// a full refresh does not skip it, and returns a function that waits for
// the load to end (cancel ctx first to end it early). The load runs while
// the plugin starts and lists its first pages, instead of after the
// first page's question: at 10M profiles it takes about 2 s, in which the
// walk would otherwise wait. The set is fixed from then on: a profile
// fetched by this run is not in it, which costs nothing, since the walk
// lists each follower once.
func (f *profileFilter) start(ctx context.Context) (wait func()) {
	loader, ok := f.dst.(freshSetLoader)
	if f.full || !ok {
		return func() {}
	}
	f.loaded = make(chan struct{})
	since := time.Now().Add(-f.maxAge)
	go func() {
		defer close(f.loaded)
		f.set, f.err = loader.LoadFreshProfiles(ctx, f.appid, since)
	}()
	return func() { <-f.loaded }
}

// NeedProfiles returns, of openids, those whose profile is missing or
// stale, in the order given.
func (f *profileFilter) NeedProfiles(ctx context.Context, openids []string) ([]string, error) {
	if f.full {
		return openids, nil
	}
	if f.loaded != nil {
		select {
		case <-f.loaded:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if f.err != nil {
			return nil, f.err
		}
		return f.set.Need(openids), nil
	}
	fresh, err := f.dst.FreshProfiles(ctx, f.appid, openids, time.Now().Add(-f.maxAge))
	if err != nil {
		return nil, err
	}
	need := make([]string, 0, len(openids)-len(fresh))
	for _, id := range openids {
		if !fresh[id] {
			need = append(need, id)
		}
	}
	return need, nil
}

// services is the Host a Run serves when it keeps credentials: the
// profile filter (nil when users is not synced: every openid is needed)
// and a plugin.Keeper.
type services struct {
	profiles plugin.Host
	keeper   plugin.Keeper
}

// NeedProfiles asks the profile filter, if there is one.
func (s *services) NeedProfiles(ctx context.Context, openids []string) ([]string, error) {
	if s.profiles == nil {
		return openids, nil
	}
	return s.profiles.NeedProfiles(ctx, openids)
}

// KeepRefreshToken stores a refresh token through the keeper.
func (s *services) KeepRefreshToken(ctx context.Context, appid, refreshToken string) error {
	return s.keeper.KeepRefreshToken(ctx, appid, refreshToken)
}
