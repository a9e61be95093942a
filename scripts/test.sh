#!/usr/bin/env bash
# The whole test run behind `make test`: static checks, unit tests, then the
# real toolchain, the local control plane and services, contract and engine
# tests. Prints a timing per step; stops the services it started.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$(bash scripts/ensure-node.sh):$PATH"
JEST=(node node_modules/jest/bin/jest.js)
RESULTS="$ROOT/.work/test-results"
rm -rf "$RESULTS" && mkdir -p "$RESULTS"
# Runs one jest project and keeps its machine-readable results for the summary.
# --forceExit: a handle a failing test leaves open (a service, a broker connection) must not hold CI past its
# results; jest still reports "did not exit" then, and the failure is counted.
jest_project() { "${JEST[@]}" --selectProjects "$1" "${@:2}" --forceExit --json --outputFile="$RESULTS/$1.json"; }
declare -a TIMINGS=()
started_services=0
current_step=""

step() {
  local name="$1"; shift
  local t0=$SECONDS
  current_step="$name"
  echo "==> $name"
  "$@"
  TIMINGS+=("$(printf '%-28s %5ds' "$name" $((SECONDS - t0)))")
  current_step=""
}

finish() {
  local rc=$?
  if [ "$started_services" = 1 ] && [ "${CV_KEEP_SERVICES:-0}" != 1 ]; then
    bash scripts/local-down.sh >/dev/null 2>&1 || true
  fi
  echo
  echo "==> timings"
  for t in "${TIMINGS[@]}"; do echo "    $t"; done
  if [ "$rc" != 0 ] && [ -n "$current_step" ]; then echo "==> failed: $current_step (exit $rc)"; fi
  # The very last line of the output: "N passed, N failed" over every jest
  # project that ran; a failed step that is not a jest project (typecheck,
  # lint, API fuzzing, a service that would not start) counts as one failure.
  node -e '
    const fs = require("fs"), dir = process.argv[1], rc = Number(process.argv[2]), step = process.argv[3];
    let passed = 0, failed = 0;
    for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      const r = JSON.parse(fs.readFileSync(dir + "/" + f, "utf8"));
      passed += r.numPassedTests; failed += r.numFailedTests + r.numRuntimeErrorTestSuites;
    }
    if (rc !== 0 && failed === 0) failed = 1;
    console.log("");
    console.log(`${passed} passed, ${failed} failed`);
  ' "$RESULTS" "$rc" "$current_step" || echo "0 passed, 1 failed"
  exit $rc
}
trap finish EXIT

step "typecheck" node node_modules/typescript/bin/tsc -p tsconfig.json --noEmit --noCheck false
step "lint" node node_modules/eslint/bin/eslint.js --max-warnings 0 .
step "format check" node node_modules/prettier/bin/prettier.cjs --check --log-level warn .
step "actionlint" bash scripts/actionlint.sh
step "unit tests" jest_project unit
step "api fuzzing" bash scripts/schemathesis.sh
step "toolchain" bash scripts/bootstrap-toolchain.sh
# shellcheck disable=SC1091
source .work/toolchain.env
# The engine tests deploy the tenants of tenants.yaml, so they need a control
# plane without them (for example after `make demo`): start from fresh state.
started_services=1
step "fresh local control plane" bash -c 'bash scripts/local-down.sh --purge >/dev/null && bash scripts/local-up.sh' 
# shellcheck disable=SC1091
source .work/local.env
step "contract tests" jest_project contract --runInBand
step "engine tests" jest_project engine --runInBand
