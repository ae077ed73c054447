#!/usr/bin/env bash
# Cluster tests: the deploy tool (deploy/deploy.ts) against a real kube-apiserver + etcd + kube-controller-manager
# (test/cluster/harness/up.sh). Every environment folder in dist/ gets a fresh cluster of its own.
# Objects are discovered from the manifests, nothing is hard-coded.
#
# Usage: test/cluster/run.sh [ENV...]      (default: every folder of dist/ with *.k8s.yaml files)
# Needs: binaries from test/cluster/harness/build.sh, kubectl, jq, openssl, git.
# Prints PASS/FAIL lines and closes with "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail
shopt -s inherit_errexit

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
# The deploy tool as `npm run deploy` runs it, without npm. DEPLOY_JS: another copy of it (test_git_check).
DEPLOY_JS="$ROOT/deploy/run.js"
run_deploy() { node "$DEPLOY_JS" "$@"; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/k8s-infra-cluster-tests.XXXXXX")"
CLUSTER=""
# shellcheck source=../lib/harness.sh
source "$ROOT/test/lib/harness.sh"
CTL_STANDIN=""   # test_sealed_secrets_verified's stand-in controller
cleanup() {
  if [ -n "$CTL_STANDIN" ]; then kill "$CTL_STANDIN" 2>/dev/null || true; fi
  if [ -n "$CLUSTER" ]; then "$ROOT/test/cluster/harness/down.sh" "$CLUSTER" || true; fi
  rm -rf "$WORK"
}
on_exit cleanup

# The test clusters are new each time, so the tests declare the current one (its kube-system uid)
# as the environment's cluster in a targets file of their own; test_wrong_cluster shows that the
# committed deploy/targets.json is enforced.
CLUSTER_UID=""
declare_cluster() {   # declare_cluster ENV: writes $WORK/targets.json
  jq -n --arg e "$1" --arg uid "$CLUSTER_UID" '{environments: {($e): {cluster: {kubeSystemUid: $uid}}}}' >"$WORK/targets.json"
}
# The pipeline as the tests run it: no synth (dist/ is given), no git check (scratch copies), this
# cluster declared, a lock of the test run's own (a deploy by hand in the checkout is not blocked).
# An environment reconciled by Flux (production: dist/<env>/flux.k8s.yaml) is pushed whole here (DEPLOY_PUSH_ALL=1,
# the break-glass --push-all; no Flux runs on these clusters): these tests are about the push pipeline. What the
# tool does for it by default (the bootstrap only) is test/deploy-engine.test.ts and test/cluster/flux.sh.
deploy() {
  declare_cluster "$1"
  local push_all=; [ -f "${DIST_DIR:-$WORK/dist}/$1/flux.k8s.yaml" ] && push_all=1
  DIST_DIR="${DIST_DIR:-$WORK/dist}" SKIP_SYNTH=1 ALLOW_DIRTY=1 DEPLOY_TARGETS="$WORK/targets.json" DEPLOY_LOCK="$WORK/deploy.lock" DEPLOY_PUSH_ALL="$push_all" run_deploy "$@"
}
# deploy_rc WANTED LOGFILE ARGS...: deploy must exit with WANTED (an exit code of the tool's --help).
deploy_rc() {
  local want=$1 log=$2; shift 2
  local rc=0
  deploy "$@" >"$log" 2>&1 || rc=$?
  cat "$log"
  [ "$rc" = "$want" ] || fail "deploy $* exited $rc, expected $want"
}
# deploy_expect RC_WANTED(0|fail) LOGFILE ARGS...: runs deploy, keeps its output in LOGFILE.
deploy_ok() {
  local log=$1; shift
  local rc=0
  deploy "$@" >"$log" 2>&1 || rc=$?
  cat "$log"
  [ "$rc" = 0 ] || fail "deploy $* exited $rc"
  if grep -q 'Warning:' "$log"; then fail "deploy $* printed a server warning"; fi
}
deploy_fails() {
  local log=$1; shift
  local rc=0
  deploy "$@" >"$log" 2>&1 || rc=$?
  cat "$log"
  [ "$rc" != 0 ] || fail "deploy $* succeeded but should have failed"
}

# Manifest files -> one JSON object a line (parsed by kubectl, offline).
objects_of() {
  local f
  for f in "$@"; do
    kubectl annotate --local -f "$f" -o json k8s-infra.invalid/none- |
      jq -c 'if .kind == "List" then .items[] else . end'
  done
}
# JSON object line -> "Kind.version.group name namespace" (kubectl's unambiguous resource form).
refs_of() {
  jq -r '"\(.kind).\(.apiVersion | if contains("/") then (split("/") | .[1] + "." + .[0]) else . + "." end) \(.metadata.name) \(.metadata.namespace // "")"' "$@"
}
kget() {   # kget REF NAME NS [kubectl get args...]
  local ref=$1 name=$2 ns=$3; shift 3
  if [ -n "$ns" ]; then kubectl get "$ref" "$name" -n "$ns" "$@"; else kubectl get "$ref" "$name" "$@"; fi
}
exists() { kget "$1" "$2" "$3" -o name >/dev/null 2>&1; }
# What our apply owns on an object: generation + the field manager's entry. Controllers updating
# status (with kube-controller-manager running) do not change it; a real re-apply would. An object that a
# controller scales (an HPA's target: managed fields on the "scale" subresource) gets new generations from
# that controller whenever it acts, so there only our own entry counts.
fingerprint() {
  kget "$1" "$2" "$3" -o json --show-managed-fields |   # kubectl hides managedFields by default
    jq -c '{uid: .metadata.uid,
            generation: (if any(.metadata.managedFields[]?; .subresource == "scale") then "scaled by a controller" else .metadata.generation end),
            mine: [.metadata.managedFields[]? | select((.manager | startswith("k8s-infra")) and .operation == "Apply")]}'
}
# Fingerprints of every object of a JSON-lines file, one "ref name ns fingerprint" a line.
fingerprints() {
  local ref name ns
  refs_of "$1" | while read -r ref name ns; do echo "$ref $name $ns $(fingerprint "$ref" "$name" "$ns")"; done
}
# Identities: uid and whether it is being deleted (a prune must neither delete nor re-create).
identities() {
  local ref name ns
  refs_of "$1" | while read -r ref name ns; do
    echo "$ref $name $ns $(kget "$ref" "$name" "$ns" -o jsonpath='{.metadata.uid} {.metadata.deletionTimestamp}' 2>&1)"
  done
}

# ----------------------------------------------------------------------------------------------
# Tests for one environment. $OBJS: its manifests as JSON lines; $CRDS: crds/ as JSON lines.

test_dry_run_fresh() {
  deploy_ok "$WORK/dry.log" "$ENV" --dry-run
  grep -q 'dry run passed' "$WORK/dry.log" || fail "no 'dry run passed' summary"
  # A dry run stores nothing (objects present before the first deploy, like the default
  # namespace, do not count).
  local ref name ns stored=""
  while read -r ref name ns; do
    grep -qxF "$ref $name $ns" "$WORK/preexisting.txt" && continue
    if exists "$ref" "$name" "$ns"; then stored="$stored $ref/$name"; fi
  done < <(refs_of "$OBJS" "$CRDS")
  [ -z "$stored" ] || fail "the dry run stored:$stored"
}

