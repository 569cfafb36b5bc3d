#!/usr/bin/env bash
# clickhouse.sh: install (if missing) and run a project-local ClickHouse server.
#
#   clickhouse.sh start DIR TCP_PORT HTTP_PORT   start unless one already answers on TCP_PORT
#   clickhouse.sh stop  DIR                      stop the server whose pid file is in DIR
#
# The server keeps everything (config, data, logs, pid) under DIR, listens on
# 127.0.0.1 only and runs with UTC as its time zone. It keeps system.query_log
# (filled for the queries that set log_queries=1; make bench reads
# ClickHouse's own CPU time from it). Starting is idempotent: a
# server that already answers on TCP_PORT is left alone. Used by `make
# clickhouse`, .ci/run and the fault tests that need a disposable server.
#
# Optional, from the environment (the TLS and password tests use them):
#   CH_TLS_CERT, CH_TLS_KEY, CH_TLS_PORT  PEM certificate and key: also serve the
#                                        native protocol over TLS on CH_TLS_PORT
#   CH_USER, CH_PASSWORD                 add a user with that password (stored as
#                                        its SHA-256), allowed only CH_USER_DB
#   CH_USER_DB                           its database (default: any)
set -euo pipefail

cmd=${1:?usage: clickhouse.sh start|stop DIR [TCP_PORT HTTP_PORT]}
dir=${2:?usage: clickhouse.sh start|stop DIR [TCP_PORT HTTP_PORT]}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

answers() { clickhouse-client --host 127.0.0.1 --port "$1" --query 'SELECT 1' >/dev/null 2>&1; }

install() {
  command -v clickhouse-server >/dev/null 2>&1 && command -v clickhouse-client >/dev/null 2>&1 && return 0
  echo "clickhouse.sh: installing Debian's clickhouse-server" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
}

case "$cmd" in
start)
  tcp=${3:-9000}
  http=${4:-8123}
  install
  if answers "$tcp"; then
    echo "clickhouse.sh: a server already answers on 127.0.0.1:$tcp" >&2
    exit 0
  fi
  mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas" "$dir/log"
  tls_xml=""
  if [ -n "${CH_TLS_CERT:-}" ]; then
    : "${CH_TLS_KEY:?CH_TLS_KEY must name the key of CH_TLS_CERT}" "${CH_TLS_PORT:?CH_TLS_PORT must be set with CH_TLS_CERT}"
    tls_xml="<tcp_port_secure>$CH_TLS_PORT</tcp_port_secure>
  <openSSL><server>
    <certificateFile>$CH_TLS_CERT</certificateFile>
    <privateKeyFile>$CH_TLS_KEY</privateKeyFile>
    <verificationMode>none</verificationMode>
    <loadDefaultCAFile>false</loadDefaultCAFile>
    <cacheSessions>true</cacheSessions>
    <disableProtocols>sslv2,sslv3,tlsv1,tlsv1_1</disableProtocols>
    <preferServerCiphers>true</preferServerCiphers>
  </server></openSSL>"
  fi
  user_xml=""
  if [ -n "${CH_USER:-}" ]; then
    : "${CH_PASSWORD:?CH_PASSWORD must be set with CH_USER}"
    dbs=""
    [ -n "${CH_USER_DB:-}" ] && dbs="<allow_databases><database>$CH_USER_DB</database></allow_databases>"
    user_xml="<$CH_USER>
      <password_sha256_hex>$(printf '%s' "$CH_PASSWORD" | sha256sum | cut -d' ' -f1)</password_sha256_hex>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
      $dbs
    </$CH_USER>"
  fi
  cat >"$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>$dir/log/clickhouse-server.log</log>
    <errorlog>$dir/log/clickhouse-server.err.log</errorlog>
    <size>100M</size>
    <count>2</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>$tcp</tcp_port>
  <http_port>$http</http_port>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>536870912</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <query_log>
    <database>system</database>
    <table>query_log</table>
    <flush_interval_milliseconds>7500</flush_interval_milliseconds>
  </query_log>
  $tls_xml
</yandex>
XML
  cat >"$dir/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
    $user_xml
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
  nohup clickhouse-server --config-file="$dir/config.xml" --pid-file="$dir/clickhouse.pid" \
    >"$dir/log/stdout.log" 2>&1 </dev/null &
  echo $! >"$dir/server.pid" # 18.16 ignores --pid-file
  for _ in $(seq 1 300); do
    if answers "$tcp" && { [ -z "${CH_TLS_PORT:-}" ] || (exec 3<>"/dev/tcp/127.0.0.1/$CH_TLS_PORT") 2>/dev/null; }; then
      echo "clickhouse.sh: ClickHouse $(clickhouse-client --port "$tcp" --query 'SELECT version()') on 127.0.0.1:$tcp (data in $dir)" >&2
      exit 0
    fi
    sleep 0.2
  done
  echo "clickhouse.sh: the server did not answer on 127.0.0.1:$tcp within 60 s; its log:" >&2
  tail -n 30 "$dir/log/stdout.log" "$dir/log/clickhouse-server.err.log" >&2 2>/dev/null || true
  exit 1
  ;;
stop)
  for f in "$dir/clickhouse.pid" "$dir/server.pid"; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    rm -f "$f"
  done
  ;;
*)
  echo "usage: clickhouse.sh start|stop DIR [TCP_PORT HTTP_PORT]" >&2
  exit 2
  ;;
esac
