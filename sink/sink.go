package sink

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/wxsync/wxsync/schema"
)

// defaultDialTimeout bounds a connection attempt when the DSN sets none.
const defaultDialTimeout = 10 * time.Second

// Sink writes streams, snapshots and state into one ClickHouse database.
// It is safe for concurrent use.
type Sink struct {
	conn driver.Conn
	db   string // validated database name
	qdb  string // back-quoted database name
	cfg  Config
	log  *slog.Logger
	// cluster is nil on one server; see Config.Cluster.
	cluster *schema.Cluster
	vmu     sync.Mutex
	lastID  uint64 // last version or snapshot id handed out by this Sink
	// snapFloorKnown: lastID is at least every snapshot id that was
	// stored when this Sink began its first snapshot (BeginSnapshot).
	snapFloorKnown bool
	floorMu        sync.Mutex // held while the snapshot id floor is read
	// stateFloor holds, per state key this Sink has read or written, the
	// newest version it knows stored: SaveStates then needs no read.
	stateFloor map[stateKey]uint64
	// versionReads counts SaveStates' queries of keys' newest versions.
	versionReads atomic.Int64
	// tallies follow the snapshots this Sink began (see snapshotTally),
	// until they are completed; tallyRun is their run length.
	tallyMu  sync.Mutex
	tallies  map[tallyKey]*snapshotTally
	tallyRun int
	// finalCounts counts the snapshots CompleteSnapshot counted with FINAL.
	finalCounts atomic.Int64
}

// stateKey is one row key of wxsync_state.
type stateKey struct{ appid, stream string }

// Open parses cfg.DSN, connects to ClickHouse with the native protocol and
// LZ4 compression to a remote server (see nativeCompression), and
// pings it. Zero fields of cfg take their defaults.
// The database named by the DSN need not exist yet (see Migrate). Errors
// never contain the DSN's password.
func Open(ctx context.Context, cfg Config) (*Sink, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open clickhouse sink: %w", err)
	}
	opts, db, err := parseDSN(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("open clickhouse sink: %w", err)
	}
	secrets := dsnSecrets(cfg.DSN)
	// Connect without a database so that a database that does not exist
	// yet can be created by Migrate; every statement qualifies its tables.
	opts.Auth.Database = ""
	opts.Logger = slog.New(driverHandler{cfg.Logger.Handler()})
	if opts.DialTimeout == 0 {
		opts.DialTimeout = defaultDialTimeout
	}
	if cfg.Cluster != "" {
		opts.Settings = clusterSettings(cfg, opts.Settings)
	}
	where := fmt.Sprintf("%s as %q, database %s", strings.Join(opts.Addr, ","), opts.Auth.Username, db)
	var conn driver.Conn
	if cfg.Cluster != "" {
		conn, err = openCluster(opts)
	} else {
		conn, err = clickhouse.Open(opts)
	}
	if err != nil {
		return nil, redact(fmt.Errorf("open clickhouse sink: connect to %s: %w", where, err), secrets)
	}
	if err := conn.Ping(ctx); err != nil {
		_ = conn.Close()
		return nil, redact(fmt.Errorf("open clickhouse sink: ping %s: %w", where, err), secrets)
	}
	qdb, _ := schema.Ident(db) // validated by parseDSN
	s := &Sink{conn: conn, db: db, qdb: qdb, cfg: cfg, log: cfg.Logger, cluster: cfg.cluster(),
		tallies: map[tallyKey]*snapshotTally{}, tallyRun: defaultTallyRun}
	if s.cluster != nil {
		if err := s.checkCluster(ctx); err != nil {
			_ = conn.Close()
			return nil, redact(fmt.Errorf("open clickhouse sink: %s: %w", where, err), secrets)
		}
	}
	s.log.Debug("clickhouse sink open", "addr", strings.Join(opts.Addr, ","), "database", db)
	return s, nil
}

// Close closes the connection pool and frees the tallies of snapshots
// begun and not completed. Calls after Close fail.
func (s *Sink) Close() error {
	s.tallyMu.Lock()
	for k, t := range s.tallies {
		t.mu.Lock()
		t.close()
		t.mu.Unlock()
		delete(s.tallies, k)
	}
	s.tallyMu.Unlock()
	if err := s.conn.Close(); err != nil {
		return fmt.Errorf("close clickhouse sink: %w", err)
	}
	return nil
}

// Database returns the name of the database the sink writes to.
func (s *Sink) Database() string { return s.db }

// Conn returns the underlying connection, for tests and diagnostics. Writes
// through it bypass the sink's retries and checks.
func (s *Sink) Conn() driver.Conn { return s.conn }

// ServerVersion returns the version string of the ClickHouse server, as
// SELECT version() reports it (for example 18.16.1).
func (s *Sink) ServerVersion(ctx context.Context) (string, error) {
	var v string
	if err := s.conn.QueryRow(ctx, "SELECT version()").Scan(&v); err != nil {
		return "", fmt.Errorf("clickhouse server version: %w", err)
	}
	return v, nil
}

// driverHandler passes the driver's log through, but demotes to debug its
// warning that the server is older than the driver supports: wxsync is
// tested on ClickHouse 18.16 (Debian's), which the driver calls unsupported
// on every connection.
type driverHandler struct{ slog.Handler }

func (h driverHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && r.Message == "unsupported clickhouse version" {
		if !h.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	return h.Handler.Handle(ctx, r)
}

func (h driverHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return driverHandler{h.Handler.WithAttrs(as)}
}

func (h driverHandler) WithGroup(name string) slog.Handler {
	return driverHandler{h.Handler.WithGroup(name)}
}
