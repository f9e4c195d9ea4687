#!/usr/bin/env bash
# ab_pool.sh: the same connpool_pool_bench point against two builds of libconnpool.so,
# alternated round by round (A, B, A, B, ...) so that drifting load hits both alike.
#
#   bench/tools/ab_pool.sh A_LIBDIR B_LIBDIR ROUNDS SECONDS CLIENTS POOL_SIZE [bench args...]
#   e.g. bench/tools/ab_pool.sh /tmp/old /tmp/new 3 3 32 16 --conninfo "$(cat DIR/conninfo_tcp)"
#
# A_LIBDIR/B_LIBDIR hold a libconnpool.so.0 each (copy them out of two build trees); the bench
# binary comes from $CONNPOOL_BENCH (default build-bench/bench/connpool_pool_bench) and finds
# the library through LD_LIBRARY_PATH, which wins over its RUNPATH.
set -euo pipefail
[[ $# -ge 6 ]] || { sed -n '2,10p' "$0"; exit 2; }
a=$1 b=$2 rounds=$3 seconds=$4 clients=$5 pool=$6
shift 6
bench=${CONNPOOL_BENCH:-build-bench/bench/connpool_pool_bench}
for ((r = 1; r <= rounds; r++)); do
    for lib in "$a" "$b"; do
        line=$(LD_LIBRARY_PATH=$lib "$bench" --seconds "$seconds" --clients "$clients" \
            --pool-size "$pool" "$@" 2>&1 | grep 'ops/s')
        echo "round $r  $lib: $line"
    done
done
