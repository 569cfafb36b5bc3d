package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/wxsync/wxsync/plugin/kind"
)

func TestListFollowersPaging(t *testing.T) {
	f := newFake(t)
	ids := openIDs(10000)
	ids[5] = ids[4] // duplicates are returned as they are
	var gotCursor []string
	f.handle(pathUserGet, func(w http.ResponseWriter, r *http.Request) {
		if !f.authed(w, r) {
			return
		}
		next := r.URL.Query().Get("next_openid")
		gotCursor = append(gotCursor, next)
		switch next {
		case "":
			writeJSON(w, pageJSON(10001, ids, ids[len(ids)-1]))
		case ids[len(ids)-1]:
			writeJSON(w, map[string]any{"total": 10001, "count": 0, "next_openid": ""})
		}
	})
	c, _, _ := newClient(t, f, nil)
	ctx := context.Background()
	p, err := c.ListFollowers(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 10001 || p.Count != 10000 || !p.HasData || p.NextOpenID != ids[9999] || !reflect.DeepEqual(p.OpenIDs, ids) {
		t.Fatalf("page: total %d count %d hasData %v next %q", p.Total, p.Count, p.HasData, p.NextOpenID)
	}
	p, err = c.ListFollowers(ctx, p.NextOpenID)
	if err != nil {
		t.Fatal(err)
	}
	if p.HasData || p.Count != 0 || len(p.OpenIDs) != 0 || p.NextOpenID != "" {
		t.Fatalf("end page: %+v", p)
	}
	if !reflect.DeepEqual(gotCursor, []string{"", ids[9999]}) {
		t.Fatalf("cursors sent: %q", gotCursor)
	}
	if _, err := c.ListFollowers(ctx, "bad/cursor"); err == nil || f.hit(pathUserGet) != 2 {
		t.Fatalf("invalid cursor sent: %v", err)
	}
}

func TestPageValidation(t *testing.T) {
	long := strings.Repeat("o", 65)
	cases := []struct {
		name string
		body string
		ct   string
		want string // "" = success
	}{
		{"no data, count 0", `{"total":0,"count":0}`, "", ""},
		{"data null", `{"total":0,"count":0,"data":null,"next_openid":""}`, "", ""},
		{"no data, count 3", `{"total":3,"count":3,"next_openid":"oX"}`, "", "count is 3 but the data key is absent"},
		{"count mismatch", `{"total":3,"count":3,"data":{"openid":["oA","oB"]},"next_openid":"oB"}`, "", ""},
		{"empty openid", `{"total":2,"count":2,"data":{"openid":["oA",""]},"next_openid":"oA"}`, "", "openid #1 of 2 is empty"},
		{"long openid", `{"total":1,"count":1,"data":{"openid":["` + long + `"]},"next_openid":"oA"}`, "", "openid #0 of 1 is 65 bytes long"},
		{"slash openid", `{"total":1,"count":1,"data":{"openid":["oA/B"]},"next_openid":"oA"}`, "", "openid #0 of 1 contains byte 0x2f"},
		{"unicode openid", `{"total":1,"count":1,"data":{"openid":["oÄ"]},"next_openid":"oA"}`, "", "contains byte 0xc3"},
		{"bad next", `{"total":1,"count":1,"data":{"openid":["oA"]},"next_openid":"o A"}`, "", "next_openid contains byte 0x20"},
		{"negative", `{"total":-1,"count":0}`, "", "negative total"},
		{"wrong type", `{"total":1,"count":"1","data":{"openid":["oA"]}}`, "", "unexpected JSON shape"},
		{"invalid utf-8", "{\"total\":1,\"count\":1,\"data\":{\"openid\":[\"oA\"]},\"next_openid\":\"\xff\"}", "", "not valid UTF-8"},
		{"text/plain json", `{"total":1,"count":1,"data":{"openid":["oA"]},"next_openid":"oA"}`, "text/plain", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.handle(pathUserGet, func(w http.ResponseWriter, r *http.Request) {
				if f.authed(w, r) {
					writeRaw(w, cmp(tc.ct, "application/json"), tc.body)
				}
			})
			c, logs, _ := newClient(t, f, nil)
			p, err := c.ListFollowers(context.Background(), "oCursor_-1")
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.name == "count mismatch" {
					if p.Count != 2 || len(p.OpenIDs) != 2 || !strings.Contains(logs.String(), `"level":"WARN"`) {
						t.Fatalf("page %+v, logs %s", p, logs)
					}
				}
				return
			}
			var re *ResponseError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), `/cgi-bin/user/get (page next_openid="oCursor_-1")`) || Classify(err) != kind.Internal {
				t.Fatalf("error does not name the page or wrong class: %v", err)
			}
			if f.hit(pathUserGet) != 1 {
				t.Fatal("validation errors must not be retried")
			}
			if p.OpenIDs != nil {
				t.Fatal("openids returned with an error")
			}
		})
	}
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestBodyLimit(t *testing.T) {
	f := newFake(t)
	f.handle(pathUserGet, func(w http.ResponseWriter, r *http.Request) {
		if f.authed(w, r) {
			writeJSON(w, pageJSON(100, openIDs(100), ""))
		}
	})
	c, _, _ := newClient(t, f, func(c *Config) { c.MaxBodyBytes = 1024 })
	_, err := c.ListFollowers(context.Background(), "")
	var re *ResponseError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "larger than MaxBodyBytes (1024 bytes)") || f.hit(pathUserGet) != 1 {
		t.Fatalf("err = %v", err)
	}
}

