#!/usr/bin/env bash
# Builds Flux's source-controller and kustomize-controller at the versions tools/flux/go.mod pins, into
# .cache/bin/ (and their CRDs into .cache/bin/flux-crds/), for the cluster tests (test/cluster/flux.sh runs them out of cluster against the test API
# server). Needs only Go and the Go module proxy.
#
# `go install <module>@<version>` refuses both: their go.mod carry `replace .../api => ./api`. Each is built
# inside a copy of its downloaded module source (module-source.sh; hash checked against tools/flux/go.sum) with that line dropped,
# since the api module is required at the same version, and with GOFLAGS=-mod=mod. source-controller also gets
# tools/flux/go.mod's replacement of github.com/fluxcd/pkg/artifact (the proxy refuses the version it requires;
# the replacement's hash comes from tools/flux/go.sum, so no checksum database is asked).
# A second run is a no-op while the pins, this script and the Go version are unchanged.
#
# Usage: test/cluster/harness/build-flux-controllers.sh [--force]
# Env:   CLUSTER_BIN_DIR (default <repo>/.cache/bin); BUILD_NICE (default 10) and BUILD_P (go build -p,
#        default 2): the machine is shared; the usual GOMODCACHE/GOCACHE/GOPROXY.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
BIN="${CLUSTER_BIN_DIR:-$ROOT/.cache/bin}"
PIN_MOD="$ROOT/tools/flux/go.mod"
PIN_SUM="$ROOT/tools/flux/go.sum"
WORK="$ROOT/.cache/flux-build"
NAMES=(source-controller kustomize-controller)
log() { echo "build-flux-controllers: $*" >&2; }
# shellcheck source=module-source.sh
source "$HERE/module-source.sh"

command -v go >/dev/null || { log "Go is required"; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0

modver() { sed -En 's#^[[:space:]]*(require[[:space:]]+)?'"${1//./\\.}"'[[:space:]]+(v[0-9][0-9A-Za-z.+-]*)([[:space:]].*)?$#\2#p' "$PIN_MOD" | head -1; }
modsum() { awk -v m="$1" -v v="$2" '$1 == m && $2 == v { print $3 }' "$PIN_SUM"; }
ARTIFACT=github.com/fluxcd/pkg/artifact
ARTIFACT_VERSION=$(sed -En 's#^replace[[:space:]]+'"${ARTIFACT//./\\.}"'[[:space:]]+=>[[:space:]]+'"${ARTIFACT//./\\.}"'[[:space:]]+(v[0-9][0-9A-Za-z.+-]*)[[:space:]]*$#\1#p' "$PIN_MOD")
[ -n "$ARTIFACT_VERSION" ] || { log "no 'replace $ARTIFACT => $ARTIFACT vX.Y.Z' line in $PIN_MOD"; exit 1; }

STAMP="$BIN/.flux-controllers.stamp"
WANT=$( { cat "$PIN_MOD" "$PIN_SUM" "$0" "$HERE/module-source.sh"; go env GOVERSION; } | sha256sum | cut -d' ' -f1)
up_to_date() {
  [ "${1:-}" != "--force" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] || return 1
  local n; for n in "${NAMES[@]}"; do [ -x "$BIN/$n" ] || return 1; done
  [ -f "$BIN/flux-crds/kustomize.toolkit.fluxcd.io_kustomizations.yaml" ] || return 1
}
if up_to_date "${1:-}"; then
  log "${NAMES[*]} in $BIN are up to date"
  exit 0
fi
mkdir -p "$BIN" "$WORK"
rm -f "$STAMP"

for name in "${NAMES[@]}"; do
  module="github.com/fluxcd/$name"
  version=$(modver "$module")
  want_sum=$(modsum "$module" "$version")
  [ -n "$version" ] && [ -n "$want_sum" ] || { log "$PIN_MOD / $PIN_SUM pin no version and hash for $module"; exit 1; }
  t0=$SECONDS
  dir=$(module_source "$module" "$version" "$want_sum")

  # Flux's installation brings every CRD of the controllers (they refuse to start without them): kept with the
  # binaries for the tests. The ones the model uses are committed in crds/ and must be these very files.
  mkdir -p "$BIN/flux-crds"
  cp "$dir"/config/crd/bases/*.yaml "$BIN/flux-crds/"
  chmod u+w "$BIN"/flux-crds/*.yaml
  for f in "$ROOT"/crds/*.toolkit.fluxcd.io_*.yaml; do
    [ ! -f "$dir/config/crd/bases/${f##*/}" ] || cmp -s "$f" "$dir/config/crd/bases/${f##*/}" ||
      { log "crds/${f##*/} differs from $module@$version config/crd/bases/: copy it again (and npm run import, node scripts/gen-schemas.mjs)"; exit 1; }
  done

  # The module cache is read-only: build in a writable copy.
  src="$WORK/$name@$version"
  rm -rf "$src"
  cp -R "$dir" "$src"
  chmod -R u+w "$src"
  (cd "$src" && go mod edit -dropreplace "$module/api")
  if grep -Eq "^[[:space:]]*${ARTIFACT}[[:space:]]" "$src/go.mod"; then
    (cd "$src" && go mod edit -replace "$ARTIFACT=$ARTIFACT@$ARTIFACT_VERSION")
    grep -E "^$ARTIFACT $ARTIFACT_VERSION" "$PIN_SUM" >>"$src/go.sum"
  fi
  log "building $name $version (cold: about 2-3 min on 2 cores)"
  (cd "$src" && GOFLAGS="-mod=mod -buildvcs=false -trimpath" \
    nice -n "${BUILD_NICE:-10}" go build -p "${BUILD_P:-2}" -ldflags "-s -w" -o "$BIN/$name.tmp" .)
  mv "$BIN/$name.tmp" "$BIN/$name"
  # The build info records a replacement on the line after the dependency ("=>").
  log "built $BIN/$name in $((SECONDS - t0))s$(go version -m "$BIN/$name" | awk -v m="$ARTIFACT" '$1 == "dep" && $2 == m { d = $3 } $1 == "=>" && d != "" { printf ", %s %s replaced by %s", m, d, $3; exit }')"
done
echo "$WANT" >"$STAMP"
