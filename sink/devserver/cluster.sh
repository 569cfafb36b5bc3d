#!/usr/bin/env bash
# cluster.sh: a ClickHouse cluster on one machine, for the cluster tests:
# ZooKeeper (Debian's) and 2 shards x 2 replicas of clickhouse-server, all on
# 127.0.0.1, everything (configs, data, logs, pids) under DIR.
#
#   cluster.sh start DIR [BASE]        start what is not running (idempotent)
#   cluster.sh stop  DIR               stop every node and ZooKeeper (idempotent)
#   cluster.sh start-node DIR NODE     start one server (s1r1 s1r2 s2r1 s2r2)
#   cluster.sh kill-node  DIR NODE     SIGKILL one server (a crash; data kept)
#   cluster.sh ports [BASE]            print NODE TCP_PORT lines
#
# Ports from BASE (default 29100): node i (1..4: s1r1 s1r2 s2r1 s2r2) serves
# TCP on BASE+i, HTTP on BASE+10+i, interserver HTTP on BASE+20+i; ZooKeeper
# listens on BASE+81. The cluster is called wxsync in <remote_servers>, with
# internal_replication (the Replicated tables copy the data between replicas,
# not the Distributed table). Macros: {shard} 01/02, {replica} the node name.
# BASE is remembered in DIR/base, so later commands need not repeat it.
# Users: default (profile with load_balancing = in_order, as wxsync needs on
# a cluster) and random_replica (load_balancing = random, which wxsync
# refuses; a test checks that).
set -euo pipefail

usage="usage: cluster.sh start|stop|start-node|kill-node DIR [BASE|NODE]"
cmd=${1:?$usage}
[ "$cmd" = ports ] || { dir=${2:?$usage}; mkdir -p "$dir"; dir=$(cd "$dir" && pwd); }

nodes=(s1r1 s1r2 s2r1 s2r2)

base_of() {
  if [ -n "${1:-}" ]; then echo "$1"
  elif [ -n "${dir:-}" ] && [ -f "$dir/base" ]; then cat "$dir/base"
  else echo 29100; fi
}

# index NODE: 1..4
index() {
  local i
  for i in 0 1 2 3; do [ "${nodes[$i]}" = "$1" ] && { echo $((i + 1)); return; }; done
  echo "cluster.sh: unknown node $1 (want one of ${nodes[*]})" >&2
  exit 2
}

# answers TCP_PORT: the server's HTTP /ping (on TCP_PORT+10) says Ok; much
# cheaper than starting clickhouse-client.
answers() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$(($1 + 10)); printf 'GET /ping HTTP/1.0\r\n\r\n' >&3; cat <&3" 2>/dev/null | grep -q '^Ok\.'
}

# four-letter word to ZooKeeper
zk4() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; printf %s $2 >&3; cat <&3" 2>/dev/null || true; }

install() {
  if ! command -v clickhouse-server >/dev/null 2>&1 || ! command -v clickhouse-client >/dev/null 2>&1 ||
    [ ! -f /usr/share/java/zookeeper.jar ] || ! command -v java >/dev/null 2>&1; then
    echo "cluster.sh: installing Debian's zookeeper and clickhouse-server" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq zookeeper clickhouse-server clickhouse-client >/dev/null
  fi
}

start_zk() {
  local port=$1 z="$dir/zk"
  if zk4 "$port" srvr | grep -q '^Mode:'; then return 0; fi
  mkdir -p "$z/data"
  cat >"$z/zoo.cfg" <<CFG
tickTime=500
initLimit=10
syncLimit=5
dataDir=$z/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok
CFG
  cat >"$z/log4j.properties" <<CFG
log4j.rootLogger=WARN, F
log4j.appender.F=org.apache.log4j.FileAppender
log4j.appender.F.File=$z/zookeeper.log
log4j.appender.F.layout=org.apache.log4j.PatternLayout
log4j.appender.F.layout.ConversionPattern=%d %p %c: %m%n
CFG
  # The java process itself in the background (not a subshell running it),
  # so that its pid is the one stop signals.
  nohup java -Xmx256m -cp "$z:/usr/share/java/zookeeper.jar" \
    -Dlog4j.configuration="file:$z/log4j.properties" \
    org.apache.zookeeper.server.ZooKeeperServerMain "$z/zoo.cfg" >"$z/stdout.log" 2>&1 </dev/null &
  echo $! >"$z/pid"
  # ruok answers before requests are served: wait for srvr's Mode line.
  for _ in $(seq 1 300); do
    zk4 "$port" srvr | grep -q '^Mode:' && return 0
    sleep 0.1
  done
  echo "cluster.sh: ZooKeeper did not serve on 127.0.0.1:$port within 30 s" >&2
  tail -n 20 "$z/stdout.log" "$z/zookeeper.log" >&2 2>/dev/null || true
  exit 1
}

