package wechat

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkFollowerPage decodes and checks one user/get page of 10,000
// 28-byte openids, as the plugin does with every page of a walk.
func BenchmarkFollowerPage(b *testing.B) {
	const n = 10000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf(`"oGZUI0Ab_-9%017x"`, uint64(i)*0x9E3779B97F4A7C15)
	}
	body := []byte(fmt.Sprintf(`{"total":23000000,"count":%d,"data":{"openid":[%s]},"next_openid":%s}`, n, strings.Join(ids, ","), ids[n-1]))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var p pageResponse
		if !p.decodeFast(body) || p.Data == nil || len(p.Data.OpenID) != n {
			b.Fatal("not decoded")
		}
		for _, id := range p.Data.OpenID {
			if checkOpenID(id) != "" {
				b.Fatal(id)
			}
		}
	}
}
