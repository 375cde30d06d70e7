#!/usr/bin/env bash
# Every test layer against real servers: unit -> activities (FerretDB + SendGrid-compatible server)
# -> workflows (time-skipping test server) -> end to end (Temporal dev server, FerretDB, worker, API)
# -> fuzz (schemathesis and a fast-check suite against the whole stack; the short run: FUZZ_LONG=1 or
# `npm run test:fuzz` runs the long one) -> reliability (worker kills, Temporal, MongoDB and SendGrid
# faults, continue-as-new under load; the short run: `npm run test:reliability` runs the full one)
# -> cluster (the production shape of `npm run start:cluster`: Temporal's four services on PostgreSQL,
# two workers, two APIs behind HAProxy; the journey through the front address and faults under load)
# -> replay of saved histories. `npm test` runs them all;
# `npm test -- unit` (or a folder name) runs one layer.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/install-servers.sh >/dev/null

layers=("$@")
[ ${#layers[@]} -eq 0 ] && layers=(unit support activities workflows e2e fuzz reliability cluster replay)
files=()
for layer in "${layers[@]}"; do
  for f in test/"$layer"/*.test.ts; do
    [ -e "$f" ] && files+=("$f")
  done
done
[ ${#files[@]} -gt 0 ] || { echo "no test files for: ${layers[*]}" >&2; exit 1; }

npx tsc --noEmit -p .
npx eslint --max-warnings 0 .
# TAP as the runner prints it, then what failed and why (test/support/failure-summary.mjs): CI keeps the tail.
exec node --import tsx --test --test-concurrency=1 --test-timeout=600000 \
  --test-reporter=tap --test-reporter-destination=stdout \
  --test-reporter=./test/support/failure-summary.mjs --test-reporter-destination=stdout \
  "${files[@]}"
