package host

import (
	"context"
	"time"

	"github.com/wxsync/wxsync/plugin"
)

// profileFilter is the plugin.Host a Run serves when users is synced: it
// answers NeedProfiles from the destination: the openids with no profile
// yet or one older than maxAge (all of them, with full).
type profileFilter struct {
	dst    Destination
	appid  string
	maxAge time.Duration
	full   bool
}

// NeedProfiles returns, of openids, those whose profile is missing or
// stale, in the order given.
func (f *profileFilter) NeedProfiles(ctx context.Context, openids []string) ([]string, error) {
	if f.full {
		return openids, nil
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
