package wxsim

import (
	"encoding/json"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

func batchOf(openids ...string) batchReq {
	var r batchReq
	for _, id := range openids {
		r.UserList = append(r.UserList, struct {
			OpenID string `json:"openid"`
			Lang   string `json:"lang"`
		}{id, "zh_CN"})
	}
	return r
}

type batchAnswer struct {
	UserInfoList []json.RawMessage `json:"user_info_list"`
}

// deprecatedKeys must come back, empty, on every subscribed profile.
var deprecatedKeys = map[string]any{"nickname": "", "sex": 0.0, "city": "", "province": "", "country": "", "headimgurl": "", "groupid": 0.0}

func TestBatchGetMatchesProfile(t *testing.T) {
	h := start(t, func(o *Options) { o.Followers = 5000 })
	tok := h.token()
	ids := h.srv.FollowerOpenIDs()
	var unionids, remarks, qr, tagged int
	langs, scenes := map[string]int{}, map[string]int{}
	for start := 0; start < len(ids); start += MaxBatch {
		chunk := ids[start:min(start+MaxBatch, len(ids))]
		var a batchAnswer
		h.decode(h.post(PathBatchGet, tok, batchOf(chunk...)), &a)
		if len(a.UserInfoList) != len(chunk) {
			t.Fatalf("%d profiles for %d openids", len(a.UserInfoList), len(chunk))
		}
		for i, raw := range a.UserInfoList {
			var keys map[string]any
			var got Profile
			if err := json.Unmarshal(raw, &keys); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			want, ok := h.srv.Profile(chunk[i])
			if !ok || !reflect.DeepEqual(got, want) {
				t.Fatalf("profile of %s:\n got %+v\nwant %+v", chunk[i], got, want)
			}
			for k, v := range deprecatedKeys {
				if keys[k] != v {
					t.Fatalf("key %q = %v (present: %v), want %v", k, keys[k], keys[k] != nil, v)
				}
			}
			if _, has := keys["unionid"]; has != (want.UnionID != "") {
				t.Fatalf("unionid key present=%v for %q", has, want.UnionID)
			}
			if keys["tagid_list"] == nil {
				t.Fatal("tagid_list missing or null")
			}
			if got.Subscribe != 1 || got.SubscribeTime < epochBase || got.SubscribeTime >= epochBase+spanBase {
				t.Fatalf("subscribe %d, subscribe_time %d", got.Subscribe, got.SubscribeTime)
			}
			if got.SubscribeScene != sceneQR && (got.QRScene != 0 || got.QRSceneStr != "") {
				t.Fatalf("qr fields on scene %s", got.SubscribeScene)
			}
			if got.SubscribeScene == sceneQR {
				qr++
				if (got.QRScene == 0) == (got.QRSceneStr == "") {
					t.Fatalf("QR profile must carry exactly one of qr_scene / qr_scene_str: %+v", got)
				}
			}
			if len(got.TagIDList) > 3 || !slices.IsSorted(got.TagIDList) {
				t.Fatalf("tagid_list %v", got.TagIDList)
			}
			if got.UnionID != "" {
				unionids++
				if !openIDRE.MatchString(got.UnionID) || got.UnionID == got.OpenID {
					t.Fatalf("unionid %q", got.UnionID)
				}
			}
			if got.Remark != "" {
				remarks++
				if !utf8.ValidString(got.Remark) {
					t.Fatal("remark not UTF-8")
				}
			}
			if len(got.TagIDList) > 0 {
				tagged++
			}
			langs[got.Language]++
			scenes[got.SubscribeScene]++
		}
	}
	n := len(ids)
	within := func(name string, got int, lo, hi float64) {
		if f := float64(got) / float64(n); f < lo || f > hi {
			t.Errorf("%s: %.3f of followers, want [%.2f, %.2f]", name, f, lo, hi)
		}
	}
	within("unionid", unionids, 0.65, 0.75)
	within("remark", remarks, 0.10, 0.20)
	within("QR scene", qr, 0.20, 0.30)
	within("tagged", tagged, 0.45, 0.65)
	within("zh_CN", langs["zh_CN"], 0.75, 0.85)
	if len(scenes) < 10 || len(langs) < 5 {
		t.Errorf("too few distinct scenes (%d) or languages (%d)", len(scenes), len(langs))
	}
}

func TestProfilesDeterministic(t *testing.T) {
	a := start(t, func(o *Options) { o.Seed = 77 })
	b := start(t, func(o *Options) { o.Seed = 77 })
	c := start(t, func(o *Options) { o.Seed = 78 })
	for i := range uint64(300) {
		pa, _ := a.srv.Profile(a.srv.OpenID(i))
		pb, _ := b.srv.Profile(b.srv.OpenID(i))
		if !reflect.DeepEqual(pa, pb) {
			t.Fatalf("index %d: profiles differ between two servers with one seed", i)
		}
	}
	if a.srv.OpenID(0) == c.srv.OpenID(0) {
		t.Fatal("different seeds, same openid")
	}
	// Remarks with quotes, backslashes and emoji survive the JSON round trip.
	tok := a.token()
	var rem []string
	for i := uint64(0); i < 23000 && len(rem) < 50; i++ {
		if p, _ := a.srv.Profile(a.srv.OpenID(i)); p.Remark != "" {
			var got Profile
			var ans batchAnswer
			a.decode(a.post(PathBatchGet, tok, batchOf(p.OpenID)), &ans)
			if err := json.Unmarshal(ans.UserInfoList[0], &got); err != nil || got.Remark != p.Remark {
				t.Fatalf("remark %q came back as %q (%v)", p.Remark, got.Remark, err)
			}
			rem = append(rem, p.Remark)
		}
	}
	if !slices.ContainsFunc(rem, func(s string) bool { return strings.ContainsAny(s, `"\`) }) ||
		!slices.ContainsFunc(rem, func(s string) bool { return !isASCII(s) }) {
		t.Fatalf("remarks lack the awkward cases: %q", rem)
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func TestBatchGetLimitsAndErrors(t *testing.T) {
	h := start(t, nil)
	tok := h.token()
	ids := h.srv.FollowerOpenIDs()
	var a batchAnswer
	h.decode(h.post(PathBatchGet, tok, batchOf(ids[:100]...)), &a)
	if len(a.UserInfoList) != 100 {
		t.Fatalf("%d profiles for 100", len(a.UserInfoList))
	}
	h.wantErr(h.post(PathBatchGet, tok, batchOf(ids[:101]...)), 40032)
	h.wantErr(h.post(PathBatchGet, tok, batchOf()), 40032)
	h.wantErr(h.post(PathBatchGet, tok, batchOf(ids[0], "oNOTANOPENID")), 40003)
	h.wantErr(h.post(PathBatchGet, tok, batchOf(ids[0], h.srv.OpenID(23000))), 40003) // never a follower
	h.wantErr(h.post(PathBatchGet, tok, []byte("{not json")), 47001)
	h.wantErr(h.get(PathBatchGet, url.Values{"access_token": {tok}}), 43002)
	if log := h.srv.CallLog(); log[1].Batch != 100 || log[2].Batch != 101 {
		t.Fatalf("call log batch sizes %d %d", log[1].Batch, log[2].Batch)
	}
}

func TestUserInfoAndUnsubscribed(t *testing.T) {
	h := start(t, nil)
	tok := h.token()
	id := h.srv.OpenID(42)
	var got Profile
	h.decode(h.get(PathUserInfo, url.Values{"access_token": {tok}, "openid": {id}, "lang": {"zh_CN"}}), &got)
	if want, _ := h.srv.Profile(id); !reflect.DeepEqual(got, want) {
		t.Fatalf("user/info %+v, want %+v", got, want)
	}
	h.wantErr(h.get(PathUserInfo, url.Values{"access_token": {tok}, "openid": {"bogus"}}), 40003)

	gone := h.srv.RemoveFollowers(1)[0]
	r := h.get(PathUserInfo, url.Values{"access_token": {tok}, "openid": {gone}})
	if string(r.body) != `{"subscribe":0,"openid":"`+gone+`"}` {
		t.Fatalf("unsubscribed user/info: %s", r.body)
	}
	var a batchAnswer
	h.decode(h.post(PathBatchGet, tok, batchOf(id, gone)), &a)
	if string(a.UserInfoList[1]) != `{"subscribe":0,"openid":"`+gone+`"}` {
		t.Fatalf("unsubscribed in batchget: %s", a.UserInfoList[1])
	}
	if p, ok := h.srv.Profile(gone); !ok || p.Subscribe != 0 || p.OpenID != gone || p.Language != "" {
		t.Fatalf("Profile of a removed follower: %+v %v", p, ok)
	}
	if _, ok := h.srv.Profile(h.srv.OpenID(1 << 40)); ok {
		t.Fatal("Profile of an index never handed out")
	}
}

func TestConcurrentBatchGet(t *testing.T) {
	h := start(t, func(o *Options) { o.Followers = 20000 })
	tok := h.token()
	ids := h.srv.FollowerOpenIDs()
	jobs := make(chan []string)
	errs := make(chan string, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for chunk := range jobs {
				r := h.post(PathBatchGet, tok, batchOf(chunk...))
				var a batchAnswer
				if err := json.Unmarshal(r.body, &a); err != nil || len(a.UserInfoList) != len(chunk) {
					errs <- "bad batch answer: " + truncate(r.body)
					return
				}
				for i, raw := range a.UserInfoList {
					var got Profile
					_ = json.Unmarshal(raw, &got)
					if want, _ := h.srv.Profile(chunk[i]); !reflect.DeepEqual(got, want) && want.Subscribe == 1 {
						errs <- "profile mismatch for " + chunk[i]
						return
					}
				}
			}
		}()
	}
	for i := 0; i < len(ids); i += MaxBatch {
		jobs <- ids[i : i+MaxBatch]
		if i == len(ids)/2 {
			h.srv.AddFollowers(10) // churn and truth reads concurrent with the workers must be race-free
			h.srv.RemoveFollowers(10)
			_ = h.srv.Tags()
			_ = h.srv.CallLog()
		}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// batchget's answers are written by hand (appendProfile); they must be the
// bytes encoding/json writes for the same profiles, for every kind of
// follower: every language, scene, remark and QR scene, with and without
// unionid and tags, and followers that left.
func TestAppendProfileMatchesEncodingJSON(t *testing.T) {
	h := start(t, func(o *Options) { o.Followers = 20_000 })
	gone := h.srv.RemoveFollowers(50)
	ids := append(h.srv.FollowerOpenIDs(), gone...)
	tok := h.token()
	seen := map[string]bool{}
	for start := 0; start < len(ids); start += MaxBatch {
		batch := ids[start:min(start+MaxBatch, len(ids))]
		r := h.post(PathBatchGet, tok, batchOf(batch...))
		var want strings.Builder
		want.WriteString(`{"user_info_list":[`)
		for i, id := range batch {
			a, ok := h.srv.profileAnswer(id)
			if !ok {
				t.Fatalf("no profile for %s", id)
			}
			b := jsonReply(a).body // encoding/json, as the live API encodes
			if i > 0 {
				want.WriteByte(',')
			}
			want.Write(b)
			p, _ := h.srv.Profile(id)
			seen["remark:"+p.Remark], seen["scene:"+p.SubscribeScene], seen["qr:"+p.QRSceneStr] = true, true, true
			seen["lang:"+p.Language], seen["union:"+boolName(p.UnionID != "")], seen["sub:"+boolName(p.Subscribe == 1)] = true, true, true
		}
		want.WriteString("]}")
		if string(r.body) != want.String() {
			t.Fatalf("batchget answer for openids %d..%d differs from encoding/json:\n got %.300s\nwant %.300s", start, start+len(batch), r.body, want.String())
		}
	}
	// The account covers every value the simulator hands out.
	for _, v := range remarks() {
		if !seen["remark:"+v] {
			t.Errorf("no profile with remark %q", v)
		}
	}
	for _, v := range qrSceneStrs() {
		if !seen["qr:"+v] {
			t.Errorf("no profile with qr_scene_str %q", v)
		}
	}
	for _, k := range []string{"union:yes", "union:no", "sub:yes", "sub:no"} {
		if !seen[k] {
			t.Errorf("no profile with %s", k)
		}
	}
}

func boolName(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
