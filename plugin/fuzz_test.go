package plugin

import (
	"testing"

	"github.com/apache/arrow/go/v15/arrow/memory"
	"google.golang.org/protobuf/proto"

	"github.com/wxsync/wxsync/plugin/kind"
	"github.com/wxsync/wxsync/plugin/pb"
)

// FuzzDecodeMessage fuzzes the host's decoding of one message of a Read, from
// the protobuf bytes on the wire: whatever decodes is exactly one of a
// record (every value of which can be read), a checkpoint, a progress or
// an error.
func FuzzDecodeMessage(f *testing.F) {
	rec := testRecord("oA", "o\"B\\")
	ipcBytes, err := EncodeRecord(rec)
	rec.Release()
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range []*pb.ReadMessage{
		{Msg: &pb.ReadMessage_Record{Record: &pb.RecordBatch{Stream: "followers", ArrowIpc: ipcBytes}}},
		{Msg: &pb.ReadMessage_Record{Record: &pb.RecordBatch{Stream: "followers", ArrowIpc: ipcBytes[:len(ipcBytes)/2]}}},
		{Msg: &pb.ReadMessage_Checkpoint{Checkpoint: &pb.Checkpoint{Stream: "users", Cursor: []byte(`{"next_openid":"oA"}`), Done: true}}},
		{Msg: &pb.ReadMessage_Progress{Progress: &pb.Progress{Stream: "followers", Total: 9, Fetched: 2, Calls: map[string]int64{"/cgi-bin/user/get": 1}}}},
		{Msg: &pb.ReadMessage_Error{Error: &pb.Error{Kind: pb.Error_KIND_CONFIG, Message: "48001", Stream: "followers"}}},
		{Msg: &pb.ReadMessage_Error{Error: &pb.Error{Kind: pb.Error_Kind(99)}}},
		{},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m pb.ReadMessage
		if proto.Unmarshal(b, &m) != nil {
			return
		}
		msg, err := decodeMessage(&m, memory.NewGoAllocator())
		if err != nil {
			return
		}
		set := 0
		for _, ok := range []bool{msg.Record != nil, msg.Checkpoint != nil, msg.Progress != nil, msg.Err != nil} {
			if ok {
				set++
			}
		}
		if set != 1 {
			t.Fatalf("%d of record, checkpoint, progress and error set in %+v", set, msg)
		}
		switch {
		case msg.Record != nil:
			for _, col := range msg.Record.Columns() {
				for i := 0; i < col.Len(); i++ {
					_ = col.ValueStr(i)
				}
			}
			msg.Record.Release()
		case msg.Err != nil:
			if k := msg.Err.Kind; k != kind.Config && k != kind.Temporary && k != kind.Internal {
				t.Fatalf("error of kind %d", k)
			}
			_ = msg.Err.Error()
		}
	})
}
