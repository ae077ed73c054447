#!/usr/bin/env bash
# Builds the STAND-IN images for production's workloads (production pins docker.io images that cannot be pulled
# here), from test/cluster/standin-images/, as docker-archives NAME.tar + NAME.ref in .cache/node-images/standin/
# (buildah, vfs storage of its own there). push-standins.sh pushes them to the test cluster's registry and locks them.
#   go-ok          standin-images/go-ok: go-ok's contract in a static Go server, FROM scratch, ENTRYPOINT ["/ok"],
#                  no USER (as upstream; the model sets 10001)
#   node           Debian 12's nodejs (mmdebstrap rootfs, variant essential), node also at /usr/local/bin/node:
#                  the base of hashgenerator and of the shop's images (images:build, push-standins.sh)
#   hashgenerator  node + standin-images/hashgenerator in /usr/src/app, CMD ["node", "index.js"] (upstream runs
#                  `npm start`, which runs that; Debian's nodejs has no npm), no USER
#   nginx          Debian 12's nginx (mmdebstrap rootfs) laid out like the official image: standin-images/nginx/
#                  nginx.conf (conf.d/*.conf, pid /run/nginx.pid, temp files in /var/cache/nginx), logs linked to
#                  /dev/stdout and /dev/stderr, /usr/sbin/nginx, CMD ["nginx", "-g", "daemon off;"], STOPSIGNAL SIGQUIT
# What the tests then prove is the manifests and the wiring, not the upstream programs.
# The Debian root filesystems are cached (rootfs-*.tar, keyed on their package list and this script); a second run
# is a no-op while the sources, this script and the Go/buildah versions are unchanged (stamp).
#
# Usage: test/cluster/harness/build-standin-images.sh [--force]
# Env:   NODE_IMAGES_DIR (default <repo>/.cache/node-images; output in its standin/), DEBIAN_MIRROR (mmdebstrap's
#        mirror, default: mmdebstrap's default for bookworm), BUILD_NICE (10)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
OUT="${NODE_IMAGES_DIR:-$ROOT/.cache/node-images}/standin"
SRC="$ROOT/test/cluster/standin-images"
FORCE="${1:-}"
SUITE=bookworm
log() { echo "build-standin-images.sh: $*" >&2; }

command -v go >/dev/null || { log "Go is required"; exit 1; }
command -v buildah >/dev/null || { log "buildah is required: images/install-buildah.sh"; exit 1; }
command -v mmdebstrap >/dev/null || { log "mmdebstrap is required: test/cluster/harness/install-node-deps.sh"; exit 1; }
[ "$(id -u)" = 0 ] || { log "needs root (mmdebstrap runs the packages' maintainer scripts in a chroot)"; exit 1; }

IMAGES=(go-ok node hashgenerator nginx)
STAMP="$OUT/.standin-build-stamp"
WANT=$( { cd "$SRC" && find . -type f ! -name '*.tar' | LC_ALL=C sort | xargs sha256sum; cat "$HERE/${0##*/}"; go env GOVERSION; buildah --version; } |
  sha256sum | cut -d' ' -f1)
up_to_date() {
  [ "$FORCE" != --force ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] || return 1
  local i; for i in "${IMAGES[@]}"; do [ -f "$OUT/$i.tar" ] && [ -f "$OUT/$i.ref" ] || return 1; done
}
if up_to_date; then log "stand-in images (${IMAGES[*]}) up to date in $OUT"; exit 0; fi
mkdir -p "$OUT"
rm -f "$STAMP"
t0=$SECONDS

