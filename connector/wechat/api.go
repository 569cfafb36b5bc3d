package wechat

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
)

const (
	maxOpenIDLen   = 64
	maxBatchGetIDs = 100
)

// Page is one page of the follower list or the blacklist.
type Page struct {
	// Total is the platform's total at the time of the call; it drifts
	// while paging and must not be used to decide when to stop.
	Total int
	// Count is len(OpenIDs). When the platform's "count" differs, the list
	// wins and a warning is logged.
	Count int
	// OpenIDs are returned as received, duplicates included; each one has
	// been checked to be 1–64 bytes of [A-Za-z0-9_-].
	OpenIDs []string
	// NextOpenID is the cursor for the next page ("" = none given).
	NextOpenID string
	// HasData is false when the answer had no "data" key (an account
	// without followers, or the call after the last page); Count is 0 then.
	HasData bool
}

type pageResponse struct {
	status
	Total *int `json:"total"`
	Count int  `json:"count"`
	Data  *struct {
		OpenID []string `json:"openid"`
	} `json:"data"`
	NextOpenID string `json:"next_openid"`
}

// ListFollowers returns the page of followers starting after nextOpenID
// ("" = from the beginning), up to 10,000 openids (GET /cgi-bin/user/get).
// Stop paging when Count is 0 or NextOpenID is empty, never on Total.
func (c *Client) ListFollowers(ctx context.Context, nextOpenID string) (Page, error) {
	req := &request{method: http.MethodGet, path: pathUserGet, auth: true, param: "next_openid", cursor: nextOpenID}
	if nextOpenID != "" {
		req.query = url.Values{"next_openid": {nextOpenID}}
	}
	return c.page(ctx, req)
}

// Blacklist returns the page of blacklisted users starting after
// beginOpenID ("" = from the beginning)
// (POST /cgi-bin/tags/members/getblacklist).
func (c *Client) Blacklist(ctx context.Context, beginOpenID string) (Page, error) {
	body, err := json.Marshal(struct {
		BeginOpenID string `json:"begin_openid"`
	}{beginOpenID})
	if err != nil {
		return Page{}, fmt.Errorf("wechat: %s: encoding the request: %w", pathBlacklist, err)
	}
	req := &request{method: http.MethodPost, path: pathBlacklist, body: body, auth: true, param: "begin_openid", cursor: beginOpenID}
	return c.page(ctx, req)
}

func (c *Client) page(ctx context.Context, req *request) (Page, error) {
	if req.cursor != "" {
		if p := checkOpenID(req.cursor); p != "" {
			return Page{}, fmt.Errorf("wechat: %s: refusing to send %s %q: it %s", req.path, req.param, req.cursor, p)
		}
	}
	res, err := call[pageResponse](ctx, c, req)
	if err != nil {
		return Page{}, err
	}
	p := Page{NextOpenID: res.NextOpenID, HasData: res.Data != nil}
	if res.Total != nil {
		p.Total = *res.Total
	}
	if p.Total < 0 || res.Count < 0 {
		return Page{}, req.responseError(fmt.Sprintf("negative total (%d) or count (%d)", p.Total, res.Count), nil)
	}
	if pr := checkOpenID(res.NextOpenID); res.NextOpenID != "" && pr != "" {
		return Page{}, req.responseError("next_openid "+pr, nil)
	}
	if res.Data == nil {
		if res.Count != 0 {
			return Page{}, req.responseError(fmt.Sprintf("count is %d but the data key is absent", res.Count), nil)
		}
		return p, nil
	}
	ids := res.Data.OpenID
	for i, id := range ids {
		if pr := checkOpenID(id); pr != "" {
			return Page{}, req.responseError(fmt.Sprintf("openid #%d of %d %s; the page is rejected", i, len(ids), pr), nil)
		}
	}
	if res.Count != len(ids) {
		c.log.LogAttrs(ctx, slog.LevelWarn, "wechat page count differs from its openid list; using the list",
			slog.String("path", req.path), slog.String(req.param, req.cursor),
			slog.Int("count", res.Count), slog.Int("openids", len(ids)))
	}
	p.OpenIDs = ids
	p.Count = len(ids)
	return p, nil
}

