#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and etcd from the pinned wrapper modules in
# tools/apiserver/ into .cache/bin/ (and kubectl too, on a machine that has none). Needs only Go
# and the Go module proxy (no Docker, no release downloads). A second run is a no-op while the
# pins and this script are unchanged.
#
# Usage: test/cluster/harness/build.sh [--force]
# Env:   CLUSTER_BIN_DIR (default <repo>/.cache/bin), BUILD_KUBECTL=1 (build kubectl even if one
#        is installed); the usual GOMODCACHE/GOCACHE/GOPROXY.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
SRC="$ROOT/tools/apiserver"
BIN="${CLUSTER_BIN_DIR:-$ROOT/.cache/bin}"
FORCE="${1:-}"

command -v go >/dev/null || { echo "build.sh: Go is required (go.dev/dl or apt-get install golang-go >= 1.23)" >&2; exit 1; }

# Never switch to a downloaded toolchain (offline it would hang); readonly: go.mod/go.sum are
# committed and complete, so the build is reproducible and verified without the checksum DB.
export GOTOOLCHAIN=local
export GOFLAGS="-mod=readonly -buildvcs=false -trimpath"
export CGO_ENABLED=0        # upstream builds these statically; no C compiler needed

# Versions as pinned in the wrapper go.mod files (a require line, alone or in a block).
modver() { sed -En 's#^(require )?[[:space:]]*'"$1"' (v[0-9.]+)([[:space:]].*)?$#\2#p' "$2" | head -1; }
K8S=$(modver 'k8s\.io/kubernetes' "$SRC/go.mod")
ETCD=$(modver 'go\.etcd\.io/etcd/server/v3' "$SRC/etcd/go.mod")
[ -n "$K8S" ] && [ -n "$ETCD" ] || { echo "build.sh: cannot read versions from $SRC/go.mod" >&2; exit 1; }

CMDS=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager)
WANT_BINS=(kube-apiserver kube-controller-manager etcd)
# kubectl: whichever is installed is used; without one, build the matching release's own.
if [ "${BUILD_KUBECTL:-0}" = 1 ] || ! command -v kubectl >/dev/null; then
  CMDS+=(k8s.io/kubernetes/cmd/kubectl); WANT_BINS+=(kubectl)
fi

# Up to date when the pins, this script and the Go version are what the last build used.
STAMP="$BIN/.cluster-build-stamp"
WANT=$( { cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/etcd/go.mod" "$SRC/etcd/go.sum" "$SRC/etcd/main.go" "$0"; go env GOVERSION; } | sha256sum | cut -d' ' -f1)
up_to_date() {
  [ "$FORCE" != "--force" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] || return 1
  local b; for b in "${WANT_BINS[@]}"; do [ -x "$BIN/$b" ] || return 1; done
}
if up_to_date; then
  echo "build.sh: binaries in $BIN are up to date (kubernetes $K8S, etcd $ETCD)"
  exit 0
fi
mkdir -p "$BIN"
rm -f "$STAMP"

# Version stamping as hack/lib/version.sh does; otherwise /version says v0.0.0-master.
MAJ=${K8S#v}; MAJ=${MAJ%%.*}
MIN=${K8S#v*.}; MIN=${MIN%%.*}
LDF="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDF="$LDF -X $pkg.gitVersion=$K8S -X $pkg.gitMajor=$MAJ -X $pkg.gitMinor=$MIN -X $pkg.gitTreeState=clean"
done

t0=$SECONDS
echo "build.sh: downloading modules (GOMODCACHE=$(go env GOMODCACHE))"
(cd "$SRC" && go mod download)
(cd "$SRC/etcd" && go mod download)
t1=$SECONDS
echo "build.sh: modules ready in $((t1 - t0))s"

echo "build.sh: building ${CMDS[*]##*/} $K8S (cold: about 4-5 min on 2 cores)"
# One invocation: packages shared by the commands are compiled once.
(cd "$SRC" && go build -ldflags "$LDF" -o "$BIN/" "${CMDS[@]}")
t2=$SECONDS
echo "build.sh: ${CMDS[*]##*/} built in $((t2 - t1))s"

echo "build.sh: building etcd $ETCD"
(cd "$SRC/etcd" && go build -ldflags "-s -w" -o "$BIN/etcd" .)
t3=$SECONDS
echo "build.sh: etcd built in $((t3 - t2))s"

"$BIN/kube-apiserver" --version
# sed reads all of it: head would close the pipe early (SIGPIPE: exit 141 under pipefail, at random).
"$BIN/etcd" --version | sed -n 1p
echo "$WANT" > "$STAMP"
echo "build.sh: total build time $((t3 - t0))s (binaries in $BIN)"