# --- Debian root filesystems (mmdebstrap), cached by their definition ----------------------------------------
# Variant essential (no apt in the image); no docs, man pages or translations.
MMDEB=(nice -n "${BUILD_NICE:-10}" mmdebstrap --quiet --variant=essential
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/info/*')
rootfs() {   # rootfs NAME PACKAGES HOOK...: $OUT/rootfs-NAME.tar, rebuilt only when its definition changed
  local name=$1 pkgs=$2 key t; shift 2
  key=$(printf '%s\n' "$SUITE" "$pkgs" "${MMDEB[@]}" "$@" | sha256sum | cut -d' ' -f1)
  if [ "$FORCE" != --force ] && [ -f "$OUT/rootfs-$name.tar" ] && [ "$(cat "$OUT/rootfs-$name.key" 2>/dev/null)" = "$key" ]; then
    log "rootfs $name ($pkgs) cached"; return 0
  fi
  t=$SECONDS
  rm -rf "$OUT/rootfs-$name.tar" "$OUT/rootfs-$name.tar.part" "$OUT/rootfs-$name.key"
  local hooks=() h
  for h in "$@"; do hooks+=(--customize-hook="$h"); done
  SOURCE_DATE_EPOCH=0 "${MMDEB[@]}" --format=tar --include="$pkgs" "${hooks[@]}" "$SUITE" "$OUT/rootfs-$name.tar.part" ${DEBIAN_MIRROR:+"$DEBIAN_MIRROR"}
  mv "$OUT/rootfs-$name.tar.part" "$OUT/rootfs-$name.tar"
  echo "$key" >"$OUT/rootfs-$name.key"
  log "rootfs $name ($pkgs) in $((SECONDS - t))s, $(du -m "$OUT/rootfs-$name.tar" | cut -f1) MB"
}
# nginx like the official image: its nginx.conf and conf.d, logs to the container's stdout/stderr, the mount
# points of the model's emptyDirs and volumes, no Debian sites-* (nothing includes them any more).
# Hooks run as `sh -c HOOK sh ROOTFS`: $1 expands there, not here.
# shellcheck disable=SC2016
NGINX_HOOKS=(
  'rm -rf "$1/etc/nginx/sites-enabled" "$1/etc/nginx/sites-available" "$1/etc/nginx/conf.d" "$1/var/www"'
  "cp '$SRC/nginx/nginx.conf' \"\$1/etc/nginx/nginx.conf\" && cp -r '$SRC/nginx/conf.d' \"\$1/etc/nginx/conf.d\""
  'chmod 0644 "$1/etc/nginx/nginx.conf" "$1"/etc/nginx/conf.d/*.conf && chmod 0755 "$1/etc/nginx/conf.d"'
  'mkdir -p "$1/var/log/nginx" "$1/var/cache/nginx" "$1/etc/tls" && ln -sf /dev/stdout "$1/var/log/nginx/access.log" && ln -sf /dev/stderr "$1/var/log/nginx/error.log"'
  'rm -f "$1/run/nginx.pid" && rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*.log "$1"/var/log/apt'
)
# shellcheck disable=SC2016
NODE_HOOKS=(
  'mkdir -p "$1/usr/local/bin" && ln -sf /usr/bin/node "$1/usr/local/bin/node"'
  'rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*.log "$1"/var/log/apt'
)
# Both at once (mostly downloads and dpkg); their logs apart.
rootfs node nodejs "${NODE_HOOKS[@]}" >"$OUT/rootfs-node.log" 2>&1 & p_node=$!
rootfs nginx nginx "${NGINX_HOOKS[@]}" >"$OUT/rootfs-nginx.log" 2>&1 & p_nginx=$!
rc=0
wait "$p_node" || rc=1; cat "$OUT/rootfs-node.log" >&2
wait "$p_nginx" || rc=1; cat "$OUT/rootfs-nginx.log" >&2
[ "$rc" = 0 ] || { log "a root filesystem failed (logs above)"; exit 1; }
t1=$SECONDS

# --- go-ok: static, FROM scratch ----------------------------------------------------------------------------
STAGE="$OUT/stage"
rm -rf "$STAGE"; mkdir -p "$STAGE/go-ok" "$STAGE/hashgenerator/usr/src/app"
(cd "$SRC/go-ok" && GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false -trimpath" CGO_ENABLED=0 \
  nice -n "${BUILD_NICE:-10}" go build -ldflags "-s -w" -o "$STAGE/go-ok/ok" .)
cp "$SRC/hashgenerator/index.js" "$SRC/hashgenerator/package.json" "$STAGE/hashgenerator/usr/src/app/"
chmod 0644 "$STAGE/hashgenerator/usr/src/app/"*
t2=$SECONDS; log "go-ok built in $((t2 - t1))s"

# --- images ---------------------------------------------------------------------------------------------------
B=(buildah --storage-driver vfs --root "$OUT/storage" --runroot "$OUT/runroot")
PATH_ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
save() {   # save NAME CONTAINER: commit as localhost/k8s-infra-test/standin-NAME:1, docker-archive NAME.tar + NAME.ref
  local name=$1 c=$2 ref="localhost/k8s-infra-test/standin-$1:1"
  "${B[@]}" config --label "org.opencontainers.image.description=STAND-IN $name image for the k8s-infra node suite (test/cluster/harness/build-standin-images.sh)" "$c"
  "${B[@]}" commit -q --timestamp 0 --rm "$c" "$ref" >/dev/null
  rm -f "$OUT/$name.tar"
  "${B[@]}" push -q "$ref" "docker-archive:$OUT/$name.tar:$ref"
  echo "$ref" >"$OUT/$name.ref"
  log "image $ref -> $OUT/$name.tar ($(du -m "$OUT/$name.tar" | cut -f1) MB uncompressed)"
}
"${B[@]}" rmi -a -f >/dev/null 2>&1 || true
c=$("${B[@]}" from scratch)
"${B[@]}" add "$c" "$STAGE/go-ok" / >/dev/null
"${B[@]}" config --entrypoint '["/ok"]' --cmd '' --port 8080 "$c"
save go-ok "$c"

c=$("${B[@]}" from scratch)
"${B[@]}" add "$c" "$OUT/rootfs-node.tar" / >/dev/null
"${B[@]}" config --env "$PATH_ENV" --cmd '["node"]' "$c"
save node "$c"

c=$("${B[@]}" from localhost/k8s-infra-test/standin-node:1)
"${B[@]}" add "$c" "$STAGE/hashgenerator" / >/dev/null
"${B[@]}" config --workingdir /usr/src/app --cmd '["node", "index.js"]' "$c"
save hashgenerator "$c"

c=$("${B[@]}" from scratch)
"${B[@]}" add "$c" "$OUT/rootfs-nginx.tar" / >/dev/null
"${B[@]}" config --env "$PATH_ENV" --cmd '["nginx", "-g", "daemon off;"]' --stop-signal SIGQUIT --port 80 "$c"
save nginx "$c"

"${B[@]}" rmi -a -f >/dev/null 2>&1 || true   # the archives are what counts; keep vfs storage small
rm -rf "$STAGE"
t3=$SECONDS
log "images built in $((t3 - t2))s; root filesystems $((t1 - t0))s; total $((t3 - t0))s"
echo "$WANT" >"$STAMP"
