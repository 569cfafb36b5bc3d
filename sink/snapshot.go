package sink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wxsync/wxsync/schema"
)

// Snapshot is one row of wechat_snapshots: one copy of a Snapshot stream's
// list for one account.
type Snapshot struct {
	// AppID is the account.
	AppID string
	// Stream is the stream's name (followers, blacklist).
	Stream string
	// ID is the snapshot id, unique across accounts and increasing in time.
	ID uint64
	// StartedAt is when BeginSnapshot ran (UTC, seconds).
	StartedAt time.Time
	// FinishedAt is when CompleteSnapshot ran; the Unix epoch until then.
	FinishedAt time.Time
	// ReportedTotal is the total the source reported (WeChat's "total").
	ReportedTotal uint64
	// Rows is the number of distinct openids the snapshot holds.
	Rows uint64
	// Status is the complete column: SnapshotInProgress, SnapshotComplete,
	// SnapshotPruned or SnapshotAbandoned.
	Status uint8
	// Version is the row's ReplacingMergeTree version.
	Version uint64
}

// snapshotStream returns the Snapshot stream called name.
func snapshotStream(name string) (schema.Stream, error) {
	st, err := schema.Lookup(name)
	if err != nil {
		return schema.Stream{}, err
	}
	if st.Kind != schema.Snapshot {
		return schema.Stream{}, fmt.Errorf("stream %s does not keep snapshots", name)
	}
	if _, err := schema.Ident(st.Table); err != nil {
		return schema.Stream{}, err
	}
	return st, nil
}

// nextID returns a value greater than floor, than every value this Sink
// returned before, and at least the current time in nanoseconds. Snapshot
// ids and row versions come from it, so they increase strictly even within
// one nanosecond.
func (s *Sink) nextID(floor uint64) uint64 {
	s.vmu.Lock()
	defer s.vmu.Unlock()
	v := uint64(time.Now().UnixNano())
	v = max(v, s.lastID+1, floor+1)
	s.lastID = v
	return v
}

// BeginSnapshot starts a new snapshot of stream for appid and returns its
// id: greater than every snapshot id in wechat_snapshots (of any account)
// when this Sink began its first snapshot, than every id and version this
// Sink handed out, and than the current time in nanoseconds. Its row is
// written with complete = 0; the current view keeps showing the last
// complete snapshot until CompleteSnapshot.
//
// The stored ids are read once per Sink (max(snapshot_id), at its first
// BeginSnapshot); later ids come from nextID alone, which increases
// strictly within the Sink and starts above that floor. That is safe
// because what the ids must do holds without a fresh read: an account's
// new snapshot outranks its older ones (they were either stored before the
// read, hence below the floor, or begun by this Sink, hence below lastID;
// one account has one writer at a time), and an id begun elsewhere
// meanwhile is the time on another clock, as it would be after a read
// too; the read never made two writers' ids distinct, and a partition
// shared with another account is never dropped (Prune).
func (s *Sink) BeginSnapshot(ctx context.Context, appid, stream string) (uint64, error) {
	st, err := snapshotStream(stream)
	if err != nil {
		return 0, fmt.Errorf("begin snapshot: %w", err)
	}
	if appid == "" {
		return 0, errors.New("begin snapshot: empty appid")
	}
	if err := s.readSnapshotFloor(ctx); err != nil {
		return 0, fmt.Errorf("begin snapshot of %s for %s: %w", stream, appid, err)
	}
	id := s.nextID(0)
	now := time.Now().UTC().Truncate(time.Second)
	row := Snapshot{AppID: appid, Stream: stream, ID: id, StartedAt: now, FinishedAt: time.Unix(0, 0).UTC(),
		Status: SnapshotInProgress, Version: s.nextID(0)}
	if err := s.retry(ctx, "write snapshot row", func(ctx context.Context) error {
		return s.writeSnapshots(ctx, []Snapshot{row})
	}); err != nil {
		return 0, fmt.Errorf("begin snapshot of %s for %s: %w", stream, appid, err)
	}
	s.beginTally(st, appid, id)
	return id, nil
}

