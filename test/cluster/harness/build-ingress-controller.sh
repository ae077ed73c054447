#!/usr/bin/env bash
# Builds the test cluster's Ingress controller: Traefik at the pin of tools/traefik/go.mod (its hash in
# tools/traefik/go.sum), an image FROM scratch (scratch-image.sh) in .cache/node-images/traefik.tar + traefik.ref,
# laid out like upstream's image: /traefik, ENTRYPOINT ["/traefik"], an empty /tmp; USER 65532 (upstream's runs as
# root; test/cluster/fixtures/traefik.yaml runs it as 65532 under PodSecurity restricted). push-standins.sh pushes
# it as $REGISTRY/standin/traefik:<version>; the production node suite installs it with the fixture.
#
# Built inside a copy of the downloaded module source (module-source.sh: its go.mod has `replace` lines), with one
# cut, said in tools/traefik/go.mod: lego's registry of ACME DNS-01 providers is not linked (the Go module proxy
# refuses several of their SDKs); tools/traefik/acme-dns-cut.go.in stands in for its one use. A second run is a
# no-op while the pin, the cut, these scripts and the Go/buildah versions are unchanged (stamp).
#
# Usage: test/cluster/harness/build-ingress-controller.sh [--force]
# Env:   CLUSTER_BIN_DIR (default <repo>/.cache/bin), NODE_IMAGES_DIR (default <repo>/.cache/node-images),
#        BUILD_NICE (10), BUILD_P (2)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
BIN="${CLUSTER_BIN_DIR:-$ROOT/.cache/bin}"
OUT="${NODE_IMAGES_DIR:-$ROOT/.cache/node-images}"
PIN="$ROOT/tools/traefik"
MODULE=github.com/traefik/traefik/v3
FORCE="${1:-}"
log() { echo "build-ingress-controller.sh: $*" >&2; }
# shellcheck source=scratch-image.sh
source "$HERE/scratch-image.sh"
# shellcheck source=module-source.sh
source "$HERE/module-source.sh"

command -v go >/dev/null || { log "Go is required"; exit 1; }
command -v buildah >/dev/null || { log "buildah is required: images/install-buildah.sh"; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0

VERSION=$(sed -En 's#^require[[:space:]]+'"${MODULE//./\\.}"'[[:space:]]+(v[0-9][0-9A-Za-z.+-]*)[[:space:]]*$#\1#p' "$PIN/go.mod")
[ -n "$VERSION" ] || { log "tools/traefik/go.mod has no 'require $MODULE vX.Y.Z' line"; exit 1; }
WANT_SUM=$(awk -v m="$MODULE" -v v="$VERSION" '$1 == m && $2 == v { print $3 }' "$PIN/go.sum")
[ -n "$WANT_SUM" ] || { log "tools/traefik/go.sum has no hash for $MODULE $VERSION"; exit 1; }

STAMP="$OUT/.ingress-controller-stamp"
WANT=$( { cat "$PIN/go.mod" "$PIN/go.sum" "$PIN/acme-dns-cut.go.in" "$0" "$HERE/scratch-image.sh" "$HERE/module-source.sh";
  go env GOVERSION; buildah --version; } | sha256sum | cut -d' ' -f1)
if [ "$FORCE" != --force ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -x "$BIN/traefik" ] &&
  [ -f "$OUT/traefik.tar" ] && [ -f "$OUT/traefik.ref" ]; then
  log "traefik $VERSION image up to date"; exit 0
fi
mkdir -p "$BIN" "$OUT"
rm -f "$STAMP"

t0=$SECONDS
DIR=$(module_source "$MODULE" "$VERSION" "$WANT_SUM")
SRC="$OUT/traefik-src"   # the module cache is read-only: build in a writable copy
rm -rf "$SRC"; cp -R "$DIR" "$SRC"; chmod -R u+w "$SRC"
ACME="$SRC/pkg/provider/acme"
grep -q '^[[:space:]]*"github.com/go-acme/lego/v4/providers/dns"$' "$ACME/provider.go" ||
  { log "$ACME/provider.go no longer imports lego's providers/dns: review tools/traefik/acme-dns-cut.go.in"; exit 1; }
sed -i '\#^[[:space:]]*"github.com/go-acme/lego/v4/providers/dns"$#d' "$ACME/provider.go"
cp "$PIN/acme-dns-cut.go.in" "$ACME/zz_k8s_infra_acme_dns_cut.go"

log "building traefik $VERSION without ACME DNS providers (cold: about 4-5 min on 2 cores)"
# -X as upstream's Makefile stamps them (traefik version, the /api/version endpoint).
(cd "$SRC" && GOFLAGS="-mod=readonly -buildvcs=false -trimpath" nice -n "${BUILD_NICE:-10}" go build -p "${BUILD_P:-2}" \
  -ldflags "-s -w -X $MODULE/pkg/version.Version=$VERSION -X $MODULE/pkg/version.Codename=k8s-infra-no-acme-dns" \
  -o "$BIN/traefik.tmp" ./cmd/traefik)
mv "$BIN/traefik.tmp" "$BIN/traefik"
rm -rf "$SRC"
t1=$SECONDS; log "traefik $VERSION built in $((t1 - t0))s"

STAGE="$OUT/stage-traefik"
rm -rf "$STAGE"; mkdir -p "$STAGE/tmp"; chmod 1777 "$STAGE/tmp"
cp "$BIN/traefik" "$STAGE/traefik"
scratch_image traefik "$VERSION" "$STAGE" 65532:65532 '["/traefik"]'
scratch_buildah rmi -a -f >/dev/null 2>&1 || true   # the archive is what counts; keep vfs storage small
rm -rf "$STAGE"
echo "$WANT" >"$STAMP"
log "image built in $((SECONDS - t1))s; total $((SECONDS - t0))s"
