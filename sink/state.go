package sink

import (
	"context"
	"errors"
	"fmt"
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
	if err := checkKey(appid, stream); err != nil {
		return State{}, false, fmt.Errorf("load state: %w", err)
	}
	var rows []StateRow
	err = s.retry(ctx, fmt.Sprintf("load state of %s for %s", stream, appid), func(ctx context.Context) error {
		var err error
		rows, err = s.queryStates(ctx, "WHERE `appid` = ? AND `stream` = ?", appid, stream)
		return err
	})
	if err != nil {
		return State{}, false, err
	}
	if len(rows) == 0 {
		s.knowFloor(appid, stream, 0)
		return State{}, false, nil
	}
	s.knowFloor(appid, stream, rows[0].Version)
	st = rows[0].State
	if st.SnapshotID == 0 && len(st.Cursor) == 0 {
		return State{}, false, nil
	}
	return st, true, nil
}

// SaveState stores st as the state of (appid, stream). A zero UpdatedAt is
// set to now. Its version is greater than every stored version of the key
// and than every version this Sink handed out, so the last save wins even
// within one second or nanosecond. A transient failure is retried like an
// insert.
//
// The stored versions are read once per key and Sink: after this Sink has
// loaded or saved the key, it knows the newest version (the one it read,
// or wrote last) and saves without a read. A write by another process in
// between is still outrun on one machine (versions are at least the time
// in nanoseconds); one account's state has one writer at a time, which
// the account list's shards ensure across machines.
func (s *Sink) SaveState(ctx context.Context, appid, stream string, st State) error {
	if err := checkKey(appid, stream); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if st.UpdatedAt.IsZero() {
		st.UpdatedAt = time.Now()
	}
	st.UpdatedAt = st.UpdatedAt.UTC().Truncate(time.Second)
	what := fmt.Sprintf("save state of %s for %s", stream, appid)
	qmax := fmt.Sprintf("SELECT max(`version`) FROM %s.`%s` WHERE `appid` = ? AND `stream` = ?", s.qdb, StateTable)
	qins := fmt.Sprintf("INSERT INTO %s.`%s` (%s)", s.qdb, StateTable, stateCols())
	return s.retry(ctx, what, func(ctx context.Context) error {
		floor, known := s.floorOf(appid, stream)
		if !known {
			s.versionReads.Add(1)
			if err := s.conn.QueryRow(ctx, qmax, appid, stream).Scan(&floor); err != nil {
				return fmt.Errorf("read state version: %w", err)
			}
		}
		version := s.nextID(floor)
		if err := s.sendColumns(ctx, qins, []any{
			[]string{appid}, []string{stream}, []uint64{st.SnapshotID}, []string{string(st.Cursor)},
			[]time.Time{st.UpdatedAt}, []uint64{version},
		}); err != nil {
			return err
		}
		s.knowFloor(appid, stream, version)
		return nil
	})
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
