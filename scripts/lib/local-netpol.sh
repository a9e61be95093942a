# shellcheck shell=bash
# NetworkPolicy enforcement and cluster DNS of the local node (issue 11):
#   - kube-router v2.1.0, only its firewall controller (--run-firewall=true
#     --run-router=false --run-service-proxy=false): the NetworkPolicies become
#     iptables chains (KUBE-ROUTER-*, KUBE-NWPLCY-*, KUBE-POD-FW-*) and ipsets
#     (KUBE-SRC-*, KUBE-DST-*); it runs on the host, by recorded PID;
#   - CoreDNS v1.15.0, the cluster DNS, as a pod in kube-system (the probe of the
#     node image set, a static binary copied into an image with tools/images mkimage).
#
#   bash scripts/lib/local-netpol.sh build     build (or reuse) both binaries; prints their paths
#   bash scripts/lib/local-netpol.sh up        start kube-router (idempotent); CoreDNS once the node runs pods
#   bash scripts/lib/local-netpol.sh down      stop kube-router by its PID; remove only its chains and ipsets
#   bash scripts/lib/local-netpol.sh check     what the kernel offers (iptables, ipset, conntrack, nftables, NFQUEUE)
# scripts/local-up.sh and scripts/local-down.sh source this file and call up_netpol / down_netpol.
#
# Binaries are built from the Go module proxy (tools/kube-router, tools/coredns) into
#   ${CV_NETPOL_CACHE_DIR:-~/.cache/collectverything/netpol}/<name>-<version>.<hash>/bin/<name>
# keyed by the pinned version, the go.mod/go.sum hash and the recipe, so a second run is instant.

ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
# shellcheck source=scripts/lib/local-common.sh
. "$ROOT/scripts/lib/local-common.sh"

KUBE_ROUTER_VERSION=2.1.0            # tools/kube-router/go.mod
COREDNS_VERSION=1.15.0               # tools/coredns/go.mod
NETPOL_RECIPE_REV=1                  # bump when a build command below changes
NETPOL_DIR="$LOCAL_DIR/netpol"
# Debian packages: what kube-router shells out to (iptables-nft, iptables-save/-restore, ipset), conntrack, nft, socat (the API relay).
NETPOL_PKGS=(iptables ipset conntrack nftables socat)

netpol_cache_dir() { # <name> <version>
  local mod="$ROOT/tools/$1" hash
  hash="$({ printf 'recipe=%s %s=%s\n' "$NETPOL_RECIPE_REV" "$1" "$2"; cat "$mod/go.mod" "$mod/go.sum"; cat "$mod"/*.go 2>/dev/null || true; } | sha256sum | cut -c1-12)"
  printf '%s/%s-%s.%s\n' "${CV_NETPOL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/collectverything/netpol}" "$1" "$2" "$hash"
}

