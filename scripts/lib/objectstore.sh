# shellcheck shell=bash
# The S3-compatible object store of the local stack and the tests: the Versity S3
# gateway (github.com/versity/versitygw, Apache-2.0) with its posix backend, on
# loopback only. It holds the region's archive bucket (backups, bucket copies,
# final backups under S3 Object Lock) and export targets. MinIO is AGPL and is
# not used for this.
#
#   bash scripts/lib/objectstore.sh build   build (or reuse) the binary; prints its path
#   bash scripts/lib/objectstore.sh up      build, then start on 127.0.0.1:$OBJECTSTORE_PORT (idempotent)
#   bash scripts/lib/objectstore.sh down    stop the recorded PID only
# scripts/local-up.sh and scripts/local-down.sh source this file and call
# up_objectstore / down_objectstore.
#
# The binary is built from the Go module proxy (tools/versitygw/go.mod) into
#   ${CV_OBJECTSTORE_CACHE_DIR:-~/.cache/collectverything/versitygw}/<version>.<hash>/bin/versitygw
# keyed by the pinned version, the go.mod/go.sum hash and the recipe below, so a
# second run takes no time. Data lives in .work/local/objectstore/{data,versions};
# the root secret in .work/local/objectstore/root-secret (mode 600), passed to the
# server through its environment, never on a command line.

ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
# shellcheck source=scripts/lib/local-common.sh
. "$ROOT/scripts/lib/local-common.sh"

VERSITYGW_VERSION=1.8.0              # tools/versitygw/go.mod
VERSITYGW_RECIPE_REV=1               # bump when the build command below changes
OBJECTSTORE_PORT=17070
OBJECTSTORE_REGION=eu-west-1         # the local stack acts as region eu-west (Pulumi.local.yaml)
OBJECTSTORE_ACCESS_KEY=cv-local-root
OBJECTSTORE_ARCHIVE_BUCKET=cv-archive-eu-west
OBJECTSTORE_DIR="$LOCAL_DIR/objectstore"
OBJECTSTORE_SECRET_FILE="$OBJECTSTORE_DIR/root-secret"

objectstore_cache_dir() {
  local mod="$ROOT/tools/versitygw" hash
  hash="$({ printf 'recipe=%s version=%s\n' "$VERSITYGW_RECIPE_REV" "$VERSITYGW_VERSION"; cat "$mod/go.mod" "$mod/go.sum"; } | sha256sum | cut -c1-12)"
  printf '%s/%s.%s\n' "${CV_OBJECTSTORE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/collectverything/versitygw}" "$VERSITYGW_VERSION" "$hash"
}

# Prints the path of the versitygw binary, building it first if the cache has none.
build_objectstore() {
  local dir bin t0=$SECONDS
  dir="$(objectstore_cache_dir)"; bin="$dir/bin/versitygw"
  if [ -x "$bin" ]; then printf '%s\n' "$bin"; return 0; fi
  command -v go >/dev/null 2>&1 || die "objectstore: go is not installed (needed to build versitygw $VERSITYGW_VERSION)"
  grep -q "github.com/versity/versitygw v$VERSITYGW_VERSION\b" "$ROOT/tools/versitygw/go.mod" \
    || die "objectstore: tools/versitygw/go.mod does not pin versitygw v$VERSITYGW_VERSION"
  mkdir -p "$dir/bin"
  log "objectstore: building versitygw $VERSITYGW_VERSION from the Go module proxy into ${dir/#$HOME/\~}" >&2
  (
    export GOTOOLCHAIN="${CV_GOTOOLCHAIN:-local}" GOFLAGS="-mod=readonly -buildvcs=false" GOWORK=off CGO_ENABLED=0
    go build -C "$ROOT/tools/versitygw" -trimpath \
      -ldflags "-s -w -X main.Version=v$VERSITYGW_VERSION -X main.Build=collectverything" \
      -o "$bin.tmp.$$" github.com/versity/versitygw/cmd/versitygw
  ) >&2 || die "objectstore: go build of versitygw failed"
  mv -f "$bin.tmp.$$" "$bin"
  log "objectstore: built $bin in $((SECONDS - t0))s" >&2
  printf '%s\n' "$bin"
}

objectstore_ready() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$OBJECTSTORE_PORT/" 2>/dev/null | grep -qE '^(200|403)$'; }

up_objectstore() {
  local t0=$SECONDS bin pidfile="$PID_DIR/objectstore.pid" logf="$LOG_DIR/objectstore.log"
  bin="$(build_objectstore)"
  mkdir -p "$OBJECTSTORE_DIR/data" "$OBJECTSTORE_DIR/versions"; chmod 700 "$OBJECTSTORE_DIR"
  ensure_secret_file "$OBJECTSTORE_SECRET_FILE" 40
  if pid_alive "$pidfile" "$OBJECTSTORE_DIR/data" && objectstore_ready; then
    log "objectstore: running (pid $(pid_of "$pidfile")) on 127.0.0.1:$OBJECTSTORE_PORT"
    return 0
  fi
  if pid_alive "$pidfile" "$OBJECTSTORE_DIR/data"; then
    stop_pidfile "$pidfile" "$OBJECTSTORE_DIR/data" objectstore 20
  fi
  port_open "$OBJECTSTORE_PORT" && die "objectstore: 127.0.0.1:$OBJECTSTORE_PORT is already in use by another process"
  log "objectstore: starting versitygw $VERSITYGW_VERSION (posix backend, versioning, object lock) on 127.0.0.1:$OBJECTSTORE_PORT"
  ROOT_ACCESS_KEY_ID="$OBJECTSTORE_ACCESS_KEY" ROOT_SECRET_ACCESS_KEY="$(cat "$OBJECTSTORE_SECRET_FILE")" VGW_REGION="$OBJECTSTORE_REGION" \
    spawn "$pidfile" "$logf" "$bin" --port "127.0.0.1:$OBJECTSTORE_PORT" --quiet \
    posix --versioning-dir "$OBJECTSTORE_DIR/versions" "$OBJECTSTORE_DIR/data"
  if ! wait_until 30 objectstore_ready; then
    log_tail "$logf"; die "objectstore: versitygw did not answer on 127.0.0.1:$OBJECTSTORE_PORT within 30s"
  fi
  log "objectstore: ready (pid $(pid_of "$pidfile"), $((SECONDS - t0))s)"
}

down_objectstore() { stop_pidfile "$PID_DIR/objectstore.pid" "$OBJECTSTORE_DIR/data" objectstore 20; }

# The lines scripts/local-up.sh adds to .work/local.env.
objectstore_env() {
  cat <<EOF
export CV_S3_ENDPOINT="http://127.0.0.1:$OBJECTSTORE_PORT"
export CV_S3_REGION="$OBJECTSTORE_REGION"
export CV_S3_ACCESS_KEY_ID="$OBJECTSTORE_ACCESS_KEY"
export CV_S3_SECRET_ACCESS_KEY_FILE="$OBJECTSTORE_SECRET_FILE"
export CV_ARCHIVE_BUCKET="$OBJECTSTORE_ARCHIVE_BUCKET"
EOF
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-}" in
    build) build_objectstore ;;
    up) ensure_dirs; up_objectstore ;;
    down) down_objectstore ;;
    *) sed -n '7,9p' "$0"; exit 2 ;;
  esac
fi
