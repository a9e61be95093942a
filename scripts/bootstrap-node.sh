#!/usr/bin/env bash
# Builds the local node's runtime from the Go module proxy and Debian packages only
# (no container registry, no GitHub download):
#   containerd, ctr, containerd-shim-runc-v2  tools/containerd  (github.com/containerd/containerd/v2)
#   runc                                      tools/runc        (github.com/opencontainers/runc, cgo + Debian libseccomp-dev)
#   bridge, host-local, loopback, portmap     tools/cni         (github.com/containernetworking/plugins)
#   mkimage, pause, probe                     tools/images      (ours, github.com/google/go-containerregistry)
# and the two images the node needs, made by mkimage:
#   localhost/cv/pause:$NODE_IMAGES_TAG   the pod sandbox (containerd's sandbox image)
#   localhost/cv/probe:$NODE_IMAGES_TAG   the traffic probe (user 65532, Pod Security "restricted" compliant)
# into a versioned cache directory outside the work tree:
#   ${CV_NODE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/collectverything/node}/<key>/
#     bin/{containerd,ctr,containerd-shim-runc-v2,runc,mkimage,probe}
#     cni/bin/{bridge,host-local,loopback,portmap}
#     images/{pause,probe}.tar (+ .id: the image config digest)
#     env.sh        CV_NODE_HOME, CV_NODE_IMAGES_TAG and the versions, for scripts/lib/local-node.sh
# <key> encodes the pinned versions plus a hash of tools/{containerd,runc,cni,images} and this recipe.
# kubelet, kube-proxy, kube-scheduler and kubectl come from scripts/bootstrap-toolchain.sh (tools/kube).
#
# Idempotent: a step whose output exists is skipped, so a second run takes well under a second.
# stdout is only the cache directory <key>/; progress goes to stderr.
# With --cached nothing is built: it prints the directory if the cache is complete, else exits 1.
set -euo pipefail

CONTAINERD_VERSION=2.4.2   # tools/containerd
RUNC_VERSION=1.5.3         # tools/runc
CNI_PLUGINS_VERSION=1.10.0 # tools/cni
GGCR_VERSION=0.22.1        # tools/images: github.com/google/go-containerregistry
NODE_IMAGES_TAG=1          # tag of localhost/cv/{pause,probe}; bump when the probe's behaviour changes
NODE_RECIPE_REV=1          # bump when the build commands below change

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR=$ROOT/tools
CACHE_ROOT=${CV_NODE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/collectverything/node}

export GOTOOLCHAIN=${CV_GOTOOLCHAIN:-local}
export GOFLAGS="-mod=readonly -buildvcs=false"
export GOWORK=off

now_ms() { date +%s%3N; }
T_START=$(now_ms)
log() { printf '[bootstrap-node] %s\n' "$*" >&2; }
die() { printf '[bootstrap-node] ERROR: %s\n' "$*" >&2; exit 1; }
fmt_ms() { printf '%d.%03ds' $(($1 / 1000)) $(($1 % 1000)); }
declare -a SUMMARY=()
step_begin() { STEP_NAME=$1; STEP_T0=$(now_ms); }
step_end() {
  local dt=$(($(now_ms) - STEP_T0))
  SUMMARY+=("$(printf '%-28s %10s  %s' "$STEP_NAME" "$(fmt_ms "$dt")" "$1")")
  [ "$1" = cached ] || log "    $STEP_NAME: $1 ($(fmt_ms "$dt"))"
}

pin() { # <module dir> <module path> <version>
  grep -q "$2 v$3\b" "$TOOLS_DIR/$1/go.mod" || die "tools/$1/go.mod does not pin $2 v$3"
}
pin containerd github.com/containerd/containerd/v2 "$CONTAINERD_VERSION"
pin runc github.com/opencontainers/runc "$RUNC_VERSION"
pin cni github.com/containernetworking/plugins "$CNI_PLUGINS_VERSION"
pin images github.com/google/go-containerregistry "$GGCR_VERSION"

KEY_HASH=$(
  {
    printf 'recipe=%s containerd=%s runc=%s cni=%s ggcr=%s images=%s\n' "$NODE_RECIPE_REV" "$CONTAINERD_VERSION" \
      "$RUNC_VERSION" "$CNI_PLUGINS_VERSION" "$GGCR_VERSION" "$NODE_IMAGES_TAG"
    for m in containerd runc cni images; do printf '== %s\n' "$m"; cat "$TOOLS_DIR/$m/go.mod" "$TOOLS_DIR/$m/go.sum"; done
    find "$TOOLS_DIR/images" -name '*.go' | LC_ALL=C sort | xargs cat
  } | sha256sum | cut -c1-12
)
KEY_DIR=$CACHE_ROOT/containerd-$CONTAINERD_VERSION.runc-$RUNC_VERSION.cni-$CNI_PLUGINS_VERSION.$KEY_HASH
BIN=$KEY_DIR/bin
CNI_BIN=$KEY_DIR/cni/bin
IMAGES=$KEY_DIR/images

# Fast path: everything is there.
complete() {
  local f
  for f in "$BIN"/{containerd,ctr,containerd-shim-runc-v2,runc,mkimage,probe} "$CNI_BIN"/{bridge,host-local,loopback,portmap}; do
    [ -x "$f" ] || return 1
  done
  [ -s "$IMAGES/pause.id" ] && [ -s "$IMAGES/probe.id" ] && [ -s "$KEY_DIR/env.sh" ]
}
if complete; then
  printf '%s\n' "$KEY_DIR"
  exit 0
