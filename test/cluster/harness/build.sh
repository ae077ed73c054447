#!/usr/bin/env bash
# Builds the test cluster, one Kubernetes release for every component, from the pinned wrapper
# modules in tools/apiserver/ into .cache/bin/: kube-apiserver, kube-controller-manager, kubectl
# and etcd (the control plane), and kube-scheduler, kubelet and kube-proxy (the node,
# test/cluster/harness/node.sh). kubectl is the release's own (a preinstalled one may be several
# minor versions away); the harness puts .cache/bin first on PATH. Needs only Go and the Go module
# proxy (no Docker, no release downloads). A second run is a no-op while the pins and this script
# are unchanged.
#
# Usage: test/cluster/harness/build.sh [--force]
# Env:   CLUSTER_BIN_DIR (default <repo>/.cache/bin); the usual GOMODCACHE/GOCACHE/GOPROXY;
#        BUILD_NICE (default 10) and BUILD_P (go build -p, default 2): the machine is shared.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
SRC="$ROOT/tools/apiserver"
BIN="${CLUSTER_BIN_DIR:-$ROOT/.cache/bin}"
FORCE="${1:-}"

command -v go >/dev/null || { echo "build.sh: Go is required (go.dev/dl, >= 1.26: the go line of tools/apiserver/go.mod)" >&2; exit 1; }

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

NAMES=(kube-apiserver kube-controller-manager kubectl kube-scheduler kubelet kube-proxy)
CMDS=("${NAMES[@]/#/k8s.io/kubernetes/cmd/}")
WANT_BINS=("${NAMES[@]}" etcd)
GOB=(nice -n "${BUILD_NICE:-10}" go build -p "${BUILD_P:-2}")

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

echo "build.sh: building ${NAMES[*]} $K8S (cold: about 10 min on 2 shared cores)"
# One invocation: packages shared by the commands are compiled once.
(cd "$SRC" && "${GOB[@]}" -ldflags "$LDF" -o "$BIN/" "${CMDS[@]}")
t2=$SECONDS
echo "build.sh: ${NAMES[*]} built in $((t2 - t1))s"

echo "build.sh: building etcd $ETCD"
(cd "$SRC/etcd" && "${GOB[@]}" -ldflags "-s -w" -o "$BIN/etcd" .)
t3=$SECONDS
echo "build.sh: etcd built in $((t3 - t2))s"

"$BIN/kube-apiserver" --version
# sed reads all of it: head would close the pipe early (SIGPIPE: exit 141 under pipefail, at random).
"$BIN/etcd" --version | sed -n 1p
echo "$WANT" > "$STAMP"
echo "build.sh: total build time $((t3 - t0))s (binaries in $BIN)"
