package sink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// State is the resumable position of one (appid, stream): the snapshot
// being written and the source's opaque cursor within it.
type State struct {
	// SnapshotID is the snapshot being written (0 for Latest streams or
	// when none is in progress).
	SnapshotID uint64
	// Cursor is the source's opaque cursor; any bytes.
	Cursor []byte
	// UpdatedAt is when the state was saved (UTC, whole seconds).
	UpdatedAt time.Time
}

// StateRow is one stored state with its key, as ListStates returns it.
type StateRow struct {
	// AppID is the account.
	AppID string
	// Stream is the stream's name.
	Stream string
	// State is the stored state.
	State
	// Version is the row's ReplacingMergeTree version.
	Version uint64
}

// stateCols is the column list of wxsync_state, in the order of
// stateTable, which is the order a StateRow is scanned and written in.
func stateCols() string { return strings.Join(stateTable().Columns(), ", ") }

func checkKey(appid, stream string) error {
	if appid == "" {
		return errors.New("empty appid")
	}
	if stream == "" {
		return errors.New("empty stream")
	}
	return nil
}

// LoadState returns the latest saved state of (appid, stream). ok is false
// when there is none or when it was reset (ResetState), so that the caller
// starts afresh in both cases. A transient failure is retried like a
// write: a pooled connection found broken must not end the run.
func (s *Sink) LoadState(ctx context.Context, appid, stream string) (st State, ok bool, err error) {
	states, err := s.LoadStates(ctx, appid, []string{stream})
	if err != nil {
		return State{}, false, err
	}
	st, ok = states[stream]
	return st, ok, nil
}

