#!/usr/bin/env bash
# chdb.sh: run a current ClickHouse release as a project-local server, from
# the official chDB library (npm package @chdb/lib-linux-x64-gnu).
#
#   chdb.sh start DIR TCP_PORT HTTP_PORT   start unless one already answers on TCP_PORT
#   chdb.sh stop  DIR                      stop the server whose pid file is in DIR
#
# Everything stays under DIR (a gitignored folder): the library, fetched once
# with `npm pack` (lib/VERSION/libchdb.so, about 540 MB), the launcher built
# from chdb-server.c with gcc (bin/chdb-server), the data, the log and the pid
# file. The server listens on 127.0.0.1 only. Starting is idempotent: a server
# that already answers on TCP_PORT is left alone. Used by `make clickhouse-current`
# and by the tests that need a server of their own (sinktest.StartServer).
#
# A supervisor restarts the server when it ends by itself (the chDB server
# aborts as a whole on a failed native login): the data is on disk, the
# tests that were using it fail, and those that follow find a server. Each
# restart is a line of DIR/log/restarts.log; after 5 ends within 10 s of
# their start it gives up. testservers fails a run during which a server
# restarted.
#
# From the environment: CHDB_VERSION, the npm version (default below);
# CHDB_LIB, a libchdb.so to use instead of fetching one into DIR.
set -euo pipefail

CHDB_PACKAGE=@chdb/lib-linux-x64-gnu
CHDB_VERSION=${CHDB_VERSION:-26.7.3-stable.1}
here=$(cd "$(dirname "$0")" && pwd)

cmd=${1:?usage: chdb.sh start|stop DIR [TCP_PORT HTTP_PORT]}
dir=${2:?usage: chdb.sh start|stop DIR [TCP_PORT HTTP_PORT]}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
lib=${CHDB_LIB:-$dir/lib/$CHDB_VERSION/libchdb.so}
bin=$dir/bin/chdb-server

# version prints the server's version over HTTP; it fails when nothing answers.
version() { curl -fsS --max-time 2 "http://127.0.0.1:$1/?query=SELECT%20version()" 2>/dev/null; }
tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

fetch() {
  [ -s "$lib" ] && return 0
  [ -n "${CHDB_LIB:-}" ] && { echo "chdb.sh: CHDB_LIB=$CHDB_LIB is not a file" >&2; exit 1; }
  command -v npm >/dev/null 2>&1 || { echo "chdb.sh: npm is needed to fetch $CHDB_PACKAGE" >&2; exit 1; }
  echo "chdb.sh: fetching $CHDB_PACKAGE@$CHDB_VERSION with npm pack" >&2
  local tmp
  tmp=$(mktemp -d "$dir/fetch.XXXXXX")
  (cd "$tmp" && npm pack --silent "$CHDB_PACKAGE@$CHDB_VERSION" >/dev/null && tar xzf ./*.tgz package/libchdb.so)
  mkdir -p "$(dirname "$lib")"
  mv "$tmp/package/libchdb.so" "$lib"
  rm -rf "$tmp"
}

# supervise runs the server, again each time it ends by itself, until SIGTERM.
supervise() {
  local tcp=$1 http=$2 child="" stopping="" quick=0 started rc
  trap 'stopping=1; [ -n "$child" ] && kill "$child" 2>/dev/null' TERM
  while :; do
    started=$SECONDS
    "$bin" "$lib" "$dir/data/" "$tcp" "$http" >>"$dir/log/server.log" 2>&1 </dev/null &
    child=$!
    echo "$child" >"$dir/server.pid"
    rc=0
    wait "$child" || rc=$?
    while kill -0 "$child" 2>/dev/null; do wait "$child" || rc=$?; done # wait was interrupted by TERM
    [ -n "$stopping" ] && exit 0
    echo "$(date -u +%FT%TZ) the server on 127.0.0.1:$tcp ended with status $rc; restarting it (see log/server.log)" >>"$dir/log/restarts.log"
    if [ $((SECONDS - started)) -lt 10 ]; then quick=$((quick + 1)); else quick=0; fi
    if [ "$quick" -ge 5 ]; then
      echo "$(date -u +%FT%TZ) 5 ends within 10 s of their start: not restarted again" >>"$dir/log/restarts.log"
      rm -f "$dir/server.pid" "$dir/supervisor.pid"
      exit 1
    fi
  done
}

build() {
  [ -x "$bin" ] && [ "$bin" -nt "$here/chdb-server.c" ] && return 0
  mkdir -p "$dir/bin"
  gcc -O2 -Wall -rdynamic -o "$bin" "$here/chdb-server.c" -ldl
}

case "$cmd" in
start)
  tcp=${3:-9126}
  http=${4:-8126}
  if tcp_open "$tcp"; then
    # Leave our own server alone; refuse a port taken by anything else
    # (another ClickHouse there would be tested twice, this one never).
    v=$(version "$http" || true)
    if [ "${v%.*.*}" = "${CHDB_VERSION%.*-*}" ]; then
      echo "chdb.sh: ClickHouse $v already answers on 127.0.0.1:$tcp" >&2
      exit 0
    fi
    echo "chdb.sh: 127.0.0.1:$tcp is taken by something other than ClickHouse ${CHDB_VERSION%.*-*}" \
      "(HTTP port $http says: ${v:-nothing}); choose other ports" >&2
    exit 1
  fi
  if [ -f "$dir/supervisor.pid" ] && kill -0 "$(cat "$dir/supervisor.pid")" 2>/dev/null; then
    pid=$(cat "$dir/supervisor.pid") # restarting the server: wait for it
  else
    fetch
    build
    mkdir -p "$dir/data" "$dir/log"
    : >"$dir/log/server.log"
    rm -f "$dir/server.pid"
    (cd "$dir" && trap '' HUP && supervise "$tcp" "$http") >/dev/null 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir/supervisor.pid"
  fi
  for _ in $(seq 1 600); do
    if v=$(version "$http") && tcp_open "$tcp"; then
      echo "chdb.sh: ClickHouse $v on 127.0.0.1:$tcp (chDB $CHDB_VERSION, data in $dir)" >&2
      exit 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "chdb.sh: the server did not answer on 127.0.0.1:$tcp; its log:" >&2
  tail -n 30 "$dir/log/server.log" >&2 || true
  "$0" stop "$dir"
  exit 1
  ;;
stop)
  # The supervisor first (it would restart the server), then the server.
  for f in "$dir/supervisor.pid" "$dir/server.pid"; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    # SIGTERM ends it at once; should it not, a test server's data needs no
    # graceful stop.
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$f"
  done
  ;;
*)
  echo "usage: chdb.sh start|stop DIR [TCP_PORT HTTP_PORT]" >&2
  exit 2
  ;;
esac