// readSnapshotFloor reads the newest stored snapshot id, the first time it
// is called on this Sink, and makes nextID hand out only greater values.
// Concurrent first callers wait for one read; a failed read is tried again
// by the next caller.
func (s *Sink) readSnapshotFloor(ctx context.Context) error {
	s.floorMu.Lock()
	defer s.floorMu.Unlock()
	s.vmu.Lock()
	known := s.snapFloorKnown
	s.vmu.Unlock()
	if known {
		return nil
	}
	var floor uint64
	q := fmt.Sprintf("SELECT max(`snapshot_id`) FROM %s.`%s`", s.qdb, SnapshotsTable)
	err := s.retry(ctx, "read the newest snapshot id", func(ctx context.Context) error {
		return s.conn.QueryRow(ctx, q).Scan(&floor)
	})
	if err != nil {
		return err
	}
	s.vmu.Lock()
	defer s.vmu.Unlock()
	s.lastID = max(s.lastID, floor)
	s.snapFloorKnown = true
	return nil
}

// CompleteSnapshot marks snapshot id of stream for appid complete: it
// counts the distinct openids the snapshot holds, writes its row with
// complete = 1, finished_at = now and that count, and then prunes (see
// Prune). It returns the count. Completing a snapshot again recounts it.
// When only the pruning fails the snapshot is complete, rows is set and
// the error says so.
//
// One read of the account's snapshot list serves both the check of this
// snapshot's status and the pruning (with this snapshot taken as
// complete); a retried pruning reads the list again.
func (s *Sink) CompleteSnapshot(ctx context.Context, appid, stream string, id uint64, reportedTotal int64) (rows uint64, err error) {
	st, err := snapshotStream(stream)
	if err != nil {
		return 0, fmt.Errorf("complete snapshot: %w", err)
	}
	if reportedTotal < 0 {
		return 0, fmt.Errorf("complete snapshot %d of %s for %s: negative reported total %d", id, stream, appid, reportedTotal)
	}
	what := fmt.Sprintf("complete snapshot %d of %s for %s", id, stream, appid)
	count := s.snapshotCounter(ctx, st, appid, id)
	var snaps []Snapshot
	err = s.retry(ctx, what, func(ctx context.Context) error {
		var err error
		if snaps, err = s.ListSnapshots(ctx, appid, stream); err != nil {
			return err
		}
		i := slices.IndexFunc(snaps, func(sn Snapshot) bool { return sn.ID == id })
		if i < 0 {
			const missing = "no such snapshot (BeginSnapshot was not called, or in another database)"
			if s.cluster != nil { // its row may be on a replica the list was not read from
				return &staleReplicaError{missing}
			}
			return errors.New(missing)
		}
		snap := snaps[i]
		if snap.Status == SnapshotPruned || snap.Status == SnapshotAbandoned {
			return fmt.Errorf("the snapshot was already pruned (complete = %d)", snap.Status)
		}
		if rows, err = count(ctx); err != nil {
			return fmt.Errorf("count rows: %w", err)
		}
		snap.FinishedAt = time.Now().UTC().Truncate(time.Second)
		snap.ReportedTotal = uint64(reportedTotal)
		snap.Rows = rows
		snap.Status = SnapshotComplete
		snap.Version = s.nextID(snap.Version)
		if err := s.writeSnapshots(ctx, []Snapshot{snap}); err != nil {
			return err
		}
		snaps[i] = snap
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := s.pruneListed(ctx, st, appid, snaps); err != nil {
		return rows, fmt.Errorf("%s: the snapshot is complete but pruning failed: %w", what, err)
	}
	return rows, nil
}

// distinctOpenIDs is the query counting the distinct openids of one
// snapshot of st (arguments: appid, snapshot id). The table is a
// ReplacingMergeTree ordered by (appid, snapshot_id, openid), so FINAL keeps
// one row per openid and count() is exact: a sorted merge of the
// snapshot's parts, which costs less than hashing every openid (uniqExact)
// once a snapshot holds millions (1.2 s instead of 1.7 s of server CPU at
// 3,000,000 in 30 parts) and needs no memory per openid.
func distinctOpenIDs(st schema.Stream, qdb string) string {
	if keyedByOpenID(st) {
		return fmt.Sprintf("SELECT count() FROM %s.`%s` FINAL WHERE `appid` = ? AND `snapshot_id` = ?", qdb, st.Table)
	}
	return fmt.Sprintf("SELECT uniqExact(`openid`) FROM %s.`%s` WHERE `appid` = ? AND `snapshot_id` = ?", qdb, st.Table)
}

// Prune applies retention to stream for appid: it keeps the newest
// Config.Retention complete snapshots and drops the partitions of older
// complete ones (marked SnapshotPruned) and of incomplete ones older than
// the newest complete one (abandoned, marked SnapshotAbandoned). A
// snapshot newer than the newest complete one is in progress and is left
// alone, and so is everything of other accounts: a partition holding rows
// of another appid is never dropped. The table's partitions are looked up
// only when some snapshot is a candidate (one of those, or one marked
// already whose partition may have survived a crash between the drop and
// the mark). CompleteSnapshot prunes too.
func (s *Sink) Prune(ctx context.Context, appid, stream string) error {
	st, err := snapshotStream(stream)
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	return s.pruneListed(ctx, st, appid, nil)
}

// pruneListed is Prune given the snapshot list, newest first, as read (and
// updated) by the caller; with none (nil), or on a retry, it reads it.
func (s *Sink) pruneListed(ctx context.Context, st schema.Stream, appid string, snaps []Snapshot) error {
	what := fmt.Sprintf("prune %s of %s", st.Name, appid)
	return s.retry(ctx, what, func(ctx context.Context) error {
		if snaps == nil {
			var err error
			if snaps, err = s.ListSnapshots(ctx, appid, st.Name); err != nil {
				return err
			}
		}
		list := snaps
		snaps = nil // a retry reads the list again
		return s.prune(ctx, st, appid, list)
	})
}

// pruneCandidate is a snapshot whose partition Prune drops.
type pruneCandidate struct {
	sn   Snapshot // with its new status
	mark bool     // its row must be rewritten with the new status
}

// pruneCandidates returns the snapshots of snaps (newest first) that
// retention drops: complete ones beyond retention and in-progress ones
// older than the newest complete one, to be marked, and those marked
// already, whose partitions may have survived.
//
// With maybeStale (a cluster), snaps may have been read on a replica that
// lacks a snapshot's last row: a snapshot listed in progress may be
// complete. An in-progress one older than the newest complete one is then
// kept while fewer than retention complete ones are newer, as it would be
// if it were complete, and dropped as abandoned after: a snapshot that is
// complete in fact is never dropped before its time, an abandoned one
// stays until then, and the complete ones kept are as many as without it.
func pruneCandidates(snaps []Snapshot, retention int, maybeStale bool) []pruneCandidate {
	var newestComplete uint64
	kept := 0
	var drop []pruneCandidate
	for _, sn := range snaps {
		switch sn.Status {
		case SnapshotComplete:
			if newestComplete == 0 {
				newestComplete = sn.ID
			}
			if kept < retention {
				kept++
				continue
			}
			sn.Status = SnapshotPruned
			drop = append(drop, pruneCandidate{sn, true})
		case SnapshotInProgress:
			if newestComplete != 0 && sn.ID < newestComplete {
				if maybeStale && kept < retention {
					continue
				}
				sn.Status = SnapshotAbandoned
				drop = append(drop, pruneCandidate{sn, true})
			}
		case SnapshotPruned, SnapshotAbandoned:
			drop = append(drop, pruneCandidate{sn, false})
		}
	}
	return drop
}

// prune drops the partitions of snaps' candidates and marks them.
func (s *Sink) prune(ctx context.Context, st schema.Stream, appid string, snaps []Snapshot) error {
	drop := pruneCandidates(snaps, s.cfg.Retention, s.cluster != nil)
	if len(drop) == 0 {
		return nil
	}
	parts, err := s.activePartitions(ctx, st.Table)
	if err != nil {
		return err
	}
	qtable, _ := schema.Ident(st.Table)
	var mark []Snapshot
	for _, v := range drop {
		sn := v.sn
		pid := strconv.FormatUint(sn.ID, 10)
		if parts[pid] {
			var others uint64
			q := fmt.Sprintf("SELECT count() FROM %s.%s WHERE `snapshot_id` = ? AND `appid` != ?", s.qdb, qtable)
			if err := s.conn.QueryRow(ctx, q, sn.ID, appid).Scan(&others); err != nil {
				return fmt.Errorf("check partition %s of %s: %w", pid, st.Table, err)
			}
			if others > 0 {
				s.log.Error("not dropping a partition that holds rows of another account",
					"table", st.Table, "partition", pid, "appid", appid, "foreign_rows", others)
				continue
			}
			if err := s.dropPartition(ctx, st.Table, pid); err != nil {
				return fmt.Errorf("drop partition %s of %s: %w", pid, st.Table, err)
			}
			s.log.Info("snapshot pruned", "table", st.Table, "appid", appid, "snapshot_id", sn.ID, "status", sn.Status)
		}
		if v.mark {
			sn.Version = s.nextID(sn.Version)
			mark = append(mark, sn)
		}
	}
	if len(mark) > 0 {
		if err := s.writeSnapshots(ctx, mark); err != nil {
			return fmt.Errorf("mark pruned snapshots: %w", err)
		}
	}
	return nil
}

// activePartitions returns the ids of the active partitions of table (on a
// cluster: of its local table, on any shard).
func (s *Sink) activePartitions(ctx context.Context, table string) (map[string]bool, error) {
	holder, from := s.partitionsSource(table)
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT partition_id FROM "+from+" WHERE database = ? AND table = ? AND active = 1", s.db, holder)
	if err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", table, err)
	}
	defer rows.Close()
	parts := make(map[string]bool)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list partitions of %s: %w", table, err)
		}
		parts[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", table, err)
	}
	return parts, nil
}

