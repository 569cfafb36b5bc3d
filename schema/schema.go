package schema

import (
	"fmt"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"
)

// Stream names, as used on the command line (--streams) and in state.
const (
	Followers = "followers"
	Users     = "users"
	Tags      = "tags"
	Blacklist = "blacklist"
	// FollowEvents is the stream `wxsync listen` writes from the account's
	// message pushes; no sync walks it (see Pushed).
	FollowEvents = "follow_events"
)

// Column names that more than one stream shares.
const (
	ColAppID      = "appid"
	ColSnapshotID = "snapshot_id"
	ColOpenID     = "openid"
	ColFetchedAt  = "fetched_at"
)

// metaFilledBy marks a field the sink fills (the same value for every row of
// a batch) rather than the plugin.
const metaFilledBy = "wxsync.filled_by"

// Kind says how a stream's table keeps its history.
type Kind int

const (
	// Snapshot tables hold one complete copy of a list per snapshot: rows
	// carry a snapshot_id, a row in wechat_snapshots says when the copy is
	// complete, and old copies are pruned by partition.
	Snapshot Kind = iota + 1
	// Latest tables keep one row per key; the newest version wins.
	Latest
	// Events tables keep one row per event, deduplicated on the event's
	// identity (the sorting key), partitioned by month of the event.
	Events
)

// Stream describes one stream: the Arrow schema of its rows and the table
// they land in.
type Stream struct {
	// Name is the stream's name (followers, users, tags, blacklist).
	Name string
	// Table is the ClickHouse table the rows land in.
	Table string
	// Kind says whether the table holds snapshots or latest versions.
	Kind Kind
	// Schema is the full row: sink-filled columns first, then the columns
	// the plugin sends. The ClickHouse DDL is derived from it.
	Schema *arrow.Schema
	// OrderBy is the table's sorting key, which is also its dedup key.
	OrderBy []string
	// Version is the ReplacingMergeTree version column ("" for none).
	Version string
	// ShardBy are the columns whose cityHash64 picks a row's shard on a
	// cluster (see ClusterTables). They must be a subset of OrderBy, so
	// that every version of a key lands on one shard and FINAL, applied
	// per shard, is exact. Empty means all of OrderBy, which is always
	// exact: a table added later is sharded correctly without a word.
	ShardBy []string
	// CurrentView is the view of each account's latest complete snapshot
	// (Snapshot streams only).
	CurrentView string
	// Doc is one line for `wxsync discover` and the docs.
	Doc string
}

func sinkField(name string, t arrow.DataType) arrow.Field {
	return arrow.Field{Name: name, Type: t, Metadata: arrow.NewMetadata([]string{metaFilledBy}, []string{"sink"})}
}

func field(name string, t arrow.DataType) arrow.Field {
	return arrow.Field{Name: name, Type: t}
}

var (
	tsSeconds = &arrow.TimestampType{Unit: arrow.Second, TimeZone: "UTC"}
	str       = arrow.BinaryTypes.String
)

// openIDListSchema is the row of a list of openids kept as snapshots
// (followers, blacklist).
func openIDListSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		sinkField(ColAppID, str),
		sinkField(ColSnapshotID, arrow.PrimitiveTypes.Uint64),
		field(ColOpenID, str),
		field(ColFetchedAt, tsSeconds),
	}, nil)
}