# write_config NODE BASE
write_config() {
  local name=$1 base=$2 i shard n d replicas="" s r
  i=$(index "$name")
  shard=$(printf '%02d' $(((i + 1) / 2)))
  d="$dir/$name"
  mkdir -p "$d/data" "$d/tmp" "$d/user_files" "$d/format_schemas" "$d/log"
  for s in 1 2; do
    replicas+="<shard><internal_replication>true</internal_replication>"
    for r in 1 2; do
      n=$(((s - 1) * 2 + r))
      replicas+="<replica><host>127.0.0.1</host><port>$((base + n))</port></replica>"
    done
    replicas+="</shard>"
  done
  cat >"$d/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>$d/log/clickhouse-server.log</log>
    <errorlog>$d/log/clickhouse-server.err.log</errorlog>
    <size>100M</size>
    <count>2</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>$((base + i))</tcp_port>
  <http_port>$((base + 10 + i))</http_port>
  <interserver_http_port>$((base + 20 + i))</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <path>$d/data/</path>
  <tmp_path>$d/tmp/</tmp_path>
  <user_files_path>$d/user_files/</user_files_path>
  <format_schema_path>$d/format_schemas/</format_schema_path>
  <users_config>$d/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <zookeeper><node><host>127.0.0.1</host><port>$((base + 81))</port></node><session_timeout_ms>10000</session_timeout_ms></zookeeper>
  <macros><shard>$shard</shard><replica>$name</replica></macros>
  <remote_servers><wxsync>$replicas</wxsync></remote_servers>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
</yandex>
XML
  cat >"$d/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles>
    <default><max_memory_usage>2000000000</max_memory_usage><load_balancing>in_order</load_balancing></default>
    <random_replica><max_memory_usage>2000000000</max_memory_usage><load_balancing>random</load_balancing></random_replica>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
    <random_replica>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>random_replica</profile>
      <quota>default</quota>
    </random_replica>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
}

# launch NODE BASE: start the server unless it answers; does not wait.
launch() {
  local name=$1 base=$2 i d
  i=$(index "$name")
  d="$dir/$name"
  answers $((base + i)) && return 0
  write_config "$name" "$base"
  # A replica killed with SIGKILL (as the tests do) may find a part on
  # disk that ZooKeeper does not know; in a small table that is more than the
  # sanity check's share of wrong parts, and the server refuses to start.
  # The flag makes it set such parts aside (ClickHouse's own recovery step).
  mkdir -p "$d/data/flags" && touch "$d/data/flags/force_restore_data"
  nohup clickhouse-server --config-file="$d/config.xml" >"$d/log/stdout.log" 2>&1 </dev/null &
  echo $! >"$d/server.pid"
}

# await NODE BASE: wait until the server answers.
await() {
  local name=$1 base=$2 i
  i=$(index "$name")
  for _ in $(seq 1 300); do
    answers $((base + i)) && return 0
    sleep 0.1
  done
  echo "cluster.sh: $name did not answer on 127.0.0.1:$((base + i)) within 30 s; its log:" >&2
  tail -n 30 "$dir/$name/log/stdout.log" "$dir/$name/log/clickhouse-server.err.log" >&2 2>/dev/null || true
  exit 1
}

# stop_pid FILE SIGNAL: signal the process in FILE and wait until it is gone.
stop_pid() {
  local f=$1 sig=$2 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  kill "-$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  rm -f "$f"
}

case "$cmd" in
start)
  base=$(base_of "${3:-}")
  install
  echo "$base" >"$dir/base"
  start_zk $((base + 81))
  for n in "${nodes[@]}"; do launch "$n" "$base"; done
  for n in "${nodes[@]}"; do await "$n" "$base"; done
  echo "cluster.sh: cluster wxsync (2 shards x 2 replicas, ClickHouse $(clickhouse-client --port $((base + 1)) --query 'SELECT version()')) on 127.0.0.1:$((base + 1))-$((base + 4)), ZooKeeper on $((base + 81)) (data in $dir)" >&2
  ;;
stop)
  # SIGTERM all four at once (18.16 takes seconds to shut down), then ZooKeeper.
  for n in "${nodes[@]}"; do stop_pid "$dir/$n/server.pid" TERM & done
  wait
  stop_pid "$dir/zk/pid" TERM
  ;;
start-node)
  name=${3:?$usage}
  base=$(base_of "")
  launch "$name" "$base"
  await "$name" "$base"
  ;;
kill-node)
  name=${3:?$usage}
  index "$name" >/dev/null
  stop_pid "$dir/$name/server.pid" KILL
  ;;
ports)
  base=$(base_of "${2:-}")
  for i in 1 2 3 4; do echo "${nodes[$((i - 1))]} $((base + i))"; done
  ;;
*)
  echo "$usage" >&2
  exit 2
  ;;
esac