// snapshotCols is the column list of wechat_snapshots, in the order of
// snapshotsTable, which is the order the Snapshot fields are scanned and
// written in.
func snapshotCols() string { return strings.Join(snapshotsTable().Columns(), ", ") }

// ListSnapshots returns the snapshots of stream for appid, newest first,
// the latest version of each ("" stream = every stream).
func (s *Sink) ListSnapshots(ctx context.Context, appid, stream string) ([]Snapshot, error) {
	var (
		where []string
		args  []any
	)
	if appid != "" {
		where, args = append(where, "`appid` = ?"), append(args, appid)
	}
	if stream != "" {
		where, args = append(where, "`stream` = ?"), append(args, stream)
	}
	q := fmt.Sprintf("SELECT %s FROM %s.`%s` FINAL", snapshotCols(), s.qdb, SnapshotsTable)
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY `snapshot_id` DESC, `appid`, `stream`"
	return s.querySnapshots(ctx, q, args...)
}

func (s *Sink) querySnapshots(ctx context.Context, q string, args ...any) ([]Snapshot, error) {
	rows, err := s.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", SnapshotsTable, err)
	}
	defer rows.Close()
	var out []Snapshot
	for rows.Next() {
		var sn Snapshot
		if err := rows.Scan(&sn.AppID, &sn.Stream, &sn.ID, &sn.StartedAt, &sn.FinishedAt, &sn.ReportedTotal, &sn.Rows, &sn.Status, &sn.Version); err != nil {
			return nil, fmt.Errorf("read %s: %w", SnapshotsTable, err)
		}
		sn.StartedAt, sn.FinishedAt = sn.StartedAt.UTC(), sn.FinishedAt.UTC()
		out = append(out, sn)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", SnapshotsTable, err)
	}
	return out, nil
}

// writeSnapshots writes rows into wechat_snapshots as one batch.
func (s *Sink) writeSnapshots(ctx context.Context, rows []Snapshot) error {
	n := len(rows)
	var (
		appid, stream             = make([]string, n), make([]string, n)
		id, reported, count, vers = make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)
		started, finished         = make([]time.Time, n), make([]time.Time, n)
		status                    = make([]uint8, n)
	)
	for i, r := range rows {
		appid[i], stream[i], id[i] = r.AppID, r.Stream, r.ID
		started[i], finished[i] = r.StartedAt, r.FinishedAt
		reported[i], count[i], status[i], vers[i] = r.ReportedTotal, r.Rows, r.Status, r.Version
	}
	q := fmt.Sprintf("INSERT INTO %s.`%s` (%s)", s.qdb, SnapshotsTable, snapshotCols())
	return s.sendColumns(ctx, q, []any{appid, stream, id, started, finished, reported, count, status, vers})
}
