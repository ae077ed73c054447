#!/usr/bin/env bash
# Pushes every STAND-IN image to a registry and locks it, so that an environment derived from production
# (environments/production-standin.ts) pins them by digest through the image lock exactly as production does:
#   $REGISTRY/standin/{go-ok,nginx,hashgenerator,node}:1   build-standin-images.sh's archives (built first; a no-op
#                                                          when up to date); node is the shop's base
#   $REGISTRY/standin/shop/<service>:<tag>                 the shop, by the project's own `npm run images:build`
#                                                          (prebuilt-image code source) FROM standin/node:1's locked
#                                                          digest, with the stand-in sources of
#                                                          test/cluster/standin-images/shop/ served on 127.0.0.1
#   $REGISTRY/standin/<name>:<tag>                         .cache/node-images/{sealed-secrets-controller,
#                                                          metrics-server,traefik}.tar when they exist (tag: their
#                                                          .ref's, or 1; traefik: build-ingress-controller.sh)
# Every reference is locked in LOCKFILE by `npm run images:lock` (images:build locks the shop's itself).
# Prints each reference with its digest, and the time of each step.
#
# Usage: test/cluster/harness/push-standins.sh REGISTRY LOCKFILE     (REGISTRY: 127.0.0.1:<port>, e.g. $REGISTRY
#        from the cluster's env file)
# Env:   NODE_IMAGES_DIR (default <repo>/.cache/node-images), SHOP_IMAGE_TAG (images:build's, default the short
#        upstream commit), CRANE (default <repo>/.cache/bin/crane)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
REG="${1:?usage: $0 REGISTRY LOCKFILE}"
LOCK="${2:?usage: $0 REGISTRY LOCKFILE}"
IMAGES="${NODE_IMAGES_DIR:-$ROOT/.cache/node-images}"
SHOP_SRC="$ROOT/test/cluster/standin-images/shop"
export CRANE="${CRANE:-$ROOT/.cache/bin/crane}"
LOCK="$(cd "$(dirname "$LOCK")" && pwd)/$(basename "$LOCK")"
export IMAGES_LOCK="$LOCK" IMAGES_PLATFORMS=linux/amd64
log() { echo "push-standins.sh: $*" >&2; }
case "$REG" in 127.0.0.1:*|localhost:*) ;; *) log "REGISTRY must be on this machine (127.0.0.1:<port>), got $REG"; exit 2;; esac
[ -x "$CRANE" ] || { log "missing $CRANE: run npm run tools"; exit 1; }
command -v python3 >/dev/null || { log "python3 is required (serves the shop's stand-in sources)"; exit 1; }
curl -fsS --max-time 5 "http://$REG/v2/" >/dev/null || { log "no registry answers on http://$REG/v2/"; exit 1; }

T0=$SECONDS
step() { log "$1 in $((SECONDS - $2))s"; }

t=$SECONDS
NODE_IMAGES_DIR="$IMAGES" "$HERE/build-standin-images.sh"
step "build-standin-images.sh" "$t"

# --- archives: push (crane, plain HTTP to loopback), then lock all at once ------------------------------------
REFS=()
push() {   # push ARCHIVE REF
  local t=$SECONDS
  "$CRANE" push --insecure "$1" "$2" >/dev/null 2>&1 || "$CRANE" push --insecure "$1" "$2" >/dev/null
  REFS+=("$2")
  log "pushed $2 ($(du -m "$1" | cut -f1) MB archive) in $((SECONDS - t))s"
}
for n in go-ok nginx hashgenerator node; do push "$IMAGES/standin/$n.tar" "$REG/standin/$n:1"; done
for n in sealed-secrets-controller metrics-server traefik; do
  [ -f "$IMAGES/$n.tar" ] || { log "no $IMAGES/$n.tar (built by another script): not pushed"; continue; }
  tag=1
  [ -f "$IMAGES/$n.ref" ] && ref=$(cat "$IMAGES/$n.ref") && [ "${ref##*:}" != "$ref" ] && [ "${ref##*/}" != "${ref##*:}" ] && tag=${ref##*:}
  push "$IMAGES/$n.tar" "$REG/standin/$n:$tag"
done
t=$SECONDS
(cd "$ROOT" && npm run -s images:lock -- "${REFS[@]}")
step "images:lock (${#REFS[@]} references)" "$t"

# --- the shop: images:build with stand-in sources served on 127.0.0.1 ----------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/k8s-infra-push-standins.XXXXXX")"
HTTP_PID=""
cleanup() {
  if [ -n "$HTTP_PID" ]; then kill "$HTTP_PID" 2>/dev/null || true; wait "$HTTP_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
(cd "$SHOP_SRC" && sha256sum ./*/app.js ./*/package.json | sed 's| \./| |') >"$WORK/sources.sha256"
# shellcheck source=../../lib/free-port.sh
source "$ROOT/test/lib/free-port.sh"
HTTP_PORT=$(free_port)
python3 -m http.server --bind 127.0.0.1 "$HTTP_PORT" --directory "$SHOP_SRC" </dev/null >"$WORK/http.log" 2>&1 &
HTTP_PID=$!
deadline=$(( SECONDS + 30 ))
until curl -fsS --max-time 2 "http://127.0.0.1:$HTTP_PORT/db/app.js" >/dev/null 2>&1; do
  kill -0 "$HTTP_PID" 2>/dev/null || { log "the sources' HTTP server exited:"; cat "$WORK/http.log" >&2; exit 1; }
  [ "$SECONDS" -lt "$deadline" ] || { log "the sources' HTTP server did not answer in 30s"; exit 1; }
  sleep 0.2
done
t=$SECONDS
# BUILDAH_STORAGE: the pulled base stays between runs (images:build removes its own manifest list first).
(cd "$ROOT" && IMAGES_REGISTRY="$REG/standin/shop" SHOP_BASE_IMAGE="$REG/standin/node:1" \
  SHOP_SOURCES_URL="http://127.0.0.1:$HTTP_PORT" SHOP_SOURCES_SHA256="$WORK/sources.sha256" SHOP_LOCKFILES_DIR="$SHOP_SRC" \
  BUILDAH_STORAGE="$IMAGES/standin/shop-build-storage" npm run -s images:build -- all)
step "images:build (shop, tag ${SHOP_IMAGE_TAG:-the short upstream commit})" "$t"
# Keep only the pulled base in that storage (vfs copies every layer: the built images alone take ~1 GB).
SB=(buildah --storage-driver vfs --root "$IMAGES/standin/shop-build-storage/root" --runroot "$IMAGES/standin/shop-build-storage/run")
"${SB[@]}" images --format '{{.Name}}:{{.Tag}}' 2>/dev/null | { grep '^localhost/k8s-infra-build/' || true; } |
  while IFS= read -r i; do "${SB[@]}" rmi -f "$i" >/dev/null 2>&1 || true; done
"${SB[@]}" rmi --prune >/dev/null 2>&1 || true

# --- what is locked ---------------------------------------------------------------------------------------------
log "locked in $LOCK:"
jq -r --arg p "$REG/standin/" '.images | to_entries[] | select(.key | startswith($p)) | "  \(.key)@\(.value.digest)"' "$LOCK" >&2
SHOP_TAG=$(jq -r --arg p "$REG/standin/shop/db:" '.images | keys[] | select(startswith($p)) | ltrimstr($p)' "$LOCK" | head -n 1)
log "shop tag: $SHOP_TAG"
log "all pushed and locked in $((SECONDS - T0))s"
