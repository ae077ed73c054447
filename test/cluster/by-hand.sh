#!/usr/bin/env bash
# Cluster tests of what plain kubectl does with dist/ (no deploy tool): the README's by-hand commands on an empty
# cluster, a quiet re-apply (client-side and server-side), and a rollout of every single-instance Deployment
# watched event by event. Each environment gets a fresh etcd + kube-apiserver + kube-controller-manager.
#
# Usage: test/cluster/by-hand.sh [ENV...]     (default: every folder of dist/ with *.k8s.yaml files)
# Needs: binaries from test/cluster/harness/build.sh, kubectl, jq. Prints PASS/FAIL and "N passed, N failed".
set -euo pipefail
shopt -s inherit_errexit

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/k8s-infra-by-hand.XXXXXX")"
CLUSTER=""; WATCHER=""
# shellcheck source=../lib/harness.sh
source "$ROOT/test/lib/harness.sh"
cleanup() {
  [ -z "$WATCHER" ] || kill "$WATCHER" 2>/dev/null || true
  [ -z "$CLUSTER" ] || "$ROOT/test/cluster/harness/down.sh" "$CLUSTER" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
on_exit cleanup


# The README's by-hand block (between the by-hand markers), <env> replaced: exactly what a reader runs.
readme_commands() {
  sed -n '/<!-- by-hand:start -->/,/<!-- by-hand:end -->/p' "$ROOT/README.md" |
    sed -n '/^```sh$/,/^```$/p' | grep -v '^```' | sed "s/<env>/$1/g"
}

# Every object of the environment as "kind/name namespace" lines, from the manifests.
objects() {
  local f
  for f in "$ROOT/dist/$ENV"/*.k8s.yaml; do
    kubectl create --dry-run=client -o json -f "$f" | jq -r 'if .kind == "List" then .items[] else . end
      | "\(.kind)/\(.metadata.name) \(.metadata.namespace // "")"'
  done
}
# What an apply by hand writes, per object: the generation and kubectl's own managed-fields entries (a write that
# changes anything moves their time). Not the resourceVersion: the controllers running here write status (an
# HPA's, a Deployment's) whenever they like, which says nothing about the apply; and an HPA's target gets new
# generations from the HPA's scaling (managed fields on the "scale" subresource), so there only kubectl's count.
versions() {
  local ref ns
  objects | while read -r ref ns; do
    echo "$ref $ns $(kubectl get "$ref" ${ns:+-n "$ns"} -o json --show-managed-fields | jq -c '{
      generation: (if any(.metadata.managedFields[]?; .subresource == "scale") then "scaled by a controller" else .metadata.generation end),
      kubectl: [.metadata.managedFields[]? | select(.manager == "kubectl-client-side-apply" or .manager == "by-hand" or .manager == "kubectl")
                | {manager, operation, subresource, time}]}')"
  done
}

test_readme_commands() {
  local cmds; cmds="$(readme_commands "$ENV")"
  [ -n "$cmds" ] || fail "no by-hand commands found in README.md"
  echo "$cmds"
  (cd "$ROOT" && bash -euo pipefail -c "$cmds")
  # Everything is stored, namespaced objects in their namespaces.
  local ref ns
  objects | while read -r ref ns; do kubectl get "$ref" ${ns:+-n "$ns"} -o name >/dev/null || fail "$ref not stored"; done
}

# An HPA brings its target up to minReplicas once, at its first sync (<= 15 s): wait for that (bounded), so a
# comparison around a re-apply sees the apply and not the controller.
settle_hpa_targets() {
  local f target ns i
  for f in "$ROOT/dist/$ENV"/*.k8s.yaml; do kubectl create --dry-run=client -o json -f "$f"; done |
    jq -r 'if .kind == "List" then .items[] else . end | select(.kind == "HorizontalPodAutoscaler")
      | "\(.spec.scaleTargetRef.name) \(.metadata.namespace)"' |
    while read -r target ns; do
      for i in $(seq 1 40); do
        kubectl get deployment "$target" -n "$ns" -o json --show-managed-fields | jq -e 'any(.metadata.managedFields[]?; .subresource == "scale")' >/dev/null && break
        sleep 1
      done
    done
}

test_quiet_client_side() {
  settle_hpa_targets
  local before; before="$(versions)"
  (cd "$ROOT" && kubectl apply -f "dist/$ENV/") | tee "$WORK/apply.log"
  # The one exception is kubectl's, not the manifests': a PodDisruptionBudget's selector has patch strategy
  # "replace", and kubectl's three-way diff sends a replaced field whole, equal or not (apimachinery
  # strategicpatch.handleMapDiff), so it always says "configured". The write check below shows that
  # nothing changed for those too.
  local noisy; noisy="$(grep -v ' unchanged$' "$WORK/apply.log" | grep -v '^poddisruptionbudget.policy/.* configured$' || true)"
  [ -z "$noisy" ] || fail "a re-apply of unchanged manifests reported changes:"$'\n'"$noisy"
  [ "$(versions)" = "$before" ] || fail "a re-apply wrote to objects (generation or kubectl's managed fields moved)"
  (cd "$ROOT" && kubectl diff -f "dist/$ENV/") || fail "kubectl diff found differences after apply"
}

test_quiet_server_side() {
  # The first server-side apply takes the fields over from the client-side manager (a real write); from the
  # second on, nothing may change.
  (cd "$ROOT" && kubectl apply --server-side --force-conflicts --field-manager=by-hand -f "dist/$ENV/") >/dev/null
  local before; before="$(versions)"
  (cd "$ROOT" && kubectl apply --server-side --field-manager=by-hand -f "dist/$ENV/") >/dev/null
  local after; after="$(versions)"
  [ "$after" = "$before" ] || fail "a server-side re-apply wrote to objects:"$'\n'"$(diff <(echo "$before") <(echo "$after"))"
}

# Watches the pods of a Deployment while its template changes, and prints the largest number of its pods that
# existed at one time (ADDED .. DELETED; a pod being deleted still counts until it is gone).
max_pods_during_rollout() {   # NAME NS SELECTOR ANNOTATION_VALUE [until-new-pod]
  local name=$1 ns=$2 sel=$3 value=$4 until=${5:-complete}
  local events="$WORK/events.$value.jsonl"
  kubectl get pods -n "$ns" -l "$sel" --watch --output-watch-events -o json >"$events" 2>/dev/null &
  WATCHER=$!
  sleep 2   # the watch lists the existing pods first (ADDED)
  kubectl patch deployment "$name" -n "$ns" --type merge \
    -p "{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"k8s-infra.test/rollout\":\"$value\"}}}}}" >/dev/null
  # Done when the controller made a new ReplicaSet whose pod exists and the old ones are scaled to 0 (no kubelet
  # here: pods stay Pending, which is enough to see whether two exist).
  local i
  for i in $(seq 1 60); do
    local rs; rs="$(kubectl get rs -n "$ns" -l "$sel" -o json | jq -c '[.items[] | {r: .spec.replicas, a: (.metadata.annotations["deployment.kubernetes.io/revision"])}]')"
    local pods; pods="$(kubectl get pods -n "$ns" -l "$sel" -o json | jq '[.items[] | select(.metadata.annotations["k8s-infra.test/rollout"] == "'"$value"'")] | length')"
    # A RollingUpdate of pods that never get Ready (no kubelet) never completes: there, the new pod is enough.
    if [ "$pods" -ge 1 ] && { [ "$until" = until-new-pod ] || [ "$(echo "$rs" | jq '[.[] | select(.r > 0)] | length')" = 1 ]; }; then break; fi
    sleep 1
  done
  [ "$i" -lt 60 ] || { echo "rollout did not finish in 60s: $rs"; kill "$WATCHER"; WATCHER=""; return 1; }
  sleep 2   # let trailing events arrive
  kill "$WATCHER" 2>/dev/null || true; wait "$WATCHER" 2>/dev/null || true; WATCHER=""
  jq -rs 'reduce .[] as $e ({live: {}, max: 0};
      if $e.type == "DELETED" then .live |= del(.[$e.object.metadata.name])
      else .live[$e.object.metadata.name] = 1 end
      | .max = ([.max, (.live | length)] | max)) | .max' "$events"
}

test_single_instance_rollout() {
  local singles; singles="$(for f in "$ROOT/dist/$ENV"/*.k8s.yaml; do
    kubectl create --dry-run=client -o json -f "$f"; done |
    jq -r 'if .kind == "List" then .items[] else . end | select(.kind == "Deployment" and .spec.strategy.type == "Recreate")
      | "\(.metadata.name) \(.metadata.namespace) \(.spec.selector.matchLabels | to_entries | map("\(.key)=\(.value)") | join(","))"')"
  echo "$singles" | grep -q '^db ' || fail "db is not a Recreate Deployment in dist/$ENV"
  local name ns sel max
  while read -r name ns sel; do
    max="$(max_pods_during_rollout "$name" "$ns" "$sel" "1")"
    echo "$ns/$name: at most $max pod(s) during the rollout"
    [ "$max" = 1 ] || fail "$ns/$name ran $max pods at once during a rollout"
  done <<<"$singles"
  # Control: the same watch sees the overlap that RollingUpdate (the default) makes, so it can see one at all.
  read -r name ns sel <<<"$(echo "$singles" | grep '^db ')"
  kubectl patch deployment "$name" -n "$ns" --type merge -p '{"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}}}}' >/dev/null
  max="$(max_pods_during_rollout "$name" "$ns" "$sel" "2" until-new-pod)"
  echo "control, RollingUpdate: at most $max pods"
  [ "$max" = 2 ] || fail "the watch did not see RollingUpdate's second pod (saw $max): it cannot tell"
}

if [ $# -gt 0 ]; then ENVS=("$@"); else
  ENVS=(); for d in "$ROOT"/dist/*/; do ls "$d"*.k8s.yaml >/dev/null 2>&1 && ENVS+=("$(basename "$d")"); done
fi
for ENV in "${ENVS[@]}"; do
  echo "--- $ENV (plain kubectl)"
  CLUSTER="$("$ROOT/test/cluster/harness/up.sh" --kcm)"
  # shellcheck disable=SC1091
  source "$CLUSTER/env"
  t "$ENV: the README's by-hand commands on an empty cluster" test_readme_commands
  t "$ENV: a second client-side apply reports every object unchanged" test_quiet_client_side
  t "$ENV: a second server-side apply writes nothing" test_quiet_server_side
  t "$ENV: a single-instance Deployment never runs two pods during a rollout" test_single_instance_rollout
  "$ROOT/test/cluster/harness/down.sh" "$CLUSTER" >/dev/null 2>&1 || true; CLUSTER=""
done
DONE=1
summary
[ "$FAILED" = 0 ]