// All returns every stream, in the order a sync runs them.
func All() []Stream {
	return []Stream{
		{
			Name: Followers, Table: "wechat_followers", Kind: Snapshot, CurrentView: "wechat_followers_current",
			Doc:     "Every follower's openid, one complete list per snapshot (GET /cgi-bin/user/get).",
			Schema:  openIDListSchema(),
			OrderBy: []string{ColAppID, ColSnapshotID, ColOpenID},
			// Not by snapshot: a follower stays on one shard from snapshot
			// to snapshot, beside its profile and blacklist rows.
			ShardBy: []string{ColAppID, ColOpenID},
		},
		{
			Name: Users, Table: "wechat_users", Kind: Latest,
			Doc: "Each follower's profile, the latest fetch winning (POST /cgi-bin/user/info/batchget).",
			Schema: arrow.NewSchema([]arrow.Field{
				sinkField(ColAppID, str),
				field(ColOpenID, str),
				field("subscribe", arrow.PrimitiveTypes.Uint8),
				field("language", str),
				field("subscribe_time", tsSeconds),
				field("unionid", str),
				field("remark", str),
				field("groupid", arrow.PrimitiveTypes.Int64),
				field("tagid_list", arrow.ListOf(arrow.PrimitiveTypes.Uint32)),
				field("subscribe_scene", str),
				field("qr_scene", arrow.PrimitiveTypes.Int64),
				field("qr_scene_str", str),
				field(ColFetchedAt, tsSeconds),
			}, nil),
			OrderBy: []string{ColAppID, ColOpenID},
			Version: ColFetchedAt,
			ShardBy: []string{ColAppID, ColOpenID},
		},
		{
			Name: Tags, Table: "wechat_tags", Kind: Latest,
			Doc: "The account's tags with their member counts (GET /cgi-bin/tags/get).",
			Schema: arrow.NewSchema([]arrow.Field{
				sinkField(ColAppID, str),
				field("id", arrow.PrimitiveTypes.Uint32),
				field("name", str),
				field("count", arrow.PrimitiveTypes.Uint64),
				field(ColFetchedAt, tsSeconds),
			}, nil),
			OrderBy: []string{ColAppID, "id"},
			Version: ColFetchedAt,
			// A few hundred rows per account: one shard holds them all, so
			// that the latest fetch (max(fetched_at)) is read from one place.
			ShardBy: []string{ColAppID},
		},
		{
			Name: Blacklist, Table: "wechat_blacklist", Kind: Snapshot, CurrentView: "wechat_blacklist_current",
			Doc:     "Every blacklisted openid, one complete list per snapshot (POST /cgi-bin/tags/members/getblacklist).",
			Schema:  openIDListSchema(),
			OrderBy: []string{ColAppID, ColSnapshotID, ColOpenID},
			ShardBy: []string{ColAppID, ColOpenID},
		},
	}
}

// FollowEventsTable is the table of the follow_events stream.
const FollowEventsTable = "wechat_follow_events"

// FollowersLiveView is the view of each account's followers now: its
// latest complete followers snapshot corrected by the follow events since
// that snapshot began (sink.LiveViewDDL).
const FollowersLiveView = "wechat_followers_live"

// Pushed returns the streams that arrive by push (wxsync listen), not by a
// sync's walk: All and Names leave them out, so that no sync asks for them.
func Pushed() []Stream {
	return []Stream{{
		Name: FollowEvents, Table: FollowEventsTable, Kind: Events,
		Doc: "Every follow event pushed by WeChat (subscribe, unsubscribe, SCAN), once per event identity after FINAL (wxsync listen).",
		Schema: arrow.NewSchema([]arrow.Field{
			sinkField(ColAppID, str),
			field(ColOpenID, str),
			field("event", str),
			field("create_time", tsSeconds),
			field("event_key", str),
			field("event_key_raw", str),
			field("ticket", str),
			field("received_at", tsSeconds),
		}, nil),
		// The identity of connector/push's Message.ID, the account first:
		// WeChat's retries and several receivers leave one row.
		OrderBy: []string{ColAppID, ColOpenID, "create_time", "event", "event_key_raw"},
	}}
}

// FollowEventsStream returns the follow_events stream.
func FollowEventsStream() Stream { return Pushed()[0] }

// Names returns the names of all streams, in run order.
func Names() []string {
	all := All()
	names := make([]string, len(all))
	for i, s := range all {
		names[i] = s.Name
	}
	return names
}

// Lookup returns the stream called name.
func Lookup(name string) (Stream, error) {
	for _, s := range All() {
		if s.Name == name {
			return s, nil
		}
	}
	return Stream{}, fmt.Errorf("unknown stream %q (known: %s)", name, strings.Join(Names(), ", "))
}

