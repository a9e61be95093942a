#!/usr/bin/env bash
# Lints the GitHub workflows with actionlint, built from its Go module (the
# pinned version below) into a versioned cache directory outside the tree:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/collectverything/actionlint-v<version>/actionlint
# A second run only lints. Usage: scripts/actionlint.sh [workflow files...]
set -euo pipefail
ACTIONLINT_VERSION=1.7.12
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${CV_ACTIONLINT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/collectverything/actionlint-v${ACTIONLINT_VERSION}}"
BIN="$CACHE_DIR/actionlint"

if [ ! -x "$BIN" ]; then
  if ! command -v go >/dev/null 2>&1; then
    echo "actionlint.sh: Go is needed to build actionlint v${ACTIONLINT_VERSION} (go install github.com/rhysd/actionlint/cmd/actionlint)" >&2
    exit 2
  fi
  mkdir -p "$CACHE_DIR"
  echo "actionlint.sh: building actionlint v${ACTIONLINT_VERSION} into $CACHE_DIR" >&2
  GOBIN="$CACHE_DIR" GOTOOLCHAIN="${CV_GOTOOLCHAIN:-local}" GOFLAGS="-buildvcs=false" \
    go install "github.com/rhysd/actionlint/cmd/actionlint@v${ACTIONLINT_VERSION}"
fi

cd "$ROOT"
if [ "$#" -eq 0 ]; then
  set -- .github/workflows/*.yml
fi
"$BIN" -version | head -1
"$BIN" "$@"
echo "actionlint: $# workflow file(s) clean"
