package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/wxsync/wxsync/connector/wechat"
	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/plugin/kind"
	"github.com/wxsync/wxsync/schema"
)

// Version is the source's version, reported by Spec.
const Version = "0.1.0"

// Source is the WeChat source. It implements plugin.Source.
type Source struct {
	log   *slog.Logger
	level *slog.LevelVar
	// hc carries every Read's API requests: a plugin that serves many
	// accounts one after another reuses its connections.
	hc *http.Client
}

// New returns the WeChat source, logging to log, whose handler must use
// level as its level: each request sets it from the host's configuration.
func New(log *slog.Logger, level *slog.LevelVar) *Source {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if level == nil {
		level = new(slog.LevelVar)
	}
	return &Source{log: log, level: level, hc: wechat.NewHTTPClient()}
}

// setLevel applies the host's log level, if it names one.
func (s *Source) setLevel(name string) {
	var l slog.Level
	if l.UnmarshalText([]byte(name)) == nil {
		s.level.Set(l)
	}
}

// Spec names the source and its streams.
func (s *Source) Spec(context.Context) (plugin.Spec, error) {
	return plugin.Spec{Name: "wechat", Version: Version, Streams: implemented()}, nil
}

// Discover returns the schema of every stream's batches.
func (s *Source) Discover(context.Context) ([]plugin.StreamSchema, error) {
	var out []plugin.StreamSchema
	for _, name := range implemented() {
		st, err := schema.Lookup(name)
		if err != nil {
			return nil, err
		}
		out = append(out, plugin.StreamSchema{Name: name, Schema: st.SourceSchema()})
	}
	return out, nil
}

func implemented() []string { return schema.Names() }

// Check tries the credentials and the permission to list followers.
func (s *Source) Check(ctx context.Context, config []byte) ([]plugin.CheckResult, error) {
	return s.CheckWithHost(ctx, config, nil)
}

// CheckWithHost is Check keeping a new refresh token through host (a
// plugin.Keeper), when it is one.
func (s *Source) CheckWithHost(ctx context.Context, config []byte, host plugin.Host) ([]plugin.CheckResult, error) {
	cfg, err := ParseConfig(config)
	if err != nil {
		return nil, err
	}
	s.setLevel(cfg.LogLevel)
	keeper, _ := host.(plugin.Keeper)
	api, err := wechat.New(cfg.clientConfig(s.log, keeper, s.hc))
	if err != nil {
		return []plugin.CheckResult{{Name: "config", Message: err.Error()}}, nil
	}
	results := []plugin.CheckResult{{Name: "config", OK: true, Message: "appid " + cfg.AppID}}
	if err := api.Token(ctx); err != nil {
		return append(results, plugin.CheckResult{Name: "token", Message: err.Error()}), nil
	}
	results = append(results, plugin.CheckResult{Name: "token", OK: true, Message: "access token obtained"})
	page, err := api.ListFollowers(ctx, "")
	if wechat.IsQuota(err) {
		// Not a configuration problem: today's calls are spent.
		return append(results, plugin.CheckResult{Name: "user/get", OK: true, Warning: true,
			Message: "today's quota is used up, so the permission cannot be checked now; a sync exits 75 until the quota resets: " + err.Error()}), nil
	}
	if err != nil {
		return append(results, plugin.CheckResult{Name: "user/get", Message: err.Error()}), nil
	}
	results = append(results, plugin.CheckResult{Name: "user/get", OK: true, Message: fmt.Sprintf("permitted; the account reports %d followers", page.Total)})
	return append(results, quotaChecks(ctx, api, int64(page.Total))...), nil
}

// quotaChecks reads today's remaining quota of the two big endpoints and
// says whether a full sync of total followers fits in it. Not fitting is a
// warning: the sync goes as far as it can and resumes the next day.
func quotaChecks(ctx context.Context, api *wechat.Client, total int64) []plugin.CheckResult {
	var out []plugin.CheckResult
	for _, q := range readQuotas(ctx, api, true) {
		if q.err != nil {
			out = append(out, plugin.CheckResult{Name: q.name, Message: q.err.Error()})
			continue
		}
		q.plan(total, 0)
		msg := fmt.Sprintf("%d of %d calls left today; a full sync of %d followers needs %d (%s)", q.quota.Remain, q.quota.DailyLimit, total, q.need, q.unit)
		r := plugin.CheckResult{Name: q.name, OK: true, Message: msg}
		if q.short() {
			r.Warning = true
			r.Message = msg + ": it cannot finish today; a sync goes as far as the quota allows, exits 75, and resumes from its cursor tomorrow"
		}
		out = append(out, r)
	}
	return out
}

// quotaPlan is today's quota of one endpoint of the follower walk against
// what listing the remaining followers needs of it. `wxsync check` and the
// start of a Read (warnQuota) both use it.
type quotaPlan struct {
	path, name, unit string
	// per is how many followers one call covers.
	per int64
	// extra is how many calls a walk needs beyond one per `per` followers.
	extra int64
	quota wechat.Quota
	err   error // quota/get failed
	// need is the calls the remaining followers need (set by plan).
	need int64
}