fi
# --cached: only say where a complete cache is (local-down must not start a build).
[ "${1:-}" != --cached ] || exit 1

mkdir -p "$BIN" "$CNI_BIN" "$IMAGES"
exec 9>"$KEY_DIR/.lock"
flock 9
command -v go >/dev/null 2>&1 || die "go is not installed (Go >= 1.26.8 is needed: tools/cni requires it)"
log "cache: $KEY_DIR"

go_build() { # <module dir> <out> <pkg> [go build flags...]
  local mod=$1 out=$2 pkg=$3
  shift 3
  [ -x "$out" ] && return 0
  log "    go build -C tools/$mod -trimpath $* -o ${out#"$KEY_DIR"/} $pkg"
  go build -C "$TOOLS_DIR/$mod" -trimpath "$@" -o "$out.tmp.$$" "$pkg"
  mv -f "$out.tmp.$$" "$out"
}
built_or_cached() { # <outputs...>: "cached" when all exist before the step
  local f
  for f in "$@"; do [ -x "$f" ] || { echo built; return; }; done
  echo cached
}

# ---------------------------------------------------------------------------
step_begin "containerd $CONTAINERD_VERSION"
st=$(built_or_cached "$BIN"/{containerd,ctr,containerd-shim-runc-v2})
ctd_pkg=github.com/containerd/containerd/v2
ctd_ldflags="-s -w -X $ctd_pkg/version.Version=v$CONTAINERD_VERSION -X $ctd_pkg/version.Package=$ctd_pkg -X $ctd_pkg/version.Revision=collectverything"
for c in containerd ctr containerd-shim-runc-v2; do
  CGO_ENABLED=0 go_build containerd "$BIN/$c" "$ctd_pkg/cmd/$c" \
    -tags "no_btrfs no_devmapper no_zfs no_tracing urfave_cli_no_docs" -ldflags "$ctd_ldflags"
done
step_end "$st"

step_begin "runc $RUNC_VERSION"
st=$(built_or_cached "$BIN/runc")
if [ ! -x "$BIN/runc" ]; then
  if ! pkg-config --exists libseccomp 2>/dev/null || ! command -v gcc >/dev/null; then
    # shellcheck source=scripts/lib/local-common.sh
    (. "$ROOT/scripts/lib/local-common.sh" && apt_install libseccomp-dev pkg-config gcc libc6-dev) >&2
  fi
  # libpathrs (a Rust library, not packaged by Debian 12) is left out: runc then uses its Go pathrs-lite.
  CGO_ENABLED=1 go_build runc "$BIN/runc" github.com/opencontainers/runc \
    -tags "seccomp urfave_cli_no_docs" -ldflags "-s -w -X main.gitCommit=v$RUNC_VERSION"
fi
step_end "$st"

step_begin "cni plugins $CNI_PLUGINS_VERSION"
st=$(built_or_cached "$CNI_BIN"/{bridge,host-local,loopback,portmap})
for p in ipam/host-local main/bridge main/loopback meta/portmap; do
  CGO_ENABLED=0 go_build cni "$CNI_BIN/${p#*/}" "github.com/containernetworking/plugins/plugins/$p" \
    -ldflags "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=v$CNI_PLUGINS_VERSION"
done
step_end "$st"

step_begin "mkimage, pause, probe"
st=$(built_or_cached "$BIN"/{mkimage,pause,probe})
for c in mkimage pause probe; do
  CGO_ENABLED=0 go_build images "$BIN/$c" "./cmd/$c" -ldflags "-s -w"
done
step_end "$st"

# ---------------------------------------------------------------------------
# Images: one layer each, the static binary only (plus an empty /tmp).
mk() { # <name> <binary> <user>
  local n=$1 b=$2 u=$3 rootfs="$IMAGES/$1.rootfs"
  [ -s "$IMAGES/$n.id" ] && [ -s "$IMAGES/$n.tar" ] && return 0
  rm -rf "$rootfs"; mkdir -p "$rootfs/tmp"; chmod 1777 "$rootfs/tmp"
  cp "$BIN/$b" "$rootfs/$b"; chmod 755 "$rootfs/$b"
  "$BIN/mkimage" --rootfs "$rootfs" --name "localhost/cv/$n:$NODE_IMAGES_TAG" --entrypoint "/$b" --user "$u" \
    --out "$IMAGES/$n.tar" >"$IMAGES/$n.id.tmp"
  mv -f "$IMAGES/$n.id.tmp" "$IMAGES/$n.id"
  rm -rf "$rootfs"
}
step_begin "images"
st=built; [ -s "$IMAGES/pause.id" ] && [ -s "$IMAGES/probe.id" ] && st=cached
mk pause pause 65535
mk probe probe 65532
step_end "$st"
cat >"$KEY_DIR/env.sh.tmp" <<EOF
# Generated by scripts/bootstrap-node.sh; sourced by scripts/lib/local-node.sh.
CV_NODE_HOME='$KEY_DIR'
CV_NODE_IMAGES_TAG='$NODE_IMAGES_TAG'
CV_CONTAINERD_VERSION='$CONTAINERD_VERSION'
CV_RUNC_VERSION='$RUNC_VERSION'
CV_CNI_PLUGINS_VERSION='$CNI_PLUGINS_VERSION'
EOF
mv -f "$KEY_DIR/env.sh.tmp" "$KEY_DIR/env.sh"
complete || die "incomplete cache $KEY_DIR after the build"

log "summary ($(fmt_ms $(($(now_ms) - T_START))) total):"
for line in "${SUMMARY[@]}"; do log "  $line"; done
printf '%s\n' "$KEY_DIR"
