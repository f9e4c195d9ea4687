#!/bin/bash
# bench/tools/reset_cost.sh: the cost of the default session reset, interleaved
# reset=auto vs reset=rollback, SELECT 1 through build/bench/connpool_pool_bench, pool size
# min(N, 16), 3 rounds x 3 s. (bench/run has the same comparison as rows of its table.)
set -e
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d); dir=$tmp/pg
scripts/pg-server start $dir >/dev/null
trap "scripts/pg-server stop $dir >/dev/null; rm -rf $tmp" EXIT
ci=$(cat $dir/conninfo)
for round in 1 2 3; do
  for c in 1 8 32; do
    p=$(( c < 16 ? c : 16 ))
    for mode in auto rollback; do
      out=$(build/bench/connpool_pool_bench --conninfo "$ci" --seconds 3 --clients $c --pool-size $p --option reset=$mode 2>&1 | tail -1)
      echo "round=$round clients=$c mode=$mode $out"
    done
  done
done
