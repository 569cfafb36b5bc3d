package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wxsync/wxsync/plugin/pb"
)

// ClientConfig says how to launch a source plugin.
type ClientConfig struct {
	// Path is the plugin binary.
	Path string
	// Logger receives the plugin's log lines (its stderr), re-levelled.
	Logger hclog.Logger
	// Checksum, when set, is the SHA-256 the binary must have.
	Checksum []byte
	// TLS, when set, secures the host–plugin connection and its broker
	// with mutual TLS (see Credentials); nil: no TLS.
	TLS *Credentials
	// Env, when not nil, is the plugin's whole environment (go-plugin adds
	// its handshake variables); nil passes the host's environment on.
	Env []string
}

// ErrChecksumMismatch is wrapped by Launch's error when the plugin binary's
// SHA-256 is not ClientConfig.Checksum; the binary was not run.
var ErrChecksumMismatch = errors.New("the source plugin's SHA-256 checksum does not match")

// Client is the host's handle on a running source plugin.
type Client struct {
	gp     *goplugin.Client
	src    pb.SourceClient
	broker *goplugin.GRPCBroker
	mem    memory.Allocator
	exited func() bool
}

// Launch starts the plugin binary, performs the handshake and returns a
// client for it. Close kills the plugin.
func Launch(ctx context.Context, cfg ClientConfig) (*Client, error) {
	cmd := exec.Command(cfg.Path)
	cmd.Env = cfg.Env
	setParentDeathSignal(cmd)
	gcfg := &goplugin.ClientConfig{
		HandshakeConfig:  Handshake(),
		Plugins:          goplugin.PluginSet{Name: &grpcPlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           cfg.Logger,
		SkipHostEnv:      cfg.Env != nil,
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes),
		)},
	}
	if cfg.Checksum != nil {
		gcfg.SecureConfig = &goplugin.SecureConfig{Checksum: cfg.Checksum, Hash: sha256.New()}
	}
	if cfg.TLS != nil {
		r, err := cfg.TLS.pipe()
		if err != nil {
			return nil, err
		}
		defer r.Close() // the plugin holds its own copy once started
		if cmd.Env == nil {
			cmd.Env, gcfg.SkipHostEnv = os.Environ(), true
		}
		cmd.Env = append(cmd.Env, EnvTLSFD+"="+strconv.Itoa(tlsFD))
		cmd.ExtraFiles = []*os.File{r}
		gcfg.TLSConfig = cfg.TLS.hostConfig()
	}
	gp := goplugin.NewClient(gcfg)
	rpc, err := gp.Client()
	if errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
		gp.Kill()
		return nil, fmt.Errorf("source plugin %s: %w: its SHA-256 is %s, want %x; refusing to run it", cfg.Path, ErrChecksumMismatch, fileSHA256(cfg.Path), cfg.Checksum)
	}
	if err != nil {
		gp.Kill()
		return nil, fmt.Errorf("start source plugin %s: %w", cfg.Path, err)
	}
	raw, err := rpc.Dispense(Name)
	if err != nil {
		gp.Kill()
		return nil, fmt.Errorf("start source plugin %s: %w", cfg.Path, err)
	}
	d := raw.(*dispensed)
	return &Client{gp: gp, src: d.src, broker: d.broker, mem: memory.NewGoAllocator(), exited: gp.Exited}, nil
}

