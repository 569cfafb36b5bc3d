package plugin

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/wxsync/wxsync/plugin/kind"
)

var testSchema = arrow.NewSchema([]arrow.Field{
	{Name: "openid", Type: arrow.BinaryTypes.String},
	{Name: "tags", Type: arrow.ListOf(arrow.PrimitiveTypes.Uint32)},
}, nil)

func testRecord(ids ...string) arrow.Record {
	b := array.NewRecordBuilder(memory.NewGoAllocator(), testSchema)
	defer b.Release()
	lb := b.Field(1).(*array.ListBuilder)
	for i, id := range ids {
		b.Field(0).(*array.StringBuilder).Append(id)
		lb.Append(true)
		lb.ValueBuilder().(*array.Uint32Builder).AppendValues([]uint32{uint32(i), 7}, nil)
	}
	return b.NewRecord()
}

func TestRecordRoundTrip(t *testing.T) {
	rec := testRecord("oA", "oB", "oC")
	defer rec.Release()
	b, err := EncodeRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	got, err := DecodeRecord(b, mem)
	if err != nil {
		t.Fatal(err)
	}
	if !array.RecordEqual(rec, got) {
		t.Fatalf("decoded %v, want %v", got, rec)
	}
	got.Release()
	mem.AssertSize(t, 0)
}

