package wxsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
)

// route describes one API path.
type route struct {
	post   bool                                      // POST only (43002 otherwise)
	auth   bool                                      // needs a valid access_token
	parse  func(s *Server, rq *request) (any, reply) // parses the request up front (for the call log), may be nil
	handle func(s *Server, rq *request) reply
}

func newRoutes() map[string]route {
	return map[string]route{
		PathToken:       {handle: (*Server).token},
		PathStableToken: {post: true, parse: parseJSON[stableReq], handle: (*Server).stableToken},
		PathUserGet:     {auth: true, parse: parseUserGet, handle: (*Server).userGet},
		PathUserInfo:    {auth: true, handle: (*Server).userInfo},
		PathBatchGet:    {post: true, auth: true, parse: parseBatch, handle: (*Server).batchGet},
		PathTagsGet:     {auth: true, handle: (*Server).tagsGet},
		PathBlacklist:   {post: true, auth: true, parse: parseBlacklist, handle: (*Server).blacklistPage},
		PathQuotaGet:    {post: true, auth: true, parse: parseJSON[quotaReq], handle: (*Server).quotaGet},
		PathClearQuota:  {post: true, auth: true, parse: parseJSON[clearQuotaReq], handle: (*Server).clearQuota},
	}
}

type stableReq struct {
	GrantType    string `json:"grant_type"`
	AppID        string `json:"appid"`
	Secret       string `json:"secret"`
	ForceRefresh bool   `json:"force_refresh"`
}

type batchReq struct {
	UserList []struct {
		OpenID string `json:"openid"`
		Lang   string `json:"lang"`
	} `json:"user_list"`
}

type blacklistReq struct {
	BeginOpenID string `json:"begin_openid"`
}

type quotaReq struct {
	CGIPath string `json:"cgi_path"`
}

type clearQuotaReq struct {
	AppID string `json:"appid"`
}

// parseJSON decodes a POST body: 44002 when empty, 47001 when not JSON.
func parseJSON[T any](s *Server, rq *request) (any, reply) {
	v := new(T)
	if len(bytes.TrimSpace(rq.body)) == 0 {
		return nil, s.errReply(44002, "empty post data", rq.call.Time)
	}
	if err := json.Unmarshal(rq.body, v); err != nil {
		return nil, s.errReply(47001, "data format error", rq.call.Time)
	}
	return v, reply{}
}

func parseUserGet(_ *Server, rq *request) (any, reply) {
	rq.call.Cursor = rq.q.Get("next_openid")
	return nil, reply{}
}

func parseBatch(s *Server, rq *request) (any, reply) {
	v, rp := parseJSON[batchReq](s, rq)
	if v != nil {
		rq.call.Batch = len(v.(*batchReq).UserList)
	}
	return v, rp
}

func parseBlacklist(s *Server, rq *request) (any, reply) {
	v, rp := parseJSON[blacklistReq](s, rq)
	if v != nil {
		rq.call.Cursor = v.(*blacklistReq).BeginOpenID
	}
	return v, rp
}

// checkCredentials checks appid and secret as both token endpoints do;
// badSecret is the errcode for a wrong secret (40001 classic, 40125 stable).
func (s *Server) checkCredentials(rq *request, grant, appid, secret string, badSecret int) (reply, bool) {
	switch {
	case grant != "client_credential":
		return s.errReply(40002, "invalid grant_type", rq.now), false
	case appid == "":
		return s.errReply(41002, "appid missing", rq.now), false
	case appid != s.opts.AppID:
		return s.errReply(40013, "invalid appid", rq.now), false
	case secret == "":
		return s.errReply(41004, "appsecret missing", rq.now), false
	case secret != s.opts.Secret:
		if badSecret == 40001 {
			return s.errReply(40001, msgInvalidCredential, rq.now), false
		}
		return s.errReply(40125, "invalid appsecret", rq.now), false
	}
	return reply{}, true
}

type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

