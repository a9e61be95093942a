# shellcheck shell=bash
# The backup image of the local stack: what the tenants' db-backup CronJob and final-backup Job run
# (`tenantctl backup ...`, core/archive.ts), built without a registry or a container build:
#   /usr/local/bin/node        Node.js 24, the project's own (scripts/ensure-node.sh)
#   /usr/local/bin/tenantctl   the CLI bundled into one file by esbuild (scripts/lib/bundle-tenantctl.js),
#                              `#!/usr/local/bin/node`, so no shell is needed
#   /usr/bin/mariadb-dump, /usr/bin/mariadb and the MariaDB client auth plugins, from Debian's mariadb-client
#   every shared library those need (ldd), /etc/passwd and /etc/group with uid 999, /tmp
# turned into a docker-archive tarball by the node's mkimage (tools/images, go-containerregistry), user 999:999,
# so it runs as non-root under Pod Security `restricted` (the pod sets runAsUser 999 and a read-only root; /tmp
# and /backup are volumes). Production keeps its own image (Dockerfile.tenantctl, DEFAULT_BACKUP_IMAGE);
# Pulumi.local.yaml names this one (backup.image).
#
#   bash scripts/lib/backup-image.sh build    build (or reuse) the tarball; prints its path
#   bash scripts/lib/backup-image.sh import   build, then import it into the node's containerd (local-up does this)
#
# Cached by content: the rootfs is assembled (about 2 s: the bundle and copies), its files hashed, and the tarball
# kept under ${CV_BACKUP_IMAGE_CACHE_DIR:-~/.cache/collectverything/backup-image}/<hash>/backup.tar; the same
# sources give the same hash and no new tarball. The import is skipped when containerd already holds that image
# (its config digest, printed by mkimage, is kept next to the tarball).

ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
# shellcheck source=scripts/lib/local-common.sh
. "$ROOT/scripts/lib/local-common.sh"

BACKUP_IMAGE_REF=localhost/cv/backup:local   # Pulumi.local.yaml backup.image
BACKUP_IMAGE_UID=999                         # the program's default backup.uid
BACKUP_IMAGE_RECIPE_REV=1                    # bump when the layout below changes

backup_image_cache_root() {
  printf '%s\n' "${CV_BACKUP_IMAGE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/collectverything/backup-image}"
}

# The node's mkimage: $CV_MKIMAGE, else the node cache's (scripts/bootstrap-node.sh --cached).
backup_image_mkimage() {
  if [ -n "${CV_MKIMAGE:-}" ] && [ -x "$CV_MKIMAGE" ]; then printf '%s\n' "$CV_MKIMAGE"; return 0; fi
  local home
  home="$(bash "$ROOT/scripts/bootstrap-node.sh" --cached 2>/dev/null)" || true
  [ -n "$home" ] && [ -x "$home/bin/mkimage" ] || die "backup-image: mkimage not found. Fix: run scripts/bootstrap-node.sh (or make local-up) first"
  printf '%s\n' "$home/bin/mkimage"
}

# Copies a file to the same path under the rootfs, following symbolic links.
_bi_copy() { # <rootfs> <path>
  mkdir -p "$1$(dirname "$2")"
  cp -L --preserve=mode "$2" "$1$2"
}

# Copies a binary or library and every shared library it loads (ldd), each at its own path.
_bi_copy_with_libs() { # <rootfs> <path>
  local lib
  _bi_copy "$1" "$2"
  while read -r lib; do
    if [ -n "$lib" ] && [ ! -e "$1$lib" ]; then _bi_copy "$1" "$lib"; fi
  done < <(ldd "$2" | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }')
}

# Assembles the image's root file system in <dir>.
backup_image_rootfs() { # <dir>
  local fs=$1 node p
  node="$(bash "$ROOT/scripts/ensure-node.sh")/node"
  command -v mariadb-dump >/dev/null && command -v mariadb >/dev/null \
    || die "backup-image: mariadb-dump and mariadb are missing. Fix: apt-get install mariadb-client (make local-up installs it)"
  mkdir -p "$fs/usr/local/bin" "$fs/usr/bin" "$fs/etc" "$fs/tmp"
  chmod 1777 "$fs/tmp"
  cp "$node" "$fs/usr/local/bin/node"; chmod 755 "$fs/usr/local/bin/node"
  while read -r p; do if [ -n "$p" ] && [ ! -e "$fs$p" ]; then _bi_copy "$fs" "$p"; fi; done \
    < <(ldd "$node" | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }')
  "$node" "$ROOT/scripts/lib/bundle-tenantctl.js" "$fs/usr/local/bin/tenantctl" --interpreter /usr/local/bin/node >&2 \
    || die "backup-image: bundling tenantctl failed (does the tree compile? make typecheck)"
  for p in "$(command -v mariadb-dump)" "$(command -v mariadb)"; do
    _bi_copy_with_libs "$fs" "$(readlink -f "$p")"
    if [ "$(readlink -f "$p")" != "/usr/bin/$(basename "$p")" ]; then cp -L "$p" "$fs/usr/bin/$(basename "$p")"; fi
  done
  # MySQL 8's default authentication (caching_sha2_password) and MariaDB's ed25519 are client plugins.
  for p in /usr/lib/x86_64-linux-gnu/libmariadb3/plugin/{caching_sha2_password,sha256_password,client_ed25519,mysql_clear_password}.so; do
    if [ -e "$p" ]; then _bi_copy_with_libs "$fs" "$p"; fi
  done
  if [ -d /usr/share/mariadb/charsets ]; then mkdir -p "$fs/usr/share/mariadb"; cp -r /usr/share/mariadb/charsets "$fs/usr/share/mariadb/"; fi
  printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nbackup:x:%s:%s:tenant backup:/tmp:/usr/sbin/nologin\n' "$BACKUP_IMAGE_UID" "$BACKUP_IMAGE_UID" >"$fs/etc/passwd"
  printf 'root:x:0:\nbackup:x:%s:\n' "$BACKUP_IMAGE_UID" >"$fs/etc/group"
  chmod -R a+rX "$fs"
}