# _netpol_go_build <tools dir name> <version> <binary> <package> <ldflags> [<module>]: prints the binary's path.
# <module> (default: <package> up to /cmd/) is the upstream module go.mod must pin at <version>.
_netpol_go_build() {
  local name=$1 version=$2 binary=$3 pkg=$4 ldflags=$5 module=${6:-${4%%/cmd/*}} dir bin t0=$SECONDS
  dir="$(netpol_cache_dir "$name" "$version")"; bin="$dir/bin/$binary"
  if [ -x "$bin" ]; then printf '%s\n' "$bin"; return 0; fi
  command -v go >/dev/null 2>&1 || die "netpol: go is not installed (needed to build $binary $version)"
  grep -q "$module v$version\b" "$ROOT/tools/$name/go.mod" \
    || die "netpol: tools/$name/go.mod does not pin $module v$version"
  mkdir -p "$dir/bin"
  log "netpol: building $binary $version from the Go module proxy into ${dir/#$HOME/\~}" >&2
  (
    export GOTOOLCHAIN="${CV_GOTOOLCHAIN:-local}" GOFLAGS="-mod=readonly -buildvcs=false" GOWORK=off CGO_ENABLED=0
    go build -C "$ROOT/tools/$name" -trimpath -ldflags "-s -w $ldflags" -o "$bin.tmp.$$" "$pkg"
  ) >&2 || die "netpol: go build of $binary failed"
  mv -f "$bin.tmp.$$" "$bin"
  log "netpol: built $bin in $((SECONDS - t0))s" >&2
  printf '%s\n' "$bin"
}

build_kube_router() {
  _netpol_go_build kube-router "$KUBE_ROUTER_VERSION" kube-router github.com/cloudnativelabs/kube-router/v2/cmd/kube-router \
    "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=v$KUBE_ROUTER_VERSION -X github.com/cloudnativelabs/kube-router/v2/pkg/version.BuildDate=collectverything"
}

build_coredns() {
  # tools/coredns/main.go: CoreDNS with the Corefile's plugins only (the stock main links every plugin).
  _netpol_go_build coredns "$COREDNS_VERSION" coredns . "-X github.com/coredns/coredns/coremain.GitCommit=v$COREDNS_VERSION" github.com/coredns/coredns
}

# ---- runtime --------------------------------------------------------------------
# Everything below needs the node (scripts/lib/local-node.sh, sourced before this file) and root.
NETPOL_APIRELAY_PORT=16443                 # on $NODE_IP: CoreDNS's way to the API server (which binds 127.0.0.1 only)
NETPOL_DNS_IP=10.96.0.10                   # == NODE_CLUSTER_DNS, the kubelet's clusterDNS
# Tagged with its build's cache key: a changed build (tools/coredns) is imported and rolled out, never the stale image.
NETPOL_COREDNS_CACHE="$(netpol_cache_dir coredns "$COREDNS_VERSION")"
NETPOL_COREDNS_IMAGE="localhost/cv/coredns:$COREDNS_VERSION-${NETPOL_COREDNS_CACHE##*.}"
# The external destinations: two network namespaces, each behind a point-to-point veth that routes exactly one
# address into it (a UDP server on an address that is not its namespace's first one would answer from the wrong
# source). Both in TEST-NET-2 (RFC 5737), /32 each, so nothing else on the machine is captured: check_claimed_ranges
# refuses an address the machine needs outside. The traffic test lists the first in the allow-list, not the second
# (same /24: the /32 is what admits it).
NETPOL_EXT_DESTS="cv-ext0:198.51.100.10:10.89.0.11 cv-ext1:198.51.100.20:10.89.0.12"   # <netns>:<address>:<host side>
NETPOL_EXT_LISTED=198.51.100.10
NETPOL_EXT_UNLISTED=198.51.100.20
NETPOL_EXT_PORT=8443                       # TCP and UDP
# Chains and ipsets kube-router's firewall controller creates (pkg/controllers/netpol): cleanup removes these only.
NETPOL_CHAIN_RE='^(KUBE-ROUTER-(INPUT|FORWARD|OUTPUT)|KUBE-POD-FW-[A-Z0-9]+|KUBE-NWPLCY-[A-Z0-9]+)$'
NETPOL_IPSET_RE='^(KUBE-SRC-|KUBE-DST-)[A-Z0-9]+$'

netpol_kubectl() { "$NODE_BIN_KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

# What the kernel offers the two candidate enforcers (`check`; the README records the output).
netpol_check_kernel() {
  local t=cvnetpol-check rc err
  printf 'iptables:  %s\n' "$(iptables --version 2>&1)"
  printf 'ipset:     %s\n' "$(ipset version 2>&1 | head -1)"
  printf 'conntrack: %s\n' "$(conntrack --version 2>&1)"
  printf 'nft:       %s\n' "$(nft --version 2>&1)"
  nft add table inet "$t" && nft add chain inet "$t" fw '{ type filter hook forward priority 0; policy accept; }'
  if err="$(nft add rule inet "$t" fw ip daddr 192.0.2.77 queue num 100 bypass 2>&1)"; then rc=ok; else rc="refused: $(head -1 <<<"$err")"; fi
  printf 'nftables queue (what kube-network-policies needs): %s\n' "$rc"
  if nft add rule inet "$t" fw ip daddr 192.0.2.77 counter reject 2>/dev/null; then rc=ok; else rc=refused; fi
  printf 'nftables reject: %s\n' "$rc"
  nft delete table inet "$t"
  if ipset create "$t" hash:ip && ipset add "$t" 192.0.2.77 && iptables -N CVNETPOL-CHECK \
    && iptables -A CVNETPOL-CHECK -m set --match-set "$t" dst -m conntrack --ctstate NEW -m comment --comment check -j REJECT \
    && iptables -A CVNETPOL-CHECK -j NFLOG --nflog-group 100; then rc=ok; else rc=refused; fi
  printf 'iptables set + conntrack + comment + REJECT + NFLOG (what kube-router needs): %s\n' "$rc"
  iptables -F CVNETPOL-CHECK 2>/dev/null || true
  iptables -X CVNETPOL-CHECK 2>/dev/null || true
  ipset destroy "$t" 2>/dev/null || true
}

kube_router_running() { pid_alive "$PID_DIR/kube-router.pid" "--run-firewall=true"; }

start_kube_router() {
  local bin pidfile="$PID_DIR/kube-router.pid" logf="$LOG_DIR/kube-router.log"
  bin="$(build_kube_router)"
  if kube_router_running; then
    log "netpol: kube-router running (pid $(pid_of "$pidfile"))"
    return 0
  fi
  log "netpol: starting kube-router $KUBE_ROUTER_VERSION (firewall controller only) for node $NODE_NAME"
  spawn "$pidfile" "$logf" "$bin" --kubeconfig="$KUBECONFIG_FILE" --hostname-override="$NODE_NAME" \
    --run-firewall=true --run-router=false --run-service-proxy=false --enable-cni=false \
    --service-cluster-ip-range="$KUBE_SERVICE_CIDR" --health-port=0 --metrics-port=0 --v=1
  # Up once its top-level chain hangs in the filter table's FORWARD.
  wait_until 60 sh -c 'iptables -S FORWARD | grep -q -- "-j KUBE-ROUTER-FORWARD"' \
    || { log_tail "$logf"; die "netpol: kube-router did not install its KUBE-ROUTER-FORWARD chain within 60s"; }
}

# Removes kube-router's jumps, chains and ipsets (by their names: NETPOL_CHAIN_RE, NETPOL_IPSET_RE), nothing else.
cleanup_kube_router_rules() {
  command -v iptables >/dev/null || return 0
  local top rule chains c sets
  for top in INPUT FORWARD OUTPUT; do
    # (no match is the usual case on a clean machine: grep's status 1 must not fail the caller under pipefail)
    { iptables -S "$top" 2>/dev/null || true; } | { grep -E -- "-j KUBE-ROUTER-(INPUT|FORWARD|OUTPUT)( |$)" || true; } | while read -r rule; do
      eval "iptables -D ${rule#-A }" || warn "netpol: could not delete '$rule'"
    done
  done
  chains="$(iptables -S 2>/dev/null | awk '$1 == "-N" {print $2}' | grep -E "$NETPOL_CHAIN_RE" || true)"
  for c in $chains; do iptables -F "$c" 2>/dev/null || true; done
  for c in $chains; do iptables -X "$c" 2>/dev/null || warn "netpol: could not delete chain $c"; done
  sets="$(ipset list -n 2>/dev/null | grep -E "$NETPOL_IPSET_RE" || true)"
  for c in $sets; do ipset destroy "$c" 2>/dev/null || warn "netpol: could not destroy ipset $c"; done
  [ -z "$chains$sets" ] || log "netpol: removed $(wc -w <<<"$chains") kube-router chains and $(wc -w <<<"$sets") ipsets"
}

# The external destinations (NETPOL_EXT_DESTS): netns <ns> with veth <ns>-h (host, <host side>/32 peer <address>) /
# <ns>-n (<address>/32 peer <host side>), a probe serving TCP and UDP $NETPOL_EXT_PORT in it, its identity the
# namespace's name.
start_external_destinations() {
  local d ns addr host pidfile rest claimed=()
  for d in $NETPOL_EXT_DESTS; do
    rest="${d#*:}"; claimed+=("${rest%%:*}/32" "${rest#*:}/32")
  done
  # One look-up of the machine's outside addresses for every destination's two ends.
  check_claimed_ranges "netpol: external destinations" "${claimed[@]}"
  for d in $NETPOL_EXT_DESTS; do
    ns="${d%%:*}" rest="${d#*:}"; addr="${rest%%:*}" host="${rest#*:}" pidfile="$PID_DIR/netpol-$ns.pid"
    [ -e "/run/netns/$ns" ] || ip netns add "$ns"
    ip link show "$ns-h" >/dev/null 2>&1 || ip link add "$ns-h" type veth peer name "$ns-n" netns "$ns"
    # An address left by an earlier layout (a /24 on either side) would route more than the one address.
    ip addr flush dev "$ns-h" scope global
    ip addr add "$host/32" peer "$addr/32" dev "$ns-h"
    ip link set "$ns-h" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr flush dev "$ns-n" scope global
    ip -n "$ns" addr add "$addr/32" peer "$host/32" dev "$ns-n"
    ip -n "$ns" link set "$ns-n" up
    # Replies to pods go back through the host; nothing else is routed out of the namespace.
    ip -n "$ns" route replace "$NODE_POD_CIDR" via "$host" dev "$ns-n"
    # A probe left in a namespace that was deleted and made again serves nobody: restart it in the current one.
    if pid_alive "$pidfile" "$NODE_HOME/bin/probe" \
      && [ "$(stat -L -c %i "/run/netns/$ns")" != "$(stat -L -c %i "/proc/$(pid_of "$pidfile")/ns/net" 2>/dev/null)" ]; then
      stop_pidfile "$pidfile" "/bin/probe" "external destination $ns (in a stale network namespace)" 5
    fi
    if ! pid_alive "$pidfile" "$NODE_HOME/bin/probe"; then
      POD_NAME="$ns" spawn "$pidfile" "$LOG_DIR/netpol-$ns.log" ip netns exec "$ns" "$NODE_HOME/bin/probe" serve --tcp "$NETPOL_EXT_PORT" --udp "$NETPOL_EXT_PORT"
    fi
    wait_until 10 ip netns exec "$ns" "$NODE_HOME/bin/probe" dial tcp "$addr:$NETPOL_EXT_PORT" --timeout 500ms \
      || { log_tail "$LOG_DIR/netpol-$ns.log"; die "netpol: the external destination's probe does not answer on $addr:$NETPOL_EXT_PORT"; }
  done
}

stop_external_destinations() {
  local d ns
  for d in $NETPOL_EXT_DESTS; do
    ns="${d%%:*}"
    stop_pidfile "$PID_DIR/netpol-$ns.pid" "/bin/probe" "external destination $ns" 10
    ! ip link show "$ns-h" >/dev/null 2>&1 || ip link delete "$ns-h" || warn "netpol: could not delete $ns-h"
    if [ -e "/run/netns/$ns" ]; then
      ip netns delete "$ns" || warn "netpol: could not delete netns $ns"
    fi
  done
}

# CoreDNS reaches the API server through a relay on the node IP: the API server binds 127.0.0.1 only.
start_api_relay() {
  local pidfile="$PID_DIR/netpol-apirelay.pid" logf="$LOG_DIR/netpol-apirelay.log"
  command -v socat >/dev/null || apt_install socat
  pid_alive "$pidfile" "TCP-LISTEN:$NETPOL_APIRELAY_PORT,bind=$NODE_IP" && return 0
  spawn "$pidfile" "$logf" socat "TCP-LISTEN:$NETPOL_APIRELAY_PORT,bind=$NODE_IP,reuseaddr,fork" "TCP:127.0.0.1:$KUBE_APISERVER_PORT"
  wait_until 10 bash -c "(exec 3<>/dev/tcp/$NODE_IP/$NETPOL_APIRELAY_PORT) 2>/dev/null" \
    || { log_tail "$logf"; die "netpol: the API relay on $NODE_IP:$NETPOL_APIRELAY_PORT did not start"; }
}

import_coredns_image() {
  local bin dir
  local images; images="$(node_ctr images ls -q 2>/dev/null || true)"
  grep -qx "$NETPOL_COREDNS_IMAGE" <<<"$images" && return 0
  bin="$(build_coredns)"
  dir="$(mktemp -d)"
  mkdir -p "$dir/rootfs"
  cp "$bin" "$dir/rootfs/coredns"
  "$NODE_HOME/bin/mkimage" --rootfs "$dir/rootfs" --name "$NETPOL_COREDNS_IMAGE" --entrypoint /coredns --user 65532 --out "$dir/coredns.tar" >/dev/null \
    || { rm -rf "$dir"; die "netpol: mkimage of $NETPOL_COREDNS_IMAGE failed"; }
  node_ctr images import --local "$dir/coredns.tar" >/dev/null || { rm -rf "$dir"; die "netpol: importing $NETPOL_COREDNS_IMAGE failed"; }
  rm -rf "$dir"
  log "netpol: imported $NETPOL_COREDNS_IMAGE"
}

coredns_manifest() {
  cat <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: { name: coredns, namespace: kube-system }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: "system:coredns" }
rules:
  - { apiGroups: [""], resources: [endpoints, services, pods, namespaces], verbs: [list, watch] }
  - { apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: "system:coredns" }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns" }
subjects: [{ kind: ServiceAccount, name: coredns, namespace: kube-system }]
---
apiVersion: v1
kind: ConfigMap
metadata: { name: coredns, namespace: kube-system }
data:
  Corefile: |
    .:53 {
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            kubeconfig /etc/coredns/kubeconfig local
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
            ttl 30
        }
        cache 30
    }
  kubeconfig: |
    apiVersion: v1
    kind: Config
    clusters:
      - name: local
        cluster:
          server: https://$NODE_IP:$NETPOL_APIRELAY_PORT
          certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
          tls-server-name: kubernetes
    users:
      - name: coredns
        user: { tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token }
    contexts:
      - name: local
        context: { cluster: local, user: coredns }
    current-context: local
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: coredns, namespace: kube-system, labels: { k8s-app: kube-dns } }
spec:
  replicas: 1
  selector: { matchLabels: { k8s-app: kube-dns } }
  template:
    metadata: { labels: { k8s-app: kube-dns } }
    spec:
      serviceAccountName: coredns
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        seccompProfile: { type: RuntimeDefault }
        # Port 53 without a capability: a namespaced sysctl of the pod's own network namespace.
        sysctls: [{ name: net.ipv4.ip_unprivileged_port_start, value: "53" }]
      containers:
        - name: coredns
          image: $NETPOL_COREDNS_IMAGE
          imagePullPolicy: Never
          args: [-conf, /etc/coredns/Corefile]
          ports:
            - { name: dns, containerPort: 53, protocol: UDP }
            - { name: dns-tcp, containerPort: 53, protocol: TCP }
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: [ALL] } }
          resources: { requests: { cpu: 50m, memory: 64Mi }, limits: { memory: 128Mi } }
          readinessProbe: { httpGet: { path: /ready, port: 8181 }, periodSeconds: 2 }
          livenessProbe: { httpGet: { path: /health, port: 8080 }, periodSeconds: 10, failureThreshold: 5 }
          volumeMounts: [{ name: config, mountPath: /etc/coredns, readOnly: true }]
      volumes: [{ name: config, configMap: { name: coredns } }]
---
apiVersion: v1
kind: Service
metadata: { name: kube-dns, namespace: kube-system, labels: { k8s-app: kube-dns } }
spec:
  clusterIP: $NETPOL_DNS_IP
  selector: { k8s-app: kube-dns }
  ports:
    - { name: dns, port: 53, protocol: UDP }
    - { name: dns-tcp, port: 53, protocol: TCP }
EOF
}

start_coredns() {
  import_coredns_image
  start_api_relay
  local applied
  applied="$(coredns_manifest | netpol_kubectl apply -f -)" || die "netpol: applying the CoreDNS objects in kube-system failed"
  # CoreDNS reads its Corefile at start: a changed ConfigMap needs new pods.
  if grep -q "configmap/coredns configured" <<<"$applied"; then netpol_kubectl -n kube-system rollout restart deployment/coredns >/dev/null; fi
  netpol_kubectl -n kube-system rollout status deployment/coredns --timeout=90s >/dev/null \
    || { netpol_kubectl -n kube-system describe pods -l k8s-app=kube-dns | tail -30 >&2; die "netpol: CoreDNS did not become ready within 90s"; }
  # Ready in the API is not yet an answer (after a node restart the pod status lags): ask it, through its Service.
  wait_until 90 "$NODE_HOME/bin/probe" dns udp "$NETPOL_DNS_IP:53" kubernetes.default.svc.cluster.local. --timeout 1s \
    || { netpol_kubectl -n kube-system logs deployment/coredns --tail=20 >&2; die "netpol: CoreDNS at $NETPOL_DNS_IP does not answer kubernetes.default.svc.cluster.local"; }
}

up_netpol() {
  local t0=$SECONDS
  [ "$(id -u)" = 0 ] || die "netpol: iptables and network namespaces need root"
  if ! command -v iptables >/dev/null || ! command -v ipset >/dev/null || ! command -v conntrack >/dev/null || ! command -v socat >/dev/null; then
    apt_install "${NETPOL_PKGS[@]}"
  fi
  mkdir -p "$NETPOL_DIR"
  start_kube_router
  start_coredns
  start_external_destinations
  log "netpol: kube-router enforcing, CoreDNS at $NETPOL_DNS_IP, external destinations $NETPOL_EXT_LISTED and $NETPOL_EXT_UNLISTED on $NETPOL_EXT_PORT ($((SECONDS - t0))s)"
}

# Lines for .work/local.env (only while kube-router runs).
netpol_env() {
  kube_router_running || return 0
  cat <<EOF
export CV_NETPOL=1
export CV_DNS_IP="$NETPOL_DNS_IP"
export CV_EXT_LISTED="$NETPOL_EXT_LISTED"
export CV_EXT_UNLISTED="$NETPOL_EXT_UNLISTED"
export CV_EXT_PORT="$NETPOL_EXT_PORT"
EOF
}

# Before the node goes: kube-router by its PID, then only what it and this file created.
down_netpol() {
  stop_pidfile "$PID_DIR/kube-router.pid" "--run-firewall=true" kube-router 20
  cleanup_kube_router_rules
  stop_pidfile "$PID_DIR/netpol-apirelay.pid" "TCP-LISTEN:$NETPOL_APIRELAY_PORT" "API relay" 10
  stop_external_destinations
}

# ---- direct use ---------------------------------------------------------------
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-}" in
    build) build_kube_router; build_coredns ;;
    build-kube-router) build_kube_router ;;
    build-coredns) build_coredns ;;
    check) netpol_check_kernel ;;
    up | down)
      # shellcheck source=scripts/lib/local-node.sh
      . "$ROOT/scripts/lib/local-node.sh"
      resolve_node_bins >/dev/null
      if [ "$1" = up ]; then up_netpol; else down_netpol; fi
      ;;
    *) die "usage: bash scripts/lib/local-netpol.sh build|build-kube-router|build-coredns|check|up|down" ;;
  esac
fi
