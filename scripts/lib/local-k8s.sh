# shellcheck shell=bash
# Local Kubernetes control plane for scripts/local-up.sh (sourced).
# etcd + kube-apiserver + kube-controller-manager, loopback only, with an
# openssl-generated PKI in .work/local/pki and an admin kubeconfig (client
# cert, O=system:masters) at .work/kubeconfig (cluster/context "local").
# The node (kubelet, kube-scheduler, kube-proxy, containerd) is scripts/lib/local-node.sh; the API server
# reaches the kubelet with the apiserver-kubelet-client certificate (exec, logs, port-forward).

K8S_SERVER="https://127.0.0.1:$KUBE_APISERVER_PORT"
SA_ISSUER="https://kubernetes.default.svc.cluster.local"

k8s_curl() { # <path> [curl args...] — as the admin identity
  local path="$1"; shift
  curl -sS --max-time 10 --cacert "$PKI_DIR/ca.crt" --cert "$PKI_DIR/admin.crt" \
    --key "$PKI_DIR/admin.key" "$@" "$K8S_SERVER$path"
}

k8s_ready() { [ "$(k8s_curl /readyz 2>/dev/null)" = ok ]; }
etcd_healthy() { curl -sS --max-time 5 "http://127.0.0.1:$ETCD_CLIENT_PORT/health" 2>/dev/null | grep -q '"health":"true"'; }
kcm_healthy() { [ "$(curl -sSk --max-time 5 "https://127.0.0.1:$KUBE_CONTROLLER_MANAGER_PORT/healthz" 2>/dev/null)" = ok ]; }

# ---- PKI ------------------------------------------------------------------------
_pki_ca() { # <name> <common-name>
  local d="$PKI_DIR"
  (umask 077; openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$d/$1.key" -days 3650 -sha256 \
    -subj "/CN=$2" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" -out "$d/$1.crt" 2>/dev/null)
}

_pki_sign() { # <name> <subject> <extfile-content> [ca-name]
  local name="$1" subj="$2" ext="$3" ca="${4:-ca}" d="$PKI_DIR"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$d/$name.key" -subj "$subj" \
    -out "$d/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$d/$name.ext"
  openssl x509 -req -in "$d/$name.csr" -CA "$d/$ca.crt" -CAkey "$d/$ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$d/$name.ext" -out "$d/$name.crt" 2>/dev/null
  rm -f "$d/$name.csr" "$d/$name.ext"
  chmod 600 "$d/$name.key"
}

ensure_pki() {
  local d="$PKI_DIR"
  mkdir -p "$d"; chmod 700 "$d"
  if [ ! -s "$d/ca.crt" ] || [ ! -s "$d/ca.key" ]; then
    log "k8s: generating CA and certificates in ${d#"$ROOT"/}"
    rm -f "$d"/*.crt "$d"/*.key
    _pki_ca ca cv-local-ca
  fi
  # Aggregation layer / request-header authentication (front proxy).
  if [ ! -s "$d/front-proxy-ca.crt" ] || [ ! -s "$d/front-proxy-ca.key" ]; then
    rm -f "$d"/front-proxy-*
    _pki_ca front-proxy-ca cv-local-front-proxy-ca
  fi
  [ -s "$d/front-proxy-client.crt" ] || _pki_sign front-proxy-client "/CN=front-proxy-client" \
"basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth" front-proxy-ca
  [ -s "$d/apiserver.crt" ] || _pki_sign apiserver "/CN=kube-apiserver" \
"basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:::1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  [ -s "$d/admin.crt" ] || _pki_sign admin "/O=system:masters/CN=admin" \
"basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  # The API server's client identity towards the kubelet (exec, logs, port-forward): system:masters.
  [ -s "$d/apiserver-kubelet-client.crt" ] || _pki_sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" \
"basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  [ -s "$d/controller-manager.crt" ] || _pki_sign controller-manager "/CN=system:kube-controller-manager" \
"basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  if [ ! -s "$d/sa.key" ] || [ ! -s "$d/sa.pub" ]; then
    (umask 077; openssl genrsa -out "$d/sa.key" 2048 2>/dev/null)
    openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
  fi
  chmod 600 "$d"/*.key
}

_write_kubeconfig() { # <file> <user> <cert> <key>
  local f="$1" user="$2" crt="$3" key="$4" tmp="$1.tmp"
  (umask 077; cat >"$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: $K8S_SERVER
    certificate-authority-data: $(base64 -w0 <"$PKI_DIR/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 <"$crt")
    client-key-data: $(base64 -w0 <"$key")
contexts:
- name: local
  context:
    cluster: local
    user: $user
    namespace: default
current-context: local
preferences: {}
EOF
  )
  mv -f "$tmp" "$f"; chmod 600 "$f"
}

# ---- binaries -----------------------------------------------------------------
K8S_BIN_ETCD="" K8S_BIN_APISERVER="" K8S_BIN_KCM=""
_k8s_missing=()
_find_k8s_bins() {
  load_toolchain_env
  K8S_BIN_ETCD="$(find_tool etcd || true)"
  K8S_BIN_APISERVER="$(find_tool kube-apiserver || true)"
  K8S_BIN_KCM="$(find_tool kube-controller-manager || true)"
  _k8s_missing=()
  [ -n "$K8S_BIN_ETCD" ] || _k8s_missing+=(etcd)
  [ -n "$K8S_BIN_APISERVER" ] || _k8s_missing+=(kube-apiserver)
  [ -n "$K8S_BIN_KCM" ] || _k8s_missing+=(kube-controller-manager)
}
resolve_k8s_bins() {
  _find_k8s_bins
  if [ "${#_k8s_missing[@]}" -gt 0 ] && [ -f "$ROOT/scripts/bootstrap-toolchain.sh" ]; then
    log "k8s: missing ${_k8s_missing[*]}; running scripts/bootstrap-toolchain.sh"
    bash "$ROOT/scripts/bootstrap-toolchain.sh" || die "scripts/bootstrap-toolchain.sh failed"
    _find_k8s_bins
  fi
  [ "${#_k8s_missing[@]}" -eq 0 ] || die "k8s: ${_k8s_missing[*]} not found (run scripts/bootstrap-toolchain.sh)"
}

# ---- components ---------------------------------------------------------------
start_etcd() {
  local pidfile="$PID_DIR/etcd.pid" logf="$LOG_DIR/etcd.log"
  if pid_alive "$pidfile" "$ETCD_DIR"; then
    wait_until 20 etcd_healthy || { log_tail "$logf"; die "etcd (pid $(pid_of "$pidfile")) is running but unhealthy"; }
    return 0
  fi
  port_open "$ETCD_CLIENT_PORT" && die "etcd: 127.0.0.1:$ETCD_CLIENT_PORT is already in use by another process"
  mkdir -p "$ETCD_DIR"; chmod 700 "$ETCD_DIR"
  log "k8s: starting etcd on 127.0.0.1:$ETCD_CLIENT_PORT"
  spawn "$pidfile" "$logf" "$K8S_BIN_ETCD" \
    --name cvlocal --data-dir "$ETCD_DIR/data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "cvlocal=http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster-state new \
    --auto-compaction-mode periodic --auto-compaction-retention 1h \
    --log-level warn
  wait_until 30 etcd_healthy || { log_tail "$logf"; die "etcd did not become healthy within 30s"; }
}

start_apiserver() {
  local pidfile="$PID_DIR/kube-apiserver.pid" logf="$LOG_DIR/kube-apiserver.log"
  if pid_alive "$pidfile" "$PKI_DIR/apiserver.crt" && ! pid_alive "$pidfile" "--kubelet-client-certificate="; then
    # Started before the node existed (no kubelet client certificate): restart it with the current flags.
    stop_pidfile "$pidfile" "$PKI_DIR/apiserver.crt" "kube-apiserver (restart for the kubelet flags)" 30
  fi
  if pid_alive "$pidfile" "$PKI_DIR/apiserver.crt"; then
    wait_until 60 k8s_ready || { log_tail "$logf"; die "kube-apiserver (pid $(pid_of "$pidfile")) is running but not ready"; }
    return 0
  fi
  port_open "$KUBE_APISERVER_PORT" && die "kube-apiserver: 127.0.0.1:$KUBE_APISERVER_PORT is already in use by another process"
  mkdir -p "$KUBE_DIR/apiserver-certs"
  log "k8s: starting kube-apiserver on $K8S_SERVER"
  spawn "$pidfile" "$logf" "$K8S_BIN_APISERVER" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$KUBE_APISERVER_PORT" \
    --cert-dir="$KUBE_DIR/apiserver-certs" \
    --etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --tls-cert-file="$PKI_DIR/apiserver.crt" --tls-private-key-file="$PKI_DIR/apiserver.key" \
    --client-ca-file="$PKI_DIR/ca.crt" \
    --service-account-key-file="$PKI_DIR/sa.pub" \
    --service-account-signing-key-file="$PKI_DIR/sa.key" \
    --service-account-issuer="$SA_ISSUER" \
    --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,ResourceQuota,PodSecurity,NodeRestriction,DefaultStorageClass,DefaultTolerationSeconds,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,Priority,RuntimeClass \
    --allow-privileged=true \
    --service-cluster-ip-range="$KUBE_SERVICE_CIDR" \
    --endpoint-reconciler-type=none `# the "kubernetes" Service cannot have a loopback endpoint` \
    --requestheader-client-ca-file="$PKI_DIR/front-proxy-ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User \
    --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$PKI_DIR/front-proxy-client.crt" \
    --proxy-client-key-file="$PKI_DIR/front-proxy-client.key" \
    --kubelet-client-certificate="$PKI_DIR/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$PKI_DIR/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$PKI_DIR/ca.crt" \
    --kubelet-preferred-address-types=InternalIP,Hostname \
    --profiling=false \
    --event-ttl=1h \
    --v=1
  if ! wait_until 90 k8s_ready; then
    log_tail "$logf" 60; die "kube-apiserver did not become ready within 90s"
  fi
}

start_controller_manager() {
  local pidfile="$PID_DIR/kube-controller-manager.pid" logf="$LOG_DIR/kube-controller-manager.log"
  local kc="$KUBE_DIR/controller-manager.kubeconfig"
  if pid_alive "$pidfile" "$kc"; then
    wait_until 30 kcm_healthy || { log_tail "$logf"; die "kube-controller-manager (pid $(pid_of "$pidfile")) is running but unhealthy"; }
    return 0
  fi
  port_open "$KUBE_CONTROLLER_MANAGER_PORT" && die "kube-controller-manager: 127.0.0.1:$KUBE_CONTROLLER_MANAGER_PORT is already in use"
  _write_kubeconfig "$kc" system:kube-controller-manager "$PKI_DIR/controller-manager.crt" "$PKI_DIR/controller-manager.key"
  mkdir -p "$KUBE_DIR/controller-manager-certs"
  log "k8s: starting kube-controller-manager (healthz https://127.0.0.1:$KUBE_CONTROLLER_MANAGER_PORT)"
  # No kubelet, no cloud: leave out the cloud/node-network controllers.
  spawn "$pidfile" "$logf" "$K8S_BIN_KCM" \
    --kubeconfig="$kc" --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
    --bind-address=127.0.0.1 --secure-port="$KUBE_CONTROLLER_MANAGER_PORT" \
    --cert-dir="$KUBE_DIR/controller-manager-certs" \
    --service-account-private-key-file="$PKI_DIR/sa.key" \
    --root-ca-file="$PKI_DIR/ca.crt" \
    --cluster-signing-cert-file="$PKI_DIR/ca.crt" --cluster-signing-key-file="$PKI_DIR/ca.key" \
    --use-service-account-credentials=true \
    --service-cluster-ip-range="$KUBE_SERVICE_CIDR" \
    --allocate-node-cidrs=false \
    --controllers='*,-service-lb-controller,-node-route-controller,-cloud-node-lifecycle-controller,-node-ipam-controller' \
    --leader-elect=false \
    --profiling=false \
    --v=1
  if ! wait_until 60 kcm_healthy; then
    log_tail "$logf" 60; die "kube-controller-manager did not become healthy within 60s"
  fi
}

# The service-account controller creates "default" in every namespace: proof
# that the controller-manager is actually reconciling.
default_sa_present() { k8s_curl /api/v1/namespaces/default/serviceaccounts/default -f -o /dev/null 2>/dev/null; }

up_k8s() {
  local t0=$SECONDS
  command -v openssl >/dev/null || apt_install openssl
  command -v curl >/dev/null || apt_install curl
  mkdir -p "$KUBE_DIR"; chmod 700 "$KUBE_DIR"
  resolve_k8s_bins
  ensure_pki
  _write_kubeconfig "$KUBECONFIG_FILE" admin "$PKI_DIR/admin.crt" "$PKI_DIR/admin.key"
  local was_up=0
  if pid_alive "$PID_DIR/etcd.pid" "$ETCD_DIR" && pid_alive "$PID_DIR/kube-apiserver.pid" "$PKI_DIR/apiserver.crt" \
     && pid_alive "$PID_DIR/kube-controller-manager.pid" "$KUBE_DIR/controller-manager.kubeconfig"; then
    was_up=1
  fi
  start_etcd
  start_apiserver
  start_controller_manager
  if ! wait_until 60 default_sa_present; then
    log_tail "$LOG_DIR/kube-controller-manager.log" 60
    die "k8s: default ServiceAccount never appeared (controller-manager not reconciling)"
  fi
  if [ "$was_up" = 1 ]; then
    log "k8s: running and healthy at $K8S_SERVER (apiserver pid $(pid_of "$PID_DIR/kube-apiserver.pid"))"
  else
    log "k8s: ready at $K8S_SERVER, kubeconfig .work/kubeconfig ($((SECONDS - t0))s)"
  fi
}