// ValidateOpenID returns an error saying what is wrong with an openid, or
// nil: non-empty, at most 64 bytes, only A-Z a-z 0-9 _ -. The error never
// quotes the value.
func ValidateOpenID(s string) error {
	if problem := checkOpenID(s); problem != "" {
		return fmt.Errorf("openid %s", problem)
	}
	return nil
}

// checkOpenID returns what is wrong with an openid, or "". It never quotes
// the value.
func checkOpenID(s string) string {
	if s == "" {
		return "is empty"
	}
	if len(s) > maxOpenIDLen {
		return fmt.Sprintf("is %d bytes long (max %d)", len(s), maxOpenIDLen)
	}
	for i := 0; i < len(s); i++ {
		if !openIDByte[s[i]] {
			return fmt.Sprintf("contains byte 0x%02x at offset %d (allowed: A-Z a-z 0-9 _ -)", s[i], i)
		}
	}
	return ""
}

// openIDByte tells the bytes an openid may hold: A-Z a-z 0-9 _ -. A table
// rather than comparisons: every openid of every page goes through
// checkOpenID, and its mixed-case bytes defeat branch prediction.
var openIDByte = func() (t [256]bool) {
	for b := range t {
		t[b] = 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || b == '-'
	}
	return t
}()

// User is a follower's profile as returned by batchget. Nickname, avatar,
// sex and region are no longer provided by WeChat (empty since 2021-12-27)
// and are not modelled. When Subscribe is 0 only OpenID is set.
type User struct {
	Subscribe      int      `json:"subscribe"`
	OpenID         string   `json:"openid"`
	Language       string   `json:"language"`
	SubscribeTime  int64    `json:"subscribe_time"` // unix seconds
	UnionID        string   `json:"unionid"`
	Remark         string   `json:"remark"`
	GroupID        int64    `json:"groupid"`
	TagIDs         []uint32 `json:"tagid_list"`
	SubscribeScene string   `json:"subscribe_scene"`
	QRScene        int64    `json:"qr_scene"`
	QRSceneStr     string   `json:"qr_scene_str"`
}

type batchGetResponse struct {
	status
	Users *[]User `json:"user_info_list"`
}

// Languages accepted by BatchGetUsers.
const (
	LangZhCN = "zh_CN"
	LangZhTW = "zh_TW"
	LangEn   = "en"
)

// BatchGetUsers returns the profiles of up to 100 openids
// (POST /cgi-bin/user/info/batchget); lang is zh_CN (default when ""),
// zh_TW or en. More than 100 openids, or a malformed one, is an error
// before any request; no openids returns nil without a request. Every
// returned user's openid is one that was asked for; users the platform
// leaves out are logged as a warning.
func (c *Client) BatchGetUsers(ctx context.Context, openids []string, lang string) ([]User, error) {
	if len(openids) == 0 {
		return nil, nil
	}
	if len(openids) > maxBatchGetIDs {
		return nil, fmt.Errorf("wechat: %s: %d openids in one call, at most %d allowed", pathBatchGet, len(openids), maxBatchGetIDs)
	}
	switch lang {
	case "":
		lang = LangZhCN
	case LangZhCN, LangZhTW, LangEn:
	default:
		return nil, fmt.Errorf("wechat: %s: lang %q: want %s, %s or %s", pathBatchGet, lang, LangZhCN, LangZhTW, LangEn)
	}
	type item struct {
		OpenID string `json:"openid"`
		Lang   string `json:"lang"`
	}
	list := make([]item, len(openids))
	asked := make(map[string]struct{}, len(openids))
	for i, id := range openids {
		if p := checkOpenID(id); p != "" {
			return nil, fmt.Errorf("wechat: %s: openid #%d of the request %s", pathBatchGet, i, p)
		}
		list[i] = item{id, lang}
		asked[id] = struct{}{}
	}
	body, err := json.Marshal(struct {
		UserList []item `json:"user_list"`
	}{list})
	if err != nil {
		return nil, fmt.Errorf("wechat: %s: encoding the request: %w", pathBatchGet, err)
	}
	req := &request{method: http.MethodPost, path: pathBatchGet, body: body, auth: true}
	res, err := call[batchGetResponse](ctx, c, req)
	if err != nil {
		return nil, err
	}
	if res.Users == nil {
		return nil, req.responseError("user_info_list is absent", nil)
	}
	users := *res.Users
	for i, u := range users {
		if p := checkOpenID(u.OpenID); p != "" {
			return nil, req.responseError(fmt.Sprintf("user #%d: openid %s", i, p), nil)
		}
		if _, ok := asked[u.OpenID]; !ok {
			return nil, req.responseError(fmt.Sprintf("user #%d: openid %q was not asked for", i, u.OpenID), nil)
		}
	}
	if len(users) != len(openids) {
		c.log.LogAttrs(ctx, slog.LevelWarn, "wechat batchget returned a different number of users",
			slog.String("path", pathBatchGet), slog.Int("asked", len(openids)), slog.Int("got", len(users)))
	}
	return users, nil
}

