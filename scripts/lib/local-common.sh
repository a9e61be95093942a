# shellcheck shell=bash
# shellcheck disable=SC2034  # variables are used by the scripts that source this
# Shared helpers for scripts/local-{up,down,status}.sh (sourced, not executed).
#
# Every local service listens on loopback only and is tracked by a PID file
# under .work/local/pids/. Processes are only ever stopped by those recorded
# PIDs (after checking the PID still belongs to the expected program), never
# by process name.

ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
WORK_DIR="$ROOT/.work"
LOCAL_DIR="$WORK_DIR/local"
PID_DIR="$LOCAL_DIR/pids"
LOG_DIR="$LOCAL_DIR/logs"
PKI_DIR="$LOCAL_DIR/pki"
KUBECONFIG_FILE="$WORK_DIR/kubeconfig"
LOCAL_ENV_FILE="$WORK_DIR/local.env"

# ---- ports (all bound to 127.0.0.1) -------------------------------------------
ETCD_CLIENT_PORT=12379
ETCD_PEER_PORT=12380
KUBE_APISERVER_PORT=16443
KUBE_CONTROLLER_MANAGER_PORT=16257
KUBE_SERVICE_CIDR=10.96.0.0/16      # virtual only: no kube-proxy, never routed
MARIADB_PORT=13306
RABBITMQ_AMQP_PORT=5672
RABBITMQ_MGMT_PORT=15672
RABBITMQ_DIST_PORT=25672
RABBITMQ_EPMD_PORT=14369             # private epmd, not the system default 4369
RABBITMQ_NODE=cvlocal@localhost

MARIADB_DIR="$LOCAL_DIR/mariadb"
RABBITMQ_DIR="$LOCAL_DIR/rabbitmq"
ETCD_DIR="$LOCAL_DIR/etcd"
KUBE_DIR="$LOCAL_DIR/kube"

# Unix socket of the private mariadbd. sun_path is limited to 107 bytes: for a
# deep checkout fall back to a short per-checkout directory under /tmp.
mariadb_socket_path() {
  local s="$MARIADB_DIR/mysqld.sock"
  if [ "${#s}" -gt 100 ]; then
    s="/tmp/cv-local-$(printf '%s' "$ROOT" | md5sum | cut -c1-10)/mysqld.sock"
  fi
  printf '%s\n' "$s"
}

# ---- output -------------------------------------------------------------------
_ts() { date +%H:%M:%S; }
log()  { printf '[%s] %s\n' "$(_ts)" "$*"; }
warn() { printf '[%s] WARN: %s\n' "$(_ts)" "$*" >&2; }
die()  { printf '[%s] ERROR: %s\n' "$(_ts)" "$*" >&2; exit 1; }

# Print the last lines of a log file to stderr (for failures).
log_tail() { # <file> [lines]
  local f="$1" n="${2:-40}"
  if [ -f "$f" ]; then
    printf -- '----- last %s lines of %s -----\n' "$n" "${f#"$ROOT"/}" >&2
    tail -n "$n" "$f" >&2
    printf -- '-----\n' >&2
  fi
}

# ---- misc ---------------------------------------------------------------------
ensure_dirs() { mkdir -p "$PID_DIR" "$LOG_DIR"; chmod 700 "$LOCAL_DIR"; }

# Random alphanumeric secret written to <file> (mode 600) if it does not exist.
ensure_secret_file() { # <file> [length]
  local f="$1" len="${2:-32}" s
  if [ ! -s "$f" ]; then
    mkdir -p "$(dirname "$f")"
    # fixed-size read: no SIGPIPE under `set -o pipefail`
    s="$(head -c 1024 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9' | cut -c "1-$len")"
    (umask 077; printf '%s' "$s" >"$f")
  fi
  chmod 600 "$f"
}

# Wait until "$@" succeeds, up to <timeout> seconds (polling every 0.5s).
wait_until() { # <timeout> <cmd...>
  local timeout="$1"; shift
  local deadline=$(( $(date +%s) + timeout ))
  while ! "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.5
  done
}

# True when something accepts TCP connections on 127.0.0.1:<port>.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

apt_install() { # <packages...>
  log "installing Debian packages: $*"
  if [ ! -f "$LOCAL_DIR/.apt-updated" ] || [ -z "$(find "$LOCAL_DIR/.apt-updated" -mmin -360 2>/dev/null)" ]; then
    apt-get update -qq >/dev/null || die "apt-get update failed"
    ensure_dirs; touch "$LOCAL_DIR/.apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null \
    || die "apt-get install $* failed"
}

# ---- processes ----------------------------------------------------------------
# PID recorded in <pidfile>, or empty.
pid_of() { [ -s "$1" ] && tr -dc '0-9' <"$1" || true; }

# True when <pidfile> names a live process whose command line or environment
# contains <match> (guards against PID reuse after a reboot or a crash).
pid_alive() { # <pidfile> <match>
  local pid; pid="$(pid_of "$1")"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2" && return 0
  tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qF -- "$2"
}

# Start "$@" in its own session in the background, stdin from /dev/null,
# stdout/stderr appended to <logfile>, and write its PID to <pidfile>.
# The PID is that of the process that execs the command (not of a wrapper).
# Every other inherited descriptor is closed first: a daemon must not keep
# its starter's files open (a `flock` lock held around `make local-up` would
# otherwise stay held for as long as the daemon lives).
spawn() { # <pidfile> <logfile> <cmd...>
  local pidfile="$1" logfile="$2"; shift 2
  rm -f "$pidfile"
  printf '\n===== %s start: %s\n' "$(date -Is)" "$*" >>"$logfile"
  setsid bash -c 'for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done; echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$logfile" 2>&1 &
  wait_until 5 test -s "$pidfile" || die "could not start $1"
}

# Stop the process recorded in <pidfile>: SIGTERM, wait up to <timeout>s, then
# SIGKILL that PID only. Removes the pid file. No-op if not running.
stop_pidfile() { # <pidfile> <match> <name> [timeout]
  local pidfile="$1" match="$2" name="$3" timeout="${4:-30}" pid
  pid="$(pid_of "$pidfile")"
  if [ -n "$pid" ] && pid_alive "$pidfile" "$match"; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_until "$timeout" sh -c "! kill -0 $pid 2>/dev/null"; then
      warn "$name (pid $pid) still running after ${timeout}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      wait_until 10 sh -c "! kill -0 $pid 2>/dev/null" || warn "$name (pid $pid) did not exit"
    fi
  fi
  rm -f "$pidfile"
}

# ---- binaries -----------------------------------------------------------------
# Source the toolchain env (PATH with pulumi, kube-apiserver, etcd, ...) when
# scripts/bootstrap-toolchain.sh has written it.
load_toolchain_env() {
  if [ -f "$WORK_DIR/toolchain.env" ]; then
    # shellcheck disable=SC1091
    . "$WORK_DIR/toolchain.env"
  fi
}

# Absolute path of a tool: PATH first, then the toolchain cache.
find_tool() { # <name>
  local p
  p="$(command -v "$1" 2>/dev/null || true)"
  if [ -z "$p" ]; then
    p="$(ls -1t "${XDG_CACHE_HOME:-$HOME/.cache}"/collectverything/toolchain/*/bin/"$1" 2>/dev/null | head -n1 || true)"
  fi
  [ -n "$p" ] && [ -x "$p" ] && printf '%s\n' "$p"
}
