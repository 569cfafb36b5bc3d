#!/usr/bin/env bash
# The demo behind `make demo`: a simulated account of 1,000,000 followers
# (wxsim), one `wxsync sync` into ClickHouse database wxsync_demo, then a
# few queries. Expects `make build` and `make clickhouse` to have run.
set -euo pipefail
cd "$(dirname "$0")/.."

followers=${DEMO_FOLLOWERS:-1000000}
ch_port=${CH_PORT:-9000}
workdir=$(mktemp -d)
trap 'kill "$sim" 2>/dev/null || true; rm -rf "$workdir"' EXIT

bin/wxsim -addr 127.0.0.1:0 -addr-file "$workdir/addr" -followers "$followers" \
  -appid wxdemo0000000000001 -secret demo-secret 2>"$workdir/wxsim.log" &
sim=$!
for _ in $(seq 1 100); do [ -s "$workdir/addr" ] && break; sleep 0.1; done
[ -s "$workdir/addr" ] || { cat "$workdir/wxsim.log"; exit 1; }

export WECHAT_APPID=wxdemo0000000000001
export WECHAT_SECRET=demo-secret
export WECHAT_API_BASE="http://$(cat "$workdir/addr")"
export CLICKHOUSE_DSN="clickhouse://127.0.0.1:$ch_port/wxsync_demo"

echo "== wxsync sync: $followers followers from wxsim ($WECHAT_API_BASE) into $CLICKHOUSE_DSN"
start=$(date +%s%N)
bin/wxsync sync
ms=$((($(date +%s%N) - start) / 1000000))
echo "== done in $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s"
echo

q() { echo "-- $1"; clickhouse-client --port "$ch_port" --database wxsync_demo --format PrettyCompactMonoBlock --query "$1"; echo; }
q "SELECT appid, count() AS followers FROM wechat_followers_current GROUP BY appid"
q "SELECT snapshot_id, started_at, finished_at, reported_total, rows, complete FROM wechat_snapshots FINAL ORDER BY snapshot_id DESC LIMIT 3"
q "SELECT openid, fetched_at FROM wechat_followers_current ORDER BY openid LIMIT 5"
q "SELECT stream, snapshot_id, cursor FROM wxsync_state FINAL"
