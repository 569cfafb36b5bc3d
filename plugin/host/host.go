package host

import (
	"context"
	"log/slog"
	"time"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/wxsync/wxsync/plugin"
	"github.com/wxsync/wxsync/schema"
	"github.com/wxsync/wxsync/sink"
)

// Destination is where a run's rows, cursors and run record go; the loop
// touches ClickHouse through nothing else. *sink.Sink implements it.
type Destination interface {
	// LoadStates returns the saved states of streams of appid, in one
	// read: a stream without one (or with a cleared one) is not in the
	// map.
	LoadStates(ctx context.Context, appid string, streams []string) (map[string]sink.State, error)
	// SaveStates saves the states of several streams of appid in one
	// write, all or (on an error) possibly none; a zero State clears one.
	SaveStates(ctx context.Context, appid string, states []sink.StreamState) error
	// BeginSnapshot opens a new snapshot of stream and returns its id.
	BeginSnapshot(ctx context.Context, appid, stream string) (uint64, error)
	// Insert commits recs (of st's source schema) and returns the rows
	// written. An error means the rows may or may not be in: the cursor
	// that covers them must not move.
	Insert(ctx context.Context, st schema.Stream, appid string, snapshotID uint64, recs []arrow.Record) (rows int, err error)
	// CompleteSnapshot marks snapshot id complete and returns its rows.
	CompleteSnapshot(ctx context.Context, appid, stream string, id uint64, reportedTotal int64) (rows uint64, err error)
	// FreshProfiles returns which of openids have a profile fetched at or
	// after since.
	FreshProfiles(ctx context.Context, appid string, openids []string, since time.Time) (map[string]bool, error)
	// RecordRuns writes runs' rows in wxsync_runs, in one insert.
	RecordRuns(ctx context.Context, runs []sink.Run) error
}

// Source is a source's Read. *plugin.Client implements it.
type Source interface {
	// Read starts a sync of streams from their cursors, offering host (nil:
	// none) to the source for the duration of the Read. Cancelling ctx
	// stops it.
	Read(ctx context.Context, config []byte, streams []plugin.StreamState, host plugin.Host) (plugin.Messages, error)
}

// Observer is told how a run goes, for a progress display. Its methods are
// called from the loop and must not block.
type Observer interface {
	// Begin is called once, when every stream's state is loaded and
	// before the Read starts: resumed says which streams resume a cursor
	// or an open snapshot.
	Begin(resumed map[string]bool)
	// Progress reports stream's counts: fetched of total (0: unknown).
	Progress(stream string, total, fetched int64)
	// Done reports that stream is complete and committed.
	Done(stream string)
}

// Defaults of RunConfig's flush settings.
const (
	// DefaultFlushRows is the most rows one commit gathers.
	DefaultFlushRows = 100_000
	// DefaultFlushWait is the longest a received message waits to be
	// committed.
	DefaultFlushWait = time.Second
)

// RunConfig is what one run syncs, and how.
type RunConfig struct {
	// ID names the run in its record and log lines.
	ID string
	// AppID is the account whose rows and cursors are written.
	AppID string
	// Streams are the streams to sync, valid names, in run order.
	Streams []string
	// SourceConfig is the configuration handed to the source's Read.
	SourceConfig []byte
	// UsersMaxAge: a profile older than this is fetched again, unless
	// FullRefresh, which fetches every one. Used when users is synced.
	UsersMaxAge time.Duration
	FullRefresh bool
	// The loop commits as soon as a checkpoint waits and nothing more
	// does; when the source runs ahead, up to FlushRows rows go in one
	// commit, and nothing waits longer than FlushWait. Zero: the defaults.
	FlushRows int
	FlushWait time.Duration
	// Log receives the run's log lines. Nil: discard.
	Log *slog.Logger
	// Keeper, when set, is offered to the source (with the Host service)
	// to store a credential it obtains anew: a third-party platform
	// account's rotated refresh token.
	Keeper plugin.Keeper
}

func (c RunConfig) withDefaults() RunConfig {
	if c.FlushRows <= 0 {
		c.FlushRows = DefaultFlushRows
	}
	if c.FlushWait <= 0 {
		c.FlushWait = DefaultFlushWait
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Report is what a run did, for its record and summary. Its zero value is
// a run that started no stream.
type Report struct {
	// Streams holds the streams the run started (their state loaded), by
	// name.
	Streams map[string]StreamReport
	// Calls counts the source's API calls by path.
	Calls map[string]int64
	// QuotaRemain is each API path's remaining daily quota at the start
	// (nil when unknown).
	QuotaRemain map[string]int64
}

// StreamReport is what a run did of one stream.
type StreamReport struct {
	// Rows is how many rows the run committed.
	Rows int64
	// SnapshotID is the snapshot written (0: the stream is no snapshot).
	SnapshotID uint64
	// Done: the stream completed and its state was cleared.
	Done bool
}
