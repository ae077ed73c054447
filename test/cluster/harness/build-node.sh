#!/usr/bin/env bash
# Builds what a node of the test cluster runs besides the Kubernetes binaries (build.sh):
#   coredns      tools/coredns/go.mod (tool line), run as an ordinary pod on the pod network
#   kube-router  tools/kube-router/go.mod, firewall only: the NetworkPolicy enforcer (a test-harness
#                choice, see that go.mod and the README's "Seen running")
#   images       pause (the sandbox image containerd is told to use), coredns and netcheck (the node
#                suite's hardened server/client), each FROM scratch with buildah (vfs storage of its
#                own under .cache/node-images), saved as docker-archives the harness imports into
#                its containerd (test/cluster/node-images/ holds the Go sources).
#   controllers  first, build-node-controllers.sh (stamp of its own): the sealed-secrets controller and
#                metrics-server images
# A second run is a no-op while the pins, the sources and this script are unchanged (stamp).
#
# Usage: test/cluster/harness/build-node.sh [--force]
# Env:   CLUSTER_BIN_DIR (default <repo>/.cache/bin), NODE_IMAGES_DIR (default <repo>/.cache/node-images),
#        BUILD_NICE (10), BUILD_P (2)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
BIN="${CLUSTER_BIN_DIR:-$ROOT/.cache/bin}"
OUT="${NODE_IMAGES_DIR:-$ROOT/.cache/node-images}"
SRC="$ROOT/test/cluster/node-images"
FORCE="${1:-}"
log() { echo "build-node.sh: $*" >&2; }
# shellcheck source=scratch-image.sh
source "$HERE/scratch-image.sh"

command -v go >/dev/null || { log "Go is required"; exit 1; }
command -v buildah >/dev/null || { log "buildah is required: images/install-buildah.sh"; exit 1; }
"$HERE/build-node-controllers.sh" ${FORCE:+"$FORCE"}
export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false -trimpath" CGO_ENABLED=0
GOB=(nice -n "${BUILD_NICE:-10}" go build -p "${BUILD_P:-2}" -ldflags "-s -w")

STAMP="$OUT/.node-build-stamp"
WANT=$( { cd "$ROOT" && cat tools/coredns/go.mod tools/coredns/go.sum tools/kube-router/go.mod tools/kube-router/go.sum \
  "$SRC/go.mod" "$SRC"/*/*.go "$0" "$HERE/scratch-image.sh"; go env GOVERSION; buildah --version; } | sha256sum | cut -d' ' -f1)
IMAGES=(pause coredns netcheck)
up_to_date() {
  [ "$FORCE" != --force ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] || return 1
  [ -x "$BIN/coredns" ] && [ -x "$BIN/kube-router" ] || return 1
  local i; for i in "${IMAGES[@]}"; do [ -f "$OUT/$i.tar" ] || return 1; done
}
if up_to_date; then log "coredns, kube-router and images (${IMAGES[*]}) up to date"; exit 0; fi
mkdir -p "$BIN" "$OUT"
rm -f "$STAMP"

modver() { sed -En 's#^[[:space:]]*'"$1"' (v[0-9.]+)([[:space:]].*)?$#\1#p' "$2" | head -1; }
COREDNS_V=$(modver 'github\.com/coredns/coredns' "$ROOT/tools/coredns/go.mod")
t0=$SECONDS
(cd "$ROOT/tools/coredns" && "${GOB[@]}" -o "$BIN/coredns" github.com/coredns/coredns)
t1=$SECONDS; log "coredns $COREDNS_V built in $((t1 - t0))s"
(cd "$ROOT/tools/kube-router" && "${GOB[@]}" -o "$BIN/kube-router" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router)
t2=$SECONDS; log "kube-router built in $((t2 - t1))s"
STAGE="$OUT/stage"
rm -rf "$STAGE"; mkdir -p "$STAGE/pause" "$STAGE/netcheck" "$STAGE/coredns"
(cd "$SRC" && "${GOB[@]}" -o "$STAGE/pause/pause" ./pause && "${GOB[@]}" -o "$STAGE/netcheck/netcheck" ./netcheck)
cp "$BIN/coredns" "$STAGE/coredns/coredns"
t3=$SECONDS; log "pause, netcheck built in $((t3 - t2))s"

scratch_image pause 1 "$STAGE/pause" 65535:65535 '["/pause"]'
scratch_image netcheck 1 "$STAGE/netcheck" 10001:10001 '["/netcheck"]'
scratch_image coredns "$COREDNS_V" "$STAGE/coredns" 10001:10001 '["/coredns"]'
scratch_buildah rmi -a -f >/dev/null 2>&1 || true   # the archives are what counts; keep vfs storage small
rm -rf "$STAGE"
t4=$SECONDS; log "images built in $((t4 - t3))s; total $((t4 - t0))s"
echo "$WANT" >"$STAMP"