func TestDecodeRecordRejectsGarbage(t *testing.T) {
	rec := testRecord("oA")
	defer rec.Release()
	good, _ := EncodeRecord(rec)
	schemaOnly, _ := EncodeSchema(testSchema)
	for name, b := range map[string][]byte{
		"empty":       nil,
		"noise":       []byte("not arrow at all"),
		"truncated":   good[:len(good)/2],
		"schema only": schemaOnly,
	} {
		if r, err := DecodeRecord(b, memory.NewGoAllocator()); err == nil {
			r.Release()
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func TestSchemaRoundTrip(t *testing.T) {
	b, err := EncodeSchema(testSchema)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeSchema(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(testSchema) {
		t.Fatalf("decoded %v, want %v", got, testSchema)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	rec := testRecord("oA", "oB")
	good, _ := EncodeRecord(rec)
	rec.Release()
	f.Add(good)
	f.Add(good[:len(good)-8])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b, memory.NewGoAllocator())
		if err != nil {
			return
		}
		// Whatever decodes must be consistent enough to read every value.
		for _, col := range r.Columns() {
			for i := 0; i < col.Len(); i++ {
				_ = col.ValueStr(i)
			}
		}
		r.Release()
	})
}

func FuzzDecodeSchema(f *testing.F) {
	good, _ := EncodeSchema(testSchema)
	f.Add(good)
	f.Add([]byte("x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = DecodeSchema(b) // must not panic
	})
}

// scripted is a Source whose Read sends a fixed script.
type scripted struct {
	err error
}

func (s *scripted) Spec(context.Context) (Spec, error) {
	return Spec{Name: "test", Version: "1", Streams: []string{"followers"}}, nil
}

func (s *scripted) Check(_ context.Context, cfg []byte) ([]CheckResult, error) {
	return []CheckResult{{Name: "config", OK: true, Message: string(cfg)}}, nil
}

func (s *scripted) Discover(context.Context) ([]StreamSchema, error) {
	return []StreamSchema{{Name: "followers", Schema: testSchema}}, nil
}

func (s *scripted) Read(ctx context.Context, req ReadRequest, out Emitter) error {
	streams := req.Streams
	rec := testRecord("o1", "o2")
	defer rec.Release()
	if err := out.Record(streams[0].Stream, rec); err != nil {
		return err
	}
	if err := out.Progress(streams[0].Stream, Progress{Total: 9, Fetched: 2, Calls: map[string]int64{"/cgi-bin/user/get": 1}}); err != nil {
		return err
	}
	if err := out.Checkpoint(streams[0].Stream, append([]byte("after:"), streams[0].Cursor...), s.err == nil); err != nil {
		return err
	}
	return s.err
}

// connect serves src over a real gRPC connection in this process.
func connect(t *testing.T, src Source) *Client {
	t.Helper()
	conn, _ := goplugin.TestPluginGRPCConn(t, false, map[string]goplugin.Plugin{Name: &grpcPlugin{impl: src}})
	t.Cleanup(func() { conn.Close() }) // closing the client also stops the server
	raw, err := conn.Dispense(Name)
	if err != nil {
		t.Fatal(err)
	}
	d := raw.(*dispensed)
	return &Client{src: d.src, broker: d.broker, mem: memory.NewGoAllocator(), exited: func() bool { return false }}
}

func readAll(t *testing.T, c *Client) []Message {
	t.Helper()
	rs, err := c.Read(context.Background(), []byte(`{}`), []StreamState{{Stream: "followers", Cursor: []byte("c0")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []Message
	for {
		m, err := rs.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
}

func TestReadOverGRPC(t *testing.T) {
	c := connect(t, &scripted{})
	msgs := readAll(t, c)
	if len(msgs) != 3 {
		t.Fatalf("got %d messages, want record, progress, checkpoint", len(msgs))
	}
	want := testRecord("o1", "o2")
	defer want.Release()
	if msgs[0].Stream != "followers" || msgs[0].Record == nil || !array.RecordEqual(msgs[0].Record, want) {
		t.Fatalf("first message %+v, want the record", msgs[0])
	}
	msgs[0].Record.Release()
	if p := msgs[1].Progress; p == nil || p.Total != 9 || p.Fetched != 2 || p.Calls["/cgi-bin/user/get"] != 1 {
		t.Fatalf("second message %+v, want progress 2/9 with one user/get call", msgs[1])
	}
	if cp := msgs[2].Checkpoint; cp == nil || string(cp.Cursor) != "after:c0" || !cp.Done {
		t.Fatalf("third message %+v, want the done checkpoint after:c0", msgs[2])
	}
}

func TestReadTypedErrorArrivesLast(t *testing.T) {
	for _, tc := range []struct {
		err  error
		kind kind.Kind
	}{
		{ConfigError(errors.New("48001 api unauthorized")), kind.Config},
		{TemporaryError(errors.New("45009 quota")), kind.Temporary},
		{errors.New("boom"), kind.Internal},
		{&Error{Kind: kind.Temporary, Stream: "followers", Err: errors.New("cancelled")}, kind.Temporary},
	} {
		msgs := readAll(t, connect(t, &scripted{err: tc.err}))
		last := msgs[len(msgs)-1]
		if last.Err == nil || last.Err.Kind != tc.kind || last.Err.Error() == "" {
			t.Fatalf("%v: last message %+v, want a %v error", tc.err, last, tc.kind)
		}
		if msgs[0].Record != nil {
			msgs[0].Record.Release()
		}
	}
}

func TestSpecCheckDiscoverOverGRPC(t *testing.T) {
	c := connect(t, &scripted{})
	ctx := context.Background()
	spec, err := c.Spec(ctx)
	if err != nil || spec.Name != "test" || len(spec.Streams) != 1 {
		t.Fatalf("spec %+v, %v", spec, err)
	}
	res, err := c.Check(ctx, []byte("cfg"))
	if err != nil || len(res) != 1 || !res[0].OK || res[0].Message != "cfg" {
		t.Fatalf("check %+v, %v", res, err)
	}
	ds, err := c.Discover(ctx)
	if err != nil || len(ds) != 1 || !ds[0].Schema.Equal(testSchema) {
		t.Fatalf("discover %+v, %v", ds, err)
	}
}

// asksHost is a Source whose Read asks the host which profiles it needs and
// sends the answer back as a checkpoint cursor.
type asksHost struct{ scripted }

func (a *asksHost) Read(ctx context.Context, req ReadRequest, out Emitter) error {
	if req.Host == nil {
		return errors.New("no host offered")
	}
	need, err := req.Host.NeedProfiles(ctx, []string{"o1", "o2", "o3"})
	if err != nil {
		return err
	}
	return out.Checkpoint("users", []byte(strings.Join(need, ",")), true)
}

// evenHost needs the profiles of o2 only.
type evenHost struct{ asked []string }

func (h *evenHost) NeedProfiles(_ context.Context, ids []string) ([]string, error) {
	h.asked = append(h.asked, ids...)
	return []string{"o2"}, nil
}

func TestHostServiceOverBroker(t *testing.T) {
	c := connect(t, &asksHost{})
	h := &evenHost{}
	rs, err := c.Read(context.Background(), nil, []StreamState{{Stream: "users"}}, h)
	if err != nil {
		t.Fatal(err)
	}
	m, err := rs.Next()
	if err != nil {
		t.Fatal(err)
	}
	if m.Checkpoint == nil || string(m.Checkpoint.Cursor) != "o2" {
		t.Fatalf("got %+v, want the host's answer o2 echoed back", m)
	}
	if strings.Join(h.asked, ",") != "o1,o2,o3" {
		t.Fatalf("host was asked %q, want o1,o2,o3", h.asked)
	}
}

// downHost cannot answer: its database is down past its retries.
type downHost struct{}

func (downHost) NeedProfiles(context.Context, []string) ([]string, error) {
	return nil, errors.New("look up profiles in wechat_users: dial tcp 127.0.0.1:9000: connect: connection refused")
}

// A host that cannot say which profiles are needed ends the Read with a
// temporary error (exit 75, like an insert that keeps failing), and its
// cause reaches the operator.
func TestHostServiceFailureIsTemporary(t *testing.T) {
	c := connect(t, &asksHost{})
	rs, err := c.Read(context.Background(), nil, []StreamState{{Stream: "users"}}, downHost{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := rs.Next()
	if err != nil {
		t.Fatal(err)
	}
	if m.Err == nil || m.Err.Kind != kind.Temporary {
		t.Fatalf("got %+v, want a temporary error", m)
	}
	if want := "ask the host which profiles are needed: look up profiles in wechat_users: dial tcp 127.0.0.1:9000: connect: connection refused"; m.Err.Error() != want {
		t.Fatalf("error %q, want %q", m.Err.Error(), want)
	}
}
