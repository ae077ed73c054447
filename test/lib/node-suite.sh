# shellcheck shell=bash
# Whether this machine can run the test cluster's node, for the suites that need one (test/cluster/node.sh,
# test/cluster/production-node.sh). Source it after test/lib/harness.sh with ROOT and H (the harness folder) set,
# then call node_preflight. A machine that cannot (no root, no containerd, no bridge) gets a loud
# "NODE SUITE NOT RUN" and exit 2; NODE_SUITE_OPTIONAL=1 makes that exit 0 (npm test stays green there).

cannot_run() {
  cat >&2 <<MSG

############################################################################################
##  NODE SUITE NOT RUN: this machine cannot run a Kubernetes node.
##  $1
##  Nothing about pods, probes, DNS, NetworkPolicies or rollouts was checked.
############################################################################################

MSG
  DONE=1   # harness.sh: the run ended as meant
  export DONE
  echo "0 passed, 0 failed, 1 skipped (node suite not run)"
  [ "${NODE_SUITE_OPTIONAL:-0}" = 1 ] && exit 0
  exit 2
}

node_preflight() {
  [ "$(id -u)" = 0 ] || cannot_run "It needs root (network namespaces, a bridge, iptables, cgroups)."
  [ "$(uname -s)" = Linux ] || cannot_run "It needs Linux."
  "$H/install-node-deps.sh" || cannot_run "containerd, runc and the CNI plugins could not be installed (install-node-deps.sh)."
  "$ROOT/images/install-buildah.sh" >/dev/null || cannot_run "buildah could not be installed."
  if ip link add k8si-probe0 type bridge 2>/dev/null; then ip link del k8si-probe0; else cannot_run "It cannot create a bridge (ip link add type bridge)."; fi
  [ -d /proc/sys/net/bridge ] || cannot_run "No bridge netfilter (br_netfilter): Services on the bridge would not work."
  local tool
  for tool in jq:jq openssl:openssl curl:curl; do
    command -v "${tool%%:*}" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${tool#*:}" >/dev/null; }
  done
}

# container_pid CONTAINER-ID: the container's init process on this host (containerd's task state of the harness).
container_pid() {
  local id=${1#containerd://}
  cat "/run/k8s-infra-node/containerd/io.containerd.runtime.v2.task/k8s.io/$id/init.pid"
}

# max_running WATCH-JSON: from `kubectl get pods --watch --output-watch-events -o json`, the most pods that were
# Running (phase Running, or a container running) at any one event.
max_running() {
  jq -rc '[.type, .object.metadata.name, (.object.status.phase // ""),
          ([.object.status.containerStatuses[]?.state | has("running")] | any)] | @tsv' "$1" |
    awk -F'\t' '{ if ($1 == "DELETED") delete s[$2]; else s[$2] = ($3 == "Running" || $4 == "true");
                 n = 0; for (p in s) n += s[p]; if (n > m) m = n } END { print m + 0 }'
}

# min_ready WATCH-JSON: the fewest pods that were Ready (condition Ready True, not being deleted) at any event
# after the first.
min_ready() {
  jq -rc '[.type, .object.metadata.name,
          (.object.metadata.deletionTimestamp == null and
           ([.object.status.conditions[]? | select(.type == "Ready") | .status == "True"] | any))] | @tsv' "$1" |
    awk -F'\t' '{ if ($1 == "DELETED") delete s[$2]; else s[$2] = ($3 == "true");
                 n = 0; for (p in s) n += s[p]; if (NR > 1 && (m == "" || n < m)) m = n } END { print m + 0 }'
}
