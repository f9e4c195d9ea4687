#!/usr/bin/env bash
# Checks that the layers' arrows point down only:
#   capi/  ->  src/pg/  ->  src/core/
# - src/core includes nothing of src/pg, capi or libpq;
# - src/pg includes nothing of capi;
# - capi calls no libpq function and includes no libpq header (it goes through src/pg).
# The build enforces part of this too (only src/pg sees libpq's include directory); this check
# names the offending line. Usage: check_layers.sh <repository root>
set -euo pipefail
root=${1:?usage: check_layers.sh <repository root>}
cd "$root"
failed=0

report() {  # <rule> <grep output>
    [[ -z $2 ]] && return 0
    printf 'layer violation: %s\n%s\n\n' "$1" "$2"
    failed=1
}

sources() { find "$@" -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' \) | sort; }

report "src/core must not include src/pg, capi or libpq" \
    "$(sources src/core | xargs grep -nE '#include\s*[<"](pg/|capi/|handle_registry|handles\.hpp|statuses\.hpp|libpq-fe\.h|libpq/|postgres)' || true)"
report "src/pg must not include capi" \
    "$(sources src/pg | xargs grep -nE '#include\s*[<"](capi/|handle_registry|handles\.hpp|statuses\.hpp)' || true)"
report "capi must not include libpq" \
    "$(sources capi | xargs grep -nE '#include\s*[<"](libpq-fe\.h|libpq/|pg/connector\.hpp|pg/statement_cache\.hpp)' || true)"
# A libpq call: PQ followed by a lower-case letter and an opening parenthesis (e.g. PQsocket(),
# PQclear()); lines that are comments (starting with //, * or /*) are skipped so that prose may
# name libpq functions (a call followed by a trailing comment is still reported).
report "capi must not call libpq (PQ* functions); add an operation to src/pg instead" \
    "$(sources capi | xargs grep -nE '\bPQ[a-z][A-Za-z]*\s*\(' | grep -vE '^[^:]+:[0-9]+:\s*(//|\*|/\*)' || true)"

if ((failed)); then
    echo "see docs/ARCHITECTURE.md for the layers and what belongs where" >&2
    exit 1
fi
echo "layers ok: core <- pg <- capi, no libpq in core or capi"