# Prints the path of the image tarball, building it if the cache has none for this content.
build_backup_image() {
  local t0=$SECONDS work key dir mk
  work="$(mktemp -d "${TMPDIR:-/tmp}/cv-backup-image.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" RETURN
  backup_image_rootfs "$work/rootfs"
  key="$({ printf 'recipe=%s ref=%s uid=%s\n' "$BACKUP_IMAGE_RECIPE_REV" "$BACKUP_IMAGE_REF" "$BACKUP_IMAGE_UID"
           (cd "$work/rootfs" && find . -printf '%y %m %p %l\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum); } \
         | sha256sum | cut -c1-16)"
  dir="$(backup_image_cache_root)/$key"
  if [ -s "$dir/backup.tar" ] && [ -s "$dir/backup.id" ]; then
    log "backup-image: $BACKUP_IMAGE_REF cached (${dir/#$HOME/\~}, $((SECONDS - t0))s)" >&2
    printf '%s\n' "$dir/backup.tar"; return 0
  fi
  mk="$(backup_image_mkimage)"
  mkdir -p "$dir"
  "$mk" --rootfs "$work/rootfs" --name "$BACKUP_IMAGE_REF" --user "$BACKUP_IMAGE_UID:$BACKUP_IMAGE_UID" \
    --env PATH=/usr/local/bin:/usr/bin:/bin --env HOME=/tmp --env TMPDIR=/tmp \
    --cmd tenantctl --cmd --help --out "$dir/backup.tar.tmp" >"$dir/backup.id.tmp" \
    || die "backup-image: mkimage failed"
  mv -f "$dir/backup.tar.tmp" "$dir/backup.tar"; mv -f "$dir/backup.id.tmp" "$dir/backup.id"
  # Keep the three newest images (each source change makes one, ~65 MB).
  ls -1dt "$(backup_image_cache_root)"/*/ 2>/dev/null | tail -n +4 | while read -r old; do rm -rf "$old"; done
  log "backup-image: built $BACKUP_IMAGE_REF ($(du -m "$dir/backup.tar" | cut -f1) MB, image $(cut -c1-19 "$dir/backup.id")) in $((SECONDS - t0))s" >&2
  printf '%s\n' "$dir/backup.tar"
}

# Imports the image into the node's containerd (namespace k8s.io), unless the last import (recorded in
# .work/local/backup-image.imported with containerd's PID) was this tarball into this containerd.
import_backup_image() {
  local t0=$SECONDS tar ctr addr stamp mark
  tar="$(build_backup_image)"
  ctr="${CV_CTR:-}"; addr="${CV_CONTAINERD_ADDRESS:-/run/cv-node/containerd.sock}"
  if [ -z "$ctr" ]; then ctr="$(dirname "$(backup_image_mkimage)")/ctr"; fi
  [ -x "$ctr" ] || die "backup-image: ctr not found. Fix: run scripts/bootstrap-node.sh (or make local-up) first"
  [ -S "$addr" ] || die "backup-image: containerd is not running at $addr. Fix: make local-up (the node)"
  mark="$LOCAL_DIR/backup-image.imported"
  stamp="$tar $(cat "$PID_DIR/containerd.pid" 2>/dev/null)"
  if [ "$(cat "$mark" 2>/dev/null)" = "$stamp" ] && "$ctr" --address "$addr" -n k8s.io images ls -q 2>/dev/null | grep -qx "$BACKUP_IMAGE_REF"; then
    log "backup-image: $BACKUP_IMAGE_REF already in containerd" >&2; return 0
  fi
  "$ctr" --address "$addr" -n k8s.io images import --local "$tar" >&2 || die "backup-image: ctr images import failed"
  mkdir -p "$LOCAL_DIR"; printf '%s\n' "$stamp" >"$mark"
  log "backup-image: imported $BACKUP_IMAGE_REF into containerd ($((SECONDS - t0))s)" >&2
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-}" in
    build) build_backup_image ;;
    import) import_backup_image ;;
    rootfs) backup_image_rootfs "${2:?usage: backup-image.sh rootfs DIR}" ;;
    *) echo "usage: bash scripts/lib/backup-image.sh build|import|rootfs DIR" >&2; exit 2 ;;
  esac
fi