func (s *Server) token(rq *request) reply {
	q := rq.q
	if rp, ok := s.checkCredentials(rq, q.Get("grant_type"), q.Get("appid"), q.Get("secret"), 40001); !ok {
		return rp
	}
	tok, ttl := s.issueClassic(rq.now)
	return jsonReply(tokenAnswer{tok, int64(ttl.Seconds())})
}

func (s *Server) stableToken(rq *request) reply {
	req := rq.parsed.(*stableReq)
	if rp, ok := s.checkCredentials(rq, req.GrantType, req.AppID, req.Secret, 40125); !ok {
		return rp
	}
	tok, left := s.issueStable(rq.now, req.ForceRefresh)
	return jsonReply(tokenAnswer{tok, int64(left.Seconds())})
}

// page is one page of a list, as indices.
type page struct {
	total uint64
	items []uint64
	prev  []uint64 // entries listed just before the page (FaultDuplicates only)
	more  bool     // entries follow the page
}

// prevTail is how many entries of the previous page FaultDuplicates repeats.
func prevTail(size int) int { return min(5, size/2) }

// cursorIndex decodes a list cursor; false when it is not an openid this
// account ever had (40003). Caller holds fmu.
func (s *Server) cursorIndex(cursor string) (uint64, bool) {
	idx, ok := s.codec.index(cursor)
	return idx, ok && s.f.exists(idx)
}

func (s *Server) userGet(rq *request) reply {
	cursor := rq.q.Get("next_openid")
	buf := s.getIdx()
	defer s.idxs.Put(buf)
	s.fmu.RLock()
	it := s.f.after(0, true)
	if cursor != "" {
		idx, ok := s.cursorIndex(cursor)
		if !ok {
			s.fmu.RUnlock()
			return s.errReply(40003, "invalid openid", rq.now)
		}
		it = s.f.after(idx, false)
	}
	p := page{total: s.f.total()}
	if rq.fault == FaultDuplicates {
		back := it
		for range prevTail(s.opts.PageSize) {
			idx, ok := back.prev()
			if !ok {
				break
			}
			p.prev = append(p.prev, idx)
		}
		slices.Reverse(p.prev)
	}
	p.items, p.more = it.page((*buf)[:0], s.opts.PageSize)
	s.fmu.RUnlock()
	*buf = p.items[:0]
	return s.pageReply(rq, p, cursor, s.opts.PageSize)
}

func (s *Server) blacklistPage(rq *request) reply {
	cursor := rq.parsed.(*blacklistReq).BeginOpenID
	var j uint64
	if cursor != "" {
		s.fmu.RLock()
		idx, ok := s.cursorIndex(cursor)
		s.fmu.RUnlock()
		if !ok {
			return s.errReply(40003, "invalid openid", rq.now)
		}
		j = s.bl.firstAfter(idx)
	}
	size := s.opts.BlacklistPageSize
	buf := s.getIdx()
	defer s.idxs.Put(buf)
	p := page{total: s.bl.b}
	if rq.fault == FaultDuplicates {
		for t := min(j, uint64(prevTail(size))); t > 0; t-- {
			p.prev = append(p.prev, s.bl.index(j-t))
		}
	}
	p.items, p.more = s.bl.page((*buf)[:0], j, size)
	*buf = p.items[:0]
	return s.pageReply(rq, p, cursor, size)
}

// pageReply encodes a list page in the configured end style, applying a
// list fault if one is scripted for this call.
func (s *Server) pageReply(rq *request, p page, cursor string, size int) reply {
	if rq.fault == FaultEarlyEnd {
		p.items, p.more = nil, false
	}
	if rq.fault.listOnly() && rq.fault != FaultEarlyEnd {
		return s.faultyPage(rq.fault, p, cursor, size)
	}
	next := ""
	if n := len(p.items); n > 0 && (p.more || s.opts.EndStyle == EndCountZero) {
		next = s.codec.openID(p.items[n-1])
	}
	buf := s.getBuf()
	b := appendPage((*buf)[:0], p.total, len(p.items), len(p.items), func(b []byte, i int) []byte {
		b = append(b, '"')
		b = s.codec.appendOpenID(b, p.items[i])
		return append(b, '"')
	}, next)
	return reply{status: http.StatusOK, ctype: jsonContentType, body: b, buf: buf}
}

