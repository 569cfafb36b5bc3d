package sink

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// profileLookupChunk bounds the openids of one lookup query: 4,000 quoted
// openids stay well under ClickHouse's default max_query_size (256 KiB).
const profileLookupChunk = 4000

// FreshProfiles returns which of openids already have a profile in
// wechat_users fetched at or after since. The lookup is retried like a
// write, so a ClickHouse restart does not end the run.
func (s *Sink) FreshProfiles(ctx context.Context, appid string, openids []string, since time.Time) (map[string]bool, error) {
	fresh := make(map[string]bool)
	for start := 0; start < len(openids); start += profileLookupChunk {
		chunk := openids[start:min(start+profileLookupChunk, len(openids))]
		// One bound parameter per openid: ClickHouse 18.16 takes no array
		// as an IN set, and a plain IN list keeps the primary key in use.
		q := fmt.Sprintf("SELECT `openid` FROM %s.`wechat_users` WHERE `appid` = ? AND `openid` IN (%s) GROUP BY `openid` HAVING max(`fetched_at`) >= ?",
			s.qdb, strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ","))
		args := make([]any, 0, len(chunk)+2)
		args = append(args, appid)
		for _, id := range chunk {
			args = append(args, id)
		}
		args = append(args, since.UTC())
		err := s.retry(ctx, "look up profiles", func(ctx context.Context) error {
			rows, err := s.conn.Query(ctx, q, args...)
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
	}
	return fresh, nil
}
