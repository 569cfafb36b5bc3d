package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wxsync/wxsync/plugin/kind"
	"github.com/wxsync/wxsync/plugin/pb"
)

// Listener is what a source that receives pushes implements beside Source.
// A plugin whose source does not implement it answers Listen with
// codes.Unimplemented.
type Listener interface {
	// Listen serves the push endpoint req.Config describes until req.Stop
	// is closed (graceful: stop accepting, answer what is in flight, then
	// return nil) or ctx ends (abrupt). It reports through out, and commits
	// through req.Host; it acknowledges a push only once the host has
	// committed it.
	Listen(ctx context.Context, req ListenRequest, out ListenEmitter) error
}

// ListenRequest is what a Listen is asked to do.
type ListenRequest struct {
	// Config is the source's listen configuration (JSON).
	Config []byte
	// Host commits what the source receives; never nil.
	Host ListenHost
	// Stop is closed when the host asks for a graceful stop.
	Stop <-chan struct{}
}

// ListenHost is what the host offers a source during a Listen: the
// profile filter of a Read, and durable commits.
type ListenHost interface {
	Host
	// CommitEvents stores rec, a record batch of the follow_events
	// stream's source schema, and returns the rows committed. Only a nil
	// error means the rows are durable.
	CommitEvents(ctx context.Context, rec arrow.Record) (int64, error)
	// CommitUsers stores rec, a record batch of the users stream's source
	// schema.
	CommitUsers(ctx context.Context, rec arrow.Record) (int64, error)
}

// TicketKeeper is what the host offers a Listen in platform mode: storing
// the component_verify_tickets WeChat pushes to the platform. The Host a
// plugin's Listen receives implements it; the host's own ListenHost does
// when it keeps tickets.
type TicketKeeper interface {
	// StoreTicket stores the ticket pushed to the platform componentAppID
	// at created; it returns nil only once the ticket is stored.
	StoreTicket(ctx context.Context, componentAppID, ticket string, created time.Time) error
}

// ListenEmitter is where a Listen reports. It is safe for concurrent use.
type ListenEmitter interface {
	// Listening says the push server accepts connections at addr.
	Listening(addr string) error
	// Stats sends the counters so far (each cumulative).
	Stats(s ListenStats) error
}

// ListenStats are a Listen's counters since it began; see pb.ListenStats.
type ListenStats struct {
	Received, Acknowledged, Unacknowledged, Verified int64
	Rejected                                         map[string]int64
	Other                                            map[string]int64
	// AckBounds are the upper bounds (seconds) of the acknowledgement
	// latency buckets, AckCounts the cumulative count of each.
	AckBounds       []float64
	AckCounts       []uint64
	AckCount        uint64
	AckSum          float64
	ProfilesFetched int64
	Calls           map[string]int64
}

// ListenMessage is one message of a Listen. Exactly one field is set.
type ListenMessage struct {
	// Listening is the address the push server accepts on.
	Listening string
	Stats     *ListenStats
	// Err is the typed error that ended the Listen; it is the last message.
	Err *Error
}

// ErrNoListener is wrapped by Listen's error when the plugin's source does
// not receive pushes.
var ErrNoListener = errors.New("the source plugin does not receive pushes")

// ListenStream is the host's side of a Listen.
type ListenStream struct {
	c      *Client
	stream pb.Source_ListenClient
	once   sync.Once
}

// Listen starts the plugin's push receiver with config, serving host to it
// for the Listen's duration. Stop asks for a graceful end; cancelling ctx
// ends it at once.
func (c *Client) Listen(ctx context.Context, config []byte, host ListenHost) (*ListenStream, error) {
	if host == nil {
		return nil, errors.New("listen: a host is required")
	}
	id := serveHost(c.broker, host)
	stream, err := c.src.Listen(ctx)
	if err != nil {
		return nil, c.callErr("listen", err)
	}
	req := &pb.ListenRequest{Config: &pb.Config{Json: config}, HostBrokerId: id}
	if err := stream.Send(&pb.ListenControl{Msg: &pb.ListenControl_Start{Start: req}}); err != nil {
		return nil, c.callErr("listen", err)
	}
	return &ListenStream{c: c, stream: stream}, nil
}

// Stop asks the plugin to stop accepting pushes, answer those in flight and
// end the Listen; Next then returns the last messages and io.EOF.
func (s *ListenStream) Stop() error {
	var err error
	s.once.Do(func() { err = s.stream.CloseSend() })
	if err != nil {
		return fmt.Errorf("listen: stop: %w", err)
	}
	return nil
}

