package plugin

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/apache/arrow/go/v15/arrow"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/wxsync/wxsync/plugin/kind"
	"github.com/wxsync/wxsync/plugin/pb"
)

// server adapts a Source to the generated gRPC service.
type server struct {
	pb.UnimplementedSourceServer
	impl   Source
	broker *goplugin.GRPCBroker
}

func (s *server) Spec(ctx context.Context, _ *pb.SpecRequest) (*pb.SpecResponse, error) {
	spec, err := s.impl.Spec(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.SpecResponse{Name: spec.Name, Version: spec.Version, Streams: spec.Streams}, nil
}

func (s *server) Check(ctx context.Context, req *pb.CheckRequest) (*pb.CheckResponse, error) {
	var results []CheckResult
	var err error
	hc, ok := s.impl.(HostChecker)
	if id := req.GetHostBrokerId(); id != 0 && ok {
		conn, derr := s.broker.Dial(id)
		if derr != nil {
			return nil, fmt.Errorf("connect to the host's services: %w", derr)
		}
		defer conn.Close()
		results, err = hc.CheckWithHost(ctx, req.GetConfig().GetJson(), &hostClient{c: pb.NewHostClient(conn)})
	} else {
		results, err = s.impl.Check(ctx, req.GetConfig().GetJson())
	}
	if err != nil {
		return nil, err
	}
	resp := &pb.CheckResponse{}
	for _, r := range results {
		resp.Results = append(resp.Results, &pb.CheckResult{Name: r.Name, Ok: r.OK, Warning: r.Warning, Message: r.Message})
	}
	return resp, nil
}

func (s *server) Discover(ctx context.Context, _ *pb.DiscoverRequest) (*pb.DiscoverResponse, error) {
	streams, err := s.impl.Discover(ctx)
	if err != nil {
		return nil, err
	}
	resp := &pb.DiscoverResponse{}
	for _, st := range streams {
		b, err := EncodeSchema(st.Schema)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", st.Name, err)
		}
		resp.Streams = append(resp.Streams, &pb.StreamSchema{Name: st.Name, ArrowSchema: b})
	}
	return resp, nil
}

// Read runs the source and forwards what it emits. An error from the source
// becomes a typed Error message, the last of the stream; only a failure to
// send ends the call with a gRPC error.
func (s *server) Read(req *pb.ReadRequest, stream pb.Source_ReadServer) error {
	rr := ReadRequest{Config: req.GetConfig().GetJson()}
	for _, st := range req.GetStreams() {
		rr.Streams = append(rr.Streams, StreamState{Stream: st.GetStream(), Cursor: st.GetCursor()})
	}
	if id := req.GetHostBrokerId(); id != 0 {
		conn, err := s.broker.Dial(id)
		if err != nil {
			return fmt.Errorf("connect to the host's services: %w", err)
		}
		defer conn.Close()
		rr.Host = &hostClient{c: pb.NewHostClient(conn)}
	}
	em := &emitter{serialSender[*pb.ReadMessage]{out: stream.Send}}
	err := s.impl.Read(stream.Context(), rr, em)
	if err == nil {
		return nil
	}
	if sendErr := em.failed(); sendErr != nil {
		// The host is gone; nobody is left to read a typed error.
		return sendErr
	}
	// The stream travels in its own field; the message is the cause alone,
	// so the host's Error prints "stream S: cause" once.
	msg, stName := err.Error(), ""
	var typed *Error
	if errors.As(err, &typed) && typed.Stream != "" {
		msg, stName = typed.Err.Error(), typed.Stream
	}
	return stream.Send(&pb.ReadMessage{Msg: &pb.ReadMessage_Error{Error: &pb.Error{
		Kind: kindToPB(kind.Of(err)), Message: msg, Stream: stName,
	}}})
}

// serialSender sends the messages of one gRPC server stream. A stream's
// Send must not be called concurrently, so sends are serialised; the first
// failure is kept and returned by every later send.
type serialSender[M any] struct {
	mu      sync.Mutex
	out     func(M) error // the stream's Send
	sendErr error
}

func (e *serialSender[M]) send(m M) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sendErr != nil {
		return e.sendErr
	}
	if err := e.out(m); err != nil {
		e.sendErr = fmt.Errorf("send to host: %w", err)
		return e.sendErr
	}
	return nil
}

// failed returns the error of a failed send, if any.
func (e *serialSender[M]) failed() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sendErr
}

// emitter sends a Read's output on its gRPC server stream.
type emitter struct {
	serialSender[*pb.ReadMessage]
}

func (e *emitter) Record(stream string, rec arrow.Record) error {
	b, err := EncodeRecord(rec)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	return e.send(&pb.ReadMessage{Msg: &pb.ReadMessage_Record{Record: &pb.RecordBatch{Stream: stream, ArrowIpc: b}}})
}

func (e *emitter) Checkpoint(stream string, cursor []byte, done bool) error {
	return e.send(&pb.ReadMessage{Msg: &pb.ReadMessage_Checkpoint{Checkpoint: &pb.Checkpoint{Stream: stream, Cursor: cursor, Done: done}}})
}

func (e *emitter) Progress(stream string, p Progress) error {
	return e.send(&pb.ReadMessage{Msg: &pb.ReadMessage_Progress{Progress: &pb.Progress{
		Stream: stream, Total: p.Total, Fetched: p.Fetched, Calls: p.Calls, QuotaRemain: p.QuotaRemain,
	}}})
}