// fileSHA256 returns the hex SHA-256 of the file at path, or why not.
func fileSHA256(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Close stops the plugin process.
func (c *Client) Close() {
	if c.gp != nil {
		c.gp.Kill()
	}
}

// Exited reports whether the plugin process has exited.
func (c *Client) Exited() bool { return c.exited() }

// Spec asks the plugin to name itself and its streams.
func (c *Client) Spec(ctx context.Context) (Spec, error) {
	r, err := c.src.Spec(ctx, &pb.SpecRequest{})
	if err != nil {
		return Spec{}, c.callErr("spec", err)
	}
	return Spec{Name: r.GetName(), Version: r.GetVersion(), Streams: r.GetStreams()}, nil
}

// Check asks the plugin to try config.
func (c *Client) Check(ctx context.Context, config []byte) ([]CheckResult, error) {
	return c.CheckWith(ctx, config, nil)
}

// CheckWith asks the plugin to try config, offering host (if not nil) for
// the duration of the Check: a source that obtains a new credential while
// checking keeps it through the host (Keeper).
func (c *Client) CheckWith(ctx context.Context, config []byte, host Host) ([]CheckResult, error) {
	req := &pb.CheckRequest{Config: &pb.Config{Json: config}}
	if host != nil {
		req.HostBrokerId = serveHost(c.broker, host)
	}
	r, err := c.src.Check(ctx, req)
	if err != nil {
		return nil, c.callErr("check", err)
	}
	out := make([]CheckResult, 0, len(r.GetResults()))
	for _, x := range r.GetResults() {
		out = append(out, CheckResult{Name: x.GetName(), OK: x.GetOk(), Warning: x.GetWarning(), Message: x.GetMessage()})
	}
	return out, nil
}

// Discover asks the plugin for its streams' schemas.
func (c *Client) Discover(ctx context.Context) ([]StreamSchema, error) {
	r, err := c.src.Discover(ctx, &pb.DiscoverRequest{})
	if err != nil {
		return nil, c.callErr("discover", err)
	}
	out := make([]StreamSchema, 0, len(r.GetStreams()))
	for _, st := range r.GetStreams() {
		s, err := DecodeSchema(st.GetArrowSchema())
		if err != nil {
			return nil, fmt.Errorf("discover: stream %s: %w", st.GetName(), err)
		}
		out = append(out, StreamSchema{Name: st.GetName(), Schema: s})
	}
	return out, nil
}

// Messages is the host's side of a Read: the messages the source sends, in
// order. *ReadStream is a plugin's; tests script their own.
type Messages interface {
	// Next returns the next message, or io.EOF after the last one.
	Next() (Message, error)
}

// Read starts a sync of streams, offering host (if not nil) to the plugin
// for the duration of the Read. Cancelling ctx stops the plugin's Read.
// The Messages are a *ReadStream.
func (c *Client) Read(ctx context.Context, config []byte, streams []StreamState, host Host) (Messages, error) {
	req := &pb.ReadRequest{Config: &pb.Config{Json: config}}
	if host != nil {
		req.HostBrokerId = serveHost(c.broker, host)
	}
	for _, s := range streams {
		req.Streams = append(req.Streams, &pb.StreamState{Stream: s.Stream, Cursor: s.Cursor})
	}
	rs, err := c.src.Read(ctx, req)
	if err != nil {
		return nil, c.callErr("read", err)
	}
	return &ReadStream{c: c, rs: rs}, nil
}

// ErrPluginDied is wrapped by errors from a plugin that went away mid-call.
var ErrPluginDied = errors.New("the source plugin died")

func (c *Client) callErr(what string, err error) error {
	if c.died(err) {
		return fmt.Errorf("%s: %w (it exited unexpectedly; its last log lines are above): %v", what, ErrPluginDied, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// exitGrace bounds how long died waits for the plugin's exit to be seen.
const exitGrace = 3 * time.Second

// died reports whether the call failed with err because the plugin process
// went away. A dead plugin's connection breaks (codes.Unavailable) a moment
// before go-plugin has reaped the process and marked it exited, so on such
// an error died waits up to exitGrace for the exit.
func (c *Client) died(err error) bool {
	if c.exited() {
		return true
	}
	if status.Code(err) != codes.Unavailable {
		return false
	}
	for deadline := time.Now().Add(exitGrace); time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		if c.exited() {
			return true
		}
	}
	return false
}

// Message is one message of a Read. Exactly one of Record, Checkpoint,
// Progress and Err is set.
type Message struct {
	Stream string
	// Record is a batch of rows; the receiver releases it.
	Record     arrow.Record
	Checkpoint *Checkpoint
	Progress   *Progress
	// Err is the typed error that ended the Read; it is the last message.
	Err *Error
}

// Checkpoint is a cursor the host may save once every record before it is
// committed.
type Checkpoint struct {
	Cursor []byte
	Done   bool
}

// ReadStream is the host's side of a Read.
type ReadStream struct {
	c  *Client
	rs pb.Source_ReadClient
}

// Next returns the next message, or io.EOF after the last one.
func (r *ReadStream) Next() (Message, error) {
	m, err := r.rs.Recv()
	if err == io.EOF {
		return Message{}, io.EOF
	}
	if err != nil {
		return Message{}, r.c.callErr("read", err)
	}
	return decodeMessage(m, r.c.mem)
}

// decodeMessage turns one ReadMessage from the plugin into a Message.
func decodeMessage(m *pb.ReadMessage, mem memory.Allocator) (Message, error) {
	switch x := m.GetMsg().(type) {
	case *pb.ReadMessage_Record:
		rec, err := DecodeRecord(x.Record.GetArrowIpc(), mem)
		if err != nil {
			return Message{}, fmt.Errorf("read: stream %s: %w", x.Record.GetStream(), err)
		}
		return Message{Stream: x.Record.GetStream(), Record: rec}, nil
	case *pb.ReadMessage_Checkpoint:
		return Message{Stream: x.Checkpoint.GetStream(), Checkpoint: &Checkpoint{Cursor: x.Checkpoint.GetCursor(), Done: x.Checkpoint.GetDone()}}, nil
	case *pb.ReadMessage_Progress:
		p := x.Progress
		return Message{Stream: p.GetStream(), Progress: &Progress{Total: p.GetTotal(), Fetched: p.GetFetched(), Calls: p.GetCalls(), QuotaRemain: p.GetQuotaRemain()}}, nil
	case *pb.ReadMessage_Error:
		e := x.Error
		return Message{Stream: e.GetStream(), Err: &Error{Kind: kindFromPB(e.GetKind()), Stream: e.GetStream(), Err: errors.New(e.GetMessage())}}, nil
	default:
		return Message{}, fmt.Errorf("read: a message of unknown type %T (is the plugin newer than the host?)", x)
	}
}
