package host

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
	"github.com/wxsync/wxsync/sink/sinktest"
)

// On real ClickHouse, with *sink.Sink as the destination: a commit that
// fails to insert the profiles saves no cursor, not even the followers
// stream's, whose rows went in: followers and users share the walk's
// cursor, and the followers one leads a resumed walk, so saving it would
// skip the profiles that were not committed. Both stream orders are tried.
func TestSinkCommitSavesNoCursorBeforeAllRows(t *testing.T) {
	sk := sinktest.Open(t, sink.Config{InsertMaxElapsed: 100 * time.Millisecond})
	ctx := context.Background()
	db := "`" + sk.Database() + "`"
	// Inserts into wechat_users fail from now on; the followers' succeed.
	if err := sk.Conn().Exec(ctx, "RENAME TABLE "+db+".wechat_users TO "+db+".wechat_users_away"); err != nil {
		t.Fatal(err)
	}
	fst, _ := schema.Lookup(schema.Followers)
	ust, _ := schema.Lookup(schema.Users)
	const appid = "wxcommitorder00001"
	const id = "oAbCdEfGhIjKlMnOpQrStUvWxYz1"
	now := time.Now().UTC()
	for round, order := range [][]string{{schema.Followers, schema.Users}, {schema.Users, schema.Followers}} {
		snap, err := sk.BeginSnapshot(ctx, appid, schema.Followers)
		if err != nil {
			t.Fatal(err)
		}
		cp := &plugin.Checkpoint{Cursor: []byte(fmt.Sprintf(`{"next_openid":%q,"fetched":%d}`, id, round+1))}
		r := &run{cfg: RunConfig{AppID: appid, Streams: order}.withDefaults(), dst: sk, obs: nopObserver{}, open: map[string]*streamRun{
			schema.Followers: {st: fst, snapshot: snap, pending: []arrow.Record{sinktest.Record(t, fst, []any{id, now})}, rows: 1, saveable: cp},
			schema.Users: {st: ust, pending: []arrow.Record{sinktest.Record(t, ust,
				[]any{id, uint8(1), "zh_CN", now, "", "", int64(0), []uint32{}, "ADD_SCENE_SEARCH", int64(0), "", now})}, rows: 1, saveable: cp},
		}}
		if err := r.commit(ctx); err == nil {
			t.Fatal("commit succeeded with wechat_users gone")
		}
		for _, stream := range []string{schema.Followers, schema.Users} {
			st, _, err := sk.LoadState(ctx, appid, stream)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(st.Cursor, cp.Cursor) {
				t.Fatalf("order %v: the %s cursor was saved though the profiles it covers were not committed", order, stream)
			}
		}
	}
}
