#!/usr/bin/env bash
# Installs the pinned Kubernetes linting toolchain into .cache/bin/:
#   kube-linter, kubeconform  (tools/go.mod)
#   kube-score                (tools/kube-score/go.mod)
#   kubeseal                  (tools/kubeseal/go.mod)
#   registry, crane           (tools/images/go.mod: distribution v3 and go-containerregistry, for images:*)
# (tools/helm/go.mod, the peer of npm run bench, is built by the bench itself when it runs; tools/actionlint/go.mod
# and tools/python/requirements.txt by npm run lint:ci.)
# Separate modules because the tools need incompatible k8s.io/* versions (see tools/go.mod).
# The versions live only in those go.mod/go.sum files. A stamp (hash of Go version +
# go.mod/go.sum) makes re-runs a no-op until a pin changes. Needs Go >= 1.24 (`tool`
# directives) and the Go module proxy; nothing else is downloaded.
# Usage: scripts/tools.sh [--force]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/.cache/bin"
stamp="$bin/.tools.stamp"
modules=(tools tools/kube-score tools/kubeseal tools/images)
binaries=(kube-score kube-linter kubeconform kubeseal registry crane)

force=0
[[ "${1:-}" == "--force" ]] && force=1

command -v go >/dev/null || { echo "tools.sh: go not found (need Go >= 1.24)" >&2; exit 1; }

# The stamp covers the Go version too: a new compiler means a rebuild.
want="$(cd "$root" && {
  go env GOVERSION
  for m in "${modules[@]}"; do sha256sum "$m/go.mod" "$m/go.sum"; done
} | sha256sum | cut -d' ' -f1)"

have_all=1
for b in "${binaries[@]}"; do [[ -x "$bin/$b" ]] || have_all=0; done
if [[ $force == 0 && $have_all == 1 && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "tools.sh: ${binaries[*]} up to date in ${bin#"$root"/}"
  exit 0
fi

mkdir -p "$bin"
rm -f "$stamp"
start=$SECONDS
for m in "${modules[@]}"; do
  echo "tools.sh: go install tool ($m/go.mod)"
  # -mod=readonly: build exactly what go.mod/go.sum pin, never rewrite them.
  # -trimpath: binaries do not embed this machine's paths.
  (cd "$root/$m" && GOBIN="$bin" go install -mod=readonly -trimpath tool)
done
for b in "${binaries[@]}"; do
  [[ -x "$bin/$b" ]] || { echo "tools.sh: $b was not installed" >&2; exit 1; }
done
echo "$want" >"$stamp"
echo "tools.sh: installed into ${bin#"$root"/} in $((SECONDS - start))s:"
# The binaries report "development" as their own version; the build info says what was pinned.
for b in "${binaries[@]}"; do
  printf '  %-12s %s\n' "$b" "$(go version -m "$bin/$b" | awk '$1 == "mod" { print $2, $3; exit }')"
done
