#!/usr/bin/env bash
# Stop the local backends started by scripts/local-up.sh, by their recorded
# PIDs only (SIGTERM, wait, then SIGKILL of that PID). Data is kept unless
# --purge is given, which then removes .work/local (and the generated
# .work/kubeconfig and .work/local.env); --purge needs all targets.
# The node (target "node", stopped with k8s too) also loses its network namespaces, interfaces, nftables
# tables, mounts and cgroups (scripts/lib/local-node.sh down_node).
# Usage: bash scripts/local-down.sh [--purge] [all|k8s|node|mariadb|rabbitmq|objectstore]...
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib/local-common.sh
. "$ROOT/scripts/lib/local-common.sh"
# shellcheck source=scripts/lib/objectstore.sh
. "$ROOT/scripts/lib/objectstore.sh"
# shellcheck source=scripts/lib/local-node.sh
. "$ROOT/scripts/lib/local-node.sh"
# shellcheck source=scripts/lib/local-netpol.sh
. "$ROOT/scripts/lib/local-netpol.sh"

purge=0 want_k8s=0 want_db=0 want_mq=0 want_s3=0 want_node=0 any=0
for a in "$@"; do
  case "$a" in
    --purge) purge=1 ;;
    all) want_k8s=1; want_db=1; want_mq=1; want_s3=1; any=1 ;;
    k8s|kube|kubernetes) want_k8s=1; any=1 ;;
    node) want_node=1; any=1 ;;
    mariadb|mysql) want_db=1; any=1 ;;
    rabbitmq|rabbit) want_mq=1; any=1 ;;
    objectstore|s3) want_s3=1; any=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) die "unknown argument '$a' (expected --purge, all, k8s, node, mariadb, rabbitmq, objectstore)" ;;
  esac
done
[ "$any" = 1 ] || { want_k8s=1; want_db=1; want_mq=1; want_s3=1; }
[ "$want_k8s" = 0 ] || want_node=1 # the node cannot outlive its control plane
if [ "$purge" = 1 ] && [ "$want_k8s$want_db$want_mq$want_s3" != 1111 ]; then
  die "--purge removes all local state; use it without a target (or with 'all')"
fi

t0=$SECONDS
# The node first (its pods, netns, interfaces, nftables tables, mounts), while the API server still runs.
# kube-router (its chains and ipsets), the API relay and the external destination before that.
if [ "$want_node" = 1 ]; then down_netpol; down_node; fi
if [ -d "$PID_DIR" ]; then
  # Kubernetes: controller-manager first, then the API server, then etcd.
  if [ "$want_k8s" = 1 ]; then
    stop_pidfile "$PID_DIR/kube-controller-manager.pid" "$KUBE_DIR/controller-manager.kubeconfig" kube-controller-manager 20
    stop_pidfile "$PID_DIR/kube-apiserver.pid" "$PKI_DIR/apiserver.crt" kube-apiserver 30
    stop_pidfile "$PID_DIR/etcd.pid" "$ETCD_DIR" etcd 30
  fi

  # The object store (versitygw): SIGTERM, by its recorded PID.
  [ "$want_s3" = 0 ] || down_objectstore

  # MariaDB: SIGTERM is mariadbd's normal (clean) shutdown.
  [ "$want_db" = 0 ] || stop_pidfile "$PID_DIR/mariadb.pid" "$MARIADB_DIR/my.cnf" mariadb 60

  if [ "$want_mq" = 1 ]; then
    # RabbitMQ: graceful `rabbitmqctl stop` (needs our epmd), then the PIDs.
    rmq_pidfile="$PID_DIR/rabbitmq.pid"
    if pid_alive "$rmq_pidfile" "$RABBITMQ_DIR/mnesia"; then
      if pid_alive "$PID_DIR/epmd.pid" "$RABBITMQ_EPMD_PORT" && [ -s "$RABBITMQ_DIR/beam.pid" ]; then
        log "stopping rabbitmq node $RABBITMQ_NODE (rabbitmqctl stop)"
        (
          export HOME="$RABBITMQ_DIR/home" RABBITMQ_NODENAME="$RABBITMQ_NODE" \
            ERL_EPMD_PORT="$RABBITMQ_EPMD_PORT" ERL_EPMD_ADDRESS=127.0.0.1 \
            RABBITMQ_CONF_ENV_FILE="$RABBITMQ_DIR/rabbitmq-env.conf" \
            RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
          cd "$RABBITMQ_DIR" && timeout 90 /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "$RABBITMQ_NODE" \
            stop "$RABBITMQ_DIR/beam.pid" >/dev/null 2>&1
        ) || warn "rabbitmqctl stop failed; falling back to SIGTERM"
      fi
    fi
    stop_pidfile "$rmq_pidfile" "$RABBITMQ_DIR/mnesia" rabbitmq 60
    # The Erlang VM itself (normally already gone with its wrapper script).
    if pid_alive "$RABBITMQ_DIR/beam.pid" "$RABBITMQ_DIR/mnesia"; then
      cp "$RABBITMQ_DIR/beam.pid" "$PID_DIR/rabbitmq-beam.pid"
      stop_pidfile "$PID_DIR/rabbitmq-beam.pid" "$RABBITMQ_DIR/mnesia" rabbitmq-beam 30
    fi
    rm -f "$RABBITMQ_DIR/beam.pid"
    stop_pidfile "$PID_DIR/epmd.pid" "$RABBITMQ_EPMD_PORT" epmd 10
  fi
fi

if [ "$purge" = 1 ]; then
  log "purging .work/local, .work/kubeconfig and .work/local.env"
  sock_dir="$(dirname "$(mariadb_socket_path)")"
  case "$sock_dir" in /tmp/cv-local-*) rm -rf "$sock_dir" ;; esac
  rm -rf "$LOCAL_DIR" "$KUBECONFIG_FILE" "$LOCAL_ENV_FILE"
fi
log "local-down done in $((SECONDS - t0))s"
