package wxsim

import (
	"math/rand/v2"
	"slices"
)

// Profile is a follower's profile exactly as user/info and batchget answer
// it. For a follower that left (Subscribe 0) only Subscribe and OpenID are
// set and only those two keys are sent.
type Profile struct {
	Subscribe      int    `json:"subscribe"`
	OpenID         string `json:"openid"`
	Nickname       string `json:"nickname"`   // always "" (since 2021-12-27)
	Sex            int    `json:"sex"`        // always 0
	Language       string `json:"language"`   // zh_CN, en, zh_TW, zh_HK, ja, ko
	City           string `json:"city"`       // always ""
	Province       string `json:"province"`   // always ""
	Country        string `json:"country"`    // always ""
	HeadImgURL     string `json:"headimgurl"` // always ""
	SubscribeTime  int64  `json:"subscribe_time"`
	UnionID        string `json:"unionid,omitempty"` // ~70% of followers; the key is absent otherwise
	Remark         string `json:"remark"`
	GroupID        int    `json:"groupid"` // always 0
	TagIDList      []int  `json:"tagid_list"`
	SubscribeScene string `json:"subscribe_scene"`
	QRScene        int    `json:"qr_scene"`
	QRSceneStr     string `json:"qr_scene_str"`
}

// unsubscribed is the whole answer for a follower that left.
type unsubscribed struct {
	Subscribe int    `json:"subscribe"`
	OpenID    string `json:"openid"`
}

// Tag is one entry of tags/get.
type Tag struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// weightedName is a value and its share in percent.
type weightedName struct {
	name   string
	weight uint64
}

// pick returns the entry of items (weights summing to 100) that x in [0,100) falls in.
func pick(items []weightedName, x uint64) string {
	for _, it := range items {
		if x < it.weight {
			return it.name
		}
		x -= it.weight
	}
	return items[len(items)-1].name
}

// Subscribe-scene values (weights in percent sum to 100).
func scenes() []weightedName {
	return []weightedName{
		{"ADD_SCENE_SEARCH", 30}, {"ADD_SCENE_QR_CODE", 25}, {"ADD_SCENE_PROFILE_CARD", 8},
		{"ADD_SCENE_ACCOUNT_MIGRATION", 5}, {"ADD_SCENE_PROFILE_LINK", 5}, {"ADD_SCENE_PROFILE_ITEM", 4},
		{"ADD_SCENE_PAID", 3}, {"ADD_SCENE_WECHAT_ADVERTISEMENT", 6}, {"ADD_SCENE_REPRINT", 3},
		{"ADD_SCENE_LIVESTREAM", 4}, {"ADD_SCENE_CHANNELS", 4}, {"ADD_SCENE_OTHERS", 3},
	}
}

const sceneQR = "ADD_SCENE_QR_CODE"

func languages() []weightedName {
	return []weightedName{{"zh_CN", 80}, {"en", 8}, {"zh_TW", 5}, {"zh_HK", 4}, {"ja", 2}, {"ko", 1}}
}

// remarks hold the awkward cases: Chinese, emoji, quotes, backslash.
func remarks() []string {
	return []string{"VIP", "老客户", "张三 北京朝阳", "展会 2023 · 上海", "wholesale",
		`needs "invoice"`, "回访 ✅", `C:\notes\x`, "李四 🎉", "<b>&amp;</b>"}
}

func qrSceneStrs() []string {
	return []string{"campaign_spring", "campaign_double11", "store_0042", "poster_2023", "event:expo", "渠道_地铁"}
}

func tagDefs() []Tag {
	return []Tag{{ID: 2, Name: "星标组"}, {ID: 100, Name: "VIP客户"}, {ID: 101, Name: "北京"},
		{ID: 102, Name: "上海"}, {ID: 103, Name: "活动:双11"}, {ID: 104, Name: "newsletter"},
		{ID: 105, Name: "老用户"}, {ID: 106, Name: "企业 & 合作伙伴"}}
}

