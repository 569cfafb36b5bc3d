package source

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/wxsync/wxsync/connector/wechat"
	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/schema"
)

// PageSize is the most openids user/get returns in one call.
const PageSize = 10000

// listCursor is the resumable state of a list walk (followers, blacklist).
type listCursor struct {
	// Next is the next_openid to ask for; "" starts from the beginning.
	Next string `json:"next_openid"`
	// Fetched counts openids emitted in this snapshot, all committed once
	// this cursor is saved.
	Fetched int64 `json:"fetched"`
	// Total is the list's total as last reported by the API.
	Total int64 `json:"total"`
	// Restarts counts stale-cursor restarts in this snapshot.
	Restarts int `json:"restarts,omitempty"`
}

// decodeListCursor reads a saved cursor; nil or empty starts afresh.
func decodeListCursor(b []byte) (listCursor, error) {
	var c listCursor
	if len(b) == 0 {
		return c, nil
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("saved cursor is unreadable (reset it with `wxsync state reset`): %w", err)
	}
	if c.Fetched < 0 || c.Total < 0 || c.Restarts < 0 {
		return listCursor{}, fmt.Errorf("saved cursor has negative counts (reset it with `wxsync state reset`)")
	}
	if err := wechat.ValidateOpenID(c.Next); c.Next != "" && err != nil {
		return listCursor{}, fmt.Errorf("saved cursor: %w (reset it with `wxsync state reset`)", err)
	}
	return c, nil
}

func (c listCursor) encode() []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("encode list cursor: %v", err)) // a struct of strings and ints always marshals
	}
	return b
}

// stale reports whether a resumed walk that ended on its first call ended
// too early to be believed: with less than 99% of the reported total
// fetched. Saved cursors are known to go stale (the API then answers "end
// of list"). One restart per snapshot at most, so a list that really
// shrank ends after a second walk.
func (c listCursor) stale(total int64) bool {
	return c.Restarts == 0 && c.Fetched*100 < total*99
}

// listPager fetches one page of a list after next.
type listPager func(ctx context.Context, next string) (wechat.Page, error)

// walkList walks a list (followers, blacklist) from cursor to its end,
// emitting one record batch and one checkpoint per page. It ends on an
// empty page or an empty next_openid, never on total arithmetic, and fails
// on a next_openid that repeats rather than loop forever.
func walkList(ctx context.Context, stream string, cursor []byte, page listPager, calls func() map[string]int64, out plugin.Emitter, log loggerLike) error {
	cur, err := decodeListCursor(cursor)
	if err != nil {
		return plugin.ConfigError(err)
	}
	st, err := schema.Lookup(stream)
	if err != nil {
		return err
	}
	b := newOpenIDBatcher(st.SourceSchema())
	defer b.release()

	resumed := cur.Next != ""
	seen := map[string]struct{}{}
	for first := true; ; first = false {
		if err := ctx.Err(); err != nil {
			return err
		}
		p, err := page(ctx, cur.Next)
		if err != nil {
			return fmt.Errorf("page after next_openid %q: %w", cur.Next, err)
		}
		cur.Total = int64(p.Total)
		if len(p.OpenIDs) == 0 {
			if first && resumed && cur.stale(cur.Total) {
				log.Warn("saved cursor gave an immediate end of list far short of the total; restarting the walk within the same snapshot",
					"stream", stream, "fetched", cur.Fetched, "total", cur.Total)
				cur = listCursor{Restarts: cur.Restarts + 1, Total: cur.Total}
				resumed = false
				continue
			}
			return finish(stream, cur, calls, out)
		}
		if p.NextOpenID != "" {
			if _, dup := seen[p.NextOpenID]; dup || p.NextOpenID == cur.Next {
				return fmt.Errorf("the API answered next_openid %q again after %d pages in this run: refusing to loop (the list is inconsistent; retry later)", p.NextOpenID, len(seen)+1)
			}
			seen[p.NextOpenID] = struct{}{}
		}
		rec := b.build(p.OpenIDs, time.Now())
		err = out.Record(stream, rec)
		rec.Release()
		if err != nil {
			return err
		}
		cur.Fetched += int64(len(p.OpenIDs))
		cur.Next = p.NextOpenID
		if err := out.Progress(stream, plugin.Progress{Total: cur.Total, Fetched: cur.Fetched, Calls: calls()}); err != nil {
			return err
		}
		if cur.Next == "" {
			return finish(stream, cur, calls, out)
		}
		if err := out.Checkpoint(stream, cur.encode(), false); err != nil {
			return err
		}
	}
}

func finish(stream string, cur listCursor, calls func() map[string]int64, out plugin.Emitter) error {
	if err := out.Progress(stream, plugin.Progress{Total: cur.Total, Fetched: cur.Fetched, Calls: calls()}); err != nil {
		return err
	}
	return out.Checkpoint(stream, cur.encode(), true)
}

// loggerLike is the part of slog.Logger the walk uses.
type loggerLike interface {
	Warn(msg string, args ...any)
}

func (s *Source) readFollowers(ctx context.Context, api *wechat.Client, cursor []byte, out plugin.Emitter) error {
	return walkList(ctx, schema.Followers, cursor, api.ListFollowers, api.Calls, out, s.log)
}

// openIDBatcher builds (openid, fetched_at) record batches, reusing its
// builders from page to page.
type openIDBatcher struct {
	schema *arrow.Schema
	rb     *array.RecordBuilder
}

func newOpenIDBatcher(s *arrow.Schema) *openIDBatcher {
	return &openIDBatcher{schema: s, rb: array.NewRecordBuilder(memory.NewGoAllocator(), s)}
}

// build returns a batch of the page's openids, each once, in page order.
func (b *openIDBatcher) build(openids []string, at time.Time) arrow.Record {
	ids := b.rb.Field(0).(*array.StringBuilder)
	ts := b.rb.Field(1).(*array.TimestampBuilder)
	seen := make(map[string]struct{}, len(openids))
	ids.Reserve(len(openids))
	ts.Reserve(len(openids))
	stamp := arrow.Timestamp(at.Unix())
	for _, id := range openids {
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		ids.Append(id)
		ts.Append(stamp)
	}
	return b.rb.NewRecord()
}

func (b *openIDBatcher) release() { b.rb.Release() }
