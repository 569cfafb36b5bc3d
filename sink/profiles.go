package sink

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"
)

// FreshProfiles returns which of openids already have a profile in
// wechat_users fetched at or after since. The openids travel as an external
// table (native protocol, any ClickHouse version), not in the query text:
// a page of 10,000 openids would otherwise be a query of several hundred
// KiB for ClickHouse to parse. The lookup is retried like a write, so a
// ClickHouse restart does not end the run.
func (s *Sink) FreshProfiles(ctx context.Context, appid string, openids []string, since time.Time) (map[string]bool, error) {
	fresh := make(map[string]bool)
	if len(openids) == 0 {
		return fresh, nil
	}
	ids, err := ext.NewTable("wxsync_openids", ext.Column("openid", "String"))
	if err != nil {
		return nil, fmt.Errorf("look up profiles: %w", err)
	}
	for _, id := range openids {
		if err := ids.Append(id); err != nil {
			return nil, fmt.Errorf("look up profiles: %w", err)
		}
	}
	q := fmt.Sprintf("SELECT `openid` FROM %s.`wechat_users` WHERE `appid` = ? AND `openid` %s (SELECT `openid` FROM `wxsync_openids`) GROUP BY `openid` HAVING max(`fetched_at`) >= ?", s.qdb, s.globalIn())
	err = s.retry(ctx, "look up profiles", func(ctx context.Context) error {
		clear(fresh)
		rows, err := s.conn.Query(clickhouse.Context(ctx, clickhouse.WithExternalTable(ids)), q, appid, since.UTC())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			fresh[id] = true
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("look up profiles in wechat_users: %w", err)
	}
	return fresh, nil
}
