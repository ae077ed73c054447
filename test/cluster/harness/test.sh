#!/usr/bin/env bash
# `npm run test:cluster`: builds the control plane if needed, then runs the cluster tests
# (test/cluster/run.sh starts a fresh etcd + kube-apiserver + kube-controller-manager for each
# environment in dist/ and always stops it). Works on a fresh machine: installs its few Debian
# tools when missing, builds everything else from the Go module proxy.
#
# Usage: test/cluster/harness/test.sh [ENV...]
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
BIN="${CLUSTER_BIN_DIR:-$ROOT/.cache/bin}"
export PATH="$BIN:$PATH"     # the release's own kubectl, built by build.sh (a preinstalled one may be minor versions away)

# Debian tools the scripts use; install only what is missing (CI machines start without apt lists).
missing=()
for tool in jq:jq openssl:openssl curl:curl git:git; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "test.sh: Go >= 1.23 is required to build the control plane" >&2; exit 1; }

t0=$SECONDS
"$ROOT/test/cluster/harness/build.sh"
t1=$SECONDS

LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
rc=0
# Each suite has a hard upper bound (a runner tears its cluster down on SIGTERM).
bounded() { timeout --kill-after=60 "${CLUSTER_TEST_TIMEOUT:-1800}" "$@"; }
[ "${SKIP_SEALED_SECRETS_TESTS:-0}" = 1 ] || bounded "$ROOT/test/cluster/sealed-secrets.sh" 2>&1 || rc=$?   # the real sealed-secrets controller: bootstrap, RBAC
bounded "$ROOT/test/cluster/by-hand.sh" "$@" 2>&1 || rc=$?   # plain kubectl: by-hand commands, quiet re-apply, single-instance rollouts
bounded "$ROOT/test/cluster/run.sh" "$@" 2>&1 | tee "$LOG" || rc=$?   # deploy/deploy.sh, the pipeline
t2=$SECONDS

echo "test.sh: build $((t1 - t0))s, cluster tests $((t2 - t1))s"
# The runner's closing "N passed, N failed" line again, so that it stays the last line.
grep -E '^[0-9]+ passed, [0-9]+ failed' "$LOG" | tail -n 1 || echo "0 passed, 1 failed"
exit "$rc"
