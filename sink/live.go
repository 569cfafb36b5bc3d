package sink

import (
	"fmt"
	"strings"

	"github.com/wxsync/wxsync/schema"
)

// LiveViewDDL returns the CREATE VIEW IF NOT EXISTS statement of
// wechat_followers_live in database db: for every account with a complete
// followers snapshot, the openids that follow it now. That is its latest
// complete snapshot (wechat_followers_current), corrected by the follow
// events whose create_time is at or after the second that snapshot
// started: per openid, the latest such event wins (subscribe or SCAN: a
// follower; unsubscribe: not), an unsubscribe winning a tie within one
// second. docs/architecture.md states the rule and why.
//
// The text runs on ClickHouse 18.16 and current releases: no CTE, no
// window function, every joined subquery aliased, the tie broken by an
// integer key rather than a tuple.
func LiveViewDDL(db string) (string, error) { return liveViewDDL(db, nil) }

// liveViewDDL is LiveViewDDL, ON CLUSTER c when c is not nil. Its join
// needs no GLOBAL: the left side is a subquery, so the initiator joins.
func liveViewDDL(db string, c *schema.Cluster) (string, error) {
	qdb, err := schema.Ident(db)
	if err != nil {
		return "", err
	}
	followers, err := schema.Lookup(schema.Followers)
	if err != nil {
		return "", err
	}
	r := strings.NewReplacer(
		"{db}", qdb,
		"{view}", "`"+schema.FollowersLiveView+"`"+clusterClause(c),
		"{current}", "`"+followers.CurrentView+"`",
		"{events}", "`"+schema.FollowEventsTable+"`",
		"{snapshots}", "`"+SnapshotsTable+"`",
		"{complete}", fmt.Sprint(SnapshotComplete),
	)
	return r.Replace(liveViewSQL), nil
}

// liveViewSQL is the view's text; LiveViewDDL fills in the names.
const liveViewSQL = `CREATE VIEW IF NOT EXISTS {db}.{view} AS
SELECT appid, openid
FROM
(
    SELECT appid, openid, toUInt8(0) AS has_event, toUInt8(0) AS follows
    FROM {db}.{current}
    UNION ALL
    SELECT appid, openid, toUInt8(1) AS has_event,
        argMax(toUInt8(event != 'unsubscribe'), toUInt64(create_time) * 2 + toUInt64(event = 'unsubscribe')) AS follows
    FROM
    (
        SELECT appid, openid, event, create_time
        FROM {db}.{events}
        WHERE event IN ('subscribe', 'unsubscribe', 'SCAN')
    ) AS ev
    ALL INNER JOIN
    (
        SELECT appid, argMax(started_at, snapshot_id) AS snapshot_started
        FROM {db}.{snapshots} FINAL
        WHERE stream = 'followers' AND complete = {complete}
        GROUP BY appid
    ) AS snap USING appid
    WHERE create_time >= snapshot_started
    GROUP BY appid, openid
) AS changes
GROUP BY appid, openid
HAVING max(has_event) = 0 OR max(follows) = 1`