// faultyPage builds a page with bad data (see the list fault kinds).
func (s *Server) faultyPage(fault FaultKind, p page, cursor string, size int) reply {
	list := make([]string, 0, len(p.prev)+len(p.items)+len(p.items)/1000+3)
	if len(p.items) > 0 {
		if fault == FaultDuplicates {
			list = append(list, s.openIDs(p.prev)...)
		}
		for i, idx := range p.items {
			id := s.codec.openID(idx)
			list = append(list, id)
			if fault == FaultDuplicates && i%1000 == 0 {
				list = append(list, id)
			}
		}
		mid := len(list) / 2
		switch fault {
		case FaultEmptyOpenID:
			list = slices.Insert(list, mid, "")
		case FaultBadOpenID:
			first := list[0]
			list = slices.Insert(list, mid, first[:OpenIDLength-1]+"+", first+"AAAAAAAAAAAA")
		}
	}
	more := p.more
	if len(list) > size {
		list, more = list[:size], true
	}
	next := ""
	if len(list) > 0 && (more || s.opts.EndStyle == EndCountZero) {
		next = list[len(list)-1]
	}
	count := len(list)
	switch fault {
	case FaultCountMismatch:
		count++
	case FaultRepeatNext:
		next = cursor
	}
	b := appendPage(nil, p.total, count, len(list), func(b []byte, i int) []byte {
		return appendJSONString(b, list[i])
	}, next)
	return reply{status: http.StatusOK, ctype: jsonContentType, body: b}
}

func (s *Server) profileAnswer(openid string) (any, bool) {
	p, ok := s.Profile(openid)
	switch {
	case !ok:
		return nil, false
	case p.Subscribe == 0:
		return unsubscribed{OpenID: openid}, true
	}
	return p, true
}

func (s *Server) userInfo(rq *request) reply {
	a, ok := s.profileAnswer(rq.q.Get("openid"))
	if !ok {
		return s.errReply(40003, "invalid openid", rq.now)
	}
	return jsonReply(a)
}

func (s *Server) batchGet(rq *request) reply {
	req := rq.parsed.(*batchReq)
	if n := len(req.UserList); n == 0 || n > MaxBatch {
		return s.errReply(40032, "invalid openid list size", rq.now)
	}
	buf := s.getBuf()
	b := append((*buf)[:0], `{"user_info_list":[`...)
	for i, u := range req.UserList {
		p, ok := s.Profile(u.OpenID)
		if !ok {
			*buf = b[:0]
			s.bufs.Put(buf)
			return s.errReply(40003, "invalid openid", rq.now)
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = appendProfile(b, p)
	}
	b = append(b, "]}"...)
	return reply{status: http.StatusOK, ctype: jsonContentType, body: b, buf: buf}
}

func (s *Server) tagsGet(*request) reply {
	return jsonReply(struct {
		Tags []Tag `json:"tags"`
	}{s.Tags()})
}

type quotaAnswer struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
	Quota   struct {
		DailyLimit int `json:"daily_limit"`
		Used       int `json:"used"`
		Remain     int `json:"remain"`
	} `json:"quota"`
}

func (s *Server) quotaGet(rq *request) reply {
	path := rq.parsed.(*quotaReq).CGIPath
	s.mu.Lock()
	limit, ok := s.opts.Quotas[path]
	used := s.used[path]
	s.mu.Unlock()
	if !ok {
		return s.errReply(76021, "cgi_path not found, please check", rq.now)
	}
	a := quotaAnswer{ErrMsg: "ok"}
	a.Quota.DailyLimit, a.Quota.Used, a.Quota.Remain = limit, used, max(limit-used, 0)
	return jsonReply(a)
}

func (s *Server) clearQuota(rq *request) reply {
	if rq.parsed.(*clearQuotaReq).AppID != s.opts.AppID {
		return s.errReply(40013, "invalid appid", rq.now)
	}
	s.ResetQuota()
	return jsonReply(struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}{0, "ok"})
}
