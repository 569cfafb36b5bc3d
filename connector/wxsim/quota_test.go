package wxsim

import (
	"net/url"
	"testing"
)

type quotaAns struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
	Quota   *struct {
		DailyLimit int `json:"daily_limit"`
		Used       int `json:"used"`
		Remain     int `json:"remain"`
	} `json:"quota"`
}

func (h *harness) quota(tok, path string) quotaAns {
	h.t.Helper()
	var a quotaAns
	h.decode(h.post(PathQuotaGet, tok, quotaReq{path}), &a)
	return a
}

func TestQuota(t *testing.T) {
	h := start(t, func(o *Options) { o.Quotas[PathUserGet] = 3 })
	tok := h.token()
	if q := h.quota(tok, PathUserGet); q.ErrCode != 0 || q.ErrMsg != "ok" || q.Quota == nil ||
		q.Quota.DailyLimit != 3 || q.Quota.Used != 0 || q.Quota.Remain != 3 {
		t.Fatalf("quota/get before: %+v", q)
	}
	q := url.Values{"access_token": {tok}}
	for range 3 {
		h.userGet(tok, "")
	}
	h.wantErr(h.get(PathUserGet, q), 45009)
	h.wantErr(h.get(PathUserGet, q), 45009)
	if a := h.quota(tok, PathUserGet); a.Quota.Used != 3 || a.Quota.Remain != 0 {
		t.Fatalf("quota/get after: %+v", a.Quota)
	}
	if a := h.quota(tok, PathBatchGet); a.Quota.DailyLimit != 5000000 || a.Quota.Used != 0 {
		t.Fatalf("batchget quota: %+v", a.Quota)
	}
	if a := h.quota(tok, PathToken); a.Quota.Used != 1 || a.Quota.DailyLimit != 2000 {
		t.Fatalf("token quota: %+v", a.Quota)
	}
	h.wantErr(h.post(PathQuotaGet, tok, quotaReq{"/cgi-bin/nope"}), 76021)
	h.wantErr(h.post(PathQuotaGet, tok, quotaReq{""}), 76021)

	h.srv.ResetQuota()
	if a := h.userGet(tok, ""); a.Count != MaxPageSize {
		t.Fatal("user/get after ResetQuota")
	}
	if a := h.quota(tok, PathUserGet); a.Quota.Used != 1 || a.Quota.Remain != 2 {
		t.Fatalf("quota/get after reset: %+v", a.Quota)
	}
	// clear_quota (which a connector never calls) also resets.
	h.wantErr(h.post(PathClearQuota, tok, clearQuotaReq{"wrong"}), 40013)
	var e apiError
	h.decode(h.post(PathClearQuota, tok, clearQuotaReq{h.srv.Options().AppID}), &e)
	if e.ErrCode != 0 || h.quota(tok, PathUserGet).Quota.Used != 0 {
		t.Fatal("clear_quota did not reset")
	}
}

func TestQuotaZeroAndUnlimited(t *testing.T) {
	h := start(t, func(o *Options) {
		o.Quotas[PathBatchGet] = 0
		delete(o.Quotas, PathUserGet)
	})
	tok := h.token()
	h.wantErr(h.post(PathBatchGet, tok, batchOf(h.srv.OpenID(0))), 45009)
	for range 5 {
		h.userGet(tok, "")
	}
	h.wantErr(h.post(PathQuotaGet, tok, quotaReq{PathUserGet}), 76021)
}

func TestValidate(t *testing.T) {
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	bad := []func(*Options){
		func(o *Options) { o.AppID = "" },
		func(o *Options) { o.Followers = -1 },
		func(o *Options) { o.PageSize = 10001 },
		func(o *Options) { o.BlacklistPageSize = 0 },
		func(o *Options) { o.Blacklisted = o.Followers + 1 },
		func(o *Options) { o.TokenGrace = o.TokenTTL },
		func(o *Options) { o.Quotas = map[string]int{"/cgi-bin/typo": 1} },
		func(o *Options) { o.BusyRate = 1.5 },
		func(o *Options) { o.Faults = []Fault{{Path: PathUserGet, Kind: 0}} },
		func(o *Options) { o.Churn = Churn{Remove: o.Followers + 1} },
		func(o *Options) { o.Now = nil },
		func(o *Options) { o.EndStyle = 7 },
	}
	for i, edit := range bad {
		o := DefaultOptions()
		edit(&o)
		if _, err := New(o); err == nil {
			t.Errorf("case %d: invalid options accepted", i)
		}
	}
	if _, err := New(Options{}); err == nil {
		t.Error("zero Options accepted")
	}
	if s, err := ParseEndStyle("empty-next"); err != nil || s != EndEmptyNext {
		t.Error("ParseEndStyle")
	}
	if c, err := ParseChurn("2:500:300"); err != nil || c != (Churn{2, 500, 300}) {
		t.Errorf("ParseChurn: %+v %v", c, err)
	}
	if _, err := ParseChurn("2:x:3"); err == nil {
		t.Error("ParseChurn accepted garbage")
	}
}
