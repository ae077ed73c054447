#!/usr/bin/env bash
# Builds the controllers the test cluster's node runs as pods, each an image FROM scratch (scratch-image.sh)
# in .cache/node-images/<name>.tar + <name>.ref (tag = the release), for test/cluster/node.sh:
#   sealed-secrets-controller  the binary build-sealed-secrets-controller.sh builds (the release kubeseal is
#                              pinned to), laid out like upstream's image: /usr/local/bin/controller,
#                              ENTRYPOINT ["controller"], USER 1001, PATH set; so lib/platform/
#                              sealed-secrets-controller.ts's container (args only) runs as written
#   metrics-server             tools/metrics-server/go.mod (tool line), laid out like upstream's image:
#                              /metrics-server, ENTRYPOINT ["/metrics-server"], USER 65534; installed by
#                              test/cluster/fixtures/metrics-server.yaml
# Both get an empty /tmp (their emptyDir mount point under a read-only root). A second run is a no-op while
# the pins, the controller binary, these scripts and the Go/buildah versions are unchanged (stamp).
#
# Usage: test/cluster/harness/build-node-controllers.sh [--force]
# Env:   CLUSTER_BIN_DIR (default <repo>/.cache/bin), NODE_IMAGES_DIR (default <repo>/.cache/node-images),
#        BUILD_NICE (10), BUILD_P (2)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
BIN="${CLUSTER_BIN_DIR:-$ROOT/.cache/bin}"
OUT="${NODE_IMAGES_DIR:-$ROOT/.cache/node-images}"
FORCE="${1:-}"
log() { echo "build-node-controllers.sh: $*" >&2; }
# shellcheck source=scratch-image.sh
source "$HERE/scratch-image.sh"

command -v go >/dev/null || { log "Go is required"; exit 1; }
command -v buildah >/dev/null || { log "buildah is required: images/install-buildah.sh"; exit 1; }
t0=$SECONDS
"$HERE/build-sealed-secrets-controller.sh" ${FORCE:+"$FORCE"}   # its own stamp: a no-op when current
export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false -trimpath" CGO_ENABLED=0

MS_MOD="$ROOT/tools/metrics-server"
MS_V=$(sed -En 's#^[[:space:]]*sigs\.k8s\.io/metrics-server (v[0-9.]+)([[:space:]].*)?$#\1#p' "$MS_MOD/go.mod" | head -1)
[ -n "$MS_V" ] || { log "tools/metrics-server/go.mod pins no sigs.k8s.io/metrics-server version"; exit 1; }
SS_V=$("$BIN/sealed-secrets-controller" --version 2>&1 | grep -Eo 'v[0-9]+\.[0-9]+\.[0-9]+' | head -1)
[ -n "$SS_V" ] || { log "$BIN/sealed-secrets-controller --version names no version"; exit 1; }

IMAGES=(sealed-secrets-controller metrics-server)
STAMP="$OUT/.node-controllers-stamp"
WANT=$( { cat "$MS_MOD/go.mod" "$MS_MOD/go.sum" "$0" "$HERE/scratch-image.sh"; sha256sum "$BIN/sealed-secrets-controller";
  go env GOVERSION; buildah --version; } | sha256sum | cut -d' ' -f1)
up_to_date() {
  [ "$FORCE" != --force ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -x "$BIN/metrics-server" ] || return 1
  local i; for i in "${IMAGES[@]}"; do [ -f "$OUT/$i.tar" ] && [ -f "$OUT/$i.ref" ] || return 1; done
}
if up_to_date; then log "${IMAGES[*]} images up to date ($((SECONDS - t0))s)"; exit 0; fi
mkdir -p "$BIN" "$OUT"
rm -f "$STAMP"

t1=$SECONDS
log "building metrics-server $MS_V (cold: about 2-3 min on 2 cores)"
# -X gitVersion as upstream's Makefile stamps it (metrics-server --version, its /version).
(cd "$MS_MOD" && nice -n "${BUILD_NICE:-10}" go build -p "${BUILD_P:-2}" \
  -ldflags "-s -w -X k8s.io/client-go/pkg/version.gitVersion=$MS_V" -o "$BIN/metrics-server.tmp" sigs.k8s.io/metrics-server/cmd/metrics-server)
mv "$BIN/metrics-server.tmp" "$BIN/metrics-server"
t2=$SECONDS; log "metrics-server $MS_V built in $((t2 - t1))s"

STAGE="$OUT/stage-controllers"
rm -rf "$STAGE"; mkdir -p "$STAGE/ss/usr/local/bin" "$STAGE/ss/tmp" "$STAGE/ms/tmp"
chmod 1777 "$STAGE/ss/tmp" "$STAGE/ms/tmp"
cp "$BIN/sealed-secrets-controller" "$STAGE/ss/usr/local/bin/controller"
cp "$BIN/metrics-server" "$STAGE/ms/metrics-server"
scratch_image sealed-secrets-controller "$SS_V" "$STAGE/ss" 1001:1001 '["controller"]' \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
scratch_image metrics-server "$MS_V" "$STAGE/ms" 65534:65534 '["/metrics-server"]'
scratch_buildah rmi -a -f >/dev/null 2>&1 || true   # the archives are what counts; keep vfs storage small
rm -rf "$STAGE"
echo "$WANT" >"$STAMP"
log "images built in $((SECONDS - t2))s; total $((SECONDS - t0))s"
