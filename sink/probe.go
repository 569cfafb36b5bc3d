package sink

import (
	"context"
	"fmt"
	"time"
)

// Probe checks that the configured user may do what a sync does in the
// database: create a table, insert into it, select from it, and drop it.
// It uses a scratch table of its own, so it touches no data. The error
// names the step that failed.
func (s *Sink) Probe(ctx context.Context) error {
	table := fmt.Sprintf("%s.`wxsync_probe_%d`", s.qdb, time.Now().UnixNano())
	if err := s.conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+s.qdb); err != nil {
		return fmt.Errorf("create database %s: %w", s.db, err)
	}
	if err := s.conn.Exec(ctx, "CREATE TABLE "+table+" (`x` UInt8) ENGINE = Memory"); err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	defer s.conn.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+table)
	b, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+table+" (`x`)")
	if err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	if err := b.Column(0).Append([]uint8{1}); err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+table).Scan(&n); err != nil {
		return fmt.Errorf("select: %w", err)
	}
	if n != 1 {
		return fmt.Errorf("select: read %d rows back, wrote 1", n)
	}
	if err := s.conn.Exec(ctx, "DROP TABLE "+table); err != nil {
		return fmt.Errorf("drop table: %w", err)
	}
	return nil
}
