package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/wxsync/wxsync/connector/wechat"
	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/schema"
)

// Version is the source's version, reported by Spec.
const Version = "0.1.0"

// Source is the WeChat source. It implements plugin.Source.
type Source struct {
	log   *slog.Logger
	level *slog.LevelVar
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
	return &Source{log: log, level: level}
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
	cfg, err := ParseConfig(config)
	if err != nil {
		return nil, err
	}
	s.setLevel(cfg.LogLevel)
	api, err := wechat.New(cfg.clientConfig())
	if err != nil {
		return []plugin.CheckResult{{Name: "config", Message: err.Error()}}, nil
	}
	results := []plugin.CheckResult{{Name: "config", OK: true, Message: "appid " + cfg.AppID}}
	if err := api.Token(ctx); err != nil {
		return append(results, plugin.CheckResult{Name: "token", Message: err.Error()}), nil
	}
	results = append(results, plugin.CheckResult{Name: "token", OK: true, Message: "access token obtained"})
	page, err := api.ListFollowers(ctx, "")
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
	for _, q := range []struct {
		path, name, unit string
		need             int64
	}{
		// One call per 10,000 followers, plus the call that ends the list.
		{"/cgi-bin/user/get", "quota user/get", "pages", (total+PageSize-1)/PageSize + 1},
		// A full refresh; an incremental run needs far fewer.
		{"/cgi-bin/user/info/batchget", "quota batchget", "batches of 100 profiles", (total + BatchSize - 1) / BatchSize},
	} {
		quota, err := api.Quota(ctx, q.path)
		if err != nil {
			out = append(out, plugin.CheckResult{Name: q.name, Message: err.Error()})
			continue
		}
		msg := fmt.Sprintf("%d of %d calls left today; a full sync of %d followers needs %d (%s)", quota.Remain, quota.DailyLimit, total, q.need, q.unit)
		r := plugin.CheckResult{Name: q.name, OK: true, Message: msg}
		if quota.Remain < q.need {
			r.Warning = true
			r.Message = msg + ": it cannot finish today; a sync goes as far as the quota allows, exits 75, and resumes from its cursor tomorrow"
		}
		out = append(out, r)
	}
	return out
}

// Read syncs the requested streams in order.
func (s *Source) Read(ctx context.Context, req plugin.ReadRequest, out plugin.Emitter) error {
	states := req.Streams
	cfg, err := ParseConfig(req.Config)
	if err != nil {
		return plugin.ConfigError(err)
	}
	s.setLevel(cfg.LogLevel)
	api, err := wechat.New(cfg.clientConfig())
	if err != nil {
		return plugin.ConfigError(err)
	}
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
		if err := s.readAccount(ctx, api, cfg, req.Host, followers, users, cursor, out); err != nil {
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
func classify(ctx context.Context, err error) plugin.Kind {
	var typed *plugin.Error
	if errors.As(err, &typed) {
		return typed.Kind
	}
	if ctx.Err() != nil {
		return plugin.KindTemporary
	}
	switch wechat.Classify(err) {
	case wechat.ClassConfig:
		return plugin.KindConfig
	case wechat.ClassTemporary:
		return plugin.KindTemporary
	default:
		return plugin.KindInternal
	}
}