// tables are the fixed value lists profiles draw from (built once per Server).
type tables struct {
	scenes, languages    []weightedName
	remarks, qrSceneStrs []string
}

func newTables() tables {
	return tables{scenes: scenes(), languages: languages(), remarks: remarks(), qrSceneStrs: qrSceneStrs()}
}

// tagPeriod: follower i carries tag combination combos[i % tagPeriod]. The
// table is random (seeded), so the period is invisible in practice, and
// tag counts are exact closed-form sums over the table.
const tagPeriod = 4096

func newTagCombos(seed uint64) [][]int {
	rng := rand.New(rand.NewPCG(seed, derive(seed, 6)))
	defs := tagDefs()
	combos := make([][]int, tagPeriod)
	for r := range combos {
		var n int
		switch x := rng.IntN(100); {
		case x < 45:
			n = 0
		case x < 75:
			n = 1
		case x < 92:
			n = 2
		default:
			n = 3
		}
		c := []int{}
		for len(c) < n {
			var id int
			if rng.IntN(20) == 0 {
				id = defs[0].ID // 星标组 is rare
			} else {
				id = defs[1+rng.IntN(len(defs)-1)].ID
			}
			if !slices.Contains(c, id) {
				c = append(c, id)
			}
		}
		slices.Sort(c)
		combos[r] = c
	}
	return combos
}

const (
	epochBase  = 1420070400 // 2015-01-01 UTC: initial followers subscribed over the next 10 years
	spanBase   = 10 * 365 * 86400
	epochAdded = 1735689600 // 2025-01-01 UTC: added followers subscribed within 30 days of it
	spanAdded  = 30 * 86400
)

// profile computes the profile of index idx (a current follower).
func (s *Server) profile(idx uint64) Profile {
	h := func(field uint64) uint64 { return mix64(mix64(idx^s.profKey) + field*golden) }
	p := Profile{
		Subscribe: 1,
		OpenID:    s.codec.openID(idx),
		Language:  pick(s.tab.languages, h(1)%100),
		TagIDList: slices.Clone(s.tagCombos[idx%tagPeriod]),
	}
	if idx < s.f.n {
		p.SubscribeTime = epochBase + int64(h(2)%spanBase)
	} else {
		p.SubscribeTime = epochAdded + int64(h(2)%spanAdded)
	}
	if h(3)%100 < 70 {
		p.UnionID = s.unionCodec.openID(idx)
	}
	if h(4)%100 >= 85 {
		p.Remark = s.tab.remarks[h(5)%uint64(len(s.tab.remarks))]
	}
	p.SubscribeScene = pick(s.tab.scenes, h(6)%100)
	if p.SubscribeScene == sceneQR {
		// A QR code carries either an integer scene (temporary codes) or a
		// string scene (permanent codes), not both.
		if h(7)%2 == 0 {
			p.QRScene = 1 + int(h(8)%100000)
		} else {
			p.QRSceneStr = s.tab.qrSceneStrs[h(8)%uint64(len(s.tab.qrSceneStrs))]
		}
	}
	return p
}

// tagCounts returns the tag list with exact member counts among current
// followers. Caller holds fmu.
func (s *Server) tagCounts() []Tag {
	defs := tagDefs()
	m := s.f.everExisted()
	perRes := func(r uint64) uint64 {
		c := m / tagPeriod
		if r < m%tagPeriod {
			c++
		}
		return c
	}
	counts := map[int]uint64{}
	for r, combo := range s.tagCombos {
		for _, id := range combo {
			counts[id] += perRes(uint64(r))
		}
	}
	for idx := range s.f.removed {
		for _, id := range s.tagCombos[idx%tagPeriod] {
			counts[id]--
		}
	}
	for i := range defs {
		defs[i].Count = int(counts[defs[i].ID])
	}
	return defs
}
