#!/usr/bin/env bash
# Builds the sealed-secrets controller (cmd/controller) at the release kubeseal is pinned to, into
# .cache/bin/sealed-secrets-controller, for the cluster tests (test/cluster/sealed-secrets.sh runs it
# out of cluster against the test API server). Needs only Go and the Go module proxy.
#
# The version is the one pin of tools/kubeseal/go.mod (its `replace ... => github.com/bitnami-labs/
# sealed-secrets vX.Y.Z` line), so the controller and kubeseal can never drift apart; the module's
# hash must equal the one tools/kubeseal/go.sum records. The module proxy serves the release as
# github.com/bitnami-labs/sealed-secrets while its go.mod declares github.com/bitnami/sealed-secrets,
# so `go build <path>@<version>` refuses it: the controller is built inside the downloaded module
# source instead (module-source.sh; its own go.mod/go.sum, GOFLAGS=-mod=mod).
# A second run is a no-op while the pin, this script and the Go version are unchanged.
#
# Usage: test/cluster/harness/build-sealed-secrets-controller.sh [--force]
# Env:   CLUSTER_BIN_DIR (default <repo>/.cache/bin); BUILD_NICE (default 10), BUILD_P (go build -p,
#        default 2); the usual GOMODCACHE/GOCACHE/GOPROXY.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
BIN="${CLUSTER_BIN_DIR:-$ROOT/.cache/bin}"
OUT="$BIN/sealed-secrets-controller"
PIN_MOD="$ROOT/tools/kubeseal/go.mod"
PIN_SUM="$ROOT/tools/kubeseal/go.sum"
MODULE=github.com/bitnami-labs/sealed-secrets
log() { echo "build-sealed-secrets-controller: $*" >&2; }
# shellcheck source=module-source.sh
source "$HERE/module-source.sh"

command -v go >/dev/null || { log "Go is required"; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0

VERSION=$(sed -En 's#^replace[[:space:]]+github\.com/bitnami/sealed-secrets[[:space:]]+=>[[:space:]]+'"${MODULE//./\\.}"'[[:space:]]+(v[0-9][0-9A-Za-z.+-]*)[[:space:]]*$#\1#p' "$PIN_MOD")
[ -n "$VERSION" ] || { log "no 'replace github.com/bitnami/sealed-secrets => $MODULE vX.Y.Z' line in $PIN_MOD"; exit 1; }
WANT_SUM=$(awk -v m="$MODULE" -v v="$VERSION" '$1 == m && $2 == v { print $3 }' "$PIN_SUM")
[ -n "$WANT_SUM" ] || { log "$PIN_SUM has no hash for $MODULE $VERSION"; exit 1; }

STAMP="$BIN/.sealed-secrets-controller.stamp"
WANT=$( { echo "$VERSION $WANT_SUM"; cat "$0" "$HERE/module-source.sh"; go env GOVERSION; } | sha256sum | cut -d' ' -f1)
if [ "${1:-}" != "--force" ] && [ -x "$OUT" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  log "$OUT is up to date ($VERSION)"
  exit 0
fi
mkdir -p "$BIN"
rm -f "$STAMP"

t0=$SECONDS
DIR=$(module_source "$MODULE" "$VERSION" "$WANT_SUM")

log "building cmd/controller $VERSION (cold: about 1-2 min on 2 cores)"
# -X main.VERSION as upstream's Makefile stamps it (the controller logs it and serves it at /version).
(cd "$DIR" && GOFLAGS="-mod=mod -buildvcs=false -trimpath" \
  nice -n "${BUILD_NICE:-10}" go build -p "${BUILD_P:-2}" -ldflags "-s -w -X main.VERSION=$VERSION" -o "$OUT.tmp" ./cmd/controller)
mv "$OUT.tmp" "$OUT"
"$OUT" --version >&2
echo "$WANT" >"$STAMP"
log "built $OUT in $((SECONDS - t0))s"
