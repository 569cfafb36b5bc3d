package host

import (
	"context"
	"time"
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
