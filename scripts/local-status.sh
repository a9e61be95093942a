#!/usr/bin/env bash
# Show the state of the local backends started by scripts/local-up.sh.
# Usage: bash scripts/local-status.sh [--verify]
#   --verify  also run functional checks against the Kubernetes control plane
#             (namespace + default ServiceAccount, PodSecurity enforcement,
#             ResourceQuota status, namespace deletion), MariaDB (admin login
#             over TCP) and RabbitMQ (admin login, quorum queue round trip).
# Exit status: 0 when every service is up and healthy (and, with --verify,
# every check passed); 1 otherwise (some or all services stopped/unhealthy).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib/local-common.sh
. "$ROOT/scripts/lib/local-common.sh"
# shellcheck source=scripts/lib/local-k8s.sh
. "$ROOT/scripts/lib/local-k8s.sh"
# shellcheck source=scripts/lib/objectstore.sh
. "$ROOT/scripts/lib/objectstore.sh"
# shellcheck source=scripts/lib/local-node.sh
. "$ROOT/scripts/lib/local-node.sh"
# shellcheck source=scripts/lib/local-netpol.sh
. "$ROOT/scripts/lib/local-netpol.sh"

verify=0
for a in "$@"; do
  case "$a" in
    --verify) verify=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) die "unknown argument '$a'" ;;
  esac
done

rc=0
row() { printf '  %-24s %-9s %s\n' "$1" "$2" "$3"; }
svc() { # <name> <pidfile> <match> <health-cmd...>
  local name="$1" pidfile="$2" match="$3"; shift 3
  if [ ! -e "$pidfile" ]; then row "$name" stopped ""; rc=1; return; fi
  if ! pid_alive "$pidfile" "$match"; then row "$name" DEAD "stale pid file $pidfile"; rc=1; return; fi
  if "$@" >/dev/null 2>&1; then row "$name" up "pid $(pid_of "$pidfile")"
  else row "$name" UNHEALTHY "pid $(pid_of "$pidfile")"; rc=1; fi
}
mysql_ping() { MYSQL_PWD="$(cat "$MARIADB_DIR/admin-password")" mariadb --no-defaults --protocol=TCP -h127.0.0.1 -P"$MARIADB_PORT" -uplatform_admin -e 'SELECT 1'; }
rmq_whoami() {
  printf 'user = "platform_admin:%s"\n' "$(cat "$RABBITMQ_DIR/admin-password")" \
    | curl -sS -f -K - "http://127.0.0.1:$RABBITMQ_MGMT_PORT/api/whoami" | grep -q administrator
}

echo "local backends (.work/local):"
svc etcd                    "$PID_DIR/etcd.pid" "$ETCD_DIR" etcd_healthy
svc kube-apiserver          "$PID_DIR/kube-apiserver.pid" "$PKI_DIR/apiserver.crt" k8s_ready
svc kube-controller-manager "$PID_DIR/kube-controller-manager.pid" "$KUBE_DIR/controller-manager.kubeconfig" kcm_healthy
svc mariadb                 "$PID_DIR/mariadb.pid" "$MARIADB_DIR/my.cnf" mysql_ping
svc epmd                    "$PID_DIR/epmd.pid" "$RABBITMQ_EPMD_PORT" port_open "$RABBITMQ_EPMD_PORT"
svc rabbitmq                "$PID_DIR/rabbitmq.pid" "$RABBITMQ_DIR/mnesia" rmq_whoami
svc objectstore             "$PID_DIR/objectstore.pid" "$OBJECTSTORE_DIR/data" objectstore_ready
if [ "${CV_LOCAL_NODE:-1}" != 0 ] || [ -e "$PID_DIR/kubelet.pid" ]; then
  NODE_HOME="$(bash "$ROOT/scripts/bootstrap-node.sh" --cached 2>/dev/null || true)"
  svc containerd            "$PID_DIR/containerd.pid" "$NODE_DIR/containerd/config.toml" containerd_ready
  svc kubelet               "$PID_DIR/kubelet.pid" "$NODE_DIR/kubelet.yaml" kubelet_healthy
  svc kube-scheduler        "$PID_DIR/kube-scheduler.pid" "$NODE_DIR/kube-scheduler.kubeconfig" scheduler_healthy
  svc kube-proxy            "$PID_DIR/kube-proxy.pid" "$NODE_DIR/kube-proxy.yaml" proxy_healthy
  # NetworkPolicy enforcement and DNS (scripts/lib/local-netpol.sh): kube-router's chain is installed, CoreDNS answers.
  svc kube-router           "$PID_DIR/kube-router.pid" "--run-firewall=true" sh -c 'iptables -S FORWARD | grep -q -- "-j KUBE-ROUTER-FORWARD"'
  svc coredns-api-relay     "$PID_DIR/netpol-apirelay.pid" "TCP-LISTEN:$NETPOL_APIRELAY_PORT" \
    "$NODE_HOME/bin/probe" dns udp "$NETPOL_DNS_IP:53" kubernetes.default.svc.cluster.local. --timeout 1s
fi
echo "  endpoints: k8s https://127.0.0.1:$KUBE_APISERVER_PORT | mysql 127.0.0.1:$MARIADB_PORT | amqp 127.0.0.1:$RABBITMQ_AMQP_PORT | rabbitmq-mgmt http://127.0.0.1:$RABBITMQ_MGMT_PORT | s3 http://127.0.0.1:$OBJECTSTORE_PORT"
echo "  env: ${LOCAL_ENV_FILE#"$ROOT"/} $([ -f "$LOCAL_ENV_FILE" ] || echo '(missing)')"