// readQuotas reads today's quota of user/get and, with profiles, of
// batchget, one quota/get call each. A failed read is kept in its plan's
// err.
func readQuotas(ctx context.Context, api *wechat.Client, profiles bool) []quotaPlan {
	plans := []quotaPlan{
		// One call per 10,000 followers, plus the call that ends the list.
		{path: "/cgi-bin/user/get", name: "quota user/get", unit: "pages", per: PageSize, extra: 1},
	}
	if profiles {
		// A full refresh; an incremental run needs far fewer.
		plans = append(plans, quotaPlan{path: "/cgi-bin/user/info/batchget", name: "quota batchget", unit: "batches of 100 profiles", per: BatchSize})
	}
	for i := range plans {
		plans[i].quota, plans[i].err = api.Quota(ctx, plans[i].path)
	}
	return plans
}

// plan sets q.need for the followers of total not yet fetched.
func (q *quotaPlan) plan(total, fetched int64) {
	left := max(total-fetched, 0)
	q.need = (left+q.per-1)/q.per + q.extra
}

// short reports whether today's quota is known to be too small for q.need.
func (q quotaPlan) short() bool { return q.err == nil && q.quota.Remain < q.need }

// warnQuota logs, before the walk goes far, how far today's quota will take
// it when it cannot finish: the run then syncs that far, stops on 45009
// (exit 75) and the next run resumes from the cursor. It is the plugin, not
// the host, that plans: only the plugin talks to the API (the host has no
// token), and it already reads quotas for `wxsync check`. total is the
// follower count the API reports, fetched how many the snapshot has.
func (s *Source) warnQuota(plans []quotaPlan, total, fetched int64) {
	for _, q := range plans {
		if q.err != nil {
			continue
		}
		q.plan(total, fetched)
		if !q.short() {
			continue
		}
		reach := min(fetched+q.quota.Remain*q.per, total)
		what := "followers listed"
		if q.per == BatchSize {
			what = "profiles fetched, if every remaining profile is due"
		}
		s.log.Warn(fmt.Sprintf("today's quota cannot finish this sync: %s has %d of %d calls left and the remaining %d followers need %d (%s); "+
			"the run will get to about %d of %d %s, then stop with exit 75 and resume from its cursor on the next run",
			q.path, q.quota.Remain, q.quota.DailyLimit, max(total-fetched, 0), q.need, q.unit, reach, total, what),
			"path", q.path, "remain", q.quota.Remain, "daily_limit", q.quota.DailyLimit, "need", q.need, "total", total, "fetched", fetched, "reach", reach)
	}
}

// Read syncs the requested streams in order.
func (s *Source) Read(ctx context.Context, req plugin.ReadRequest, out plugin.Emitter) error {
	states := req.Streams
	cfg, err := ParseConfig(req.Config)
	if err != nil {
		return plugin.ConfigError(err)
	}
	s.setLevel(cfg.LogLevel)
	keeper, _ := req.Host.(plugin.Keeper)
	api, err := wechat.New(cfg.clientConfig(s.log, keeper, s.hc))
	if err != nil {
		return plugin.ConfigError(err)
	}
	// The last message before the Read ends (and before its Error, if
	// any): every API call made, the one that ended the Read included.
	defer func() { _ = out.Progress("", plugin.Progress{Calls: api.Calls()}) }()
	cursors := map[string][]byte{}
	for _, st := range states {
		if _, err := schema.Lookup(st.Stream); err != nil {
			return plugin.ConfigError(err)
		}
		cursors[st.Stream] = st.Cursor
	}
	_, followers := cursors[schema.Followers]
	_, users := cursors[schema.Users]
	if followers || users {
		// One walk serves both; with followers in it, its cursor leads.
		lead, cursor := schema.Followers, cursors[schema.Followers]
		if !followers {
			lead, cursor = schema.Users, cursors[schema.Users]
		}
		rq := accountRead{api: api, host: req.Host, out: out, followers: followers, users: users, cursor: cursor, concurrency: cfg.Concurrency}
		if err := s.readAccount(ctx, rq); err != nil {
			return streamError(ctx, lead, err)
		}
	}
	if _, ok := cursors[schema.Tags]; ok {
		if err := s.readTags(ctx, api, out); err != nil {
			return streamError(ctx, schema.Tags, err)
		}
	}
	if cursor, ok := cursors[schema.Blacklist]; ok {
		if err := s.readList(ctx, schema.Blacklist, cursor, api.Blacklist, api.Calls, out); err != nil {
			return streamError(ctx, schema.Blacklist, err)
		}
	}
	return nil
}

// streamError gives err a Kind and names the stream it ended, unless it
// already does.
func streamError(ctx context.Context, stream string, err error) error {
	var typed *plugin.Error
	if errors.As(err, &typed) && typed.Stream != "" {
		return err
	}
	return &plugin.Error{Kind: classify(ctx, err), Stream: stream, Err: err}
}

// classify maps an error from a stream to the Kind the host acts on.
func classify(ctx context.Context, err error) kind.Kind {
	var typed *plugin.Error
	if errors.As(err, &typed) {
		return typed.Kind
	}
	if ctx.Err() != nil {
		return kind.Temporary
	}
	return wechat.Classify(err)
}