func TestBlacklist(t *testing.T) {
	f := newFake(t)
	f.handle(pathBlacklist, func(w http.ResponseWriter, r *http.Request) {
		if !f.authed(w, r) {
			return
		}
		var body struct {
			Begin *string `json:"begin_openid"`
		}
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&body) != nil || body.Begin == nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if *body.Begin == "" {
			writeJSON(w, pageJSON(3, openIDs(3), openIDs(3)[2]))
			return
		}
		writeJSON(w, map[string]any{"total": 3, "count": 0, "next_openid": ""})
	})
	c, _, _ := newClient(t, f, nil)
	p, err := c.Blacklist(context.Background(), "")
	if err != nil || p.Count != 3 || p.Total != 3 {
		t.Fatalf("%+v %v", p, err)
	}
	p, err = c.Blacklist(context.Background(), p.NextOpenID)
	if err != nil || p.HasData || p.Count != 0 {
		t.Fatalf("%+v %v", p, err)
	}
}

func TestBatchGetUsers(t *testing.T) {
	f := newFake(t)
	var extra string
	f.handle(pathBatchGet, func(w http.ResponseWriter, r *http.Request) {
		if !f.authed(w, r) {
			return
		}
		var body struct {
			UserList []struct{ OpenID, Lang string } `json:"user_list"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Error(err)
		}
		var out []string
		for _, u := range body.UserList {
			if u.OpenID == "oMissing" {
				continue
			}
			if u.Lang != "zh_CN" {
				t.Errorf("lang %q", u.Lang)
			}
			out = append(out, fmt.Sprintf(`{"subscribe":1,"openid":%q,"nickname":"","sex":0,"language":"zh_CN","city":"","subscribe_time":1700000000,"unionid":"uNiOn","remark":"vip","groupid":101,"tagid_list":[2,134],"subscribe_scene":"ADD_SCENE_QR_CODE","qr_scene":98765,"qr_scene_str":"spring"}`, u.OpenID))
		}
		if extra != "" {
			out = append(out, extra)
		}
		writeRaw(w, "application/json", `{"user_info_list":[`+strings.Join(out, ",")+`]}`)
	})
	c, logs, _ := newClient(t, f, nil)
	ctx := context.Background()
	ids := openIDs(2)
	users, err := c.BatchGetUsers(ctx, ids, "")
	if err != nil {
		t.Fatal(err)
	}
	want := User{Subscribe: 1, OpenID: ids[1], Language: "zh_CN", SubscribeTime: 1700000000, UnionID: "uNiOn", Remark: "vip",
		GroupID: 101, TagIDs: []uint32{2, 134}, SubscribeScene: "ADD_SCENE_QR_CODE", QRScene: 98765, QRSceneStr: "spring"}
	if len(users) != 2 || !reflect.DeepEqual(users[1], want) {
		t.Fatalf("users = %+v", users)
	}

	// Checked before any request.
	before := f.hit(pathBatchGet)
	if _, err := c.BatchGetUsers(ctx, openIDs(101), ""); err == nil || !strings.Contains(err.Error(), "at most 100") {
		t.Fatalf("101 openids: %v", err)
	}
	if _, err := c.BatchGetUsers(ctx, []string{"o-ok", "bad id"}, ""); err == nil {
		t.Fatal("malformed openid accepted")
	}
	if _, err := c.BatchGetUsers(ctx, ids, "fr"); err == nil {
		t.Fatal("bad lang accepted")
	}
	if u, err := c.BatchGetUsers(ctx, nil, ""); u != nil || err != nil {
		t.Fatal("empty batch")
	}
	if f.hit(pathBatchGet) != before {
		t.Fatal("invalid batch was sent")
	}

	// Users nobody asked for are rejected; missing ones are logged.
	extra = `{"subscribe":0,"openid":"oStranger"}`
	if _, err := c.BatchGetUsers(ctx, ids, "zh_CN"); err == nil || !strings.Contains(err.Error(), "was not asked for") {
		t.Fatalf("stranger: %v", err)
	}
	extra = ""
	if _, err := c.BatchGetUsers(ctx, append(ids[:1:1], "oMissing"), "zh_CN"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "different number of users") {
		t.Fatal("missing user not logged")
	}
}

func TestTagsAndQuota(t *testing.T) {
	f := newFake(t)
	f.handle(pathTags, func(w http.ResponseWriter, r *http.Request) {
		if f.authed(w, r) {
			writeRaw(w, "application/json", `{"tags":[{"id":2,"name":"星标组","count":0},{"id":134,"name":"vip","count":12}]}`)
		}
	})
	f.handle(pathQuota, func(w http.ResponseWriter, r *http.Request) {
		if !f.authed(w, r) {
			return
		}
		var body struct {
			CGIPath string `json:"cgi_path"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body.CGIPath != pathUserGet {
			writeJSON(w, map[string]any{"errcode": 76021, "errmsg": "cgi_path not found, please check rid: 6600aa-0021"})
			return
		}
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "quota": map[string]any{"daily_limit": 500, "used": 12, "remain": 488}})
	})
	c, _, _ := newClient(t, f, nil)
	ctx := context.Background()
	tags, err := c.Tags(ctx)
	if err != nil || !reflect.DeepEqual(tags, []Tag{{2, "星标组", 0}, {134, "vip", 12}}) {
		t.Fatalf("%+v %v", tags, err)
	}
	q, err := c.Quota(ctx, pathUserGet)
	if err != nil || q != (Quota{500, 12, 488}) {
		t.Fatalf("%+v %v", q, err)
	}
	_, err = c.Quota(ctx, "/cgi-bin/nope")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != 76021 || ae.RID != "6600aa-0021" || Classify(err) != kind.Internal {
		t.Fatalf("err = %v", err)
	}
	if _, err := c.Quota(ctx, "user/get"); err == nil {
		t.Fatal("relative cgi path accepted")
	}
	want := map[string]int64{pathStableToken: 1, pathTags: 1, pathQuota: 2}
	if got := c.Calls(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Calls = %v, want %v", got, want)
	}
}