// Next returns the next message, or io.EOF after the last one.
func (s *ListenStream) Next() (ListenMessage, error) {
	m, err := s.stream.Recv()
	if err == io.EOF {
		return ListenMessage{}, io.EOF
	}
	if status.Code(err) == codes.Unimplemented {
		return ListenMessage{}, fmt.Errorf("listen: %w (%s)", ErrNoListener, status.Convert(err).Message())
	}
	if err != nil {
		return ListenMessage{}, s.c.callErr("listen", err)
	}
	switch x := m.GetMsg().(type) {
	case *pb.ListenMessage_Listening:
		return ListenMessage{Listening: x.Listening.GetAddr()}, nil
	case *pb.ListenMessage_Stats:
		st := statsFromPB(x.Stats)
		return ListenMessage{Stats: &st}, nil
	case *pb.ListenMessage_Error:
		e := x.Error
		return ListenMessage{Err: &Error{Kind: kindFromPB(e.GetKind()), Stream: e.GetStream(), Err: errors.New(e.GetMessage())}}, nil
	default:
		return ListenMessage{}, fmt.Errorf("listen: a message of unknown type %T (is the plugin newer than the host?)", x)
	}
}

func statsFromPB(p *pb.ListenStats) ListenStats {
	return ListenStats{
		Received: p.GetReceived(), Acknowledged: p.GetAcknowledged(), Unacknowledged: p.GetUnacknowledged(),
		Verified: p.GetVerified(), Rejected: p.GetRejected(), Other: p.GetOther(),
		AckBounds: p.GetAckBounds(), AckCounts: p.GetAckCounts(), AckCount: p.GetAckCount(), AckSum: p.GetAckSum(),
		ProfilesFetched: p.GetProfilesFetched(), Calls: p.GetCalls(),
	}
}

func statsToPB(s ListenStats) *pb.ListenStats {
	return &pb.ListenStats{
		Received: s.Received, Acknowledged: s.Acknowledged, Unacknowledged: s.Unacknowledged,
		Verified: s.Verified, Rejected: maps.Clone(s.Rejected), Other: maps.Clone(s.Other),
		AckBounds: s.AckBounds, AckCounts: s.AckCounts, AckCount: s.AckCount, AckSum: s.AckSum,
		ProfilesFetched: s.ProfilesFetched, Calls: maps.Clone(s.Calls),
	}
}

// Listen runs the source's Listener (plugin side). The first message from
// the host is the request; its closing its side of the stream closes
// ListenRequest.Stop. An error from the source becomes a typed Error
// message, the last of the stream.
func (s *server) Listen(stream pb.Source_ListenServer) error {
	l, ok := s.impl.(Listener)
	if !ok {
		return status.Error(codes.Unimplemented, "this source does not receive pushes")
	}
	first, err := stream.Recv()
	if err != nil {
		return fmt.Errorf("listen: read the request: %w", err)
	}
	req := first.GetStart()
	if req == nil || req.GetHostBrokerId() == 0 {
		return status.Error(codes.InvalidArgument, "listen: the first message must be a ListenRequest with a host broker id")
	}
	conn, err := s.broker.Dial(req.GetHostBrokerId())
	if err != nil {
		return fmt.Errorf("connect to the host's services: %w", err)
	}
	defer conn.Close()
	stop := make(chan struct{})
	go func() {
		// Any end of the host's side (CloseSend, or the call gone) stops.
		for {
			if _, err := stream.Recv(); err != nil {
				close(stop)
				return
			}
		}
	}()
	em := &listenEmitter{serialSender[*pb.ListenMessage]{out: stream.Send}}
	lr := ListenRequest{Config: req.GetConfig().GetJson(), Host: &hostClient{c: pb.NewHostClient(conn)}, Stop: stop}
	err = l.Listen(stream.Context(), lr, em)
	if err == nil {
		return nil
	}
	if sendErr := em.failed(); sendErr != nil {
		return sendErr
	}
	return em.send(&pb.ListenMessage{Msg: &pb.ListenMessage_Error{Error: &pb.Error{Kind: kindToPB(kind.Of(err)), Message: err.Error()}}})
}

// listenEmitter sends a Listen's reports, one at a time.
type listenEmitter struct {
	serialSender[*pb.ListenMessage]
}

