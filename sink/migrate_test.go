package sink_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

// columns returns "name type" of every column of table, in table order.
func columns(t *testing.T, s *sink.Sink, table string) []string {
	t.Helper()
	rows, err := s.Conn().Query(sinktest.Context(t), "SELECT name, type FROM system.columns WHERE database = ? AND table = ?", s.Database(), table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n, ty string
		if err := rows.Scan(&n, &ty); err != nil {
			t.Fatal(err)
		}
		out = append(out, n+" "+ty)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// objects returns "name engine" of every table and view of the database.
func objects(t *testing.T, s *sink.Sink) []string {
	t.Helper()
	rows, err := s.Conn().Query(sinktest.Context(t), "SELECT name, engine FROM system.tables WHERE database = ? ORDER BY name", s.Database())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n, e string
		if err := rows.Scan(&n, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, n+" "+e)
	}
	return out
}

func wantColumns(t *testing.T, st schema.Stream) []string {
	t.Helper()
	var out []string
	for _, f := range st.Schema.Fields() {
		ct, err := schema.ColumnType(f.Type)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f.Name+" "+ct)
	}
	return out
}

func TestMigrateIdempotent(t *testing.T) {
	s := sinktest.OpenEmpty(t, sink.Config{})
	ctx := sinktest.Context(t)
	for i := 0; i < 2; i++ {
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
	}
	want := []string{
		"wechat_blacklist ReplacingMergeTree",
		"wechat_blacklist_current View",
		"wechat_follow_events ReplacingMergeTree",
		"wechat_followers ReplacingMergeTree",
		"wechat_followers_current View",
		"wechat_followers_live View",
		"wechat_snapshots ReplacingMergeTree",
		"wechat_tags ReplacingMergeTree",
		"wechat_users ReplacingMergeTree",
		"wxsync_credentials ReplacingMergeTree",
		"wxsync_runs ReplacingMergeTree",
		"wxsync_state ReplacingMergeTree",
	}
	if got := objects(t, s); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("objects:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, st := range append(schema.All(), schema.Pushed()...) {
		if got, want := columns(t, s, st.Table), wantColumns(t, st); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s columns %v, want %v", st.Table, got, want)
		}
	}
	if got, want := columns(t, s, sink.SnapshotsTable), []string{"appid String", "stream String", "snapshot_id UInt64",
		"started_at DateTime", "finished_at DateTime", "reported_total UInt64", "rows UInt64", "complete UInt8", "version UInt64"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s columns %v, want %v", sink.SnapshotsTable, got, want)
	}
	if got, want := columns(t, s, sink.StateTable), []string{"appid String", "stream String", "snapshot_id UInt64",
		"cursor String", "updated_at DateTime", "version UInt64"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s columns %v, want %v", sink.StateTable, got, want)
	}
	// The engine, sorting key and partition key as ClickHouse reports them.
	var create string
	if err := s.Conn().QueryRow(ctx, "SELECT engine_full FROM system.tables WHERE database = ? AND name = ?", s.Database(), "wechat_followers").Scan(&create); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(create, "PARTITION BY snapshot_id") || !strings.Contains(create, "ORDER BY (appid, snapshot_id, openid)") {
		t.Errorf("wechat_followers engine: %s", create)
	}
}

func TestMigrateAddsMissingColumn(t *testing.T) {
	s := sinktest.OpenEmpty(t, sink.Config{})
	ctx := sinktest.Context(t)
	st, _ := schema.Lookup(schema.Users)
	// wechat_users as an older release created it: without qr_scene_str.
	ddl, err := st.CreateTable(s.Database())
	if err != nil {
		t.Fatal(err)
	}
	old := strings.Replace(ddl, "    `qr_scene_str` String,\n", "", 1)
	if old == ddl {
		t.Fatalf("could not remove qr_scene_str from\n%s", ddl)
	}
	if err := s.Conn().Exec(ctx, old); err != nil {
		t.Fatal(err)
	}
	if cols := columns(t, s, st.Table); len(cols) != len(st.Schema.Fields())-1 {
		t.Fatalf("setup: columns %v", cols)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	got := columns(t, s, st.Table)
	sort.Strings(got)
	want := wantColumns(t, st)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("after Migrate: %v, want %v", got, want)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
}

func TestMigrateTypeMismatch(t *testing.T) {
	s := sinktest.OpenEmpty(t, sink.Config{})
	ctx := sinktest.Context(t)
	st, _ := schema.Lookup(schema.Tags)
	ddl, err := st.CreateTable(s.Database())
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(ddl, "`count` UInt64", "`count` String", 1)
	if err := s.Conn().Exec(ctx, bad); err != nil {
		t.Fatal(err)
	}
	err = s.Migrate(ctx)
	if err == nil {
		t.Fatal("Migrate accepted a column of the wrong type")
	}
	for _, w := range []string{"wechat_tags", "count", "String", "UInt64"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q: %v", w, err)
		}
	}
	t.Log(err)
	// The other tables were still migrated.
	if cols := columns(t, s, "wechat_users"); len(cols) == 0 {
		t.Error("wechat_users was not created")
	}
}

func TestCurrentViewDDL(t *testing.T) {
	st, _ := schema.Lookup(schema.Followers)
	got, err := sink.CurrentViewDDL("db1", st)
	if err != nil {
		t.Fatal(err)
	}
	want := "CREATE VIEW IF NOT EXISTS `db1`.`wechat_followers_current` AS\n" +
		"SELECT `appid`, `snapshot_id`, `openid`, `fetched_at`\nFROM `db1`.`wechat_followers` FINAL\n" +
		"WHERE (`appid`, `snapshot_id`) IN (\n" +
		"    SELECT `appid`, max(`snapshot_id`) FROM `db1`.`wechat_snapshots` FINAL\n" +
		"    WHERE `stream` = 'followers' AND `complete` = 1\n" +
		"    GROUP BY `appid`)"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	users, _ := schema.Lookup(schema.Users)
	if _, err := sink.CurrentViewDDL("db1", users); err == nil {
		t.Error("a Latest stream got a current view")
	}
	if _, err := sink.CurrentViewDDL("db-1", st); err == nil {
		t.Error("an invalid database name was accepted")
	}
}
