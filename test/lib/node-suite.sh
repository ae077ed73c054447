# shellcheck shell=bash
# Whether this machine can run the test cluster's node, for the suites that need one (test/cluster/node.sh,
# test/cluster/production-node.sh, test/cluster/quickstart-node.sh). Source it after test/lib/harness.sh with ROOT and H (the harness folder) set,
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

# --- what the node suites share (node.sh, production-node.sh, quickstart-node.sh) ---------------------------------
# They set WORK (their scratch folder), H (the harness folder) and ROOT first; tests run in subshells, so what a test
# starts is recorded in $WORK: the cluster folder in $WORK/cluster, background processes as $WORK/*.pid.

k() { kubectl --request-timeout=20s "$@"; }
# until_ok SECONDS COMMAND...: bounded poll, 1 s apart.
until_ok() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do [ "$SECONDS" -lt "$deadline" ] || return 1; sleep 1; done
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# node_cleanup: the suites' on_exit: background processes stopped, the cluster taken down (the host restored), WORK removed.
node_cleanup() {
  local f cluster=""
  # (each command guarded: under set -e a failing one, a process already gone, would end the trap before down.sh)
  for f in "$WORK"/*.pid; do [ ! -f "$f" ] || kill "$(cat "$f")" 2>/dev/null || true; done
  [ -f "$WORK/cluster" ] && cluster=$(cat "$WORK/cluster")
  [ -z "$cluster" ] || [ ! -d "$cluster" ] || "$H/down.sh" "$cluster" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}

# test_node_up [CONTEXT]: the host's state recorded, then an empty cluster with a node, CoreDNS and the registry
# (up.sh --node); the cluster folder in $WORK/cluster; the kube context renamed CONTEXT (deploy/targets.json binds
# environments to context names).
test_node_up() {
  "$H/node.sh" snapshot >"$WORK/snapshot.before"
  local t0=$SECONDS cluster
  cluster=$("$H/up.sh" --node 2>"$WORK/up.log") || {
    tail -n 40 "$WORK/up.log"; echo "--- the harness's own lines:"; grep -E '^(node|up|down)\.sh:' "$WORK/up.log"; fail "up.sh --node failed"; }
  echo "$cluster" >"$WORK/cluster"
  echo "MEASURE: empty machine to node, CoreDNS and registry Ready: $((SECONDS - t0))s"
  # shellcheck disable=SC1091
  source "$cluster/env"
  [ -n "${REGISTRY:-}" ] || fail "the harness started no registry (REGISTRY in $cluster/env)"
  [ -z "${1:-}" ] || kubectl config rename-context local "$1" >/dev/null
}

# project_copy DEST: the working tree as committed and edited (tracked and untracked files, not the ignored ones),
# copied to DEST with node_modules linked: the tools under test write into it (seal, synth, deploy).
project_copy() {
  mkdir -p "$1"
  (cd "$ROOT" && git ls-files -co --exclude-standard -z | grep -zv '^node_modules/' | xargs -0 cp --parents -t "$1")
  ln -s "$ROOT/node_modules" "$1/node_modules"
}

# lock_ref NAME: the reference of a stand-in or platform image push-standins.sh pushed, by digest, from the lock of
# the project copy ($PROJ/images.lock.json, images under $REGISTRY/standin/NAME:<tag>).
lock_ref() {
  local ref; ref=$(jq -r --arg p "$REGISTRY/standin/$1:" '.images | keys[] | select(startswith($p))' "$PROJ/images.lock.json" | head -1)
  [ -n "$ref" ] || return 1
  echo "$ref@$(jq -r --arg r "$ref" '.images[$r].digest' "$PROJ/images.lock.json")"
}

# ingress_controller_up: the cluster's Ingress controller, Traefik serving IngressClass nginx
# (test/cluster/fixtures/traefik.yaml of the project copy, so NODE_SUITE_PATCH reaches it), rolled out.
ingress_controller_up() {
  local tr; tr=$(lock_ref traefik) || fail "no traefik image was pushed"
  sed "s#IMAGE#$tr#" "$PROJ/test/cluster/fixtures/traefik.yaml" | k apply -f - >/dev/null
  k -n ingress-nginx rollout status deploy/ingress-nginx-controller --timeout=120s
}

# test_teardown_clean: the cluster taken down, and the host as test_node_up found it.
test_teardown_clean() {
  local t0=$SECONDS cluster; cluster=$(cat "$WORK/cluster")
  "$H/down.sh" "$cluster" || fail "down.sh failed"
  echo "MEASURE: teardown $((SECONDS - t0))s"
  "$H/node.sh" snapshot >"$WORK/snapshot.after"
  diff "$WORK/snapshot.before" "$WORK/snapshot.after" || fail "the host is not as it was before the node (diff above)"
  [ ! -e /run/k8s-infra-node ] || fail "/run/k8s-infra-node left"
  [ ! -d "$cluster" ] || fail "cluster folder left"
}
