#!/usr/bin/env bash
# The whole test run behind `make test`: static checks, unit tests, then the
# real toolchain, the local control plane and services, contract and engine
# tests. Prints a timing per step; stops the services it started.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$(bash scripts/ensure-node.sh):$PATH"
JEST=(node node_modules/jest/bin/jest.js)
declare -a TIMINGS=()
started_services=0

step() {
  local name="$1"; shift
  local t0=$SECONDS
  echo "==> $name"
  "$@"
  TIMINGS+=("$(printf '%-28s %5ds' "$name" $((SECONDS - t0)))")
}

finish() {
  local rc=$?
  if [ "$started_services" = 1 ] && [ "${CV_KEEP_SERVICES:-0}" != 1 ]; then
    bash scripts/local-down.sh >/dev/null 2>&1 || true
  fi
  echo
  echo "==> timings"
  for t in "${TIMINGS[@]}"; do echo "    $t"; done
  exit $rc
}
trap finish EXIT

step "typecheck" node node_modules/typescript/bin/tsc -p tsconfig.json --noEmit --noCheck false
step "lint" node node_modules/eslint/bin/eslint.js --max-warnings 0 .
step "actionlint" bash scripts/actionlint.sh
step "unit tests" "${JEST[@]}" --selectProjects unit
step "api fuzzing" bash scripts/schemathesis.sh
step "toolchain" bash scripts/bootstrap-toolchain.sh
# shellcheck disable=SC1091
source .work/toolchain.env
if ! bash scripts/local-status.sh >/dev/null 2>&1; then started_services=1; fi
step "local control plane" bash scripts/local-up.sh
# shellcheck disable=SC1091
source .work/local.env
step "contract tests" "${JEST[@]}" --selectProjects contract --runInBand
step "engine tests" "${JEST[@]}" --selectProjects engine --runInBand
