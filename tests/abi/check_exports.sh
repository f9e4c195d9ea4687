#!/bin/bash
# Compares the dynamic symbol table of libconnpool.so with the expected list.
# Symbols may be added (append to exports.txt) but never removed within a major version.
set -eu
lib=$1
expected=$2
actual=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVWiu]$/ {print $3}' | sed 's/@.*//' | sort -u)
foreign=$(printf '%s\n' "$actual" | grep -v '^connpool_' || true)
if [ -n "$foreign" ]; then
  echo "symbols exported without the connpool_ prefix:"; echo "$foreign"; exit 1
fi
want=$(grep -v '^#' "$expected" | sed '/^$/d' | sort -u)
if [ "$actual" != "$want" ]; then
  echo "exported symbols differ from $expected (< expected, > actual):"
  diff <(printf '%s\n' "$want") <(printf '%s\n' "$actual") || true
  exit 1
fi
echo "$(printf '%s\n' "$actual" | wc -l) symbols exported, all connpool_*, matching $expected"
