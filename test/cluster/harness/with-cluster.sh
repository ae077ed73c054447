#!/usr/bin/env bash
# Runs a command against a fresh throw-away cluster and always tears it down afterwards
# (trap on EXIT, also on failure or Ctrl-C). The command sees KUBECONFIG and CLUSTER_DIR.
#
# Usage: test/cluster/harness/with-cluster.sh [--kcm | --node] [--] COMMAND [ARGS...]
#   e.g. test/cluster/harness/with-cluster.sh --kcm -- kubectl get ns
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
UP_ARGS=()
case "${1:-}" in --kcm|--node) UP_ARGS+=("$1"); shift ;; esac
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || { echo "usage: $0 [--kcm | --node] [--] COMMAND [ARGS...]" >&2; exit 2; }

DIR="$("$HERE/up.sh" "${UP_ARGS[@]}")"
# From here on the cluster exists: whatever happens, stop it.
trap '"$HERE/down.sh" "$DIR"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# shellcheck disable=SC1091
source "$DIR/env"
"$@"
