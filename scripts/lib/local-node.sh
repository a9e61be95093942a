# shellcheck shell=bash
# The local node of the local control plane (sourced by scripts/local-{up,down,status}.sh):
#   containerd (+ containerd-shim-runc-v2, runc)   the container runtime, CRI on a unix socket
#   kubelet                                         node "cv-node", node IP 10.89.0.1 on the interface cv-node0
#   kube-scheduler                                  the control plane had none: pods stay Pending without it
#   kube-proxy                                      nftables mode (table ip kube-proxy): Service ClusterIPs work
# Pods get 10.244.0.0/24 on the CNI bridge cv-cni0 (bridge + host-local + loopback + portmap, no masquerade).
# Binaries: scripts/bootstrap-node.sh (containerd, runc, CNI, images) and scripts/bootstrap-toolchain.sh (kube*).
# Images: localhost/cv/pause and localhost/cv/probe, imported into containerd's k8s.io namespace; pods use
# imagePullPolicy: Never (no registry is reachable).
#
# Everything it creates, and local-down removes (by name, never a blanket flush):
#   processes   by the PID files .work/local/pids/{containerd,kubelet,kube-scheduler,kube-proxy}.pid; the
#               containers' shims by the shim.pid files containerd writes under $NODE_RUN
#   interfaces  cv-node0 (a veth pair with cv-node0p), cv-cni0 (bridge) and the veths enslaved to it
#   nftables    table inet cv-node-guard (ours), table ip/ip6 kube-proxy (kube-proxy's), inet cni_hostport (portmap's)
#   netns       containerd's, mounted under $NODE_RUN/containerd/netns (netns_mounts_under_state_dir)
#   mounts      every mount under $NODE_RUN and .work/local/node (overlay rootfs, kubelet's tmpfs volumes)
#   cgroups     /sys/fs/cgroup/*/kubepods (kubelet, cgroupfs driver)
#   sysctls     net.ipv4.ip_forward set to 1 (needed to route pod -> ClusterIP -> pod); the old value is restored
# The guard table drops every forwarded packet from or to the interface(s) of the default route, and anything
# arriving on them for the node or pod addresses: pods never reach beyond this machine, nor does anything reach them.

NODE_NAME=cv-node
NODE_IP=10.89.0.1
NODE_IFACE=cv-node0                 # veth (the kernel has no dummy driver); its peer cv-node0p is unused
NODE_IFACE_PEER=cv-node0p
NODE_BRIDGE=cv-cni0
NODE_POD_CIDR=10.244.0.0/24
NODE_POD_GATEWAY=10.244.0.1
NODE_CLUSTER_DNS=10.96.0.10         # in KUBE_SERVICE_CIDR; CoreDNS (scripts/lib/local-netpol.sh) may claim it
NODE_KUBELET_PORT=10250             # on $NODE_IP (the API server's exec/logs/port-forward go there)
NODE_KUBELET_HEALTHZ_PORT=10248     # 127.0.0.1
NODE_SCHEDULER_PORT=16259           # 127.0.0.1
NODE_PROXY_HEALTHZ_PORT=10256       # 127.0.0.1
NODE_PROXY_METRICS_PORT=10249       # 127.0.0.1
NODE_DIR="$LOCAL_DIR/node"
NODE_RUN=/run/cv-node               # short: unix socket paths are limited to 107 bytes
NODE_CONTAINERD_SOCK="$NODE_RUN/containerd.sock"
NODE_CNI_CONF_DIR="$NODE_DIR/cni/net.d"
NODE_GUARD_TABLE=cv-node-guard

NODE_HOME=""        # scripts/bootstrap-node.sh cache dir
NODE_IMAGES_TAG=""  # from its env.sh
NODE_BIN_KUBELET="" NODE_BIN_SCHEDULER="" NODE_BIN_PROXY="" NODE_BIN_KUBECTL=""

