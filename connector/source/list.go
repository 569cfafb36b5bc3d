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
	// Carry holds openids of pages before Next whose profiles are still to
	// fetch (fewer than one batchget call's worth).
	Carry []string `json:"carry,omitempty"`
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
	if len(c.Carry) == 0 {
		c.Carry = nil // "carry":[] is no carry: encode omits it
	}
	if len(c.Carry) >= BatchSize {
		return listCursor{}, fmt.Errorf("saved cursor carries %d openids, more than a batch (reset it with `wxsync state reset`)", len(c.Carry))
	}
	for _, id := range c.Carry {
		if err := wechat.ValidateOpenID(id); err != nil {
			return listCursor{}, fmt.Errorf("saved cursor: carried %w (reset it with `wxsync state reset`)", err)
		}
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
	return c.Restarts == 0 && below99(c.Fetched, total)
}

// below99 reports whether fetched is less than 99% of total.
func below99(fetched, total int64) bool {
	if fetched < 0 || fetched >= total {
		return false
	}
	// fetched*100 < total*99 ⇔ 100·(total-fetched) > total ⇔
	// total-fetched > ⌊total/100⌋, which cannot overflow: the saved
	// cursor and the API's total are untrusted and may be huge.
	return total-fetched > total/100
}

// listPager fetches one page of a list after next.
type listPager func(ctx context.Context, next string) (wechat.Page, error)

// loggerLike is the part of slog.Logger the walk uses.
type loggerLike interface {
	Warn(msg string, args ...any)
}

// walk is one walk of a list (followers, blacklist) from a cursor to its
// end. It ends on a page with no openids or an empty next_openid, never on
// total arithmetic, and fails on a next_openid that repeats rather than
// loop forever: a temporary error, since the cursor stays at the last good
// page and the anomaly is the API's.
type walk struct {
	// stream is the list's stream: progress and errors name it.
	stream string
	// records says whether to emit each page's openids as a record batch
	// of stream (false when only the profiles of the list are wanted).
	records bool
	page    listPager
	calls   func() map[string]int64
	out     plugin.Emitter
	log     loggerLike
	// onPage, if set, is given each page's openids, each once, after the
	// page's record is emitted.
	onPage func(ctx context.Context, openids []string) error
	// checkpoint is given the cursor after each page (done false) and at
	// the end (done true). Nil emits a checkpoint of stream at once.
	checkpoint func(cur listCursor, done bool) error
	// onTotal, if set, is given the total the first page reports.
	onTotal func(total int64)
	// dedup drops an openid a page repeats; its table serves every page.
	dedup pageSet
}

// run walks from cur to the end of the list.
func (w *walk) run(ctx context.Context, cur listCursor) error {
	st, err := schema.Lookup(w.stream)
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
		p, err := w.page(ctx, cur.Next)
		if err != nil {
			return fmt.Errorf("page after next_openid %q: %w", cur.Next, err)
		}
		cur.Total = int64(p.Total)
		if first && w.onTotal != nil {
			w.onTotal(cur.Total)
		}
		if len(p.OpenIDs) == 0 {
			if first && resumed && cur.stale(cur.Total) {
				w.log.Warn("saved cursor gave an immediate end of list far short of the total; restarting the walk within the same snapshot",
					"stream", w.stream, "fetched", cur.Fetched, "total", cur.Total)
				cur = listCursor{Restarts: cur.Restarts + 1, Total: cur.Total, Carry: cur.Carry}
				resumed = false
				continue
			}
			w.warnShort(cur)
			return w.finish(cur)
		}
		if p.NextOpenID != "" {
			if _, dup := seen[p.NextOpenID]; dup || p.NextOpenID == cur.Next {
				// Nothing of this page is emitted: the cursor saved is the
				// last good page's, and a later run resumes from it.
				return plugin.TemporaryError(fmt.Errorf("the API answered next_openid %q again after %d pages in this run: refusing to loop (the list is inconsistent; retry later)", p.NextOpenID, len(seen)+1))
			}
			seen[p.NextOpenID] = struct{}{}
		}
		ids := w.dedup.uniq(p.OpenIDs)
		if w.records {
			rec := b.build(ids, time.Now())
			err = w.out.Record(w.stream, rec)
			rec.Release()
			if err != nil {
				return err
			}
		}
		if w.onPage != nil {
			if err := w.onPage(ctx, ids); err != nil {
				return err
			}
		}
		cur.Fetched += int64(len(p.OpenIDs))
		cur.Next = p.NextOpenID
		if err := w.progress(cur); err != nil {
			return err
		}
		if cur.Next == "" {
			w.warnShort(cur)
			return w.finish(cur)
		}
		if err := w.emitCheckpoint(cur, false); err != nil {
			return err
		}
	}
}

// warnShort warns when a walk of the follower list ends with less than
// 99% of the total the API last reported counted in its snapshot: the
// snapshot is published as listed (the API's total may count followers
// that user/get does not list), but not without a word. It runs after the
// stale-cursor rule has had its say: a resumed walk it restarts is judged
// when the restarted walk ends. A users-only walk publishes no followers
// snapshot.
func (w *walk) warnShort(cur listCursor) {
	if !w.records || w.stream != schema.Followers || !below99(cur.Fetched, cur.Total) {
		return
	}
	w.log.Warn(fmt.Sprintf("the follower list ended at %d openids of the %d the API reports (less than 99%%); "+
		"the snapshot is published as the API listed it: the API's total may include followers it does not list", cur.Fetched, cur.Total),
		"stream", w.stream, "fetched", cur.Fetched, "total", cur.Total)
}

func (w *walk) progress(cur listCursor) error {
	return w.out.Progress(w.stream, plugin.Progress{Total: cur.Total, Fetched: cur.Fetched, Calls: w.calls()})
}

func (w *walk) finish(cur listCursor) error {
	if err := w.progress(cur); err != nil {
		return err
	}
	return w.emitCheckpoint(cur, true)
}

func (w *walk) emitCheckpoint(cur listCursor, done bool) error {
	if w.checkpoint != nil {
		return w.checkpoint(cur, done)
	}
	return w.out.Checkpoint(w.stream, cur.encode(), done)
}

// readList walks a list whose pages are the stream's records (followers
// without profiles, blacklist).
func (s *Source) readList(ctx context.Context, stream string, cursor []byte, page listPager, calls func() map[string]int64, out plugin.Emitter) error {
	cur, err := decodeListCursor(cursor)
	if err != nil {
		return plugin.ConfigError(err)
	}
	w := &walk{stream: stream, records: true, page: page, calls: calls, out: out, log: s.log}
	return w.run(ctx, cur)
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

// build returns a batch of openids, in order, all fetched at at.
func (b *openIDBatcher) build(openids []string, at time.Time) arrow.Record {
	ids := b.rb.Field(0).(*array.StringBuilder)
	ts := b.rb.Field(1).(*array.TimestampBuilder)
	ids.Reserve(len(openids))
	ts.Reserve(len(openids))
	size := 0
	for _, id := range openids {
		size += len(id)
	}
	ids.ReserveData(size)
	stamp := arrow.Timestamp(at.Unix())
	for _, id := range openids {
		ids.Append(id)
		ts.Append(stamp)
	}
	return b.rb.NewRecord()
}

func (b *openIDBatcher) release() { b.rb.Release() }
