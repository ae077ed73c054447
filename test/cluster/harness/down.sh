#!/usr/bin/env bash
# Stops a control plane started by up.sh: only the processes whose pids up.sh recorded in
# DIR/pids/ (checked against their command line, so a recycled pid is never hit), then removes DIR.
#
# Usage: test/cluster/harness/down.sh DIR     (KEEP_CLUSTER_DIR=1 keeps DIR and its logs)
set -euo pipefail

W="${1:?usage: $0 CLUSTER_DIR}"
[ -d "$W/pids" ] || { echo "down.sh: $W is not a cluster dir" >&2; exit 0; }

# A node's daemons and pods first: the API server's shutdown waits for their open watches.
[ ! -d "$W/node" ] || "$(dirname "$0")/node.sh" stop-processes "$W" || true

"$(dirname "$0")/registry.sh" stop "$W" || true

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

# The rest of a node after the control plane (every change to the host): the API server listens on the node's
# bridge address and, stopping, deletes its lease through it (10 s lost when the bridge is gone first).
if [ -d "$W/node" ]; then
  "$(dirname "$0")/node.sh" stop "$W" || { echo "down.sh: node teardown failed (see above)" >&2; NODE_FAILED=1; }
fi

# Never remove a folder something is still mounted in (rm -rf would go into the mount).
if grep -qF " $W/" /proc/mounts; then
  echo "down.sh: mounts left under $W; not removed:" >&2; grep -F " $W/" /proc/mounts >&2
  exit 1
fi
if [ "${KEEP_CLUSTER_DIR:-0}" = 1 ] || [ "${NODE_FAILED:-0}" = 1 ]; then
  echo "down.sh: stopped; logs kept in $W" >&2
else
  rm -rf "$W"
  echo "down.sh: stopped and removed $W" >&2
fi
[ "${NODE_FAILED:-0}" = 0 ]
