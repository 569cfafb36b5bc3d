package wxsim

import (
	"net/url"
	"slices"
	"strconv"
	"testing"
)

func TestWalkReturnsEveryFollowerOnce(t *testing.T) {
	for _, style := range []EndStyle{EndCountZero, EndEmptyNext} {
		for _, n := range []int{0, 1, 9999, 10000, 10001, 23000} {
			t.Run(style.String()+"/"+strconv.Itoa(n), func(t *testing.T) {
				h := start(t, func(o *Options) { o.Followers, o.EndStyle = n, style })
				tok := h.token()
				all, pages := h.walk(tok, h.userGet, MaxPageSize)

				want := h.srv.FollowerOpenIDs()
				if len(want) != n || h.srv.Total() != n {
					t.Fatalf("truth has %d followers, Total %d, want %d", len(want), h.srv.Total(), n)
				}
				if !slices.Equal(all, want) {
					t.Fatalf("walk returned %d openids, want the %d followers in list order", len(all), n)
				}
				seen := map[string]bool{}
				for _, id := range all {
					if seen[id] {
						t.Fatalf("openid %s returned twice", id)
					}
					seen[id] = true
					if !openIDRE.MatchString(id) {
						t.Fatalf("bad openid %q", id)
					}
				}
				for _, p := range pages {
					if p.Total != n {
						t.Fatalf("total %d, want %d", p.Total, n)
					}
				}

				full := (n + MaxPageSize - 1) / MaxPageSize // pages with data
				last := pages[len(pages)-1]
				switch {
				case n == 0:
					if len(pages) != 1 || last.Count != 0 || last.Data != nil || *last.NextOpenID != "" {
						t.Fatalf("empty account: pages %+v", pages)
					}
				case style == EndCountZero:
					// Every data page carries its last openid; one more call answers count 0.
					if len(pages) != full+1 || last.Count != 0 || last.Data != nil || *last.NextOpenID != "" {
						t.Fatalf("count-zero: %d pages, last %+v", len(pages), last)
					}
					end := pages[len(pages)-2]
					if *end.NextOpenID != end.openids()[end.Count-1] {
						t.Fatalf("count-zero: last data page's next_openid %q is not its last openid", *end.NextOpenID)
					}
				default:
					if len(pages) != full || *last.NextOpenID != "" || last.Count == 0 {
						t.Fatalf("empty-next: %d pages, last count %d next %q", len(pages), last.Count, *last.NextOpenID)
					}
				}
				for _, p := range pages[:full-min(full, 1)] {
					if *p.NextOpenID != p.openids()[p.Count-1] {
						t.Fatalf("next_openid %q is not the page's last openid", *p.NextOpenID)
					}
				}
				if got := h.srv.Calls()[PathUserGet]; got != len(pages) {
					t.Fatalf("Calls()[user/get] = %d, want %d", got, len(pages))
				}
			})
		}
	}
}

func TestEndPageHasNoDataKey(t *testing.T) {
	h := start(t, func(o *Options) { o.Followers = 3 })
	tok := h.token()
	a := h.userGet(tok, "")
	r := h.get(PathUserGet, url.Values{"access_token": {tok}, "next_openid": {*a.NextOpenID}})
	if string(r.body) != `{"total":3,"count":0,"next_openid":""}` {
		t.Fatalf("end answer %s", r.body)
	}
	h0 := start(t, func(o *Options) { o.Followers = 0 })
	r = h0.get(PathUserGet, url.Values{"access_token": {h0.token()}})
	if string(r.body) != `{"total":0,"count":0,"next_openid":""}` {
		t.Fatalf("empty account answer %s", r.body)
	}
}

func TestUserGetPageSizeAndInvalidCursor(t *testing.T) {
	h := start(t, func(o *Options) { o.Followers, o.PageSize = 2500, 1000 })
	tok := h.token()
	all, pages := h.walk(tok, h.userGet, 1000)
	if len(all) != 2500 || len(pages) != 4 {
		t.Fatalf("%d openids in %d pages", len(all), len(pages))
	}
	for _, bad := range []string{"garbage", OpenID(2, 5), h.srv.OpenID(2500), h.srv.OpenID(1 << 40), all[3][:27] + "+"} {
		h.wantErr(h.get(PathUserGet, url.Values{"access_token": {tok}, "next_openid": {bad}}), 40003)
	}
	// A cursor in the middle resumes right after it.
	a := h.userGet(tok, all[1234])
	if a.openids()[0] != all[1235] {
		t.Fatalf("resume after %s gave %s, want %s", all[1234], a.openids()[0], all[1235])
	}
}