func (e *listenEmitter) Listening(addr string) error {
	return e.send(&pb.ListenMessage{Msg: &pb.ListenMessage_Listening{Listening: &pb.Listening{Addr: addr}}})
}

func (e *listenEmitter) Stats(s ListenStats) error {
	return e.send(&pb.ListenMessage{Msg: &pb.ListenMessage_Stats{Stats: statsToPB(s)}})
}

// CommitEvents and CommitUsers of the host's server: the impl must be a
// ListenHost (it is during a Listen).

func (h *hostServer) CommitEvents(ctx context.Context, b *pb.RecordBatch) (*pb.CommitReply, error) {
	return h.commit(ctx, b, func(lh ListenHost) func(context.Context, arrow.Record) (int64, error) { return lh.CommitEvents })
}

func (h *hostServer) CommitUsers(ctx context.Context, b *pb.RecordBatch) (*pb.CommitReply, error) {
	return h.commit(ctx, b, func(lh ListenHost) func(context.Context, arrow.Record) (int64, error) { return lh.CommitUsers })
}

func (h *hostServer) commit(ctx context.Context, b *pb.RecordBatch, pick func(ListenHost) func(context.Context, arrow.Record) (int64, error)) (*pb.CommitReply, error) {
	lh, ok := h.impl.(ListenHost)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "the host commits only during a Listen")
	}
	rec, err := DecodeRecord(b.GetArrowIpc(), h.mem())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	defer rec.Release()
	n, err := pick(lh)(ctx, rec)
	if err != nil {
		if ctx.Err() != nil {
			return nil, status.Error(codes.DeadlineExceeded, "not committed in time: "+err.Error())
		}
		return nil, status.Error(codes.Unavailable, "not committed: "+err.Error())
	}
	return &pb.CommitReply{Rows: n}, nil
}

// CommitEvents sends rec to the host to be committed.
func (h *hostClient) CommitEvents(ctx context.Context, rec arrow.Record) (int64, error) {
	return h.commit(ctx, rec, "events", h.c.CommitEvents)
}

// CommitUsers sends rec to the host to be committed.
func (h *hostClient) CommitUsers(ctx context.Context, rec arrow.Record) (int64, error) {
	return h.commit(ctx, rec, "users", h.c.CommitUsers)
}

func (h *hostClient) commit(ctx context.Context, rec arrow.Record, what string, call func(context.Context, *pb.RecordBatch, ...grpc.CallOption) (*pb.CommitReply, error)) (int64, error) {
	b, err := EncodeRecord(rec)
	if err != nil {
		return 0, fmt.Errorf("commit %s: %w", what, err)
	}
	r, err := call(ctx, &pb.RecordBatch{ArrowIpc: b}, grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes))
	if err != nil {
		return 0, TemporaryError(fmt.Errorf("commit %s: %s", what, status.Convert(err).Message()))
	}
	return r.GetRows(), nil
}

// mem is the allocator of the records the host's server decodes.
func (h *hostServer) mem() memory.Allocator { return memory.DefaultAllocator }

// StoreTicket of the host's server: the impl must be a TicketKeeper (a
// ListenHost in platform mode).
func (h *hostServer) StoreTicket(ctx context.Context, req *pb.StoreTicketRequest) (*pb.StoreTicketResponse, error) {
	k, ok := h.impl.(TicketKeeper)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this host keeps no verify tickets")
	}
	if err := k.StoreTicket(ctx, req.GetComponentAppid(), req.GetTicket(), time.Unix(req.GetCreateTime(), 0)); err != nil {
		// The host's errors never carry the ticket (host.StoreTicket).
		return nil, status.Error(codes.Unavailable, "not stored: "+err.Error())
	}
	return &pb.StoreTicketResponse{}, nil
}

// StoreTicket asks the host to store a component_verify_ticket; nil means
// stored.
func (h *hostClient) StoreTicket(ctx context.Context, componentAppID, ticket string, created time.Time) error {
	req := &pb.StoreTicketRequest{ComponentAppid: componentAppID, Ticket: ticket, CreateTime: created.Unix()}
	if _, err := h.c.StoreTicket(ctx, req); err != nil {
		return TemporaryError(fmt.Errorf("ask the host to store the verify ticket of %s: %s", componentAppID, status.Convert(err).Message()))
	}
	return nil
}
