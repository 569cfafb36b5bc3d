package schema

import (
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
)

func TestStreamsAreConsistent(t *testing.T) {
	all := All()
	if got, want := strings.Join(Names(), ","), "followers,users,tags,blacklist"; got != want {
		t.Fatalf("Names() = %s, want %s", got, want)
	}
	tables := map[string]bool{}
	for _, s := range all {
		t.Run(s.Name, func(t *testing.T) {
			if _, err := Ident(s.Table); err != nil {
				t.Errorf("table: %v", err)
			}
			if tables[s.Table] {
				t.Errorf("table %s used twice", s.Table)
			}
			tables[s.Table] = true
			if s.Doc == "" {
				t.Error("no Doc")
			}
			fields := map[string]arrow.Field{}
			sinkPart := true
			for _, f := range s.Schema.Fields() {
				if _, err := Ident(f.Name); err != nil {
					t.Errorf("column: %v", err)
				}
				if _, dup := fields[f.Name]; dup {
					t.Errorf("column %s twice", f.Name)
				}
				fields[f.Name] = f
				if _, err := ColumnType(f.Type); err != nil {
					t.Errorf("column %s: %v", f.Name, err)
				}
				// Sink-filled columns come first.
				if SinkFilled(f) && !sinkPart {
					t.Errorf("sink-filled column %s after a source column", f.Name)
				}
				sinkPart = sinkPart && SinkFilled(f)
			}
			if f, ok := fields[ColAppID]; !ok || !SinkFilled(f) || f.Type.ID() != arrow.STRING {
				t.Errorf("appid missing or not sink-filled")
			}
			if f, ok := fields[ColFetchedAt]; !ok || SinkFilled(f) {
				t.Errorf("fetched_at missing or sink-filled")
			}
			if len(s.OrderBy) == 0 || s.OrderBy[0] != ColAppID {
				t.Errorf("OrderBy %v does not start with appid", s.OrderBy)
			}
			for _, c := range s.OrderBy {
				if _, ok := fields[c]; !ok {
					t.Errorf("OrderBy column %s not in the schema", c)
				}
			}
			if s.Version != "" {
				if _, ok := fields[s.Version]; !ok {
					t.Errorf("Version column %s not in the schema", s.Version)
				}
			}
			switch s.Kind {
			case Snapshot:
				f, ok := fields[ColSnapshotID]
				if !ok || !SinkFilled(f) || f.Type.ID() != arrow.UINT64 {
					t.Errorf("snapshot stream without a sink-filled UInt64 snapshot_id")
				}
				if _, err := Ident(s.CurrentView); err != nil {
					t.Errorf("current view: %v", err)
				}
				if s.OrderBy[1] != ColSnapshotID {
					t.Errorf("OrderBy %v: snapshot_id should follow appid", s.OrderBy)
				}
			case Latest:
				if _, ok := fields[ColSnapshotID]; ok {
					t.Errorf("Latest stream with a snapshot_id")
				}
				if s.CurrentView != "" {
					t.Errorf("Latest stream with a current view")
				}
				if s.Version == "" {
					t.Errorf("Latest stream without a version column")
				}
			default:
				t.Errorf("unknown kind %d", s.Kind)
			}
		})
	}
}

func TestSourceSchema(t *testing.T) {
	for _, s := range All() {
		src := s.SourceSchema()
		var want []string
		for _, f := range s.Schema.Fields() {
			if !SinkFilled(f) {
				want = append(want, f.Name+":"+f.Type.String())
			}
		}
		var got []string
		for _, f := range src.Fields() {
			if SinkFilled(f) {
				t.Errorf("%s: source field %s is sink-filled", s.Name, f.Name)
			}
			got = append(got, f.Name+":"+f.Type.String())
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: SourceSchema %v, want %v", s.Name, got, want)
		}
	}
	f, _ := Lookup(Followers)
	if got := f.SourceSchema().String(); !strings.Contains(got, "openid: type=utf8") || strings.Contains(got, "appid") {
		t.Errorf("followers SourceSchema: %s", got)
	}
}

func TestSinkFilled(t *testing.T) {
	if SinkFilled(field("x", str)) {
		t.Error("plain field reported sink-filled")
	}
	if !SinkFilled(sinkField("x", str)) {
		t.Error("sink field not reported sink-filled")
	}
	other := arrow.Field{Name: "x", Type: str, Metadata: arrow.NewMetadata([]string{metaFilledBy}, []string{"plugin"})}
	if SinkFilled(other) {
		t.Error("field filled by another reported sink-filled")
	}
}

func TestLookup(t *testing.T) {
	for _, n := range Names() {
		s, err := Lookup(n)
		if err != nil || s.Name != n {
			t.Errorf("Lookup(%s) = %s, %v", n, s.Name, err)
		}
	}
	_, err := Lookup("fans")
	if err == nil || !strings.Contains(err.Error(), "followers, users, tags, blacklist") {
		t.Errorf("Lookup(fans) error = %v", err)
	}
}