// SinkFilled reports whether the sink, not the plugin, fills field f.
func SinkFilled(f arrow.Field) bool {
	v, ok := f.Metadata.GetValue(metaFilledBy)
	return ok && v == "sink"
}

// SourceSchema is the schema of the record batches the plugin sends for
// this stream: the full schema without the sink-filled columns.
func (s Stream) SourceSchema() *arrow.Schema {
	var fields []arrow.Field
	for _, f := range s.Schema.Fields() {
		if !SinkFilled(f) {
			fields = append(fields, f)
		}
	}
	return arrow.NewSchema(fields, nil)
}

// ColumnType returns the ClickHouse type for an Arrow type. Only the types
// the streams use are mapped; anything else is an error.
func ColumnType(t arrow.DataType) (string, error) {
	switch t.ID() {
	case arrow.STRING:
		return "String", nil
	case arrow.UINT8:
		return "UInt8", nil
	case arrow.UINT32:
		return "UInt32", nil
	case arrow.UINT64:
		return "UInt64", nil
	case arrow.INT64:
		return "Int64", nil
	case arrow.TIMESTAMP:
		if ts := t.(*arrow.TimestampType); ts.Unit == arrow.Second {
			return "DateTime", nil
		}
	case arrow.LIST:
		inner, err := ColumnType(t.(*arrow.ListType).Elem())
		if err != nil {
			return "", err
		}
		return "Array(" + inner + ")", nil
	}
	return "", fmt.Errorf("no ClickHouse type for Arrow type %s", t)
}

// Ident validates a ClickHouse identifier and returns it back-quoted. Only
// plain identifiers are accepted, so quoting never has to escape anything.
func Ident(name string) (string, error) {
	if !isIdent(name) {
		return "", fmt.Errorf("invalid identifier %q: want letters, digits and _ (not starting with a digit), at most 128", name)
	}
	return "`" + name + "`", nil
}

// Columns returns the full column list of the table, back-quoted.
func (s Stream) Columns() []string {
	cols := make([]string, 0, len(s.Schema.Fields()))
	for _, f := range s.Schema.Fields() {
		cols = append(cols, "`"+f.Name+"`")
	}
	return cols
}

// CreateTable returns the CREATE TABLE IF NOT EXISTS statement for the
// stream's table in database db, on one server. It runs on ClickHouse 18.16
// and current releases alike. ClusterTables derives the cluster form from
// the same parts.
func (s Stream) CreateTable(db string) (string, error) {
	qdb, err := Ident(db)
	if err != nil {
		return "", err
	}
	engine := "ReplacingMergeTree"
	if s.Version != "" {
		engine += fmt.Sprintf("(`%s`)", s.Version)
	}
	return s.createTable(fmt.Sprintf("%s.`%s`", qdb, s.Table), engine)
}

// createTable is the one DDL generator: the columns, the engine given, the
// partitioning and the sorting key of s, for the table called qname (already
// quoted, with ON CLUSTER appended when it applies).
func (s Stream) createTable(qname, engine string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (\n", qname)
	for i, f := range s.Schema.Fields() {
		ct, err := ColumnType(f.Type)
		if err != nil {
			return "", fmt.Errorf("stream %s column %s: %w", s.Name, f.Name, err)
		}
		sep := ","
		if i == len(s.Schema.Fields())-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "    `%s` %s%s\n", f.Name, ct, sep)
	}
	b.WriteString(") ENGINE = " + engine)
	switch s.Kind {
	case Snapshot:
		// One partition per snapshot makes pruning an old snapshot a cheap
		// DROP PARTITION. Snapshot ids are unique across accounts.
		fmt.Fprintf(&b, "\nPARTITION BY `%s`", ColSnapshotID)
	case Events:
		// A month per partition: an event's identity holds its time, so its
		// duplicates always share a partition and merge away.
		b.WriteString("\nPARTITION BY toYYYYMM(`create_time`)")
	}
	fmt.Fprintf(&b, "\nORDER BY (%s)", quoteList(s.OrderBy))
	return b.String(), nil
}

func quoteList(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = "`" + c + "`"
	}
	return strings.Join(q, ", ")
}
