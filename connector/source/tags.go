package source

import (
	"context"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/wxsync/wxsync/connector/wechat"
	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/schema"
)

// readTags fetches the account's tags in one call (there are at most 100)
// and emits them as one batch; the stream has no cursor.
func (s *Source) readTags(ctx context.Context, api *wechat.Client, out plugin.Emitter) error {
	tags, err := api.Tags(ctx)
	if err != nil {
		return err
	}
	st, _ := schema.Lookup(schema.Tags) // a known stream
	rb := array.NewRecordBuilder(memory.NewGoAllocator(), st.SourceSchema())
	defer rb.Release()
	f := rb.Fields()
	stamp := arrow.Timestamp(time.Now().Unix())
	for _, t := range tags {
		f[0].(*array.Uint32Builder).Append(t.ID)
		f[1].(*array.StringBuilder).Append(t.Name)
		f[2].(*array.Uint64Builder).Append(uint64(max(t.Count, 0)))
		f[3].(*array.TimestampBuilder).Append(stamp)
	}
	rec := rb.NewRecord()
	err = out.Record(schema.Tags, rec)
	rec.Release()
	if err != nil {
		return err
	}
	if err := out.Progress(schema.Tags, plugin.Progress{Total: int64(len(tags)), Fetched: int64(len(tags)), Calls: api.Calls()}); err != nil {
		return err
	}
	return out.Checkpoint(schema.Tags, nil, true)
}