// Tag is a user tag of the account.
type Tag struct {
	ID    uint32 `json:"id"`
	Name  string `json:"name"`
	Count int64  `json:"count"` // followers carrying the tag
}

type tagsResponse struct {
	status
	Tags *[]Tag `json:"tags"`
}

// Tags returns the account's tags (GET /cgi-bin/tags/get). An answer
// without a "tags" key is an error.
func (c *Client) Tags(ctx context.Context) ([]Tag, error) {
	req := &request{method: http.MethodGet, path: pathTags, auth: true}
	res, err := call[tagsResponse](ctx, c, req)
	if err != nil {
		return nil, err
	}
	if res.Tags == nil {
		return nil, req.responseError("tags is absent", nil)
	}
	for i, t := range *res.Tags {
		if t.Count < 0 {
			return nil, req.responseError(fmt.Sprintf("tag #%d (id %d) has a negative count %d", i, t.ID, t.Count), nil)
		}
	}
	return *res.Tags, nil
}

// Quota is the daily quota of one API.
type Quota struct {
	DailyLimit int64 `json:"daily_limit"`
	Used       int64 `json:"used"`
	Remain     int64 `json:"remain"`
}

type quotaResponse struct {
	status
	Quota *Quota `json:"quota"`
}

// Quota returns today's quota of the API at cgiPath, e.g.
// "/cgi-bin/user/get" (POST /cgi-bin/openapi/quota/get). It is itself
// subject to a quota; errcode 76021 means the path is unknown.
func (c *Client) Quota(ctx context.Context, cgiPath string) (Quota, error) {
	if len(cgiPath) < 2 || cgiPath[0] != '/' {
		return Quota{}, fmt.Errorf("wechat: %s: cgi_path %q: want an API path such as %s", pathQuota, cgiPath, pathUserGet)
	}
	body, err := json.Marshal(struct {
		CGIPath string `json:"cgi_path"`
	}{cgiPath})
	if err != nil {
		return Quota{}, fmt.Errorf("wechat: %s: encoding the request: %w", pathQuota, err)
	}
	req := &request{method: http.MethodPost, path: pathQuota, body: body, auth: true}
	res, err := call[quotaResponse](ctx, c, req)
	if err != nil {
		return Quota{}, err
	}
	if res.Quota == nil {
		return Quota{}, req.responseError("quota is absent", nil)
	}
	q := *res.Quota
	if q.DailyLimit < 0 || q.Used < 0 || q.Remain < 0 {
		return Quota{}, req.responseError(fmt.Sprintf("negative quota figures %+v", q), nil)
	}
	return q, nil
}