// LoadStates returns, in one query, the latest saved states of the given
// streams of appid, by stream. A stream without one, or whose state was
// reset (ResetState), is not in the map: the caller starts it afresh, as
// LoadState's ok = false says. Like LoadState it tells the Sink each key's
// newest stored version (0 when there is none), so that saving any of
// these keys needs no read. A transient failure is retried.
func (s *Sink) LoadStates(ctx context.Context, appid string, streams []string) (map[string]State, error) {
	args := []any{appid}
	for _, stream := range streams {
		if err := checkKey(appid, stream); err != nil {
			return nil, fmt.Errorf("load states: %w", err)
		}
		args = append(args, stream)
	}
	out := map[string]State{}
	if len(streams) == 0 {
		return out, nil
	}
	var rows []StateRow
	what := fmt.Sprintf("load state of %s for %s", strings.Join(streams, ", "), appid)
	err := s.retry(ctx, what, func(ctx context.Context) error {
		var err error
		rows, err = s.queryStates(ctx, fmt.Sprintf("WHERE `appid` = ? AND `stream` IN (%s)", placeholders(len(streams))), args...)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, stream := range streams {
		s.knowFloor(appid, stream, 0)
	}
	for _, r := range rows {
		s.knowFloor(appid, r.Stream, r.Version)
		if r.SnapshotID != 0 || len(r.Cursor) > 0 {
			out[r.Stream] = r.State
		}
	}
	return out, nil
}

// SaveState stores st as the state of (appid, stream); it is SaveStates
// of one key.
func (s *Sink) SaveState(ctx context.Context, appid, stream string, st State) error {
	return s.SaveStates(ctx, appid, []StreamState{{Stream: stream, State: st}})
}

// StreamState is the state of one stream of an account, as SaveStates
// takes it.
type StreamState struct {
	// Stream is the stream's name.
	Stream string
	// State is its state; a zero State clears it (as ResetState).
	State
}

// SaveStates stores the states of several streams of appid in one insert:
// all of them or, on an error, possibly none. A zero UpdatedAt is set to
// now. Each row's version is greater than every stored version of its key
// and than every version this Sink handed out, so the last save wins even
// within one second or nanosecond. A stream may appear once. A transient
// failure is retried like an insert.
//
// The stored versions are read once per key and Sink, in one query for
// the keys of a call this Sink does not know yet: after this Sink has
// loaded (LoadState, LoadStates) or saved a key, it knows the newest
// version (the one it read, or wrote last) and saves without a read. A
// write by another process in between is still outrun on one machine
// (versions are at least the time in nanoseconds); one account's state
// has one writer at a time, which the account list's shards ensure across
// machines.
func (s *Sink) SaveStates(ctx context.Context, appid string, states []StreamState) error {
	if len(states) == 0 {
		return nil
	}
	streams := make([]string, len(states))
	for i, st := range states {
		if err := checkKey(appid, st.Stream); err != nil {
			return fmt.Errorf("save state: %w", err)
		}
		if slices.Contains(streams[:i], st.Stream) {
			return fmt.Errorf("save state: stream %s of %s given twice", st.Stream, appid)
		}
		streams[i] = st.Stream
	}
	now := time.Now()
	n := len(states)
	var (
		cursors = make([]string, n)
		snaps   = make([]uint64, n)
		updated = make([]time.Time, n)
	)
	for i, st := range states {
		if st.UpdatedAt.IsZero() {
			st.UpdatedAt = now
		}
		snaps[i], cursors[i], updated[i] = st.SnapshotID, string(st.Cursor), st.UpdatedAt.UTC().Truncate(time.Second)
	}
	what := fmt.Sprintf("save state of %s for %s", strings.Join(streams, ", "), appid)
	qins := fmt.Sprintf("INSERT INTO %s.`%s` (%s)", s.qdb, StateTable, stateCols())
	return s.retry(ctx, what, func(ctx context.Context) error {
		floors, err := s.stateFloors(ctx, appid, streams)
		if err != nil {
			return err
		}
		versions := make([]uint64, n)
		for i := range versions {
			versions[i] = s.nextID(floors[i])
		}
		if err := s.sendColumns(ctx, qins, []any{
			slices.Repeat([]string{appid}, n), streams, snaps, cursors, updated, versions,
		}); err != nil {
			return err
		}
		for i, stream := range streams {
			s.knowFloor(appid, stream, versions[i])
		}
		return nil
	})
}

// stateFloors returns the newest stored version of each key (appid,
// streams[i]): the one this Sink knows, or, for the keys it does not, the
// one stored, read in one query.
func (s *Sink) stateFloors(ctx context.Context, appid string, streams []string) ([]uint64, error) {
	floors := make([]uint64, len(streams))
	var unknown []any
	for i, stream := range streams {
		v, known := s.floorOf(appid, stream)
		if known {
			floors[i] = v
		} else {
			unknown = append(unknown, stream)
		}
	}
	if len(unknown) == 0 {
		return floors, nil
	}
	s.versionReads.Add(1)
	q := fmt.Sprintf("SELECT `stream`, max(`version`) FROM %s.`%s` WHERE `appid` = ? AND `stream` IN (%s) GROUP BY `stream`",
		s.qdb, StateTable, placeholders(len(unknown)))
	rows, err := s.conn.Query(ctx, q, append([]any{appid}, unknown...)...)
	if err != nil {
		return nil, fmt.Errorf("read state versions: %w", err)
	}
	defer rows.Close()
	stored := map[string]uint64{}
	for rows.Next() {
		var (
			stream string
			v      uint64
		)
		if err := rows.Scan(&stream, &v); err != nil {
			return nil, fmt.Errorf("read state versions: %w", err)
		}
		stored[stream] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read state versions: %w", err)
	}
	for i, stream := range streams {
		floors[i] = max(floors[i], stored[stream])
	}
	return floors, nil
}

// placeholders returns n query placeholders separated by commas.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// floorOf returns the newest stored version of the key that this Sink
// knows, and whether it knows one.
func (s *Sink) floorOf(appid, stream string) (uint64, bool) {
	s.vmu.Lock()
	defer s.vmu.Unlock()
	v, ok := s.stateFloor[stateKey{appid, stream}]
	return v, ok
}

// knowFloor records v as a stored version of the key; the newest one known
// is kept.
func (s *Sink) knowFloor(appid, stream string, v uint64) {
	s.vmu.Lock()
	defer s.vmu.Unlock()
	if s.stateFloor == nil {
		s.stateFloor = map[stateKey]uint64{}
	}
	k := stateKey{appid, stream}
	s.stateFloor[k] = max(s.stateFloor[k], v)
}

// ResetState stores an empty state for (appid, stream): no snapshot, no
// cursor. LoadState then reports none; ListStates still shows the row.
func (s *Sink) ResetState(ctx context.Context, appid, stream string) error {
	if err := s.SaveState(ctx, appid, stream, State{}); err != nil {
		return fmt.Errorf("reset state: %w", err)
	}
	return nil
}

// ListStates returns the latest state of every stream of appid ("" = every
// account), ordered by appid and stream, reset ones included.
func (s *Sink) ListStates(ctx context.Context, appid string) ([]StateRow, error) {
	var (
		rows []StateRow
		err  error
	)
	if appid == "" {
		rows, err = s.queryStates(ctx, "")
	} else {
		rows, err = s.queryStates(ctx, "WHERE `appid` = ?", appid)
	}
	if err != nil {
		return nil, fmt.Errorf("list states: %w", err)
	}
	return rows, nil
}

func (s *Sink) queryStates(ctx context.Context, where string, args ...any) ([]StateRow, error) {
	q := fmt.Sprintf("SELECT %s FROM %s.`%s` FINAL %s ORDER BY `appid`, `stream`", stateCols(), s.qdb, StateTable, where)
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", StateTable, err)
	}
	defer rows.Close()
	var out []StateRow
	for rows.Next() {
		var (
			r      StateRow
			cursor string
		)
		if err := rows.Scan(&r.AppID, &r.Stream, &r.SnapshotID, &cursor, &r.UpdatedAt, &r.Version); err != nil {
			return nil, fmt.Errorf("read %s: %w", StateTable, err)
		}
		if cursor != "" {
			r.Cursor = []byte(cursor)
		}
		r.UpdatedAt = r.UpdatedAt.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", StateTable, err)
	}
	return out, nil
}