test_apply_stores_everything() {
  deploy_ok "$WORK/apply.log" "$ENV"
  local line ref name ns live problems=""
  while IFS= read -r line; do
    read -r ref name ns < <(refs_of <<<"$line")
    live=$(kget "$ref" "$name" "$ns" -o json 2>/dev/null) || { problems="$problems\n  missing: $ref $ns/$name"; continue; }
    # Same name and namespace, every label of the manifest with the same value, and the
    # ApplySet label that makes it prunable.
    bad=$(jq -n -r --argjson want "$line" --argjson live "$live" '
      [ (if $live.metadata.name != $want.metadata.name then "name \($live.metadata.name)" else empty end),
        (if ($live.metadata.namespace // "") != ($want.metadata.namespace // "") then "namespace \($live.metadata.namespace)" else empty end),
        ( ($want.metadata.labels // {}) | to_entries[]
          | select($live.metadata.labels[.key] != .value) | "label \(.key)=\(.value) is \($live.metadata.labels[.key])"),
        (if $want.kind != "CustomResourceDefinition" and ($live.metadata.labels["applyset.kubernetes.io/part-of"] // "") == ""
         then "no applyset.kubernetes.io/part-of label" else empty end)
      ] | join(", ")')
    [ -z "$bad" ] || problems="$problems\n  $ref $ns/$name: $bad"
  done < <(cat "$OBJS" "$CRDS")
  [ -z "$problems" ] || fail "$(echo -e "objects not stored as written:$problems")"
  echo "checked $(cat "$OBJS" "$CRDS" | wc -l) objects"
}

test_dry_run_checks_all() {
  # Now that namespaces and CRDs exist, the server checks every object (nothing left out).
  deploy_ok "$WORK/dry2.log" "$ENV" --dry-run
  grep -q ', 0 not checkable yet' "$WORK/dry2.log" || fail "some objects were not checked by the server"
}

test_reapply_is_noop() {
  # An HPA brings its target up to minReplicas once, at its first sync (<= 15 s): let that happen first, so the
  # comparison sees our re-apply and not the controller (bounded; without it the fingerprint copes, see above).
  local target ns i
  jq -r 'select(.kind == "HorizontalPodAutoscaler") | "\(.spec.scaleTargetRef.name) \(.metadata.namespace)"' "$OBJS" | while read -r target ns; do
    for i in $(seq 1 40); do
      kubectl get deployment "$target" -n "$ns" -o json --show-managed-fields | jq -e 'any(.metadata.managedFields[]?; .subresource == "scale")' >/dev/null && break
      sleep 1
    done
  done
  fingerprints <(cat "$OBJS" "$CRDS") >"$WORK/before.txt"
  # Not vacuous: every object must carry our field manager's entry.
  if grep -F '"mine":[]' "$WORK/before.txt"; then fail "objects without a k8s-infra Apply entry in managedFields"; fi
  # Each environment applies with a field manager of its own; crds/ is shared (k8s-infra-crds).
  if grep -v '^CustomResourceDefinition' "$WORK/before.txt" | grep -vF "\"manager\":\"k8s-infra-$ENV\""; then
    fail "objects above are not applied with the environment's field manager k8s-infra-$ENV"
  fi
  deploy_ok "$WORK/reapply.log" "$ENV"
  fingerprints <(cat "$OBJS" "$CRDS") >"$WORK/after.txt"
  local changed
  changed=$(diff "$WORK/before.txt" "$WORK/after.txt" | sed -n 's/^> \([^ ]*\) \([^ ]*\) \([^ ]*\) .*/\1 \3\/\2/p' | tr '\n' ' ') || true
  # Typical cause: a field the server drops when stored (an empty list such as `ingress: []`)
  # is sent again by every apply, which bumps the generation each time.
  [ -z "$changed" ] || fail "re-applying the same manifests changed: $changed(generation or managed fields moved; see kubectl diff below)" \
    "$(deploy "$ENV" --diff 2>&1 | grep -E '^[-+] ' | head -n 20)"
  # kubectl diff (server side, per stage) must report nothing: exit 0.
  deploy_ok "$WORK/diff.log" "$ENV" --diff
  grep -q 'diff: no changes' "$WORK/diff.log" || fail "kubectl diff reported changes"
}

# (jq -s rather than `| head -n 1`: under pipefail, head closing the pipe early fails it)
first_namespaced_object() { jq -s -c 'map(select(.metadata.namespace != null))[0]' "$OBJS"; }

test_diff_exit_codes() {
  # the tool's --help: 0 no changes, 1 changes pending, >= 2 error.
  deploy_rc 0 "$WORK/diff0.log" "$ENV" --diff
  # A changed label on one object of the model: changes pending.
  local obj; obj=$(first_namespaced_object)
  mkdir -p "$WORK/changed/$ENV"
  jq -c --argjson o "$obj" 'if . == $o then .metadata.labels["k8s-infra-test/changed"] = "yes" else . end' "$OBJS" |
    jq -s '{apiVersion: "v1", kind: "List", items: .}' >"$WORK/changed/$ENV/all.k8s.yaml"
  DIST_DIR="$WORK/changed" deploy_rc 1 "$WORK/diff1.log" "$ENV" --diff
  grep -q 'k8s-infra-test/changed' "$WORK/diff1.log" || fail "the diff does not show the changed label"
  # An unreachable cluster (nothing listens on port 1): an error, not "changes pending".
  local kc="$WORK/unreachable.kubeconfig"
  cp "$KUBECONFIG" "$kc"
  kubectl --kubeconfig="$kc" config set-cluster local --server=https://127.0.0.1:1 >/dev/null
  KUBECONFIG="$kc" deploy_rc 2 "$WORK/diff2.log" "$ENV" --diff
  grep -q 'ERROR: cluster check' "$WORK/diff2.log" || fail "no ERROR line naming the step"
}

test_prune() {
  # Victim: one namespaced object of a kind nothing else depends on (first match in this order).
  local victim
  victim=$(jq -s -c '
    (["ConfigMap","Ingress","NetworkPolicy","PodDisruptionBudget","Service","Secret","SealedSecret","ServiceAccount","Deployment"]) as $pref
    | map(select(.metadata.namespace != null and (.kind as $k | $pref | index($k)) != null))
    | sort_by(.kind as $k | $pref | index($k)) | .[0] // empty' "$OBJS")
  [ -n "$victim" ] || skip "no namespaced object to drop"
  local vref vname vns
  read -r vref vname vns < <(refs_of <<<"$victim")
  echo "dropping $vref $vns/$vname"

  # Objects the pipeline must never touch: one without any project label, one carrying the same
  # labels as the victim but created by someone else (no ApplySet label).
  kubectl create configmap k8s-infra-test-outsider -n "$vns" --from-literal=a=b
  jq -c --arg ns "$vns" '{apiVersion: "v1", kind: "ConfigMap",
       metadata: {name: "k8s-infra-test-lookalike", namespace: $ns, labels: (.metadata.labels // {})}, data: {a: "b"}}' \
    <<<"$victim" | kubectl create -f -
  local outsiders
  outsiders=$(kubectl get configmap k8s-infra-test-outsider k8s-infra-test-lookalike -n "$vns" \
    -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}')

  # The same manifests without the victim, in a scratch dist/.
  mkdir -p "$WORK/pruned/$ENV"
  jq -c --argjson v "$victim" 'select(. != $v)' "$OBJS" >"$WORK/rest.jsonl"
  jq -s '{apiVersion: "v1", kind: "List", items: .}' "$WORK/rest.jsonl" >"$WORK/pruned/$ENV/all.k8s.yaml"
  identities <(cat "$WORK/rest.jsonl" "$CRDS") >"$WORK/before.txt"

  # Dry run: announces the prune, deletes nothing.
  DIST_DIR="$WORK/pruned" deploy_ok "$WORK/prune-dry.log" "$ENV" --dry-run
  grep -q "$vname pruned (server dry run)" "$WORK/prune-dry.log" || fail "dry run did not announce pruning $vname"
  exists "$vref" "$vname" "$vns" || fail "a dry run deleted $vname"

  DIST_DIR="$WORK/pruned" deploy_ok "$WORK/prune.log" "$ENV"
  grep -q "$vname pruned" "$WORK/prune.log" || fail "apply did not report pruning $vname"
  if exists "$vref" "$vname" "$vns"; then
    [ -n "$(kget "$vref" "$vname" "$vns" -o jsonpath='{.metadata.deletionTimestamp}')" ] || fail "$vname still exists"
  fi
  identities <(cat "$WORK/rest.jsonl" "$CRDS") >"$WORK/after.txt"
  diff "$WORK/before.txt" "$WORK/after.txt" || fail "prune deleted or re-created other project objects"
  local now
  now=$(kubectl get configmap k8s-infra-test-outsider k8s-infra-test-lookalike -n "$vns" \
    -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}')
  [ "$now" = "$outsiders" ] || fail "objects outside the pipeline changed: '$outsiders' -> '$now'"

  # Deploying the full manifests again brings it back.
  deploy_ok "$WORK/restore.log" "$ENV"
  exists "$vref" "$vname" "$vns" || fail "$vname not re-created"
  kubectl delete configmap k8s-infra-test-outsider k8s-infra-test-lookalike -n "$vns"
}

test_prune_from_model() {
  # The user's path: delete a construct from the model (here the go-ok Ingress, in a scratch copy of the project),
  # synthesize with the real synth, deploy. The Ingress must go; every other object keeps its identity.
  local copy="$WORK/model-copy"
  rm -rf "$copy"; mkdir -p "$copy"
  (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard) |
    (cd "$ROOT" && xargs -0 cp --parents -t "$copy" 2>/dev/null) || true
  ln -s "$ROOT/node_modules" "$copy/node_modules"
  grep -q "    new HostIngress(this, 'Ingress', {" "$copy/charts/go-ok.ts" || skip "go-ok chart has no Ingress construct to remove"
  sed -i "s/    new HostIngress(this, 'Ingress', {/    if (false) new HostIngress(this, 'Ingress', {/" "$copy/charts/go-ok.ts"
  (cd "$copy" && SYNTH_ENVIRONMENTS="$ENV" npm run -s synth >"$WORK/model-synth.log" 2>&1) || { cat "$WORK/model-synth.log"; fail "synth of the edited model failed"; }
  local ing
  ing=$(jq -c 'select(.kind == "Ingress" and .metadata.name == "go-ok")' "$OBJS")
  [ -n "$ing" ] || skip "dist/$ENV has no Ingress go-ok"
  objects_of "$copy/dist/$ENV"/*.k8s.yaml >"$WORK/model.jsonl"
  [ "$(wc -l <"$WORK/model.jsonl")" = "$(( $(wc -l <"$OBJS") - 1 ))" ] || fail "the edited model should have exactly one object less"
  local ref name ns
  read -r ref name ns < <(refs_of <<<"$ing")
  identities <(cat "$WORK/model.jsonl" "$CRDS") >"$WORK/model-before.txt"

  DIST_DIR="$copy/dist" deploy_ok "$WORK/model-prune.log" "$ENV"
  grep -q "$name pruned" "$WORK/model-prune.log" || fail "apply did not report pruning Ingress $name"
  if exists "$ref" "$name" "$ns"; then
    [ -n "$(kget "$ref" "$name" "$ns" -o jsonpath='{.metadata.deletionTimestamp}')" ] || fail "Ingress $name still exists"
  fi
  identities <(cat "$WORK/model.jsonl" "$CRDS") >"$WORK/model-after.txt"
  diff "$WORK/model-before.txt" "$WORK/model-after.txt" || fail "pruning the Ingress touched other project objects"

  deploy_ok "$WORK/model-restore.log" "$ENV"
  exists "$ref" "$name" "$ns" || fail "Ingress $name not re-created from the committed dist/"
}

# The last Namespace of the manifests that has objects in it.
namespace_to_drop() {
  jq -r 'select(.kind == "Namespace") | .metadata.name' "$OBJS" | while read -r n; do
    jq -e --arg n "$n" 'select(.metadata.namespace == $n)' "$OBJS" >/dev/null && echo "$n"; done | tail -n 1
}

test_prune_namespace_guard() {
  # A hand-made object in a Namespace that leaves the model: --diff lists it with everything else
  # the deletion would take, --dry-run and apply stop naming it, and nothing is deleted.
  local gone
  gone=$(namespace_to_drop)
  [ -n "$gone" ] || skip "no Namespace with objects in the manifests"
  kubectl create configmap k8s-infra-test-handmade -n "$gone" --from-literal=a=b
  mkdir -p "$WORK/nsguard/$ENV"
  jq -c --arg n "$gone" 'select(.metadata.namespace != $n and (.kind != "Namespace" or .metadata.name != $n))' "$OBJS" |
    jq -s '{apiVersion: "v1", kind: "List", items: .}' >"$WORK/nsguard/$ENV/all.k8s.yaml"
  identities <(cat "$OBJS" "$CRDS") >"$WORK/before.txt"

  DIST_DIR="$WORK/nsguard" deploy_rc 3 "$WORK/nsguard-diff.log" "$ENV" --diff
  grep -q "would prune namespace/$gone" "$WORK/nsguard-diff.log" || fail "--diff did not announce pruning namespace/$gone"
  grep -q 'OTHER ConfigMap/k8s-infra-test-handmade' "$WORK/nsguard-diff.log" || fail "--diff did not list the hand-made ConfigMap"
  local some; some=$(jq -r -s --arg n "$gone" 'map(select(.metadata.namespace == $n))[0] | "\(.kind)\(.apiVersion | if contains("/") then "." + split("/")[0] else "" end)/\(.metadata.name)"' "$OBJS")
  grep -qF "ours  $some" "$WORK/nsguard-diff.log" || fail "--diff did not list $some among what the deletion takes"
  DIST_DIR="$WORK/nsguard" deploy_rc 3 "$WORK/nsguard-dry.log" "$ENV" --dry-run
  grep -q 'k8s-infra-test-handmade' "$WORK/nsguard-dry.log" || fail "--dry-run did not name the hand-made ConfigMap"
  DIST_DIR="$WORK/nsguard" deploy_rc 3 "$WORK/nsguard.log" "$ENV"
  grep -q "namespace/$gone left the model but holds 1 object" "$WORK/nsguard.log" || fail "apply did not stop naming the namespace"
  grep -q 'OTHER ConfigMap/k8s-infra-test-handmade' "$WORK/nsguard.log" || fail "apply did not name the hand-made ConfigMap"
  [ "$(kubectl get namespace "$gone" -o jsonpath='{.status.phase}')" = Active ] || fail "namespace $gone is being deleted"
  identities <(cat "$OBJS" "$CRDS") >"$WORK/after.txt"
  diff "$WORK/before.txt" "$WORK/after.txt" || fail "objects were deleted or re-created"
  kubectl delete configmap k8s-infra-test-handmade -n "$gone"
}

test_prune_namespace() {
  # Dropping a Namespace and everything in it: the cluster stage prunes the Namespace (the
  # namespace controller then deletes its content); nothing elsewhere changes.
  local gone
  gone=$(namespace_to_drop)
  [ -n "$gone" ] || skip "no Namespace with objects in the manifests"
  echo "dropping namespace $gone and its objects"
  kubectl create configmap k8s-infra-test-outsider -n default --from-literal=a=b
  local before_outsider
  before_outsider=$(kubectl get configmap k8s-infra-test-outsider -n default -o jsonpath='{.metadata.resourceVersion}')

  mkdir -p "$WORK/nsgone/$ENV"
  jq -c --arg n "$gone" 'select(.metadata.namespace != $n and (.kind != "Namespace" or .metadata.name != $n))' "$OBJS" >"$WORK/rest.jsonl"
  jq -s '{apiVersion: "v1", kind: "List", items: .}' "$WORK/rest.jsonl" >"$WORK/nsgone/$ENV/all.k8s.yaml"
  identities <(cat "$WORK/rest.jsonl" "$CRDS") >"$WORK/before.txt"

  local rc=0
  DIST_DIR="$WORK/nsgone" deploy "$ENV" --diff >"$WORK/nsgone-diff.log" 2>&1 || rc=$?
  cat "$WORK/nsgone-diff.log"
  [ "$rc" = 1 ] || fail "--diff should exit 1 (changes pending), got $rc"
  grep -q "would prune namespace/$gone" "$WORK/nsgone-diff.log" || fail "--diff did not announce pruning namespace/$gone"
  if grep -q '^ *OTHER ' "$WORK/nsgone-diff.log"; then fail "objects of the pipeline (or made from them) were taken for someone else's"; fi

  # Not without --prune-namespaces: refused (nothing written), saying why.
  DIST_DIR="$WORK/nsgone" deploy_rc 3 "$WORK/nsgone-noflag.log" "$ENV"
  grep -q "namespace/$gone left the model; it is deleted only with --prune-namespaces: deleting a Namespace deletes everything in it" "$WORK/nsgone-noflag.log" ||
    fail "the refusal does not say why a Namespace prune needs --prune-namespaces"
  [ "$(kubectl get namespace "$gone" -o jsonpath='{.status.phase}')" = Active ] || fail "namespace $gone is being deleted"

  DIST_DIR="$WORK/nsgone" deploy_ok "$WORK/nsgone.log" "$ENV" --prune-namespaces
  kubectl wait --for=delete "namespace/$gone" --timeout=120s || fail "namespace $gone not deleted within 120 s"
  identities <(cat "$WORK/rest.jsonl" "$CRDS") >"$WORK/after.txt"
  diff "$WORK/before.txt" "$WORK/after.txt" || fail "objects outside namespace $gone were deleted or re-created"
  [ "$(kubectl get configmap k8s-infra-test-outsider -n default -o jsonpath='{.metadata.resourceVersion}')" = "$before_outsider" ] ||
    fail "the outsider ConfigMap changed"

  # And back: the full manifests re-create the namespace and its objects.
  deploy_ok "$WORK/nsback.log" "$ENV"
  local ref name ns missing=""
  while read -r ref name ns; do exists "$ref" "$name" "$ns" || missing="$missing $ref/$ns/$name"; done < <(refs_of "$OBJS")
  [ -z "$missing" ] || fail "not re-created:$missing"
  kubectl delete configmap k8s-infra-test-outsider -n default
}

test_controllers() {
  # kube-controller-manager turns each Deployment into a ReplicaSet and Pods (Pending: no
  # scheduler or kubelet), all carrying the pod template's labels.
  local deps
  deps=$(jq -c 'select(.kind == "Deployment")' "$OBJS")
  [ -n "$deps" ] || skip "no Deployment in the manifests"
  local dep name ns uid want replicas rs problems="" ok
  while IFS= read -r dep; do
    name=$(jq -r .metadata.name <<<"$dep"); ns=$(jq -r .metadata.namespace <<<"$dep")
    want=$(jq -c '.spec.template.metadata.labels // {}' <<<"$dep")
    replicas=$(jq -r '.spec.replicas // 1' <<<"$dep")
    uid=$(kubectl get deployment "$name" -n "$ns" -o jsonpath='{.metadata.uid}')
    ok=0
    for _ in $(seq 1 60); do   # <= 60 s
      rs=$(kubectl get replicasets -n "$ns" -o json | jq -c --arg uid "$uid" --argjson want "$want" '
        [.items[] | select(any(.metadata.ownerReferences[]?; .uid == $uid))
         | select(.metadata.labels as $l | $want | to_entries | all($l[.key] == .value))
         | select(.metadata.labels["pod-template-hash"] != null)] | .[0] // empty')
      if [ -n "$rs" ]; then
        pods=$(kubectl get pods -n "$ns" -o json | jq --arg uid "$(jq -r .metadata.uid <<<"$rs")" --argjson want "$want" '
          [.items[] | select(any(.metadata.ownerReferences[]?; .uid == $uid))
           | select(.metadata.labels as $l | $want | to_entries | all($l[.key] == .value))] | length')
        if [ "$pods" -ge "$replicas" ]; then ok=1; break; fi
      fi
      sleep 1
    done
    if [ "$ok" = 1 ]; then
      echo "deployment $ns/$name: replicaset $(jq -r .metadata.name <<<"$rs") and $pods pod(s) with the template labels"
    else
      problems="$problems\n  deployment $ns/$name: no ReplicaSet with $replicas Pod(s) carrying labels $want"
      kubectl get replicasets -n "$ns" -o json | jq -c --arg uid "$uid" '.items[] | select(any(.metadata.ownerReferences[]?; .uid == $uid)) | {rs: .metadata.name, conditions: .status.conditions}' 
      kubectl get events -n "$ns" --field-selector type=Warning 2>/dev/null | tail -n 5
    fi
  done <<<"$deps"
  [ -z "$problems" ] || fail "$(echo -e "controllers did not produce the expected objects:$problems")"
}

test_wait_is_bounded() {
  # No kubelet here, so no Pod ever becomes ready: --wait must give up after WAIT_TIMEOUT and fail.
  jq -s -e 'any(.[]; .kind == "Deployment" and (.spec.replicas // 1) > 0)' "$OBJS" >/dev/null || skip "no Deployment with replicas"
  local start=$SECONDS
  WAIT_TIMEOUT=5s deploy_fails "$WORK/wait.log" "$ENV" --wait
  grep -q 'did not finish within 5s' "$WORK/wait.log" || fail "no rollout timeout message"
  [ $((SECONDS - start)) -lt 120 ] || fail "--wait was not bounded"
}

test_git_check() {
  # Step 2 of the pipeline, in a scratch git repo holding a copy of the pipeline and dist/.
  local repo="$WORK/repo"
  rm -rf "$repo"; mkdir -p "$repo/deploy" "$repo/dist"
  cp "$ROOT"/deploy/*.ts "$ROOT/deploy/run.js" "$repo/deploy/"; cp -r "$WORK/dist/$ENV" "$repo/dist/"; cp -r "$ROOT/crds" "$repo/"
  ln -s "$ROOT/node_modules" "$repo/node_modules"
  declare_cluster "$ENV"; export DEPLOY_TARGETS="$WORK/targets.json"
  git -C "$repo" init -q
  git -C "$repo" add -A
  git -C "$repo" -c user.name=test -c user.email=test@example.invalid commit -qm fixture
  local DEPLOY_JS="$repo/deploy/run.js"
  SKIP_SYNTH=1 run_deploy "$ENV" --dry-run >"$WORK/git1.log" 2>&1 || { cat "$WORK/git1.log"; fail "clean dist/ refused"; }
  local f; f=$(ls "$repo/dist/$ENV"/*.k8s.yaml | head -1)
  echo "# edited" >>"$f"
  if SKIP_SYNTH=1 run_deploy "$ENV" --dry-run >"$WORK/git2.log" 2>&1; then fail "modified dist/ accepted"; fi
  grep -q 'differs from the commit' "$WORK/git2.log" || { cat "$WORK/git2.log"; fail "no 'differs from the commit' message"; }
  git -C "$repo" checkout -q -- dist
  echo "{}" >"$repo/dist/$ENV/new.k8s.yaml"
  if SKIP_SYNTH=1 run_deploy "$ENV" --dry-run >"$WORK/git3.log" 2>&1; then fail "untracked file in dist/ accepted"; fi
  grep -q 'differs from the commit' "$WORK/git3.log" || { cat "$WORK/git3.log"; fail "no 'differs from the commit' message"; }
}

# ----------------------------------------------------------------------------------------------
# Faults, injected with the deploy tool's testing-only hook (deploy/kube.ts): the first step (an API call or the
# start of a stage) whose name matches MATCH gets FAULT: reset (the call fails, connection reset), forbidden (403),
# sleep:<s>, sh:<command>, throw (an unexpected exception), throw-async (one outside any promise). $WORK/fault
# records when it fired.

# with_fault FAULT MATCH COMMAND...
with_fault() {
  local fault=$1 match=$2; shift 2
  rm -f "$WORK/fault"
  DEPLOY_TEST_HOOK=$fault DEPLOY_TEST_HOOK_AT=$match DEPLOY_TEST_HOOK_STATE="$WORK/fault" "$@"
}

test_lookup_failure() {
  # The cluster-wide lookup of the ApplySet parents fails once, not with Forbidden: the run must
  # stop with ERROR naming the step, never carry on without pruning and exit 0.
  local mode
  for mode in "" --diff --dry-run; do
    local rc=0
    with_fault reset 'look up ApplySet parents' deploy "$ENV" $mode >"$WORK/lookup.log" 2>&1 || rc=$?
    cat "$WORK/lookup.log"
    [ -e "$WORK/fault" ] || fail "the fault was not injected"
    [ "$rc" = 2 ] || fail "deploy $mode exited $rc after a failed lookup, expected 2"
    grep -q 'ERROR: stage 3/3: look up ApplySet parents' "$WORK/lookup.log" || fail "no ERROR line naming the lookup"
    if grep -q 'done (' "$WORK/lookup.log"; then fail "the run reported done"; fi
  done
  # A real Forbidden is downgraded, with a message, and the run goes on.
  with_fault forbidden 'look up ApplySet parents' deploy_ok "$WORK/forbidden.log" "$ENV"
  grep -q 'note: cannot list Secrets cluster-wide (Forbidden)' "$WORK/forbidden.log" || fail "no note for the Forbidden lookup"
}

test_lock() {
  # One deploy at a time per checkout: a second one is refused (exit 3) naming the holder; the
  # lock goes with the process.
  rm -f "$WORK/fault"   # (here, not only in the background: the wait below must not see an older one)
  ( with_fault sleep:6 '^cluster check: begin' deploy "$ENV" --dry-run >"$WORK/lock-first.log" 2>&1 ) &
  local first=$!
  for _ in $(seq 1 100); do [ -e "$WORK/fault" ] && break; sleep 0.1; done
  [ -e "$WORK/fault" ] || fail "the first deploy did not get going"
  deploy_rc 3 "$WORK/lock-second.log" "$ENV" --dry-run
  grep -Eq "another deploy holds .*pid [0-9]+ \($ENV dry-run" "$WORK/lock-second.log" || fail "the refusal does not name the holder"
  wait "$first" || { cat "$WORK/lock-first.log"; fail "the first deploy failed"; }
  deploy_ok "$WORK/lock-third.log" "$ENV" --dry-run   # released on exit
}

test_legacy_manager() {
  # An object as an older pipeline left it (same ApplySet, shared field manager "k8s-infra"): the
  # deploy hands its fields to k8s-infra-<env>, and then nothing is pending.
  local line ref name ns idx
  line=$(first_namespaced_object)
  read -r ref name ns < <(refs_of <<<"$line")
  managers() { kget "$ref" "$name" "$ns" -o json --show-managed-fields | jq -r '.metadata.managedFields[] | select(.operation == "Apply") | .manager'; }
  idx=$(kget "$ref" "$name" "$ns" -o json --show-managed-fields | jq --arg m "k8s-infra-$ENV" '[.metadata.managedFields[].manager] | index($m)')
  kubectl patch "$ref" "$name" -n "$ns" --type=json -p "[{\"op\": \"replace\", \"path\": \"/metadata/managedFields/$idx/manager\", \"value\": \"k8s-infra\"}]"
  managers | grep -qx k8s-infra || fail "could not give $ref $ns/$name the legacy field manager" "$(managers)"
  deploy_ok "$WORK/legacy.log" "$ENV"
  grep -q "$name: fields of the shared field manager k8s-infra handed to k8s-infra-$ENV" "$WORK/legacy.log" || fail "no hand-over reported"
  if managers | grep -qx k8s-infra; then fail "the legacy field manager is still there" "$(managers)"; fi
  managers | grep -qx "k8s-infra-$ENV" || fail "k8s-infra-$ENV does not manage $name" "$(managers)"
  deploy_rc 0 "$WORK/legacy-diff.log" "$ENV" --diff
}

# ----------------------------------------------------------------------------------------------
# Drift, adoption, and failures said plainly.

# jpath PREFIX KEY: how the tool prints a field path: .data.key, or .data["app.kubernetes.io/name"]
jpath() { if [[ $2 =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then echo "$1.$2"; else echo "$1[\"$2\"]"; fi; }

test_drift() {
  # The everyday hand edits of fields the model sets: `kubectl scale`, `kubectl label --overwrite` of one of our
  # labels, `kubectl patch` of a ConfigMap's data. --diff shows each (field, old -> new, the manager that holds it)
  # and exits 1; the deploy takes them back and says so, then nothing is pending. An annotation the model does not
  # set, and an HPA target's replicas (left to the HPA), are neither reported nor touched.
  local dep cm
  dep=$(jq -s -c '([.[] | select(.kind == "HorizontalPodAutoscaler") | .spec.scaleTargetRef.name]) as $hpa
        | map(select(.kind == "Deployment" and .spec.replicas != null and (.metadata.name as $n | $hpa | index($n)) == null))[0] // empty' "$OBJS")
  cm=$(jq -s -c 'map(select(.kind == "ConfigMap" and ((.data // {}) | length) > 0 and ((.metadata.labels // {}) | length) > 0))[0] // empty' "$OBJS")
  [ -n "$dep" ] && [ -n "$cm" ] || skip "no Deployment with replicas, or no labelled ConfigMap with data"
  local dname dns want cname cns lkey lval dkey dval
  dname=$(jq -r .metadata.name <<<"$dep"); dns=$(jq -r .metadata.namespace <<<"$dep"); want=$(jq -r .spec.replicas <<<"$dep")
  cname=$(jq -r .metadata.name <<<"$cm"); cns=$(jq -r .metadata.namespace <<<"$cm")
  lkey=$(jq -r '.metadata.labels | keys[0]' <<<"$cm"); lval=$(jq -r --arg k "$lkey" '.metadata.labels[$k]' <<<"$cm")
  dkey=$(jq -r '.data | keys[0]' <<<"$cm"); dval=$(jq -c --arg k "$dkey" '.data[$k]' <<<"$cm")
  kubectl scale deployment "$dname" -n "$dns" --replicas=$((want + 2))
  kubectl label --overwrite configmap "$cname" -n "$cns" "$lkey=drifted"
  kubectl patch configmap "$cname" -n "$cns" --type=merge -p "$(jq -n -c --arg k "$dkey" '{data: {($k): "patched"}}')"
  kubectl annotate deployment "$dname" -n "$dns" k8s-infra-test/by-hand=kept
  local hpa_target="" hpa_ns=""
  read -r hpa_target hpa_ns < <(jq -s -r 'map(select(.kind == "HorizontalPodAutoscaler"))[0] // empty | "\(.spec.scaleTargetRef.name) \(.metadata.namespace)"' "$OBJS") || true
  [ -z "$hpa_target" ] || kubectl scale deployment "$hpa_target" -n "$hpa_ns" --replicas=7

  deploy_rc 1 "$WORK/drift-diff.log" "$ENV" --diff
  grep -qF ".spec.replicas: $((want + 2)) -> $want   (drift: held by kubectl" "$WORK/drift-diff.log" || fail "--diff does not show the scaled replicas with their manager"
  grep -qF "$(jpath .metadata.labels "$lkey"): \"drifted\" -> \"$lval\"   (drift: held by kubectl-label)" "$WORK/drift-diff.log" || fail "--diff does not show the overwritten label with its manager"
  grep -F "$(jpath .data "$dkey"): \"patched\" -> ${dval:0:40}" "$WORK/drift-diff.log" | grep -qF '(drift: held by kubectl-patch)' ||
    fail "--diff does not show the patched data with its manager"
  if grep -q 'k8s-infra-test/by-hand' "$WORK/drift-diff.log"; then fail "--diff reported an annotation the model does not set"; fi
  if [ -n "$hpa_target" ] && grep -q "Deployment $hpa_ns/$hpa_target" "$WORK/drift-diff.log"; then fail "--diff reported the HPA target's replicas"; fi

  deploy_ok "$WORK/drift.log" "$ENV"
  [ "$(grep -c 'drift: taken back from' "$WORK/drift.log")" = 3 ] || fail "the deploy does not say it took back 3 fields"
  grep -q 'took back 3 field(s)' "$WORK/drift.log" || fail "no summary of what was taken back"
  [ "$(kubectl get deployment "$dname" -n "$dns" -o jsonpath='{.spec.replicas}')" = "$want" ] || fail "replicas not taken back"
  [ "$(kubectl get configmap "$cname" -n "$cns" -o json | jq -r --arg k "$lkey" '.metadata.labels[$k]')" = "$lval" ] || fail "label not taken back"
  [ "$(kubectl get configmap "$cname" -n "$cns" -o json | jq -c --arg k "$dkey" '.data[$k]')" = "$dval" ] || fail "data not taken back"
  [ "$(kubectl get deployment "$dname" -n "$dns" -o json | jq -r '.metadata.annotations["k8s-infra-test/by-hand"]')" = kept ] || fail "the hand-made annotation was removed"
  deploy_rc 0 "$WORK/drift-diff0.log" "$ENV" --diff
  kubectl annotate deployment "$dname" -n "$dns" k8s-infra-test/by-hand-
}

test_adopt() {
  # Objects made by hand, with other data than the model's: refused (exit 3, "--adopt takes it over"), then --adopt
  # takes them over and the model's values win; afterwards nothing is pending.
  mkdir -p "$WORK/adopt/adopttest"
  printf '%s\n' 'apiVersion: v1' 'kind: Namespace' 'metadata: {name: k8s-infra-test-adopt}' '---' 'apiVersion: v1' 'kind: ConfigMap' \
    'metadata: {name: made-by-hand, namespace: k8s-infra-test-adopt, labels: {app: model}}' 'data: {a: model}' >"$WORK/adopt/adopttest/all.k8s.yaml"
  kubectl create namespace k8s-infra-test-adopt
  kubectl create configmap made-by-hand -n k8s-infra-test-adopt --from-literal=a=by-hand
  kubectl label configmap made-by-hand -n k8s-infra-test-adopt app=by-hand
  DIST_DIR="$WORK/adopt" deploy_rc 3 "$WORK/adopt-refused.log" adopttest
  grep -q 'ConfigMap k8s-infra-test-adopt/made-by-hand: not applied by any environment.*--adopt takes it over' "$WORK/adopt-refused.log" || fail "the refusal does not offer --adopt"
  [ "$(kubectl get configmap made-by-hand -n k8s-infra-test-adopt -o jsonpath='{.data.a}')" = by-hand ] || fail "the refused run changed the object"
  DIST_DIR="$WORK/adopt" deploy_ok "$WORK/adopt.log" adopttest --adopt
  [ "$(kubectl get configmap made-by-hand -n k8s-infra-test-adopt -o jsonpath='{.data.a} {.metadata.labels.app}')" = "model model" ] || fail "--adopt did not put the model's values in place"
  grep -q 'drift: taken back from kubectl-create' "$WORK/adopt.log" || fail "--adopt does not say what it took over"
  DIST_DIR="$WORK/adopt" deploy_rc 0 "$WORK/adopt-diff.log" adopttest --diff
  DIST_DIR="$WORK/adopt" deploy_ok "$WORK/adopt-again.log" adopttest   # now ours: no --adopt needed
  kubectl delete namespace k8s-infra-test-adopt --wait=false
}

test_injected_exception() {
  # An unexpected exception (the testing-only hook throws at a chosen step) is exit 2, naming the stage, in every
  # mode, before and after writes, also when thrown outside any promise; never 0, 1 ("changes pending") or 3.
  mkdir -p "$WORK/boom/boomtest"
  printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: k8s-infra-test-boom}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: k8s-infra-test-boom}\ndata: {a: b}\n' \
    >"$WORK/boom/boomtest/all.k8s.yaml"
  local spec fault at mode rc stage
  for spec in 'throw|^read the manifests: begin|' 'throw|^ownership check: read|--diff' 'throw|^stage 2/3 cluster: dry run|--dry-run' \
              'throw|^stage 3/3 namespace k8s-infra-test-boom: apply |' 'throw|^stage 3/3 namespace k8s-infra-test-boom: dry run|--diff' \
              'throw-async|^stage 3/3 namespace k8s-infra-test-boom: apply |'; do
    IFS='|' read -r fault at mode <<<"$spec"
    rc=0
    # shellcheck disable=SC2086   # $mode: one flag or none
    DIST_DIR="$WORK/boom" with_fault "$fault" "$at" deploy boomtest $mode >"$WORK/boom.log" 2>&1 || rc=$?
    cat "$WORK/boom.log"
    [ -e "$WORK/fault" ] || fail "$fault at /$at/ was not injected"
    [ "$rc" = 2 ] || fail "$fault at /$at/ $mode: exit $rc, expected 2"
    stage=${at#^}; stage=${stage%%:*}
    grep -qF "ERROR: $stage: unexpected failure: " "$WORK/boom.log" || fail "$fault at /$at/: no ERROR line naming the stage '$stage'"
    grep -q 'injected by DEPLOY_TEST_HOOK' "$WORK/boom.log" || fail "the exception's own message is not shown"
    if grep -q 'done (' "$WORK/boom.log"; then fail "the run reported done"; fi
  done
  DIST_DIR="$WORK/boom" deploy_ok "$WORK/boom-ok.log" boomtest   # and without the fault it converges
  kubectl delete namespace k8s-infra-test-boom --wait=false
}

test_sealed_secrets_verified() {
  # A SealedSecret the environment's controller cannot open stops the deploy before anything is written, naming it
  # and its file (exit 3, in every mode); an unreachable controller is said and the deploy goes on. The controller
  # here is a stand-in on 127.0.0.1 answering /v1/verify as the real one does (200 opens, 409 cannot); the real
  # controller is test/cluster/sealed-secrets.sh's.
  mkdir -p "$WORK/sealed/sealedtest"
  ss() { printf -- '---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: %s, namespace: k8s-infra-test-sealed}\nspec:\n  encryptedData: {a: AgBy3i4OJSWK}\n  template: {metadata: {name: %s, namespace: k8s-infra-test-sealed}}\n' "$1" "$1"; }
  { printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: k8s-infra-test-sealed}\n'; ss opens; ss cannot-open; } >"$WORK/sealed/sealedtest/all.k8s.yaml"
  rm -f "$WORK/ctl.port"
  # shellcheck disable=SC2016   # JavaScript, not shell
  node -e '
    const s = require("http").createServer((req, res) => { let b = ""; req.on("data", (c) => (b += c)); req.on("end", () => {
      if (req.url !== "/v1/verify") { res.writeHead(404); return res.end("not found"); }
      if (JSON.parse(b).metadata.name === "cannot-open") { res.writeHead(409); return res.end("Error: no key could decrypt secret (a)"); }
      res.writeHead(200); res.end(); }); });
    s.listen(0, "127.0.0.1", () => require("fs").writeFileSync(process.argv[1], String(s.address().port)));' "$WORK/ctl.port" &
  CTL_STANDIN=$!
  for _ in $(seq 1 50); do [ -s "$WORK/ctl.port" ] && break; sleep 0.1; done
  local mode url
  url="http://127.0.0.1:$(cat "$WORK/ctl.port")"
  for mode in "" --diff --dry-run; do
    # shellcheck disable=SC2086   # $mode: one flag or none
    SEALED_SECRETS_CONTROLLER_URL=$url DIST_DIR="$WORK/sealed" deploy_rc 3 "$WORK/sealed.log" sealedtest $mode
    grep -q 'cannot open 1 SealedSecret(s)' "$WORK/sealed.log" || fail "$mode: the refusal does not say the controller cannot open it"
    grep -qF 'SealedSecret k8s-infra-test-sealed/cannot-open (' "$WORK/sealed.log" || fail "$mode: the refusal does not name the SealedSecret"
    grep -q 'sealedtest/all.k8s.yaml' "$WORK/sealed.log" || fail "$mode: the refusal does not name the file"
    if grep -q 'k8s-infra-test-sealed/opens (' "$WORK/sealed.log"; then fail "$mode: the one it opens was named too"; fi
  done
  if kubectl get namespace k8s-infra-test-sealed >/dev/null 2>&1; then fail "something was written"; fi
  kill "$CTL_STANDIN"; wait "$CTL_STANDIN" 2>/dev/null || true; CTL_STANDIN=""
  # Not reachable (nothing listens there): said, and the deploy goes on.
  SEALED_SECRETS_CONTROLLER_URL=http://127.0.0.1:1 DIST_DIR="$WORK/sealed" deploy_ok "$WORK/sealed-unreachable.log" sealedtest
  grep -q 'sealed-secrets-controller is not reachable .*2 SealedSecret(s) NOT verified, going on' "$WORK/sealed-unreachable.log" || fail "no note that the controller is not reachable"
  kubectl get sealedsecret cannot-open -n k8s-infra-test-sealed >/dev/null || fail "the deploy did not go on"
  kubectl delete namespace k8s-infra-test-sealed --wait=false
}

test_namespace_prune_window() {
  # An object created in a Namespace between the prune check and the deletion (here by the hook, right before the
  # DELETE is sent) cannot be saved (the API server has no delete precondition on a namespace's content), but the
  # check right after the delete finds it and names it: exit 2, never a silent 0.
  local gone
  gone=$(namespace_to_drop)
  [ -n "$gone" ] || skip "no Namespace with objects in the manifests"
  mkdir -p "$WORK/nswindow/$ENV"
  jq -c --arg n "$gone" 'select(.metadata.namespace != $n and (.kind != "Namespace" or .metadata.name != $n))' "$OBJS" |
    jq -s '{apiVersion: "v1", kind: "List", items: .}' >"$WORK/nswindow/$ENV/all.k8s.yaml"
  local rc=0
  DIST_DIR="$WORK/nswindow" with_fault "sh:kubectl create configmap k8s-infra-test-intruder -n $gone --from-literal=a=b" \
    "^stage 2/3 cluster: delete Namespace $gone\$" deploy "$ENV" --prune-namespaces >"$WORK/nswindow.log" 2>&1 || rc=$?
  cat "$WORK/nswindow.log"
  [ -e "$WORK/fault" ] || fail "the intruder was not created"
  [ "$rc" = 2 ] || fail "exit $rc, expected 2"
  grep -q "namespace/$gone was deleted, and 1 object(s) this pipeline did not apply were created in it between the check and the delete" "$WORK/nswindow.log" || fail "no ERROR naming what was lost"
  grep -q 'OTHER ConfigMap/k8s-infra-test-intruder' "$WORK/nswindow.log" || fail "the intruder is not named"
  kubectl wait --for=delete "namespace/$gone" --timeout=120s || fail "namespace $gone not deleted within 120 s"
  deploy_ok "$WORK/nswindow-back.log" "$ENV"
}

test_lock_names_holder() {
  # Five deploys started while one holds the lock: every one is refused (exit 3) naming the holder. A lock left by
  # a process that is gone is taken over, saying so.
  rm -f "$WORK/fault"
  ( with_fault sleep:8 '^cluster check: begin' deploy "$ENV" --dry-run >"$WORK/holder.log" 2>&1 ) &
  local first=$! i pids=()
  for _ in $(seq 1 100); do [ -e "$WORK/fault" ] && break; sleep 0.1; done
  [ -e "$WORK/fault" ] || fail "the first deploy did not get going"
  for i in 1 2 3 4 5; do ( rc=0; deploy "$ENV" --diff >"$WORK/refused-$i.log" 2>&1 || rc=$?; echo "$rc" >"$WORK/refused-$i.rc" ) & pids+=($!); done
  wait "${pids[@]}"
  for i in 1 2 3 4 5; do
    cat "$WORK/refused-$i.log"
    [ "$(cat "$WORK/refused-$i.rc")" = 3 ] || fail "deploy $i exited $(cat "$WORK/refused-$i.rc"), expected 3"
    grep -Eq "another deploy holds .*: pid [0-9]+ \($ENV dry-run, user [^,]+, host [^,]+, since " "$WORK/refused-$i.log" || fail "deploy $i does not name the holder"
  done
  wait "$first" || { cat "$WORK/holder.log"; fail "the holder failed"; }
  echo "pid 999999 ($ENV apply, user gone, host $(hostname), since 2000-01-01T00:00:00Z)" >"$WORK/deploy.lock"
  deploy_ok "$WORK/stale.log" "$ENV" --dry-run
  grep -q 'took over the stale lock .*pid 999999' "$WORK/stale.log" || fail "the stale lock was not reported"
  [ ! -e "$WORK/deploy.lock" ] || fail "the lock was not released"
}

# ----------------------------------------------------------------------------------------------
# Two environments and one cluster (a fresh one): run once, with production and local.

# Every object of an environment as "ref name ns resourceVersion", ApplySet parents included.
resource_versions() {
  local ref name ns
  refs_of "$1" | while read -r ref name ns; do
    echo "$ref $name $ns $(kget "$ref" "$name" "$ns" -o jsonpath='{.metadata.resourceVersion}' 2>&1)"
  done
  kubectl get secrets -A -l applyset.kubernetes.io/id -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}={.metadata.resourceVersion}{"\n"}{end}'
}

test_wrong_cluster() {
  # The committed deploy/targets.json: production declares a cluster that is not this one (or none
  # yet), local only developer contexts (this kubeconfig's context is "local").
  local e rc
  for e in "$ENV_A" "$ENV_B"; do
    rc=0
    DIST_DIR="$WORK/dist" SKIP_SYNTH=1 ALLOW_DIRTY=1 DEPLOY_LOCK="$WORK/deploy.lock" run_deploy "$e" >"$WORK/wrong-$e.log" 2>&1 || rc=$?
    cat "$WORK/wrong-$e.log"
    [ "$rc" = 3 ] || fail "deploy $e on a cluster it does not declare exited $rc, expected 3"
    grep -q 'ERROR: cluster check' "$WORK/wrong-$e.log" || fail "no ERROR line naming the cluster check"
  done
  # A declared uid that is not this cluster's.
  jq -n --arg e "$ENV_A" '{environments: {($e): {cluster: {kubeSystemUid: "00000000-0000-0000-0000-000000000000"}}}}' >"$WORK/other.json"
  rc=0; DIST_DIR="$WORK/dist" SKIP_SYNTH=1 ALLOW_DIRTY=1 DEPLOY_TARGETS="$WORK/other.json" DEPLOY_LOCK="$WORK/deploy.lock" run_deploy "$ENV_A" \
    >"$WORK/wrong-uid.log" 2>&1 || rc=$?
  cat "$WORK/wrong-uid.log"
  [ "$rc" = 3 ] || fail "a deploy to a cluster with another uid exited $rc, expected 3"
  grep -q "belongs to the cluster with 00000000-0000-0000-0000-000000000000" "$WORK/wrong-uid.log" || fail "the refusal does not say which cluster"
  # Nothing was written: no Namespace and no ApplySet parent of either environment.
  local nss; nss=$(kubectl get namespaces -o name | grep -vE '^namespace/(default|kube-system|kube-public|kube-node-lease)$' || true)
  [ -z "$nss" ] || fail "namespaces were created: $nss"
  [ -z "$(kubectl get secrets -A -l applyset.kubernetes.io/id -o name)" ] || fail "ApplySet parents were created"
  # --force-cluster overrides exactly that check (with a warning). Pushed whole, like deploy() above: no Flux here.
  local push_all=; [ -f "$WORK/dist/$ENV_A/flux.k8s.yaml" ] && push_all=1
  rc=0; DIST_DIR="$WORK/dist" SKIP_SYNTH=1 ALLOW_DIRTY=1 DEPLOY_TARGETS="$WORK/other.json" DEPLOY_LOCK="$WORK/deploy.lock" DEPLOY_PUSH_ALL="$push_all" \
    run_deploy "$ENV_A" --dry-run --force-cluster \
    >"$WORK/forced.log" 2>&1 || rc=$?
  cat "$WORK/forced.log"
  [ "$rc" = 0 ] || fail "--force-cluster --dry-run exited $rc"
  grep -q 'WARNING: --force-cluster' "$WORK/forced.log" || fail "no warning for --force-cluster"
}

test_envs_collide() {
  # production, then local on the same cluster: local is refused before it writes anything, with
  # the objects and their owner named; production's objects keep their resourceVersions.
  ENV=$ENV_A deploy_ok "$WORK/a.log" "$ENV_A"
  resource_versions "$OBJS_A" >"$WORK/a-before.txt"
  local mode shared
  for mode in "" --diff --dry-run --force-cluster --adopt; do
    ENV=$ENV_B deploy_rc 3 "$WORK/b.log" "$ENV_B" $mode
    grep -q "belongs to ApplySet $APPLYSET_NS/k8s-infra-$ENV_A-cluster" "$WORK/b.log" || fail "the refusal does not name $ENV_A's ApplySet"
    grep -q "fields applied by field manager k8s-infra-$ENV_A" "$WORK/b.log" || fail "the refusal does not name $ENV_A's field manager"
  done
  # Every object of both models that exists in the cluster is named in the refusal.
  shared=$(jq -r '"\(.kind) \(if .metadata.namespace then .metadata.namespace + "/" else "" end)\(.metadata.name)"' "$OBJS_A" | sort >"$WORK/a-names.txt"
           jq -r '"\(.kind) \(if .metadata.namespace then .metadata.namespace + "/" else "" end)\(.metadata.name)"' "$OBJS_B" | sort |
           comm -12 - "$WORK/a-names.txt")
  [ -n "$shared" ] || skip "$ENV_A and $ENV_B share no object"
  local o; while IFS= read -r o; do grep -qF "  $o: " "$WORK/b.log" || fail "the refusal does not name $o"; done <<<"$shared"
  resource_versions "$OBJS_A" >"$WORK/a-after.txt"
  diff "$WORK/a-before.txt" "$WORK/a-after.txt" || fail "$ENV_A's objects changed"
  # Nothing of local's own was created either.
  local ref name ns; while read -r ref name ns; do
    grep -qxF "$ref $name $ns" <(refs_of "$OBJS_A") && continue
    if exists "$ref" "$name" "$ns"; then fail "$ENV_B's $ref $ns/$name was created"; fi
  done < <(refs_of "$OBJS_B")
  # And production still deploys cleanly.
  ENV=$ENV_A deploy_rc 0 "$WORK/a-diff.log" "$ENV_A" --diff
}

test_etcd_down() {
  # etcd frozen (SIGSTOP) behind a live kube-apiserver, at the first real apply of the last stage:
  # the run must fail within the per-call deadline, naming the stage. Then etcd resumes and a
  # re-run converges.
  local f="$WORK/etcd/etcdtest/all.k8s.yaml" i
  mkdir -p "$(dirname "$f")"
  { printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: k8s-infra-test-etcd}\n'
    for i in $(seq 1 30); do printf -- '---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%s, namespace: k8s-infra-test-etcd}\ndata: {a: b}\n' "$i"; done
  } >"$f"
  local t0 t1 frozen rc=0
  t0=$(date +%s.%N)
  KUBECTL_TIMEOUT=15s STAGE_TIMEOUT=60s DEPLOY_TIMEOUT=120s DIST_DIR="$WORK/etcd" \
    with_fault "sh:kill -STOP $(cat "$CLUSTER_DIR/pids/etcd.pid")" '^stage 3/3 namespace k8s-infra-test-etcd: apply ' deploy etcdtest >"$WORK/etcd.log" 2>&1 || rc=$?
  t1=$(date +%s.%N)
  cat "$WORK/etcd.log"
  [ -e "$WORK/fault" ] || fail "etcd was not stopped"
  frozen=$(cat "$WORK/fault")
  kill -CONT "$(cat "$CLUSTER_DIR/pids/etcd.pid")"
  local after total
  after=$(awk -v a="$t1" -v b="$frozen" 'BEGIN { printf "%.1f", a - b }')
  total=$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')
  echo "MEASURE: etcd stopped mid-deploy (KUBECTL_TIMEOUT=15s): failed ${after} s after etcd stopped, ${total} s after the start, exit $rc"
  [ "$rc" = 2 ] || fail "exit $rc, expected 2"
  grep -q 'ERROR: stage 3/3 namespace k8s-infra-test-etcd (resources).*did not finish within 15s' "$WORK/etcd.log" || fail "no ERROR line naming the stage and the deadline"
  awk -v a="$after" 'BEGIN { exit !(a <= 15 + 10) }' || fail "the run took longer than its deadline after etcd stopped"
  # etcd back: the same deploy converges.
  for i in $(seq 1 60); do kubectl get --raw=/readyz >/dev/null 2>&1 && break; sleep 1; done
  DIST_DIR="$WORK/etcd" deploy_ok "$WORK/etcd-again.log" etcdtest
  [ "$(kubectl get configmaps -n k8s-infra-test-etcd -l applyset.kubernetes.io/part-of -o name | wc -l)" = 30 ] || fail "not all 30 ConfigMaps stored after the re-run"
}

# ----------------------------------------------------------------------------------------------
# Broken manifests (own fixtures; namespaces k8s-infra-test-*). Each must stop the pipeline
# non-zero, before the broken object or any later batch is written.

# fixture NAME: writes $WORK/broken/<NAME>/all.k8s.yaml from stdin (multi-document YAML). Each
# case has its own namespaces: k8s-infra-test-<NAME>-a (broken) and -z (a later batch).
fixture() { mkdir -p "$WORK/broken/$1"; cat >"$WORK/broken/$1/all.k8s.yaml"; }
later() {   # a ConfigMap in a namespace sorted after the broken one: it belongs to a later batch
  cat <<EOF
---
apiVersion: v1
kind: Namespace
metadata: {name: k8s-infra-test-$1-z}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: later, namespace: k8s-infra-test-$1-z}
data: {a: b}
EOF
}
restricted_ns() {
  cat <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: k8s-infra-test-$1-a
  labels: {pod-security.kubernetes.io/enforce: restricted, pod-security.kubernetes.io/warn: restricted}
EOF
}
GOOD_POD='      securityContext: {runAsNonRoot: true, runAsUser: 10001, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: app
          image: example.invalid/app:1
          securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}'

broken_case() {   # broken_case NAME EXPECTED_MESSAGE_REGEX BROKEN_REF BROKEN_NAME [--dry-run]
  local name=$1 msg=$2 ref=$3 obj=$4 ns=k8s-infra-test-$1-a; shift 4
  [ "$ref" != Namespace.v1. ] || ns=""
  DIST_DIR="$WORK/broken" deploy_fails "$WORK/broken-$name.log" "$name" "$@"
  grep -Eq "$msg" "$WORK/broken-$name.log" || fail "expected the server to say /$msg/"
  if exists "$ref" "$obj" "$ns"; then fail "the broken $ref $ns/$obj was stored"; fi
  if exists ConfigMap later "k8s-infra-test-$name-z"; then fail "a later batch was applied"; fi
}

test_broken_pss() {
  fixture pss <<EOF
$(restricted_ns pss)
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: privileged, namespace: k8s-infra-test-pss-a}
spec:
  selector: {matchLabels: {app: privileged}}
  template:
    metadata: {labels: {app: privileged}}
    spec:
      containers:
        - name: app
          image: example.invalid/app:1
          securityContext: {privileged: true}
$(later pss)
EOF
  broken_case pss 'would violate PodSecurity "restricted' Deployment.v1.apps privileged
  # The namespaces exist now (stage 2 ran), so a dry run reaches the Deployment and fails too.
  broken_case pss 'would violate PodSecurity "restricted' Deployment.v1.apps privileged --dry-run
}

test_broken_selector() {
  fixture selector <<EOF
$(restricted_ns selector)
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: mismatched, namespace: k8s-infra-test-selector-a}
spec:
  selector: {matchLabels: {app: one}}
  template:
    metadata: {labels: {app: other}}
    spec:
$GOOD_POD
$(later selector)
EOF
  broken_case selector 'selector.? does not match template .?labels' Deployment.v1.apps mismatched
}

test_broken_nodeport() {
  # The port is taken by a Service created outside the pipeline.
  kubectl create namespace k8s-infra-test-ports
  kubectl create service nodeport taken --tcp=80:80 --node-port=30999 -n k8s-infra-test-ports
  fixture nodeport <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: k8s-infra-test-nodeport-a}
---
apiVersion: v1
kind: Service
metadata: {name: duplicate, namespace: k8s-infra-test-nodeport-a}
spec:
  type: NodePort
  selector: {app: x}
  ports: [{port: 80, nodePort: 30999}]
$(later nodeport)
EOF
  broken_case nodeport 'provided port is already allocated' Service.v1. duplicate
  kubectl delete namespace k8s-infra-test-ports --wait=false
}

test_broken_cluster_stage() {
  # An invalid cluster-scoped object stops stage 2, so no namespaced batch runs and the valid
  # Namespace next to it is not created either (the stage's dry run failed first).
  fixture clusterstage <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: k8s-infra-test-clusterstage-a
  labels: {pod-security.kubernetes.io/enforce: bogus}
$(later clusterstage)
EOF
  broken_case clusterstage 'must be one of privileged, baseline, restricted' Namespace.v1. k8s-infra-test-clusterstage-a
  if exists Namespace.v1. k8s-infra-test-clusterstage-z ""; then fail "the valid Namespace of the same stage was created"; fi
}

# ----------------------------------------------------------------------------------------------

# dist/ as it is now: others may re-synthesize while the tests run, and a deploy and the checks of
# its result must see the same manifests.
cp -r "$ROOT/dist" "$WORK/dist"
if [ $# -gt 0 ]; then
  ENVS=("$@")
else
  ENVS=()
  for d in "$WORK"/dist/*/; do
    compgen -G "$d*.k8s.yaml" >/dev/null && ENVS+=("$(basename "$d")")
  done
fi
[ ${#ENVS[@]} -gt 0 ] || { echo "no environments in $ROOT/dist (run the synth first)"; exit 1; }

start_cluster() {   # start_cluster [--kcm]
  CLUSTER=$("$ROOT/test/cluster/harness/up.sh" "$@")
  # shellcheck disable=SC1091
  source "$CLUSTER/env"
  CLUSTER_UID=$(kubectl get namespace kube-system -o jsonpath='{.metadata.uid}')
}
first=1
for ENV in "${ENVS[@]}"; do
  echo "=== environment $ENV: starting a fresh cluster"
  start_cluster --kcm
  OBJS="$WORK/$ENV.jsonl"; CRDS="$WORK/crds.jsonl"
  objects_of "$WORK/dist/$ENV"/*.k8s.yaml >"$OBJS"
  : >"$CRDS"
  if compgen -G "$ROOT/crds/*.yaml" >/dev/null; then objects_of "$ROOT"/crds/*.yaml >"$CRDS"; fi
  refs_of "$OBJS" "$CRDS" | while read -r ref name ns; do
    if exists "$ref" "$name" "$ns"; then echo "$ref $name $ns"; fi
  done >"$WORK/preexisting.txt"
  echo "    $(wc -l <"$OBJS") objects in dist/$ENV, $(wc -l <"$CRDS") CRDs in crds/"

  t "[$ENV] dry run on an empty cluster passes with no error or warning, stores nothing" test_dry_run_fresh
  t "[$ENV] apply stores every object with its name, namespace and labels" test_apply_stores_everything
  t "[$ENV] dry run on the deployed cluster checks every object" test_dry_run_checks_all
  t "[$ENV] re-apply changes nothing (fields and generations unchanged, kubectl diff exits 0)" test_reapply_is_noop
  t "[$ENV] --diff exits 0 for no change, 1 for a change, 2 for an unreachable cluster" test_diff_exit_codes
  t "[$ENV] prune deletes exactly the dropped object; other objects and outsiders stay" test_prune
  t "[$ENV] removing a construct from the model and synthesizing prunes exactly its object" test_prune_from_model
  t "[$ENV] a Namespace holding a hand-made object is not pruned: --diff lists it, the deploy stops naming it" test_prune_namespace_guard
  t "[$ENV] prune of a whole Namespace deletes it and nothing else; re-deploy restores it" test_prune_namespace
  t "[$ENV] controllers create ReplicaSets and Pods with the template labels" test_controllers
  t "[$ENV] --wait is bounded and fails when rollouts do not finish" test_wait_is_bounded
  t "[$ENV] pipeline refuses a dist/ that differs from the commit" test_git_check
  if [ "$first" = 1 ]; then
    t "[broken] PodSecurity violation in a restricted namespace stops the pipeline" test_broken_pss
    t "[broken] Deployment selector not matching its template stops the pipeline" test_broken_selector
    t "[broken] duplicate nodePort stops the pipeline" test_broken_nodeport
    t "[broken] invalid cluster-scoped object stops the pipeline before namespaced objects" test_broken_cluster_stage
    t "[$ENV] a failed ApplySet lookup stops the run with ERROR (a Forbidden one is downgraded)" test_lookup_failure
    t "[$ENV] one deploy at a time: a second is refused naming the holder" test_lock
    t "[$ENV] fields of the old shared field manager k8s-infra are handed to k8s-infra-$ENV" test_legacy_manager
    t "[$ENV] drift (scale, label --overwrite, patch) is a change: --diff shows field, values, manager; the deploy takes it back" test_drift
    t "[adopt] objects made by hand: refused, then --adopt takes them over with the model's values" test_adopt
    t "[boom] an injected exception is exit 2 naming the stage, in every mode, before and after writes" test_injected_exception
    t "[sealed] a SealedSecret the controller cannot open stops the deploy naming it; unreachable: said, goes on" test_sealed_secrets_verified
    t "[$ENV] an object created between the Namespace prune check and the delete is named (exit 2)" test_namespace_prune_window
    t "[$ENV] every refused deploy names the lock holder; a stale lock is taken over" test_lock_names_holder
    first=0
  fi

  "$ROOT/test/cluster/harness/down.sh" "$CLUSTER"; CLUSTER=""
done

# Two environments on one cluster: production (A) and local (B) when both are being tested.
ENV_A=production; ENV_B=local; APPLYSET_NS=default
if printf '%s\n' "${ENVS[@]}" | grep -qx "$ENV_A" && printf '%s\n' "${ENVS[@]}" | grep -qx "$ENV_B"; then
  echo "=== environments $ENV_A and $ENV_B on one cluster: starting a fresh cluster"
  # No kube-controller-manager: nothing but the deploys writes, so resourceVersions must not move.
  start_cluster
  OBJS_A="$WORK/$ENV_A.jsonl"; OBJS_B="$WORK/$ENV_B.jsonl"
  t "[cross] a deploy to a cluster the environment does not declare is refused, nothing written" test_wrong_cluster
  t "[cross] $ENV_A then $ENV_B: $ENV_B is refused before writing, names the owners; $ENV_A untouched" test_envs_collide
  t "[cross] etcd stopped mid-deploy: the run fails within the deadline, naming the stage; a re-run converges" test_etcd_down
  "$ROOT/test/cluster/harness/down.sh" "$CLUSTER"; CLUSTER=""
fi

DONE=1
summary
[ "$FAILED" = 0 ]