func TestColumnType(t *testing.T) {
	for _, tc := range []struct {
		t    arrow.DataType
		want string
	}{
		{arrow.BinaryTypes.String, "String"},
		{arrow.PrimitiveTypes.Uint8, "UInt8"},
		{arrow.PrimitiveTypes.Uint32, "UInt32"},
		{arrow.PrimitiveTypes.Uint64, "UInt64"},
		{arrow.PrimitiveTypes.Int64, "Int64"},
		{&arrow.TimestampType{Unit: arrow.Second, TimeZone: "UTC"}, "DateTime"},
		{arrow.ListOf(arrow.PrimitiveTypes.Uint32), "Array(UInt32)"},
		{arrow.ListOf(arrow.ListOf(arrow.BinaryTypes.String)), "Array(Array(String))"},
	} {
		got, err := ColumnType(tc.t)
		if err != nil || got != tc.want {
			t.Errorf("ColumnType(%s) = %q, %v; want %q", tc.t, got, err, tc.want)
		}
	}
	for _, bad := range []arrow.DataType{
		&arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"},
		arrow.PrimitiveTypes.Float64,
		arrow.PrimitiveTypes.Int32,
		arrow.BinaryTypes.Binary,
		arrow.ListOf(arrow.PrimitiveTypes.Float32),
	} {
		if got, err := ColumnType(bad); err == nil {
			t.Errorf("ColumnType(%s) = %q, want an error", bad, got)
		}
	}
}

func TestIdent(t *testing.T) {
	for _, ok := range []string{"a", "_x", "wechat_followers", "wxsync_test_0123abcd", "A9", strings.Repeat("a", 128)} {
		q, err := Ident(ok)
		if err != nil || q != "`"+ok+"`" {
			t.Errorf("Ident(%q) = %q, %v", ok, q, err)
		}
	}
	for _, bad := range []string{"", "9a", "a-b", "a b", "a`b", "a.b", "db`; DROP TABLE x; --", "é", "a\x00", strings.Repeat("a", 129)} {
		if q, err := Ident(bad); err == nil {
			t.Errorf("Ident(%q) = %q, want an error", bad, q)
		}
	}
}

func TestColumns(t *testing.T) {
	s, _ := Lookup(Tags)
	if got, want := strings.Join(s.Columns(), ", "), "`appid`, `id`, `name`, `count`, `fetched_at`"; got != want {
		t.Errorf("Columns() = %s, want %s", got, want)
	}
}

func TestCreateTable(t *testing.T) {
	followers, _ := Lookup(Followers)
	got, err := followers.CreateTable("wx")
	if err != nil {
		t.Fatal(err)
	}
	want := "CREATE TABLE IF NOT EXISTS `wx`.`wechat_followers` (\n" +
		"    `appid` String,\n" +
		"    `snapshot_id` UInt64,\n" +
		"    `openid` String,\n" +
		"    `fetched_at` DateTime\n" +
		") ENGINE = ReplacingMergeTree\n" +
		"PARTITION BY `snapshot_id`\n" +
		"ORDER BY (`appid`, `snapshot_id`, `openid`)"
	if got != want {
		t.Errorf("followers DDL:\n%s\nwant\n%s", got, want)
	}

	users, _ := Lookup(Users)
	got, err = users.CreateTable("wx")
	if err != nil {
		t.Fatal(err)
	}
	want = "CREATE TABLE IF NOT EXISTS `wx`.`wechat_users` (\n" +
		"    `appid` String,\n" +
		"    `openid` String,\n" +
		"    `subscribe` UInt8,\n" +
		"    `language` String,\n" +
		"    `subscribe_time` DateTime,\n" +
		"    `unionid` String,\n" +
		"    `remark` String,\n" +
		"    `groupid` Int64,\n" +
		"    `tagid_list` Array(UInt32),\n" +
		"    `subscribe_scene` String,\n" +
		"    `qr_scene` Int64,\n" +
		"    `qr_scene_str` String,\n" +
		"    `fetched_at` DateTime\n" +
		") ENGINE = ReplacingMergeTree(`fetched_at`)\n" +
		"ORDER BY (`appid`, `openid`)"
	if got != want {
		t.Errorf("users DDL:\n%s\nwant\n%s", got, want)
	}

	// Nothing that 18.16 lacks.
	for _, s := range All() {
		ddl, err := s.CreateTable("wx")
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		for _, banned := range []string{"LowCardinality", "DateTime64", "Map(", "TTL", "IF NOT EXISTS `", "Nullable"} {
			if banned == "IF NOT EXISTS `" {
				if strings.Count(ddl, banned) != 1 {
					t.Errorf("%s: %q should appear once (CREATE TABLE only)", s.Name, banned)
				}
				continue
			}
			if strings.Contains(ddl, banned) {
				t.Errorf("%s: DDL uses %s", s.Name, banned)
			}
		}
	}

	if _, err := followers.CreateTable("bad-db"); err == nil {
		t.Error("CreateTable accepted an invalid database name")
	}
	broken := Stream{Name: "x", Table: "x", Kind: Latest, OrderBy: []string{"a"},
		Schema: arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Float64}}, nil)}
	if _, err := broken.CreateTable("wx"); err == nil || !strings.Contains(err.Error(), "column a") {
		t.Errorf("CreateTable with an unmapped type: %v", err)
	}
}
