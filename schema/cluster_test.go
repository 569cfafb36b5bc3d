package schema

import (
	"slices"
	"strings"
	"testing"
)

func TestClusterTables(t *testing.T) {
	followers, _ := Lookup(Followers)
	local, dist, err := followers.ClusterTables("wx", Cluster{Name: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	want := "CREATE TABLE IF NOT EXISTS `wx`.`wechat_followers_local` ON CLUSTER `prod` (\n" +
		"    `appid` String,\n" +
		"    `snapshot_id` UInt64,\n" +
		"    `openid` String,\n" +
		"    `fetched_at` DateTime\n" +
		") ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/wx/wechat_followers', '{replica}')\n" +
		"PARTITION BY `snapshot_id`\n" +
		"ORDER BY (`appid`, `snapshot_id`, `openid`)"
	if local != want {
		t.Errorf("followers local DDL:\n%s\nwant\n%s", local, want)
	}
	wantDist := "CREATE TABLE IF NOT EXISTS `wx`.`wechat_followers` ON CLUSTER `prod` AS `wx`.`wechat_followers_local`\n" +
		"ENGINE = Distributed('prod', 'wx', 'wechat_followers_local', cityHash64(`appid`, `openid`))"
	if dist != wantDist {
		t.Errorf("followers Distributed DDL:\n%s\nwant\n%s", dist, wantDist)
	}

	users, _ := Lookup(Users)
	local, _, err = users.ClusterTables("wx", Cluster{Name: "prod", ZKPath: "/ch/{layer}/{shard}/{database}.{table}", Replica: "{host}"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(local, "ENGINE = ReplicatedReplacingMergeTree('/ch/{layer}/{shard}/wx.wechat_users', '{host}', `fetched_at`)\nORDER BY (`appid`, `openid`)") {
		t.Errorf("users local DDL with custom path and version:\n%s", local)
	}

	// The cluster form is the single-server one but for name and engine.
	for _, s := range All() {
		single, _ := s.CreateTable("wx")
		local, _, err := s.ClusterTables("wx", Cluster{Name: "c"})
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		strip := func(ddl string) string {
			_, cols, _ := strings.Cut(ddl, "(\n")
			cols, rest, _ := strings.Cut(cols, ") ENGINE = ")
			_, tail, _ := strings.Cut(rest, "\n")
			return cols + tail
		}
		if strip(single) != strip(local) {
			t.Errorf("%s: cluster DDL differs from the single-server one beyond name and engine:\n%s\n%s", s.Name, single, local)
		}
		for _, k := range s.ShardKey() {
			if !slices.Contains(s.OrderBy, k) {
				t.Errorf("%s: shard key %s not in ORDER BY", s.Name, k)
			}
		}
	}
}

func TestClusterTablesDefaultShardKey(t *testing.T) {
	// A table added later, with no ShardBy, is sharded by its whole key.
	st := Stream{Name: "events", Table: "wechat_events", Kind: Latest, Schema: openIDListSchema(),
		OrderBy: []string{ColAppID, ColOpenID, ColFetchedAt}}
	_, dist, err := st.ClusterTables("wx", Cluster{Name: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(dist, "cityHash64(`appid`, `openid`, `fetched_at`))") {
		t.Errorf("default shard key: %s", dist)
	}
	st.ShardBy = []string{ColSnapshotID}
	if _, _, err := st.ClusterTables("wx", Cluster{Name: "c"}); err == nil || !strings.Contains(err.Error(), "not in ORDER BY") {
		t.Errorf("a shard key outside ORDER BY: %v", err)
	}
}

func TestClusterValidate(t *testing.T) {
	for _, c := range []Cluster{
		{Name: ""}, {Name: "a b"}, {Name: "c`"},
		{Name: "c", ZKPath: "/x/{shard}"},                   // no {table}
		{Name: "c", ZKPath: "x/{table}"},                    // relative
		{Name: "c", ZKPath: "/x/{table}'); DROP TABLE x--"}, // a quote
		{Name: "c", Replica: `r\`},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) accepted it", c)
		}
	}
	if err := (Cluster{Name: "prod-cluster.eu"}).Validate(); err != nil {
		t.Errorf("a valid cluster: %v", err)
	}
}