[ "$verify" = 1 ] || exit "$rc"

# ---- functional checks ----------------------------------------------------------
pass=0 fail=0
check() { # <description> <cmd...>
  local d="$1"; shift
  if "$@"; then pass=$((pass + 1)); echo "  ok   $d"; else fail=$((fail + 1)); echo "  FAIL $d"; fi
}

if [ -s "$PID_DIR/kube-apiserver.pid" ]; then
  echo "verifying kubernetes:"
  if command -v kubectl >/dev/null; then
    export KUBECONFIG="$KUBECONFIG_FILE"
    ns="cv-local-verify-$$"
    k() { kubectl --request-timeout=20s "$@"; }
    check "admin identity can do anything" sh -c '[ "$(kubectl auth can-i "*" "*" --all-namespaces)" = yes ]'
    check "create namespace $ns (PodSecurity enforce=restricted)" sh -c \
      "kubectl create namespace $ns >/dev/null && kubectl label namespace $ns pod-security.kubernetes.io/enforce=restricted >/dev/null"
    check "default ServiceAccount created by controller-manager" \
      wait_until 30 kubectl -n "$ns" get serviceaccount default
    priv_out="$(k -n "$ns" run priv --image=busybox --restart=Never \
      --overrides='{"spec":{"containers":[{"name":"priv","image":"busybox","securityContext":{"privileged":true}}]}}' 2>&1 || true)"
    check "privileged pod refused by PodSecurity" grep -q 'violates PodSecurity "restricted' <<<"$priv_out"
    k -n "$ns" create quota q1 --hard=pods=2,requests.cpu=1,requests.memory=1Gi >/dev/null
    check "ResourceQuota status populated" wait_until 30 sh -c \
      "kubectl -n $ns get resourcequota q1 -o jsonpath='{.status.hard.pods}' | grep -qx 2"
    ok_pod='{"apiVersion":"v1","kind":"Pod","metadata":{"name":"ok"},"spec":{"securityContext":{"runAsNonRoot":true,"runAsUser":1000,"seccompProfile":{"type":"RuntimeDefault"}},"containers":[{"name":"c","image":"busybox","resources":{"requests":{"cpu":"100m","memory":"64Mi"},"limits":{"cpu":"100m","memory":"64Mi"}},"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}]}}'
    check "restricted-compliant pod admitted" sh -c \
      "printf '%s' '$ok_pod' | kubectl -n $ns create -f - >/dev/null"
    check "quota usage counts the pod" wait_until 30 sh -c \
      "kubectl -n $ns get resourcequota q1 -o jsonpath='{.status.used.pods}' | grep -qx 1"
    k delete namespace "$ns" --wait=false >/dev/null
    check "namespace deletion completes" wait_until 90 sh -c "! kubectl get namespace $ns >/dev/null 2>&1"
  else
    check "kubectl present (needed for the k8s checks)" false
  fi
fi

if [ -s "$PID_DIR/mariadb.pid" ]; then
  echo "verifying mariadb:"
  check "admin TCP login with CREATE USER + GRANT OPTION" sh -c \
    "MYSQL_PWD=\"\$(cat '$MARIADB_DIR/admin-password')\" mariadb --no-defaults --protocol=TCP -h127.0.0.1 -P$MARIADB_PORT -uplatform_admin -N -B \
      -e \"CREATE USER IF NOT EXISTS 'cv_verify'@'%' IDENTIFIED BY 'x'; DROP USER 'cv_verify'@'%'; SELECT 1\" | grep -qx 1"
fi

if [ -s "$PID_DIR/rabbitmq.pid" ]; then
  echo "verifying rabbitmq:"
  api() { printf 'user = "platform_admin:%s"\n' "$(cat "$RABBITMQ_DIR/admin-password")" \
    | curl -sS -f -K - -X "$1" -H 'content-type: application/json' ${3:+--data "$3"} "http://127.0.0.1:$RABBITMQ_MGMT_PORT$2"; }
  check "admin login (administrator tag)" rmq_whoami
  check "guest user absent" sh -c "! curl -sS -f -u guest:guest http://127.0.0.1:$RABBITMQ_MGMT_PORT/api/whoami >/dev/null 2>&1"
  q=cv-local-verify
  quorum_roundtrip() {
    api PUT "/api/queues/%2F/$q" '{"durable":true,"arguments":{"x-queue-type":"quorum"}}' >/dev/null &&
    api POST /api/exchanges/%2F/amq.default/publish \
      "{\"properties\":{},\"routing_key\":\"$q\",\"payload\":\"v\",\"payload_encoding\":\"string\"}" | grep -q '"routed":true' &&
    api POST "/api/queues/%2F/$q/get" '{"count":1,"ackmode":"ack_requeue_false","encoding":"auto"}' | grep -q '"payload":"v"' &&
    api GET "/api/queues/%2F/$q" | grep -q '"type":"quorum"'
  }
  check "quorum queue declare/publish/get" quorum_roundtrip
  api DELETE "/api/queues/%2F/$q" >/dev/null 2>&1 || true
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ] && exit "$rc" || exit 1
