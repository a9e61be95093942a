#!/usr/bin/env bash
# Prints the path of npm's CLI script, so npm can run on the Node chosen by
# ensure-node.sh (npm's own launcher would pick the system Node).
set -euo pipefail
npm_bin="$(command -v npm)" || { echo "npm-cli: npm is not installed" >&2; exit 1; }
cli="$(dirname "$(readlink -f "$npm_bin")")/npm-cli.js"
[ -f "$cli" ] || { echo "npm-cli: cannot find npm-cli.js next to $npm_bin" >&2; exit 1; }
echo "$cli"