node_ctr() { "$NODE_HOME/bin/ctr" --address "$NODE_CONTAINERD_SOCK" --namespace k8s.io "$@"; }
node_kubectl() { "$NODE_BIN_KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

resolve_node_bins() {
  NODE_HOME="$(bash "$ROOT/scripts/bootstrap-node.sh")" || die "node: scripts/bootstrap-node.sh failed"
  # shellcheck disable=SC1091
  . "$NODE_HOME/env.sh"
  NODE_IMAGES_TAG="$CV_NODE_IMAGES_TAG"
  load_toolchain_env
  NODE_BIN_KUBELET="$(find_tool kubelet || true)"
  NODE_BIN_SCHEDULER="$(find_tool kube-scheduler || true)"
  NODE_BIN_PROXY="$(find_tool kube-proxy || true)"
  NODE_BIN_KUBECTL="$(find_tool kubectl || true)"
  if [ -z "$NODE_BIN_KUBELET" ] || [ -z "$NODE_BIN_SCHEDULER" ] || [ -z "$NODE_BIN_PROXY" ] || [ -z "$NODE_BIN_KUBECTL" ]; then
    log "node: kubelet, kube-scheduler, kube-proxy or kubectl missing; running scripts/bootstrap-toolchain.sh"
    bash "$ROOT/scripts/bootstrap-toolchain.sh" >/dev/null || die "scripts/bootstrap-toolchain.sh failed"
    load_toolchain_env
    NODE_BIN_KUBELET="$(find_tool kubelet)" NODE_BIN_SCHEDULER="$(find_tool kube-scheduler)"
    NODE_BIN_PROXY="$(find_tool kube-proxy)" NODE_BIN_KUBECTL="$(find_tool kubectl)"
  fi
}

# ---- health -----------------------------------------------------------------------------------------------------
containerd_ready() { node_ctr version >/dev/null 2>&1; }
kubelet_healthy() { [ "$(curl -sS --max-time 3 "http://127.0.0.1:$NODE_KUBELET_HEALTHZ_PORT/healthz" 2>/dev/null)" = ok ]; }
scheduler_healthy() { [ "$(curl -sSk --max-time 3 "https://127.0.0.1:$NODE_SCHEDULER_PORT/healthz" 2>/dev/null)" = ok ]; }
proxy_healthy() { curl -sS --max-time 3 -o /dev/null -f "http://127.0.0.1:$NODE_PROXY_HEALTHZ_PORT/healthz" 2>/dev/null; }
node_ready() {
  [ "$(node_kubectl get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

# ---- PKI --------------------------------------------------------------------------------------------------------
_node_client_ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
ensure_node_pki() {
  local d="$PKI_DIR"
  [ -s "$d/kubelet-client.crt" ] || _pki_sign kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME" "$_node_client_ext"
  [ -s "$d/kubelet-serving.crt" ] || _pki_sign kubelet-serving "/CN=$NODE_NAME" \
"basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:$NODE_IP,DNS:$NODE_NAME"
  [ -s "$d/kube-scheduler.crt" ] || _pki_sign kube-scheduler "/CN=system:kube-scheduler" "$_node_client_ext"
  [ -s "$d/kube-proxy.crt" ] || _pki_sign kube-proxy "/CN=system:kube-proxy" "$_node_client_ext"
  chmod 600 "$d"/*.key
}

# ---- network ----------------------------------------------------------------------------------------------------
_default_ifaces() { ip -o -4 route show default 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "dev") print $(i + 1)}' | sort -u; }

# The machine's own way out must never be captured by a range the local stack routes or translates: its resolvers
# and the package registries the scripts install from. (In this sandbox every registry is at one TEST-NET-3
# address, 203.0.113.80: an external destination once routed 203.0.113.0/24 into a namespace, and every later npm,
# pip and Go download on the machine failed with "No route to host".)
NODE_OUTSIDE_HOSTS="registry.npmjs.org pypi.org files.pythonhosted.org proxy.golang.org deb.debian.org repo1.maven.org index.crates.io"
_ip4_int() { local IFS=.; set -- $1; echo $(( ($1 << 24) + ($2 << 16) + ($3 << 8) + $4 )); }
_ip4_in_cidr() { # <ip> <cidr>
  local len="${2#*/}" mask
  mask=$(( len == 0 ? 0 : (0xffffffff << (32 - len)) & 0xffffffff ))
  (( ($(_ip4_int "$1") & mask) == ($(_ip4_int "${2%/*}") & mask) ))
}
# The IPv4 addresses this machine needs outside: its resolvers and what the registries' names resolve to.
outside_addresses() {
  { awk '$1 == "nameserver" { print $2 }' /etc/resolv.conf 2>/dev/null
    local h; for h in $NODE_OUTSIDE_HOSTS; do timeout 5 getent ahostsv4 "$h" 2>/dev/null | awk '{ print $1 }'; done
  } | grep -E '^[0-9]+(\.[0-9]+){3}$' | sort -u
}
# Dies, naming the address and the range, when one of <cidr...> (ranges about to be routed or translated here)
# holds an address the machine needs outside. <what> names the owner of the ranges for the message.
check_claimed_ranges() { # <what> <cidr...>
  local what="$1" ip c; shift
  for ip in $(outside_addresses); do
    for c in "$@"; do
      _ip4_in_cidr "$ip" "$c" \
        && die "$what: $c would capture $ip, an address this machine needs outside (its resolver or a package registry: $NODE_OUTSIDE_HOSTS). Fix: move $c to a range this machine does not use"
    done
  done
  return 0
}

ensure_node_network() {
  command -v nft >/dev/null || apt_install nftables
  check_claimed_ranges "node" "$NODE_IP/32" "$NODE_POD_CIDR" "$KUBE_SERVICE_CIDR"
  # ip_forward: pod -> ClusterIP -> pod is routed through the host. Keep the old value for local-down.
  [ -s "$NODE_DIR/ip_forward.orig" ] || cat /proc/sys/net/ipv4/ip_forward >"$NODE_DIR/ip_forward.orig"
  [ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ] || echo 1 >/proc/sys/net/ipv4/ip_forward
  # Bridged pod traffic must pass the ip hooks, or replies from a Service's pod skip the de-NAT.
  if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
    [ "$(cat /proc/sys/net/bridge/bridge-nf-call-iptables)" = 1 ] || echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables
  else
    modprobe br_netfilter 2>/dev/null || die "node: br_netfilter is missing (/proc/sys/net/bridge/bridge-nf-call-iptables)"
  fi
  # This kernel has no dummy interfaces ("Unknown device type"): a veth pair whose peer stays unused holds the IP.
  if ! ip link show "$NODE_IFACE" >/dev/null 2>&1; then
    ip link add "$NODE_IFACE" type veth peer name "$NODE_IFACE_PEER" || die "node: cannot create the veth pair $NODE_IFACE/$NODE_IFACE_PEER"
  fi
  ip addr replace "$NODE_IP/32" dev "$NODE_IFACE"
  ip link set "$NODE_IFACE_PEER" up
  ip link set "$NODE_IFACE" up
  # The guard: nothing is forwarded from or to the outside interfaces, nothing from them reaches the node's addresses.
  local ifs; ifs="$(_default_ifaces | paste -sd, -)"
  {
    echo "table inet $NODE_GUARD_TABLE"
    echo "delete table inet $NODE_GUARD_TABLE"
    echo "table inet $NODE_GUARD_TABLE {"
    echo "  chain forward { type filter hook forward priority -10; policy accept;"
    [ -z "$ifs" ] || echo "    iifname { $ifs } drop"
    [ -z "$ifs" ] || echo "    oifname { $ifs } drop"
    echo "  }"
    echo "  chain input { type filter hook input priority -10; policy accept;"
    [ -z "$ifs" ] || echo "    iifname { $ifs } ip daddr { $NODE_IP, $NODE_POD_CIDR } drop"
    echo "  }"
    echo "}"
  } | nft -f - || die "node: could not install the nftables guard table inet $NODE_GUARD_TABLE"
}

write_cni_conf() {
  mkdir -p "$NODE_CNI_CONF_DIR" "$NODE_DIR/cni/ipam"
  local f="$NODE_CNI_CONF_DIR/10-cv-pods.conflist"
  cat >"$f.tmp" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "cv-pods",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$NODE_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$NODE_DIR/cni/ipam",
        "ranges": [[{ "subnet": "$NODE_POD_CIDR", "gateway": "$NODE_POD_GATEWAY" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "backend": "nftables", "capabilities": { "portMappings": true } }
  ]
}
EOF
  mv -f "$f.tmp" "$f"
}

# A component's config is written to <file>.new; _keep_running tells whether the running process already has
# exactly that config (then nothing happens), else stops it so that it restarts with the new one.
_keep_running() { # <pidfile> <config file> <name>
  if pid_alive "$1" "$2"; then
    if cmp -s "$2.new" "$2"; then rm -f "$2.new"; return 0; fi
    stop_pidfile "$1" "$2" "$3 (config changed: restarting)" 30
  fi
  mv -f "$2.new" "$2"
  return 1
}

# ---- containerd -------------------------------------------------------------------------------------------------
write_containerd_conf() {
  mkdir -p "$NODE_DIR/containerd/root" "$NODE_RUN/containerd" "$NODE_DIR/containerd/registries/_default"
  # No registry is reachable, and none may be tried: every registry host resolves to a closed loopback port, so
  # a pod whose image is not imported fails at once (ErrImagePull) instead of sending traffic off the machine.
  printf 'server = "http://127.0.0.1:9"\n' >"$NODE_DIR/containerd/registries/_default/hosts.toml"
  cat >"$NODE_DIR/containerd/config.toml.new" <<EOF
# Generated by scripts/lib/local-node.sh.
version = 3
root = "$NODE_DIR/containerd/root"
state = "$NODE_RUN/containerd"
imports = []
disabled_plugins = [
  "io.containerd.image-verifier.v1.bindir",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.blockfile", "io.containerd.snapshotter.v1.erofs", "io.containerd.snapshotter.v1.native",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing", "io.containerd.nri.v1.nri",
  "io.containerd.grpc.v1.introspection.v1.otlp",
]

[grpc]
  address = "$NODE_CONTAINERD_SOCK"

[ttrpc]
  address = "$NODE_RUN/containerd-ttrpc.sock"

[debug]
  level = "warn"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$NODE_DIR/containerd/opt"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  discard_unpacked_layers = false
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "localhost/cv/pause:$NODE_IMAGES_TAG"
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "$NODE_DIR/containerd/registries"

[plugins."io.containerd.cri.v1.runtime"]
  enable_selinux = false
  netns_mounts_under_state_dir = true
  # No CAP_SYS_RESOURCE in this sandbox: runc may not lower oom_score_adj ("failed to update /proc/self/oom_score_adj:
  # Permission denied" for the pause container's -998), so scores stay at least containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "$NODE_HOME/bin/runc"
        Root = "$NODE_RUN/runc"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["$NODE_HOME/cni/bin"]
    conf_dir = "$NODE_CNI_CONF_DIR"
    max_conf_num = 1

[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
EOF
}

start_containerd() {
  local pidfile="$PID_DIR/containerd.pid" logf="$LOG_DIR/containerd.log"
  write_containerd_conf
  if _keep_running "$pidfile" "$NODE_DIR/containerd/config.toml" containerd; then
    wait_until 20 containerd_ready || { log_tail "$logf"; die "containerd (pid $(pid_of "$pidfile")) is running but not answering"; }
    return 0
  fi
  [ ! -S "$NODE_CONTAINERD_SOCK" ] || ! containerd_ready || die "node: a containerd we did not start answers on $NODE_CONTAINERD_SOCK"
  log "node: starting containerd $CV_CONTAINERD_VERSION (CRI socket $NODE_CONTAINERD_SOCK)"
  PATH="$NODE_HOME/bin:$PATH" spawn "$pidfile" "$logf" "$NODE_HOME/bin/containerd" --config "$NODE_DIR/containerd/config.toml"
  wait_until 30 containerd_ready || { log_tail "$logf"; die "containerd did not answer on $NODE_CONTAINERD_SOCK within 30s"; }
}

# Import localhost/cv/{pause,probe} unless containerd already holds the very image (same config digest).
import_node_images() {
  local n id have
  for n in pause probe; do
    id="$(cat "$NODE_HOME/images/$n.id")"
    have="$(node_ctr images ls 2>/dev/null | awk -v r="localhost/cv/$n:$NODE_IMAGES_TAG" '$1 == r {print $3}')"
    if [ -n "$have" ] && [ "$(cat "$NODE_DIR/containerd/$n.imported" 2>/dev/null)" = "$id $have" ]; then continue; fi
    log "node: importing localhost/cv/$n:$NODE_IMAGES_TAG"
    node_ctr images import --local --snapshotter overlayfs "$NODE_HOME/images/$n.tar" >>"$LOG_DIR/containerd.log" 2>&1 \
      || { log_tail "$LOG_DIR/containerd.log"; die "node: ctr images import of $n.tar failed"; }
    have="$(node_ctr images ls 2>/dev/null | awk -v r="localhost/cv/$n:$NODE_IMAGES_TAG" '$1 == r {print $3}')"
    [ -n "$have" ] || die "node: localhost/cv/$n:$NODE_IMAGES_TAG is not in containerd after the import"
    echo "$id $have" >"$NODE_DIR/containerd/$n.imported"
  done
}

# ---- kube components --------------------------------------------------------------------------------------------
start_scheduler() {
  local pidfile="$PID_DIR/kube-scheduler.pid" logf="$LOG_DIR/kube-scheduler.log" kc="$NODE_DIR/kube-scheduler.kubeconfig"
  if pid_alive "$pidfile" "$kc"; then return 0; fi
  port_open "$NODE_SCHEDULER_PORT" && die "kube-scheduler: 127.0.0.1:$NODE_SCHEDULER_PORT is already in use"
  _write_kubeconfig "$kc" system:kube-scheduler "$PKI_DIR/kube-scheduler.crt" "$PKI_DIR/kube-scheduler.key"
  log "node: starting kube-scheduler (healthz https://127.0.0.1:$NODE_SCHEDULER_PORT)"
  spawn "$pidfile" "$logf" "$NODE_BIN_SCHEDULER" \
    --kubeconfig="$kc" --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
    --bind-address=127.0.0.1 --secure-port="$NODE_SCHEDULER_PORT" --cert-dir="$NODE_DIR/scheduler-certs" \
    --leader-elect=false --profiling=false --v=1
}

write_kubelet_conf() {
  mkdir -p "$NODE_DIR/kubelet" "$NODE_DIR/pod-logs" "$NODE_DIR/volume-plugins"
  _write_kubeconfig "$NODE_DIR/kubelet.kubeconfig" "system:node:$NODE_NAME" "$PKI_DIR/kubelet-client.crt" "$PKI_DIR/kubelet-client.key"
  # Pods with dnsPolicy Default get this, not the host's resolvers (nothing leaves the machine).
  printf 'nameserver %s\n' "$NODE_CLUSTER_DNS" >"$NODE_DIR/resolv.conf"
  cat >"$NODE_DIR/kubelet.yaml.new" <<EOF
# Generated by scripts/lib/local-node.sh.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $NODE_KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $NODE_KUBELET_HEALTHZ_PORT
tlsCertFile: $PKI_DIR/kubelet-serving.crt
tlsPrivateKeyFile: $PKI_DIR/kubelet-serving.key
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $PKI_DIR/ca.crt }
authorization: { mode: Webhook }
containerRuntimeEndpoint: unix://$NODE_CONTAINERD_SOCK
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDomain: cluster.local
clusterDNS: [$NODE_CLUSTER_DNS]
resolvConf: $NODE_DIR/resolv.conf
podLogsDir: $NODE_DIR/pod-logs
volumePluginDir: $NODE_DIR/volume-plugins
registerNode: true
rotateCertificates: false
serverTLSBootstrap: false
# The images cannot be pulled again: never collect them. Evict only when the disk is really full.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: { memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%, nodefs.inodesFree: 2% }
serializeImagePulls: false
nodeStatusUpdateFrequency: 5s
syncFrequency: 10s
fileCheckFrequency: 0s
maxPods: 110
EOF
}

start_kubelet() {
  local pidfile="$PID_DIR/kubelet.pid" logf="$LOG_DIR/kubelet.log"
  write_kubelet_conf
  if _keep_running "$pidfile" "$NODE_DIR/kubelet.yaml" kubelet; then return 0; fi
  port_open "$NODE_KUBELET_HEALTHZ_PORT" && die "kubelet: 127.0.0.1:$NODE_KUBELET_HEALTHZ_PORT is already in use"
  log "node: starting kubelet (node $NODE_NAME, $NODE_IP:$NODE_KUBELET_PORT)"
  spawn "$pidfile" "$logf" "$NODE_BIN_KUBELET" \
    --config="$NODE_DIR/kubelet.yaml" --kubeconfig="$NODE_DIR/kubelet.kubeconfig" \
    --root-dir="$NODE_DIR/kubelet" --cert-dir="$NODE_DIR/kubelet/pki" \
    --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --v=1
}

start_kube_proxy() {
  local pidfile="$PID_DIR/kube-proxy.pid" logf="$LOG_DIR/kube-proxy.log" kc="$NODE_DIR/kube-proxy.kubeconfig"
  _write_kubeconfig "$kc" system:kube-proxy "$PKI_DIR/kube-proxy.crt" "$PKI_DIR/kube-proxy.key"
  cat >"$NODE_DIR/kube-proxy.yaml.new" <<EOF
# Generated by scripts/lib/local-node.sh.
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: { kubeconfig: $kc }
hostnameOverride: $NODE_NAME
mode: nftables
clusterCIDR: $NODE_POD_CIDR
healthzBindAddress: 127.0.0.1:$NODE_PROXY_HEALTHZ_PORT
metricsBindAddress: 127.0.0.1:$NODE_PROXY_METRICS_PORT
nodePortAddresses: [$NODE_IP/32]
# Leave the host's conntrack sysctls alone.
conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }
EOF
  if _keep_running "$pidfile" "$NODE_DIR/kube-proxy.yaml" kube-proxy; then return 0; fi
  port_open "$NODE_PROXY_HEALTHZ_PORT" && die "kube-proxy: 127.0.0.1:$NODE_PROXY_HEALTHZ_PORT is already in use"
  log "node: starting kube-proxy (nftables)"
  spawn "$pidfile" "$logf" "$NODE_BIN_PROXY" --config="$NODE_DIR/kube-proxy.yaml" --v=1
}

# The node's names and addresses are machine-wide: one checkout owns them at a time ($NODE_RUN/owner).
node_owner() { cat "$NODE_RUN/owner" 2>/dev/null || true; }
# True when this checkout may start or clean up the node: nobody else owns it, or the owner's containerd and
# kubelet are gone (a crashed or deleted checkout).
node_is_ours() {
  local o; o="$(node_owner)"
  [ -z "$o" ] || [ "$o" = "$ROOT" ] && return 0
  ! pid_alive "$o/.work/local/pids/kubelet.pid" "$o/.work/local/node/kubelet.yaml" \
    && ! pid_alive "$o/.work/local/pids/containerd.pid" "$o/.work/local/node/containerd/config.toml"
}

up_node() {
  local t0=$SECONDS owner
  [ "$(id -u)" = 0 ] || die "node: containerd and the kubelet need root"
  owner="$(node_owner)"
  if ! node_is_ours; then
    die "node: $NODE_NAME ($NODE_IP, $NODE_RUN) belongs to the checkout $owner; run its scripts/local-down.sh first"
  fi
  resolve_node_bins
  mkdir -p "$NODE_DIR" "$NODE_RUN"; chmod 700 "$NODE_DIR"
  printf '%s\n' "$ROOT" >"$NODE_RUN/owner"
  local was_up=0
  if pid_alive "$PID_DIR/containerd.pid" "$NODE_DIR/containerd/config.toml" && pid_alive "$PID_DIR/kubelet.pid" "$NODE_DIR/kubelet.yaml" \
     && pid_alive "$PID_DIR/kube-scheduler.pid" "$NODE_DIR/kube-scheduler.kubeconfig" && pid_alive "$PID_DIR/kube-proxy.pid" "$NODE_DIR/kube-proxy.yaml"; then
    was_up=1
  fi
  ensure_node_pki
  ensure_node_network
  write_cni_conf
  start_scheduler
  start_containerd
  import_node_images
  start_kubelet
  start_kube_proxy
  wait_until 30 scheduler_healthy || { log_tail "$LOG_DIR/kube-scheduler.log"; die "kube-scheduler did not become healthy within 30s"; }
  wait_until 60 kubelet_healthy || { log_tail "$LOG_DIR/kubelet.log" 60; die "kubelet did not become healthy within 60s"; }
  wait_until 30 proxy_healthy || { log_tail "$LOG_DIR/kube-proxy.log"; die "kube-proxy did not become healthy within 30s"; }
  wait_until 90 node_ready || { log_tail "$LOG_DIR/kubelet.log" 60; die "node $NODE_NAME did not become Ready within 90s"; }
  if [ "$was_up" = 1 ]; then
    log "node: $NODE_NAME running and Ready (kubelet pid $(pid_of "$PID_DIR/kubelet.pid"))"
  else
    log "node: $NODE_NAME Ready at $NODE_IP, pods on $NODE_POD_CIDR ($((SECONDS - t0))s)"
  fi
}

# Lines for .work/local.env (CV_NODE=1 only while the node runs).
node_env() {
  pid_alive "$PID_DIR/kubelet.pid" "$NODE_DIR/kubelet.yaml" || return 0
  local kubectl home; kubectl="$(load_toolchain_env; find_tool kubectl || true)"
  home="${NODE_HOME:-$(bash "$ROOT/scripts/bootstrap-node.sh" --cached || true)}"
  [ -n "$home" ] || return 0 # the sources changed since the running node was built: the next up_node rebuilds
  # shellcheck disable=SC1091
  [ -n "$NODE_IMAGES_TAG" ] || { . "$home/env.sh"; NODE_IMAGES_TAG="$CV_NODE_IMAGES_TAG"; }
  cat <<EOF
export CV_NODE=1
export CV_NODE_NAME="$NODE_NAME"
export CV_NODE_IP="$NODE_IP"
export CV_POD_CIDR="$NODE_POD_CIDR"
export CV_PROBE_IMAGE="localhost/cv/probe:$NODE_IMAGES_TAG"
export CV_PAUSE_IMAGE="localhost/cv/pause:$NODE_IMAGES_TAG"
export KUBECTL="$kubectl"
export CV_CONTAINERD_ADDRESS="$NODE_CONTAINERD_SOCK"
export CV_CTR="$home/bin/ctr"
export CV_MKIMAGE="$home/bin/mkimage"
EOF
}

# ---- down -------------------------------------------------------------------------------------------------------
# Unmount every mount point under <dir> (deepest first).
_umount_under() { # <dir>
  local m
  awk -v p="$1/" '{ gsub(/\\040/, " ", $5); if (index($5 "/", p) == 1) print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || warn "node: could not unmount $m"
  done
}

down_node() {
  local t0=$SECONDS f pid owner
  owner="$(node_owner)"
  if ! node_is_ours; then
    log "node: $NODE_NAME belongs to the checkout $owner: left alone"
    return 0
  fi
  local bin; bin="$(bash "$ROOT/scripts/bootstrap-node.sh" --cached 2>/dev/null || true)"
  stop_pidfile "$PID_DIR/kube-proxy.pid" "$NODE_DIR/kube-proxy.yaml" kube-proxy 20
  stop_pidfile "$PID_DIR/kube-scheduler.pid" "$NODE_DIR/kube-scheduler.kubeconfig" kube-scheduler 20
  stop_pidfile "$PID_DIR/kubelet.pid" "$NODE_DIR/kubelet.yaml" kubelet 30
  # The pods: kill and delete every task and container of the k8s.io namespace while containerd still runs.
  if [ -n "$bin" ] && pid_alive "$PID_DIR/containerd.pid" "$NODE_DIR/containerd/config.toml"; then
    NODE_HOME="$bin"
    local ids; ids="$(node_ctr containers ls -q 2>/dev/null || true)"
    if [ -n "$ids" ]; then
      log "node: removing $(wc -w <<<"$ids") containers"
      for f in $ids; do node_ctr tasks kill -s SIGKILL "$f" >/dev/null 2>&1 || true; done
      for f in $ids; do
        wait_until 10 sh -c "! '$bin/ctr' --address '$NODE_CONTAINERD_SOCK' -n k8s.io tasks ls -q 2>/dev/null | grep -qx '$f'" || true
        node_ctr tasks delete --force "$f" >/dev/null 2>&1 || true
        node_ctr containers delete "$f" >/dev/null 2>&1 || true
      done
    fi
  fi
  stop_pidfile "$PID_DIR/containerd.pid" "$NODE_DIR/containerd/config.toml" containerd 30
  # Shims left behind (containerd killed first): by the shim.pid files containerd wrote.
  for f in "$NODE_RUN"/containerd/io.containerd.runtime.v2.task/*/*/shim.pid; do
    [ -s "$f" ] || continue
    cp "$f" "$PID_DIR/shim.pid"
    stop_pidfile "$PID_DIR/shim.pid" containerd-shim-runc-v2 containerd-shim 10
  done
  # Container processes left in the pods' cgroups (only if their shims died), then the cgroups themselves.
  local cg
  for cg in /sys/fs/cgroup/*/kubepods; do
    [ -d "$cg" ] || continue
    find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done
    find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
    [ ! -d "$cg" ] || warn "node: could not remove cgroup $cg"
  done
  _umount_under "$NODE_RUN"
  _umount_under "$NODE_DIR"
  rm -rf "$NODE_RUN" "$NODE_DIR/cni/ipam"
  # Interfaces: the bridge's veths (normally gone with their netns), the bridge, the node's dummy.
  if ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
    ip -o link show master "$NODE_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | while read -r f; do ip link delete "$f" 2>/dev/null || true; done
    ip link delete "$NODE_BRIDGE" 2>/dev/null || warn "node: could not delete $NODE_BRIDGE"
  fi
  ! ip link show "$NODE_IFACE" >/dev/null 2>&1 || ip link delete "$NODE_IFACE" || warn "node: could not delete $NODE_IFACE"
  if command -v nft >/dev/null; then
    for f in "inet $NODE_GUARD_TABLE" "ip kube-proxy" "ip6 kube-proxy" "inet cni_hostport"; do
      # shellcheck disable=SC2086
      ! nft list table $f >/dev/null 2>&1 || nft delete table $f || warn "node: could not delete nftables table $f"
    done
  fi
  if [ -s "$NODE_DIR/ip_forward.orig" ]; then
    cat "$NODE_DIR/ip_forward.orig" >/proc/sys/net/ipv4/ip_forward
    rm -f "$NODE_DIR/ip_forward.orig"
  fi
  log "node: stopped and cleaned up ($((SECONDS - t0))s)"
}
