package plugin

import (
	"context"

	"github.com/apache/arrow/go/v15/arrow"
)

// Source is what a source plugin implements. The plugin binary hands one to
// Serve; the host reaches it through Client.
type Source interface {
	// Spec names the source and its streams.
	Spec(ctx context.Context) (Spec, error)
	// Check tries config and reports one result per item checked.
	Check(ctx context.Context, config []byte) ([]CheckResult, error)
	// Discover returns the schema of every stream's record batches.
	Discover(ctx context.Context) ([]StreamSchema, error)
	// Read syncs the requested streams in order, resuming each from its
	// cursor, and sends everything through out. An error it returns ends
	// the Read; mark it with ConfigError or TemporaryError to set its Kind.
	Read(ctx context.Context, req ReadRequest, out Emitter) error
}

// ReadRequest is what a Read is asked to do.
type ReadRequest struct {
	// Config is the source's configuration (JSON).
	Config []byte
	// Streams are the streams to read, in order, with their cursors.
	Streams []StreamState
	// Host answers questions only the host can; nil when it offers none.
	Host Host
}

// Host is what the host offers a source during a Read.
type Host interface {
	// NeedProfiles returns, of openids, those whose profile is missing or
	// stale in the destination (all of them on a full refresh), in order.
	NeedProfiles(ctx context.Context, openids []string) ([]string, error)
}

// Keeper is what a host may offer besides Host: keeping a credential the
// source obtained anew. The Host a plugin receives implements it; a host's
// own Host implements it when it can store credentials.
type Keeper interface {
	// KeepRefreshToken stores appid's new authorizer refresh token; it
	// returns once the token is stored.
	KeepRefreshToken(ctx context.Context, appid, refreshToken string) error
}

// HostChecker is implemented by a source whose Check may use the host's
// services (a Keeper); the plugin calls it instead of Check when the host
// offers them.
type HostChecker interface {
	CheckWithHost(ctx context.Context, config []byte, host Host) ([]CheckResult, error)
}

// Spec describes a source.
type Spec struct {
	Name    string
	Version string
	Streams []string
}

// CheckResult is one item of a check.
type CheckResult struct {
	Name    string
	OK      bool
	Warning bool
	Message string
}

// StreamSchema is the Arrow schema of one stream's record batches.
type StreamSchema struct {
	Name   string
	Schema *arrow.Schema
}

// StreamState is a stream to read and the cursor to resume it from (nil to
// start at the beginning).
type StreamState struct {
	Stream string
	Cursor []byte
}

// Emitter is where a source sends what it reads. Each call blocks until the
// message is on its way, so a slow host slows the source down. It is safe
// for concurrent use.
type Emitter interface {
	// Record sends one batch of stream's rows. The emitter does not keep rec.
	Record(stream string, rec arrow.Record) error
	// Checkpoint says every record of stream sent so far is all there is
	// up to cursor; done says the stream is complete.
	Checkpoint(stream string, cursor []byte, done bool) error
	// Progress reports how far stream has got ("" for the whole Read).
	Progress(stream string, p Progress) error
}

// Progress is a stream's progress. With an empty stream it is about the
// whole Read: only Calls and QuotaRemain mean anything.
type Progress struct {
	Total   int64
	Fetched int64
	// Calls counts API calls by path since the Read began.
	Calls map[string]int64
	// QuotaRemain is today's remaining daily quota by API path, as read at
	// the start of the Read (nil if it was not).
	QuotaRemain map[string]int64
}