func TestAPIErrorMessagesAndClasses(t *testing.T) {
	cases := []struct {
		code  int
		class kind.Kind
		want  string
	}{
		{40013, kind.Config, "WECHAT_APPID"},
		{40125, kind.Config, "WECHAT_SECRET"},
		{40164, kind.Config, "IP白名单"},
		{48001, kind.Config, "personal subscription accounts"},
		{50001, kind.Config, "not authorised"},
		{61024, kind.Config, "component access token"},
		{45009, kind.Temporary, "wait until tomorrow"},
		{41001, kind.Internal, "bug"},
		{40003, kind.Internal, "invalid openid"},
		{76021, kind.Internal, "cgi_path"},
		{40001, kind.Temporary, "another service"}, // rejected after every refresh: a *TokenConflictError
		{99999, kind.Internal, "unexpected errcode"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			f := newFake(t)
			msg := fmt.Sprintf("something went wrong: %d rid: 65f00a1b-4c2d3e4f-1a2b3c4d", tc.code)
			f.handle(pathTags, func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, map[string]any{"errcode": tc.code, "errmsg": msg})
			})
			c, _, _ := newClient(t, f, nil)
			_, err := c.Tags(context.Background())
			var ae *APIError
			if !errors.As(err, &ae) || ae.Code != tc.code || ae.Msg != msg || ae.RID != "65f00a1b-4c2d3e4f-1a2b3c4d" || ae.Path != pathTags {
				t.Fatalf("err = %#v", err)
			}
			text := err.Error()
			for _, s := range []string{pathTags, fmt.Sprint(tc.code), "rid 65f00a1b-4c2d3e4f-1a2b3c4d", tc.want, msg} {
				if !strings.Contains(text, s) {
					t.Errorf("%q lacks %q", text, s)
				}
			}
			if Classify(err) != tc.class {
				t.Errorf("class %v, want %v", Classify(err), tc.class)
			}
			if IsQuota(err) != (tc.code == 45009) {
				t.Error("IsQuota")
			}
		})
	}
	if Classify(nil) != kind.None || Classify(errors.New("x")) != kind.Internal || Classify(context.DeadlineExceeded) != kind.Temporary {
		t.Fatal("Classify basics")
	}
	if Classify(&APIError{Path: pathToken, Code: 40001}) != kind.Config {
		t.Fatal("40001 from /cgi-bin/token is a wrong secret")
	}
}

func TestCheckOpenIDBytes(t *testing.T) {
	for b := range 256 {
		ok := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || b == '-'
		if got := checkOpenID("oAb" + string([]byte{byte(b)}) + "9_-"); (got == "") != ok {
			t.Errorf("byte 0x%02x: checkOpenID says %q, want ok=%v", b, got, ok)
		}
	}
}
