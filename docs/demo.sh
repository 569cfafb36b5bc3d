#!/usr/bin/env bash
# The demo behind `make demo`: a simulated account of 1,000,000 followers
# (wxsim), one `wxsync sync` into ClickHouse database wxsync_demo, then a
# few queries; then `wxsync listen` receives the follow events wxsim pushes
# (safe mode) for some seconds while wechat_followers_live moves, and both
# stop on SIGTERM. Expects `make build` and `make clickhouse` to have run.
set -euo pipefail
cd "$(dirname "$0")/.."

followers=${DEMO_FOLLOWERS:-1000000}
ch_port=${CH_PORT:-9000}
workdir=$(mktemp -d)
sim= listen= pusher=
trap 'for p in $pusher $listen $sim; do kill "$p" 2>/dev/null || true; done; rm -rf "$workdir"' EXIT

appid=wxdemo0000000000001
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

# ---- Real time: wxsync listen, and wxsim pushing like WeChat ----
push_seconds=${DEMO_PUSH_SECONDS:-30}
push_rate=${DEMO_PUSH_RATE:-100}

# free_port prints a TCP port nothing answers on (the two processes need
# each other's address before they start).
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  echo "no free port found" >&2; return 1
}
# wait_for FILE TEXT: until FILE holds TEXT (at most 30 s).
wait_for() {
  for _ in $(seq 1 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for \"$2\" in $1:"; cat "$1"; return 1
}
# stop NAME PID: SIGTERM, then its exit code must be 0.
stop() {
  kill -TERM "$2"
  local rc=0
  wait "$2" || rc=$?
  echo "   $1 stopped on SIGTERM: exit $rc"
  [ "$rc" = 0 ]
}
live() { clickhouse-client --port "$ch_port" --database wxsync_demo --query \
  "SELECT count() FROM wechat_followers_live WHERE appid = '$appid'"; }

# The same account (same flags, same seed) served again, now also pushing:
# the simulator's pusher needs the receiver's URL when it starts.
stop wxsim "$sim"; sim=
api_port=$(free_port); listen_port=$(free_port); metrics_port=$(free_port)
export WECHAT_API_BASE="http://127.0.0.1:$api_port"
export WECHAT_TOKEN=demo-push-token
export WECHAT_AES_KEY=DemoEncodingAESKey0123456789abcdefghijklmno
export WXSYNC_LISTEN_ADDR="127.0.0.1:$listen_port" WXSYNC_METRICS_ADDR="127.0.0.1:$metrics_port"

echo "== wxsync listen on http://127.0.0.1:$listen_port/wechat (metrics on :$metrics_port)"
bin/wxsync listen 2>"$workdir/listen.log" &
listen=$!
wait_for "$workdir/listen.log" 'listening for WeChat pushes'

count=$((push_seconds * push_rate))
echo "== wxsim pushes $count follow events (safe mode, $push_rate/s, subscribe:unsubscribe:scan 6:3:1)"
echo "   wechat_followers_live before: $(live)"
since=$(date +%s) # the events of this run (the database keeps earlier demos' too)
bin/wxsim -addr "127.0.0.1:$api_port" -followers "$followers" -appid "$appid" -secret demo-secret \
  -push-url "http://127.0.0.1:$listen_port/wechat" -push-mode safe -push-token "$WECHAT_TOKEN" \
  -push-aes-key "$WECHAT_AES_KEY" -push-rate "$push_rate" -push-count "$count" 2>"$workdir/pusher.log" &
pusher=$!
t0=$(date +%s)
# Every few seconds until the pusher is done: the live view and what wxsim
# counts as delivered so far (its GET /wxsim/pushes).
until grep -q 'wxsim pushes:' "$workdir/pusher.log"; do
  sleep 2
  elapsed=$(($(date +%s) - t0))
  [ "$elapsed" -le $((push_seconds * 3 + 60)) ] || { echo "the pusher did not finish:"; cat "$workdir/pusher.log"; exit 1; }
  delivered=$(curl -s "$WECHAT_API_BASE/wxsim/pushes" | grep -o '"delivered":[0-9]*' | cut -d: -f2 || true)
  echo "   ${elapsed} s: wechat_followers_live = $(live)   (wxsim: ${delivered:-?} events delivered)"
done
wait_for "$workdir/pusher.log" 'wxsim pushes:'
echo "   $(grep 'wxsim pushes:' "$workdir/pusher.log")"
echo "   wechat_followers_live now: $(live)"
echo
q "SELECT toStartOfMinute(create_time) AS minute, countIf(event = 'subscribe') AS follows, countIf(event = 'unsubscribe') AS unfollows, countIf(event = 'SCAN') AS scans FROM wechat_follow_events FINAL WHERE appid = '$appid' AND create_time >= toDateTime($since) GROUP BY minute ORDER BY minute"
q "SELECT count() AS new_followers_with_profile FROM wechat_users FINAL WHERE appid = '$appid' AND openid IN (SELECT openid FROM wechat_follow_events WHERE appid = '$appid' AND event = 'subscribe' AND create_time >= toDateTime($since))"
stop "wxsync listen" "$listen"; listen=
grep -o 'msg="listen stopped".*' "$workdir/listen.log" | sed 's/^/   /' || true
stop wxsim "$pusher"; pusher=
