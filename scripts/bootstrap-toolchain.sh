#!/usr/bin/env bash
# Reproducible toolchain bootstrap for the Collect & Verything tenant platform.
#
# Builds, from the Go module proxy only, the binaries pinned under tools/:
#   pulumi                   tools/pulumi                  (github.com/pulumi/pulumi/pkg/v3)
#   pulumi-language-nodejs   tools/pulumi-language-nodejs  (github.com/pulumi/pulumi/sdk/v3)
#   pulumi-resource-kubernetes (plugin)
#                            tools/kubernetes-provider     (github.com/pulumi/pulumi-kubernetes/provider/v4)
#   kube-apiserver           tools/kube                    (k8s.io/kubernetes)
#   kube-controller-manager  tools/kube                    (k8s.io/kubernetes)
#   kube-scheduler, kube-proxy, kubelet, kubectl
#                            tools/kube                    (k8s.io/kubernetes; the local node, scripts/lib/local-node.sh)
#   etcd                     tools/etcd                    (go.etcd.io/etcd/server/v3)
#
# into a versioned cache directory outside the work tree:
#   ${CV_TOOLCHAIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/collectverything/toolchain}/<key>/
#     bin/{pulumi,pulumi-language-nodejs,kube-apiserver,kube-controller-manager,kube-scheduler,kube-proxy,kubelet,kubectl,etcd}
#     pulumi-home/                 PULUMI_HOME; plugins/resource-kubernetes-v<ver>/ inside
#     plugin-src/                  scratch for the plugin build, removed once it is installed
#     env.sh                       the environment to source
# and writes <repo>/.work/toolchain.env (same content), so Makefile targets can
# `. .work/toolchain.env`.  <key> encodes the pinned versions plus a hash of the
# tools/*/go.mod, tools/*/go.sum files and the build recipe below.
#
# Idempotent: a step whose output exists is skipped, so a second run takes seconds.
# A suitable pulumi (>= PULUMI_MIN_VERSION) already on PATH is used instead of
# building one; likewise kube-apiserver/kube-controller-manager/etcd of the
# pinned minor version.
#
# Environment knobs:
#   CV_TOOLCHAIN_DIR        cache root (see above)
#   CV_TOOLCHAIN_NO_PATH=1  ignore binaries found on PATH, always use the cache
#   CV_GOTOOLCHAIN          value for GOTOOLCHAIN (default: local)
#
# The env file (<key>/env.sh == .work/toolchain.env) is POSIX sh and exports:
#   PATH                    <key>/bin prepended (once)
#   PULUMI_HOME             <key>/pulumi-home (or the PATH pulumi's own home, when that
#                           pulumi already had the kubernetes plugin)
#   PULUMI_SKIP_UPDATE_CHECK=true
#   CV_TOOLCHAIN_HOME       <key>
#   CV_PULUMI_VERSION, CV_PULUMI_KUBERNETES_VERSION, CV_KUBE_VERSION, CV_ETCD_VERSION
# stdout of this script is only the path of .work/toolchain.env; progress goes to stderr.
set -euo pipefail

# ---------------------------------------------------------------------------
# Pins. They must agree with tools/*/go.mod (checked below).
PULUMI_VERSION=3.274.1              # tools/pulumi: github.com/pulumi/pulumi/pkg/v3
PULUMI_MIN_VERSION=3.274.0          # a pulumi on PATH at least this new is used as is
LANGHOST_VERSION=3.68.0             # tools/pulumi-language-nodejs: github.com/pulumi/pulumi/sdk/v3 (see go.mod)
K8S_PROVIDER_VERSION=4.25.0         # tools/kubernetes-provider; == npm @pulumi/kubernetes version
KUBE_VERSION=1.34.4                 # tools/kube: k8s.io/kubernetes
ETCD_VERSION=3.6.16                 # tools/etcd: go.etcd.io/etcd/server/v3
# Bump when the build commands below change, so that the cache key changes.
RECIPE_REV=1

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR=$REPO_ROOT/tools
CACHE_ROOT=${CV_TOOLCHAIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/collectverything/toolchain}

export GOTOOLCHAIN=${CV_GOTOOLCHAIN:-local}
export GOFLAGS="-mod=readonly -buildvcs=false"
export GOWORK=off
# GOPATH / GOCACHE stay at their defaults so that repeated builds share the go build cache.

