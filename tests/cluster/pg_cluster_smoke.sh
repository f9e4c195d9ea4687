#!/usr/bin/env bash
# scripts/pg-cluster end to end: a primary and a standby, replication, stop/start of a node,
# promotion (the standby then accepts writes), and removal of every file.
set -euo pipefail
script=$1
dir=$(mktemp -d /tmp/connpool-cluster-smoke.XXXXXX)
rmdir "$dir"
cleanup() { "$script" stop-all "$dir" >/dev/null 2>&1 || true; }
trap cleanup EXIT

q() { timeout 15 psql -X -A -t -q -d "$(cat "$dir/$1.conninfo") connect_timeout=5" -c "$2"; }
expect() { [[ $1 == "$2" ]] || { echo "expected '$2', got '$1' ($3)" >&2; exit 1; }; }

"$script" start "$dir" --standbys 1 >/dev/null
expect "$("$script" status "$dir" | awk '{print $3}' | tr '\n' ' ')" "primary standby " "roles after start"

q node0 "create table smoke(v int); insert into smoke values (42)"
for _ in $(seq 100); do [[ $(q node1 "select count(*) from pg_class where relname = 'smoke'") == 1 ]] && break; sleep 0.1; done
expect "$(q node1 'select v from smoke')" 42 "replicated row on the standby"
expect "$(q node1 'show in_hot_standby')" on "standby reports in_hot_standby"
if q node1 "insert into smoke values (1)" 2>/dev/null; then echo "write on a standby succeeded" >&2; exit 1; fi

"$script" stop "$dir" node1
expect "$("$script" status "$dir" | awk '$1 == "node1" {print $3}')" down "stopped standby"
"$script" start-node "$dir" 1
"$script" wait-streaming "$dir" 1

"$script" stop "$dir" node0
"$script" promote "$dir" node1
expect "$("$script" status "$dir" | awk '{print $3}' | tr '\n' ' ')" "down primary " "roles after promotion"
q node1 "insert into smoke values (7)"
expect "$(q node1 'select sum(v) from smoke')" 49 "write on the promoted standby"

base=$(cat "$dir/location" 2>/dev/null || echo "$dir")
"$script" stop-all "$dir"
[[ ! -e $dir && ! -e $base ]] || { echo "stop-all left files behind" >&2; exit 1; }
echo "pg-cluster smoke: ok"
