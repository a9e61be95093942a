#!/usr/bin/env bash
# A private Prometheus for the contract tests, on loopback only.
#
#   bash scripts/lib/prometheus.sh install                 ensure prometheus + promtool (Debian's package, 2.42)
#   bash scripts/lib/prometheus.sh start DIR CONFIG PORT   run `prometheus` on 127.0.0.1:PORT with DIR/data, PID in DIR/prometheus.pid
#   bash scripts/lib/prometheus.sh stop DIR                stop the Prometheus recorded in DIR/prometheus.pid (that PID only)
#
# Idempotent. `install` runs `apt-get update` and `apt-get install -y prometheus`
# only when a binary is missing, and never lets the package start the Debian
# service: when the machine has no /usr/sbin/policy-rc.d, one that refuses every
# service start is in place for the duration of the install only. The server is
# our own process (never the Debian unit), started with --web.listen-address
# 127.0.0.1:PORT and stopped by its recorded PID, never by name.
set -euo pipefail

die() { printf 'prometheus.sh: %s\n' "$*" >&2; exit 1; }

have_binaries() { [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ]; }

install_prometheus() {
  have_binaries && return 0
  [ "$(id -u)" = 0 ] || die "prometheus is not installed and installing it needs root (apt-get install prometheus)"
  local own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# temporary, scripts/lib/prometheus.sh: do not start services during this install\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  local rc=0
  { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } || rc=$?
  if [ "$own_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  [ "$rc" = 0 ] || die "apt-get install prometheus failed (exit $rc)"
  have_binaries || die "apt-get install prometheus did not provide /usr/bin/prometheus and /usr/bin/promtool"
}

pid_in() { [ -s "$1/prometheus.pid" ] && tr -dc '0-9' <"$1/prometheus.pid" || true; }

# True when the PID recorded in DIR is a live prometheus started on DIR's data.
alive_in() {
  local pid; pid="$(pid_in "$1")"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "--storage.tsdb.path=$1/data"
}

start_prometheus() {
  local dir="$1" config="$2" port="$3"
  [[ "$dir" = /* ]] || die "start: DIR must be an absolute path (got $dir)"
  [[ "$port" =~ ^[0-9]+$ ]] || die "start: PORT must be a number (got $port)"
  install_prometheus
  mkdir -p "$dir/data"
  if alive_in "$dir"; then stop_prometheus "$dir"; fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then die "start: 127.0.0.1:$port is already in use"; fi
  rm -f "$dir/prometheus.pid"
  # The server must not inherit a caller's descriptors (a `flock` lock file, a
  # test runner's pipes): it would hold them for as long as it runs.
  (
    for fd in $(ls /proc/self/fd 2>/dev/null); do
      if [ "$fd" -gt 2 ] && [ "$fd" -lt 255 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec setsid sh -c 'echo $$ >"$0"; exec "$@"' "$dir/prometheus.pid" /usr/bin/prometheus \
      "--config.file=$config" "--storage.tsdb.path=$dir/data" "--web.listen-address=127.0.0.1:$port" \
      --web.enable-admin-api --storage.tsdb.retention.time=3650d --log.level=warn \
      </dev/null >>"$dir/prometheus.log" 2>&1
  ) &
  local deadline=$((SECONDS + 60))
  until curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ] || { [ -s "$dir/prometheus.pid" ] && ! alive_in "$dir"; }; then
      tail -n 30 "$dir/prometheus.log" >&2 || true
      die "prometheus on 127.0.0.1:$port did not become ready"
    fi
    sleep 0.2
  done
  printf '%s\n' "$(pid_in "$dir")"
}

stop_prometheus() {
  local dir="$1" pid
  pid="$(pid_in "$dir")"
  if [ -n "$pid" ] && alive_in "$dir"; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$dir/prometheus.pid"
}

case "${1:-}" in
  install) install_prometheus; printf '/usr/bin/prometheus\n/usr/bin/promtool\n' ;;
  start) [ $# = 4 ] || die "usage: start DIR CONFIG PORT"; start_prometheus "$2" "$3" "$4" ;;
  stop) [ $# = 2 ] || die "usage: stop DIR"; stop_prometheus "$2" ;;
  *) sed -n '2,6p' "$0"; exit 2 ;;
esac
