#!/usr/bin/env bash
# Stops a control plane started by up.sh: only the processes whose pids up.sh recorded in
# DIR/pids/ (checked against their command line, so a recycled pid is never hit), then removes DIR.
#
# Usage: test/cluster/harness/down.sh DIR     (KEEP_CLUSTER_DIR=1 keeps DIR and its logs)
set -euo pipefail

W="${1:?usage: $0 CLUSTER_DIR}"
[ -d "$W/pids" ] || { echo "down.sh: $W is not a cluster dir" >&2; exit 0; }

# Reverse start order: controller-manager, apiserver, then etcd.
for name in kube-controller-manager kube-apiserver etcd; do
  f="$W/pids/$name.pid"
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  # Only a live process that is still our binary with our folder in its arguments.
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$W"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done   # <= 10 s
    if kill -0 "$pid" 2>/dev/null; then
      echo "down.sh: $name ($pid) ignored SIGTERM, killing" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$f"
done

if [ "${KEEP_CLUSTER_DIR:-0}" = 1 ]; then
  echo "down.sh: stopped; logs kept in $W" >&2
else
  rm -rf "$W"
  echo "down.sh: stopped and removed $W" >&2
fi