# ---------------------------------------------------------------------------
# Output helpers.
now_ms() { date +%s%3N; }
T_START=$(now_ms)
declare -a SUMMARY=()
declare -a FROM_PATH=() # binaries used from PATH instead of the cache (noted in the env file)
log() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { printf '[bootstrap] ERROR: %s\n' "$*" >&2; exit 1; }
fmt_ms() { local ms=$1; printf '%d.%03ds' $((ms / 1000)) $((ms % 1000)); }
step_begin() { STEP_NAME=$1; STEP_T0=$(now_ms); log "==> $STEP_NAME"; }
step_end() { # $1 = status word (built / cached / from PATH / ...)
  local dt=$(( $(now_ms) - STEP_T0 ))
  SUMMARY+=("$(printf '%-32s %10s  %s' "$STEP_NAME" "$(fmt_ms "$dt")" "$1")")
  log "    $STEP_NAME: $1 ($(fmt_ms "$dt"))"
}

# version_ge A B: true when dotted version A >= B (numeric fields, leading v ignored).
version_ge() {
  local a=${1#v} b=${2#v}
  a=${a%%[-+]*}; b=${b%%[-+]*}
  local IFS=.
  local -a x=($a) y=($b)
  local i
  for i in 0 1 2; do
    local p=${x[i]:-0} q=${y[i]:-0}
    if ((10#$p > 10#$q)); then return 0; fi
    if ((10#$p < 10#$q)); then return 1; fi
  done
  return 0
}

# find_on_path NAME: first executable NAME on PATH outside the toolchain cache.
find_on_path() {
  [[ ${CV_TOOLCHAIN_NO_PATH:-0} == 1 ]] && return 1
  local dir
  local IFS=:
  for dir in $PATH; do
    [[ -n $dir ]] || continue
    case "$dir/" in "$CACHE_ROOT"/*) continue ;; esac
    if [[ -x $dir/$1 && ! -d $dir/$1 ]]; then
      printf '%s\n' "$dir/$1"
      return 0
    fi
  done
  return 1
}

# go_build MODULE_DIR OUT PKG [go build flags...]: atomic build of one binary.
go_build() {
  local mod=$1 out=$2 pkg=$3
  shift 3
  mkdir -p "$(dirname "$out")"
  local tmp="$out.tmp.$$"
  log "    go build -C ${mod#"$REPO_ROOT"/} -trimpath $(printf '%q ' "$@")-o $out $pkg"
  go build -C "$mod" -trimpath "$@" -o "$tmp" "$pkg"
  mv -f "$tmp" "$out"
}

# ---------------------------------------------------------------------------
step_begin "preflight"
command -v go >/dev/null 2>&1 || die "go is not installed (Go >= 1.26.6 is needed)"
GO_VER=$(go env GOVERSION)
log "    $(go version); GOTOOLCHAIN=$GOTOOLCHAIN"
for m in pulumi pulumi-language-nodejs kubernetes-provider kube etcd; do
  [[ -f $TOOLS_DIR/$m/go.mod && -f $TOOLS_DIR/$m/go.sum ]] || die "missing $TOOLS_DIR/$m/go.{mod,sum}"
done
# The pins above must be the versions tools/*/go.mod require.
grep -q "github.com/pulumi/pulumi/pkg/v3 v$PULUMI_VERSION\b" "$TOOLS_DIR/pulumi/go.mod" || die "tools/pulumi/go.mod does not pin pulumi v$PULUMI_VERSION"
grep -q "github.com/pulumi/pulumi/sdk/v3 v$LANGHOST_VERSION\b" "$TOOLS_DIR/pulumi-language-nodejs/go.mod" || die "tools/pulumi-language-nodejs/go.mod does not pin sdk/v3 v$LANGHOST_VERSION"
grep -q "github.com/pulumi/pulumi-kubernetes/sdk/v4 v$K8S_PROVIDER_VERSION\b" "$TOOLS_DIR/kubernetes-provider/go.mod" || die "tools/kubernetes-provider/go.mod does not pin sdk/v4 v$K8S_PROVIDER_VERSION"
grep -q "k8s.io/kubernetes v$KUBE_VERSION\b" "$TOOLS_DIR/kube/go.mod" || die "tools/kube/go.mod does not pin k8s.io/kubernetes v$KUBE_VERSION"
grep -q "go.etcd.io/etcd/server/v3 v$ETCD_VERSION\b" "$TOOLS_DIR/etcd/go.mod" || die "tools/etcd/go.mod does not pin etcd v$ETCD_VERSION"

KEY_HASH=$(
  {
    printf 'recipe=%s pulumi=%s langhost=%s k8sprovider=%s kube=%s etcd=%s\n' \
      "$RECIPE_REV" "$PULUMI_VERSION" "$LANGHOST_VERSION" "$K8S_PROVIDER_VERSION" "$KUBE_VERSION" "$ETCD_VERSION"
    for m in pulumi pulumi-language-nodejs kubernetes-provider kube etcd; do
      printf '== %s\n' "$m"
      cat "$TOOLS_DIR/$m/go.mod" "$TOOLS_DIR/$m/go.sum"
    done
  } | sha256sum | cut -c1-12
)
KEY="pulumi-$PULUMI_VERSION.k8s-$K8S_PROVIDER_VERSION.kube-$KUBE_VERSION.etcd-$ETCD_VERSION.$KEY_HASH"
KEY_DIR=$CACHE_ROOT/$KEY
BIN_DIR=$KEY_DIR/bin
CACHE_PULUMI_HOME=$KEY_DIR/pulumi-home
mkdir -p "$BIN_DIR" "$CACHE_PULUMI_HOME"
log "    cache: $KEY_DIR"

# One bootstrap at a time per key (two shells, or make -j).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$KEY_DIR/.lock"
  if ! flock -n 9; then
    log "    another bootstrap holds $KEY_DIR/.lock; waiting"
    flock 9
  fi
fi
step_end "ok ($GO_VER)"

# ---------------------------------------------------------------------------
# Pulumi CLI + Node.js language host: cache, else a suitable one on PATH, else build.
PULUMI_BIN=""          # the pulumi binary the env will resolve
PULUMI_HOME_OUT=$CACHE_PULUMI_HOME
USE_PATH_PULUMI=0

pulumi_version_of() { "$1" version 2>/dev/null | head -n1 | tr -d '[:space:]'; }

step_begin "pulumi $PULUMI_VERSION"
if [[ -x $BIN_DIR/pulumi ]]; then
  PULUMI_BIN=$BIN_DIR/pulumi
  step_end "cached"
elif p=$(find_on_path pulumi) && v=$(pulumi_version_of "$p") && [[ -n $v ]] && version_ge "$v" "$PULUMI_MIN_VERSION" \
  && find_on_path pulumi-language-nodejs >/dev/null; then
  PULUMI_BIN=$p
  USE_PATH_PULUMI=1
  FROM_PATH+=("$p" "$(find_on_path pulumi-language-nodejs)")
  step_end "from PATH: $p ($v)"
else
  go_build "$TOOLS_DIR/pulumi" "$BIN_DIR/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    -tags osusergo,grpcnotrace \
    -ldflags "-w -s -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION"
  PULUMI_BIN=$BIN_DIR/pulumi
  step_end "built"
fi

step_begin "pulumi-language-nodejs"
if [[ $USE_PATH_PULUMI == 1 ]]; then
  step_end "from PATH: $(find_on_path pulumi-language-nodejs)"
elif [[ -x $BIN_DIR/pulumi-language-nodejs ]]; then
  step_end "cached"
else
  go_build "$TOOLS_DIR/pulumi-language-nodejs" "$BIN_DIR/pulumi-language-nodejs" \
    github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs \
    -tags osusergo,grpcnotrace \
    -ldflags "-w -s -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$LANGHOST_VERSION"
  step_end "built"
fi

# ---------------------------------------------------------------------------
# Kubernetes provider plugin, installed into a PULUMI_HOME.
step_begin "kubernetes plugin $K8S_PROVIDER_VERSION"
PLUGIN_REL=plugins/resource-kubernetes-v$K8S_PROVIDER_VERSION/pulumi-resource-kubernetes
USER_PULUMI_HOME=${PULUMI_HOME:-$HOME/.pulumi}
if [[ $USE_PATH_PULUMI == 1 && -x $USER_PULUMI_HOME/$PLUGIN_REL ]]; then
  # The pulumi on PATH already has the plugin: keep its PULUMI_HOME, build nothing.
  PULUMI_HOME_OUT=$USER_PULUMI_HOME
  step_end "from $USER_PULUMI_HOME"
elif [[ -x $CACHE_PULUMI_HOME/$PLUGIN_REL ]]; then
  step_end "cached"
else
  # Upstream's main package embeds schema-embed.json and terraform-mapping-embed.json,
  # made by `go generate` in its source tree. The module cache is read-only (and
  # `go build -overlay` may not replace files in it), so tools/kubernetes-provider
  # carries the same main package and gets the two files, made by its genembed
  # command from the module's schema.json / terraform-mapping.json, via -overlay.
  PLUGIN_WORK=$KEY_DIR/plugin-src
  PLUGIN_SRC=$PLUGIN_WORK/pulumi-resource-kubernetes
  PROVIDER_MODULE=github.com/pulumi/pulumi-kubernetes/provider/v4
  PROVIDER_MAIN_DIR=$TOOLS_DIR/kubernetes-provider/cmd/pulumi-resource-kubernetes
  if [[ ! -x $PLUGIN_SRC ]]; then
    go -C "$TOOLS_DIR/kubernetes-provider" mod download "$PROVIDER_MODULE"
    provider_dir=$(go -C "$TOOLS_DIR/kubernetes-provider" list -m -f '{{.Dir}}' "$PROVIDER_MODULE")
    [[ -f $provider_dir/cmd/pulumi-resource-kubernetes/schema.json ]] || die "no schema.json in $provider_dir"
    go_build "$TOOLS_DIR/kubernetes-provider" "$PLUGIN_WORK/genembed" ./genembed
    log "    genembed -version $K8S_PROVIDER_VERSION"
    "$PLUGIN_WORK/genembed" -version "$K8S_PROVIDER_VERSION" \
      -src "$provider_dir/cmd/pulumi-resource-kubernetes" -out "$PLUGIN_WORK/embed"
    printf '{"Replace":{"%s":"%s","%s":"%s"}}\n' \
      "$PROVIDER_MAIN_DIR/schema-embed.json" "$PLUGIN_WORK/embed/schema-embed.json" \
      "$PROVIDER_MAIN_DIR/terraform-mapping-embed.json" "$PLUGIN_WORK/embed/terraform-mapping-embed.json" \
      >"$PLUGIN_WORK/overlay.json"
    CGO_ENABLED=0 go_build "$TOOLS_DIR/kubernetes-provider" "$PLUGIN_SRC" ./cmd/pulumi-resource-kubernetes \
      -overlay "$PLUGIN_WORK/overlay.json" \
      -ldflags "-s -w -X $PROVIDER_MODULE/pkg/version.Version=$K8S_PROVIDER_VERSION"
  fi
  log "    pulumi plugin install resource kubernetes $K8S_PROVIDER_VERSION --file $PLUGIN_SRC"
  PULUMI_HOME=$CACHE_PULUMI_HOME PULUMI_SKIP_UPDATE_CHECK=true \
    "$PULUMI_BIN" plugin install resource kubernetes "$K8S_PROVIDER_VERSION" --file "$PLUGIN_SRC" --non-interactive >&2
  [[ -x $CACHE_PULUMI_HOME/$PLUGIN_REL ]] || die "plugin install did not create $CACHE_PULUMI_HOME/$PLUGIN_REL"
  rm -rf "$PLUGIN_WORK" # the installed copy is what counts; the go build cache keeps rebuilds cheap
  step_end "built + installed"
fi

# ---------------------------------------------------------------------------
# kube-apiserver, kube-controller-manager and etcd: cache, else same minor
# version on PATH, else build. (The controller-manager is what makes a bare API
# server behave like a cluster: default ServiceAccounts, namespace deletion,
# ResourceQuota status; scripts/local-up.sh runs it.) kube-scheduler, kube-proxy,
# kubelet and kubectl are the local node's (scripts/lib/local-node.sh); they share
# the go build cache with the API server, so they cost little more than their links.
kube_ldflags="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
  kube_ldflags+=" -X $pkg.gitVersion=v$KUBE_VERSION -X $pkg.gitMajor=${KUBE_VERSION%%.*}"
  kube_ldflags+=" -X $pkg.gitMinor=$(cut -d. -f2 <<<"$KUBE_VERSION")"
done
for kube_cmd in kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubectl; do
  step_begin "$kube_cmd $KUBE_VERSION"
  if [[ -x $BIN_DIR/$kube_cmd ]]; then
    step_end "cached"
  elif p=$(find_on_path "$kube_cmd") && "$p" --version 2>/dev/null | grep -q "Kubernetes v${KUBE_VERSION%.*}\."; then
    FROM_PATH+=("$p")
    step_end "from PATH: $p"
  else
    CGO_ENABLED=0 go_build "$TOOLS_DIR/kube" "$BIN_DIR/$kube_cmd" "k8s.io/kubernetes/cmd/$kube_cmd" \
      -tags selinux,notest,grpcnotrace -ldflags "$kube_ldflags"
    step_end "built"
  fi
done

step_begin "etcd $ETCD_VERSION"
if [[ -x $BIN_DIR/etcd ]]; then
  step_end "cached"
elif p=$(find_on_path etcd) && "$p" --version 2>/dev/null | grep -q "etcd Version: ${ETCD_VERSION%.*}\."; then
  FROM_PATH+=("$p")
  step_end "from PATH: $p"
else
  CGO_ENABLED=0 go_build "$TOOLS_DIR/etcd" "$BIN_DIR/etcd" go.etcd.io/etcd/server/v3
  step_end "built"
fi

# ---------------------------------------------------------------------------
# The local node's runtime (containerd, runc, CNI plugins, images): its own cache, see scripts/bootstrap-node.sh.
step_begin "node runtime"
if [[ ${CV_LOCAL_NODE:-1} == 0 ]]; then
  step_end "skipped (CV_LOCAL_NODE=0)"
else
  node_home=$(bash "$REPO_ROOT/scripts/bootstrap-node.sh") || die "scripts/bootstrap-node.sh failed"
  step_end "$node_home"
fi

# ---------------------------------------------------------------------------
step_begin "env files"
write_env() {
  echo "# Generated by scripts/bootstrap-toolchain.sh; do not edit. Source it: . .work/toolchain.env"
  echo "# toolchain key: $KEY"
  if ((${#FROM_PATH[@]})); then
    echo "# Taken from the PATH this was generated with (so that PATH must still hold them):"
    printf '#   %s\n' "${FROM_PATH[@]}"
  fi
  cat <<EOF
CV_TOOLCHAIN_HOME='$KEY_DIR'
case ":\${PATH}:" in
  *':$BIN_DIR:'*) ;;
  *) PATH='$BIN_DIR':"\${PATH}" ;;
esac
PULUMI_HOME='$PULUMI_HOME_OUT'
PULUMI_SKIP_UPDATE_CHECK=true
CV_PULUMI_VERSION='$PULUMI_VERSION'
CV_PULUMI_KUBERNETES_VERSION='$K8S_PROVIDER_VERSION'
CV_KUBE_VERSION='$KUBE_VERSION'
CV_ETCD_VERSION='$ETCD_VERSION'
export CV_TOOLCHAIN_HOME PATH PULUMI_HOME PULUMI_SKIP_UPDATE_CHECK
export CV_PULUMI_VERSION CV_PULUMI_KUBERNETES_VERSION CV_KUBE_VERSION CV_ETCD_VERSION
EOF
}
write_env >"$KEY_DIR/env.sh.tmp" && mv -f "$KEY_DIR/env.sh.tmp" "$KEY_DIR/env.sh"
mkdir -p "$REPO_ROOT/.work"
cp "$KEY_DIR/env.sh" "$REPO_ROOT/.work/toolchain.env.tmp" && mv -f "$REPO_ROOT/.work/toolchain.env.tmp" "$REPO_ROOT/.work/toolchain.env"
step_end "$KEY_DIR/env.sh, .work/toolchain.env"

# ---------------------------------------------------------------------------
log ""
log "Summary ($(fmt_ms $(( $(now_ms) - T_START ))) total):"
for line in "${SUMMARY[@]}"; do log "  $line"; done
log ""
log "Toolchain ready. Use it with:  . .work/toolchain.env"
# stdout carries only the env file path, for callers: . "$(scripts/bootstrap-toolchain.sh)"
printf '%s\n' "$REPO_ROOT/.work/toolchain.env"
