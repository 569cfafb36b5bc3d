package host

import (
	"context"
	"sync"
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

	mu  sync.Mutex
	set *sink.FreshSet // loaded on the first NeedProfiles, when dst can
}

// NeedProfiles returns, of openids, those whose profile is missing or
// stale, in the order given.
func (f *profileFilter) NeedProfiles(ctx context.Context, openids []string) ([]string, error) {
	if f.full {
		return openids, nil
	}
	if loader, ok := f.dst.(freshSetLoader); ok {
		set, err := f.freshSet(ctx, loader)
		if err != nil {
			return nil, err
		}
		return set.Need(openids), nil
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

// freshSet returns the run's set of fresh profiles, loading it on first
// use. The set is fixed from then on: a profile fetched by this run is not
// in it, which costs nothing, since the walk lists each follower once.
func (f *profileFilter) freshSet(ctx context.Context, loader freshSetLoader) (*sink.FreshSet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.set == nil {
		set, err := loader.LoadFreshProfiles(ctx, f.appid, time.Now().Add(-f.maxAge))
		if err != nil {
			return nil, err
		}
		f.set = set
	}
	return f.set, nil
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
