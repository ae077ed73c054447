#!/usr/bin/env bash
# Cluster tests with the real sealed-secrets controller (v0.40.0, built from its Go module by
# test/cluster/harness/build-sealed-secrets-controller.sh): `npm run bootstrap` from an empty cluster, for `local` (the
# controller from our platform chart) and `production` (a controller "the platform team" installed).
#
# There is no kubelet in the test cluster, so the test plays it for the controller's pod only: when the
# ReplicaSet has created the pod, the controller process is started on this machine, as that pod would run it
# (in-cluster config: KUBERNETES_SERVICE_HOST/PORT and the token, CA and namespace at
# /var/run/secrets/kubernetes.io/serviceaccount, given in a private mount namespace so nothing of the machine
# changes), with a TokenRequest token of the ServiceAccount our construct creates (`kubectl create token`); so
# it has exactly the RBAC of our ClusterRole. The pod's status is then set Running and Ready (IP 127.0.0.1), so
# the Deployment rolls out. The one leg not covered: the API server's proxy to the controller (what kubeseal and
# the bootstrap use by default) refuses loopback addresses (Endpoints validation, and the pod proxy's "address not
# allowed"), and 127.0.0.1 is the only address these tests may use; the bootstrap reaches the controller at
# SEALED_SECRETS_CONTROLLER_URL=http://127.0.0.1:8080 instead (same endpoints /v1/cert.pem and /v1/verify).
#
# Every run works on a scratch copy of the working tree (bootstrap writes sealing/, secrets/ and dist/), with
# its own clusters (test/cluster/harness/up.sh --kcm), all stopped on exit.
#
# Usage: test/cluster/sealed-secrets.sh        Needs: the control plane binaries (test/cluster/harness/build.sh),
# kubectl, jq, openssl, curl, unshare (util-linux) and root (for the mount namespace), free 127.0.0.1:8080.
# Prints PASS/FAIL lines and closes with "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail
shopt -s inherit_errexit

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="${CLUSTER_BIN_DIR:-$ROOT/.cache/bin}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/k8s-infra-sealed-secrets.XXXXXX")"
PROJ="$WORK/proj"
CLUSTER=""; CTL_PID=""; KUBELET_PID=""
# shellcheck source=../lib/harness.sh
source "$ROOT/test/lib/harness.sh"
CTL_NS=kube-system; CTL_NAME=sealed-secrets-controller; CTL_PORT=8080
WAIT_S="${SEALED_SECRETS_TEST_WAIT:-60}"

stop_controller() {
  [ -n "$CTL_PID" ] || [ ! -f "$WORK/ctl.pid" ] || CTL_PID=$(cat "$WORK/ctl.pid")
  if [ -n "$CTL_PID" ] && kill -0 "$CTL_PID" 2>/dev/null; then
    kill -TERM "$CTL_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$CTL_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$CTL_PID" 2>/dev/null || true
  fi
  CTL_PID=""
}
stop_kubelet() {
  if [ -n "$KUBELET_PID" ] && kill -0 "$KUBELET_PID" 2>/dev/null; then kill -TERM "$KUBELET_PID" 2>/dev/null || true; fi
  KUBELET_PID=""
}
cleanup() {
  stop_kubelet; stop_controller
  [ -f "$WORK/ctl.pid" ] && { CTL_PID=$(cat "$WORK/ctl.pid"); stop_controller; }
  if [ -n "$CLUSTER" ]; then "$ROOT/test/cluster/harness/down.sh" "$CLUSTER" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
on_exit cleanup

until_ok() {   # until_ok SECONDS COMMAND...: bounded poll
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do [ "$SECONDS" -lt "$deadline" ] || return 1; sleep 1; done
}

# --- the controller, as its pod would run it --------------------------------------------------
CTL_ARGS=()
controller_args() {   # the args of the Deployment in the cluster, listening on 127.0.0.1 only
  local a i
  mapfile -t CTL_ARGS < <(kubectl get deployment "$CTL_NAME" -n "$CTL_NS" -o json | jq -r '.spec.template.spec.containers[0].args[]')
  for i in "${!CTL_ARGS[@]}"; do
    a=${CTL_ARGS[$i]}
    [ "$a" = ":$CTL_PORT" ] && CTL_ARGS[$i]="127.0.0.1:$CTL_PORT"
    [ "$a" = ":8081" ] && CTL_ARGS[$i]="127.0.0.1:0"
  done
  [ ${#CTL_ARGS[@]} -gt 0 ] || fail "no controller args in the Deployment"
}
start_controller() {   # the real controller with a TokenRequest token of our ServiceAccount
  local sa="$WORK/sa"
  stop_controller
  controller_args
  mkdir -p "$sa"
  kubectl create token "$CTL_NAME" -n "$CTL_NS" --duration=2h >"$sa/token"
  kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$sa/ca.crt"
  echo "$CTL_NS" >"$sa/namespace"
  local server; server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
  local port=${server##*:}
  # A private mount namespace: /run (= /var/run) is a fresh tmpfs there, holding only the pod's files.
  KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$port" POD_NAMESPACE="$CTL_NS" SA_DIR="$sa" CTL="$BIN/sealed-secrets-controller" \
    unshare --mount --propagation private bash -c '
      mount -t tmpfs -o size=1m tmpfs /run &&
      mkdir -p /run/secrets/kubernetes.io/serviceaccount &&
      cp "$SA_DIR"/token "$SA_DIR"/ca.crt "$SA_DIR"/namespace /run/secrets/kubernetes.io/serviceaccount/ &&
      exec "$CTL" "$@"' controller "${CTL_ARGS[@]}" >"$WORK/controller.log" 2>&1 </dev/null &
  CTL_PID=$!
  echo "$CTL_PID" >"$WORK/ctl.pid"
  until_ok 30 curl -fsS --max-time 2 "http://127.0.0.1:$CTL_PORT/healthz" || { cat "$WORK/controller.log"; fail "the controller did not start"; }
}
mark_pod_ready() {   # what the kubelet would report for the controller's pod
  local pod=$1
  kubectl patch pod "$pod" -n "$CTL_NS" --subresource=status --type=merge -p '{"status":{"phase":"Running","podIP":"127.0.0.1","podIPs":[{"ip":"127.0.0.1"}],
    "conditions":[{"type":"PodScheduled","status":"True"},{"type":"Initialized","status":"True"},{"type":"ContainersReady","status":"True"},{"type":"Ready","status":"True"}]}}' >/dev/null
}
# Background "kubelet" for the controller pod: waits (bounded) for the pod, runs the controller, reports Ready.
kubelet_sim() {
  local pod=""
  for _ in $(seq 1 300); do
    pod=$(kubectl get pods -n "$CTL_NS" -l "app=$CTL_NAME" -o jsonpath='{.items[0].metadata.name}' 2>/dev/null || true)
    [ -n "$pod" ] && break
    sleep 1
  done
  [ -n "$pod" ] || { echo "kubelet_sim: no controller pod appeared" >&2; return 1; }
  if curl -fsS --max-time 2 "http://127.0.0.1:$CTL_PORT/healthz" >/dev/null 2>&1; then return 0; fi   # already running
  start_controller
  mark_pod_ready "$pod"
  wait "$CTL_PID" || true   # keep the controller a child of this process until it is stopped
}
start_kubelet_sim() { kubelet_sim >"$WORK/kubelet.log" 2>&1 & KUBELET_PID=$!; }
# In the foreground (after bootstrap): the controller now runs under the test's own process.
restart_controller() { stop_kubelet; [ -f "$WORK/ctl.pid" ] && CTL_PID=$(cat "$WORK/ctl.pid"); start_controller; }

# --- the project copy and clusters -------------------------------------------------------------
make_project_copy() {
  rm -rf "$PROJ"; mkdir -p "$PROJ"
  (cd "$ROOT" && git ls-files -co --exclude-standard -z | grep -zv '^node_modules/' | xargs -0 cp --parents -t "$PROJ")
  ln -s "$ROOT/node_modules" "$PROJ/node_modules"
  (cd "$PROJ" && npm run --silent synth) >"$WORK/synth.log" 2>&1 || { cat "$WORK/synth.log"; exit 1; }
  git -C "$PROJ" init -q
  git -C "$PROJ" -c user.name=test -c user.email=test@invalid add -A
  git -C "$PROJ" -c user.name=test -c user.email=test@invalid commit -qm "working tree under test"
}
new_cluster() {
  stop_kubelet; stop_controller
  if [ -n "$CLUSTER" ]; then "$ROOT/test/cluster/harness/down.sh" "$CLUSTER" >/dev/null 2>&1 || true; fi
  CLUSTER=$("$ROOT/test/cluster/harness/up.sh" --kcm 2>"$WORK/up.log") || { cat "$WORK/up.log"; exit 1; }
  # shellcheck disable=SC1091
  source "$CLUSTER/env"
  local uid; uid=$(kubectl get namespace kube-system -o jsonpath='{.metadata.uid}')
  jq -n --arg uid "$uid" '{environments: {local: {cluster: {kubeSystemUid: $uid}}, production: {cluster: {kubeSystemUid: $uid}}}}' >"$WORK/targets.json"
  export DEPLOY_TARGETS="$WORK/targets.json" DEPLOY_LOCK="$WORK/deploy.lock"
  # production is reconciled by Flux, which does not run here: the deploy tool pushes it whole (--push-all), as
  # these tests of the SealedSecrets path need (the default, the GitOps bootstrap only, is test/cluster/flux.sh's).
  export DEPLOY_PUSH_ALL=1
}
bootstrap() {   # bootstrap ENV LOG: npm run bootstrap in the copy, the test playing kubelet meanwhile
  local env=$1 log=$2 rc=0
  start_kubelet_sim
  # ALLOW_DIRTY: the copy's dist/ is "committed" once bootstrap has run (production deploys only a committed dist/).
  (cd "$PROJ" && ALLOW_DIRTY=1 BOOTSTRAP_TIMEOUT="$WAIT_S" SEALED_SECRETS_CONTROLLER_URL="http://127.0.0.1:$CTL_PORT" timeout 900 npm run --silent bootstrap -- "$env" --no-rollout-wait) >"$log" 2>&1 || rc=$?
  return "$rc"
}
sha() { sha256sum | cut -d' ' -f1; }
state_of_files() { (cd "$PROJ" && find sealing secrets dist -type f ! -path '*/plain/*' -print0 | sort -z | xargs -0 sha256sum); }

# --- tests ---------------------------------------------------------------------------------------
ENV=""
test_bootstrap_from_empty() {
  local t0=$SECONDS
  bootstrap "$ENV" "$WORK/bootstrap-$ENV.log" || { cat "$WORK/bootstrap-$ENV.log" "$WORK/kubelet.log"; tail -20 "$WORK/controller.log"; fail "bootstrap $ENV failed"; }
  cat "$WORK/bootstrap-$ENV.log"
  echo "MEASURE: bootstrap of $ENV on an empty test cluster: $((SECONDS - t0))s wall ($(grep -o 'done in [0-9.]*s' "$WORK/bootstrap-$ENV.log"))"
}
# Every Secret of the environment: unsealed, bytes equal to the plain files, labels and owner as the model says.
test_secrets_unsealed() {
  local objs="$WORK/ss-$ENV.jsonl" n=0
  kubectl annotate --local -f "$PROJ/dist/$ENV" -o json k8s-infra.invalid/none- |
    jq -c 'if .kind == "List" then .items[] else . end | select(.kind == "SealedSecret")' >"$objs"
  [ -s "$objs" ] || fail "no SealedSecret in dist/$ENV"
  while read -r o; do
    local name ns uid secret
    name=$(jq -r .metadata.name <<<"$o"); ns=$(jq -r .metadata.namespace <<<"$o")
    secret=$(kubectl get secret "$name" -n "$ns" -o json) || fail "Secret $ns/$name does not exist"
    uid=$(kubectl get sealedsecret "$name" -n "$ns" -o jsonpath='{.metadata.uid}')
    for key in $(jq -r '.spec.encryptedData | keys[]' <<<"$o"); do
      local want got
      want=$(sha <"$PROJ/secrets/$ENV/plain/$name/$key")
      got=$(jq -r --arg k "$key" '.data[$k]' <<<"$secret" | base64 -d | sha)
      [ "$want" = "$got" ] || fail "Secret $ns/$name key $key: sha256 $got, plain file $want"
    done
    [ "$(jq -c '.data | keys' <<<"$secret")" = "$(jq -c '.spec.encryptedData | keys' <<<"$o")" ] || fail "Secret $ns/$name: keys differ from the model"
    [ "$(jq -r .type <<<"$secret")" = "$(jq -r .spec.template.type <<<"$o")" ] || fail "Secret $ns/$name: type differs"
    [ "$(jq -cS '.metadata.labels' <<<"$secret")" = "$(jq -cS '.spec.template.metadata.labels' <<<"$o")" ] ||
      fail "Secret $ns/$name: labels $(jq -cS .metadata.labels <<<"$secret") differ from the template's $(jq -cS .spec.template.metadata.labels <<<"$o")"
    jq -e --arg uid "$uid" --arg name "$name" '.metadata.ownerReferences == [{"apiVersion":"bitnami.com/v1alpha1","kind":"SealedSecret","name":$name,"uid":$uid,"controller":true}]' <<<"$secret" >/dev/null ||
      fail "Secret $ns/$name: owner reference $(jq -c .metadata.ownerReferences <<<"$secret")"
    kubectl get sealedsecret "$name" -n "$ns" -o json | jq -e '.status.conditions[] | select(.type == "Synced" and .status == "True")' >/dev/null ||
      fail "SealedSecret $ns/$name is not Synced"
    n=$((n + 1))
  done <"$objs"
  echo "MEASURE: $n Secrets of $ENV unsealed, sha256 equal to the plain files"
}
test_bootstrap_again_no_change() {
  local before after rc=0
  before=$(state_of_files)
  bootstrap "$ENV" "$WORK/again.log" || { cat "$WORK/again.log"; fail "second bootstrap failed"; }
  cat "$WORK/again.log"
  after=$(state_of_files)
  [ "$before" = "$after" ] || fail "the second bootstrap changed files" "$(diff <(echo "$before") <(echo "$after"))"
  grep -q 'step 1/5 platform' "$WORK/again.log" && grep -q 'skipped: .* already serves' "$WORK/again.log" || fail "step 1 was not skipped"
  grep -q "skipped: sealing/$ENV.pem is the controller's certificate" "$WORK/again.log" || fail "step 2 was not skipped"
  grep -q 'sealing skipped' "$WORK/again.log" || fail "something was re-sealed"
  (cd "$PROJ" && SKIP_SYNTH=1 ALLOW_DIRTY=1 node deploy/run.js "$ENV" --diff) >"$WORK/diff.log" 2>&1 || rc=$?
  cat "$WORK/diff.log"
  [ "$rc" = 0 ] || fail "deploy $ENV --diff after the second bootstrap exited $rc (changes pending)"
}
# A SealedSecret copied to another namespace, or renamed, is refused (strict scope): Synced=False, no Secret.
test_copy_and_rename_refused() {
  local src; src=$(kubectl get sealedsecret tls-certs -n "$1" -o json)
  kubectl create namespace ss-copy-test >/dev/null
  jq '{apiVersion, kind, metadata: {name: .metadata.name, namespace: "ss-copy-test"}, spec: (.spec | .template.metadata.namespace = "ss-copy-test")}' <<<"$src" | kubectl create -f - >/dev/null
  jq --arg ns "$1" '{apiVersion, kind, metadata: {name: "tls-certs-renamed", namespace: $ns}, spec: (.spec | .template.metadata.name = "tls-certs-renamed")}' <<<"$src" | kubectl create -f - >/dev/null
  for ref in "ss-copy-test tls-certs" "$1 tls-certs-renamed"; do
    set -- $ref
    until_ok "$WAIT_S" bash -c "kubectl get sealedsecret $2 -n $1 -o json | jq -e '.status.conditions[]? | select(.type == \"Synced\" and .status == \"False\")'" ||
      fail "SealedSecret $1/$2: no Synced=False condition" "$(kubectl get sealedsecret "$2" -n "$1" -o yaml)"
    kubectl get sealedsecret "$2" -n "$1" -o jsonpath='{.status.conditions[0].message}'; echo
    ! kubectl get secret "$2" -n "$1" >/dev/null 2>&1 || fail "Secret $1/$2 was created from a copied SealedSecret"
  done
  kubectl delete namespace ss-copy-test --wait=false >/dev/null
  kubectl delete sealedsecret tls-certs-renamed -n "$1" >/dev/null
}
# Production: values are never generated for a platform team's controller; a Secret left sealed with the old
# certificate (sealing/production.pem changed) is caught before deploy.
test_production_needs_values() {
  local rc=0
  bootstrap production "$WORK/noval.log" || rc=$?
  cat "$WORK/noval.log"
  [ "$rc" != 0 ] || fail "bootstrap production succeeded without values"
  grep -q 'step 3/5 values failed' "$WORK/noval.log" || fail "not stopped at step 3"
  grep -q 'never generated' "$WORK/noval.log" || fail "no reason given"
  ! kubectl get sealedsecrets -A -o name 2>/dev/null | grep -q . || fail "something was deployed"
}
give_production_values() {   # what the platform team would hand over: real-looking certificates
  local d
  for name in tls-certs api-gateway-tls; do
    d="$PROJ/secrets/production/plain/$name"; mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=$name.test" -keyout "$d/tls.key" -out "$d/tls.crt" 2>/dev/null
  done
  # go-ok's sidecar reads cert.pem and key.pem from the same Secret the Ingress uses (tls.crt, tls.key).
  cp "$PROJ/secrets/production/plain/tls-certs/tls.crt" "$PROJ/secrets/production/plain/tls-certs/cert.pem"
  cp "$PROJ/secrets/production/plain/tls-certs/tls.key" "$PROJ/secrets/production/plain/tls-certs/key.pem"
}
test_stale_seal_caught() {
  local rv_before rv_after rc=0 secret_before
  rv_before=$(kubectl get sealedsecret tls-certs -n go-ok -o jsonpath='{.metadata.resourceVersion}')
  secret_before=$(kubectl get secret tls-certs -n go-ok -o jsonpath='{.data}' | sha)
  # The sealed file as committed: sealed with the certificate sealing/production.pem held before bootstrap
  # fetched the controller's; its values are not at hand (no plain files).
  git -C "$PROJ" show HEAD:secrets/production/tls-certs.yaml >"$PROJ/secrets/production/tls-certs.yaml"
  rm -rf "$PROJ/secrets/production/plain/tls-certs"
  bootstrap production "$WORK/stale.log" || rc=$?
  cat "$WORK/stale.log"
  [ "$rc" != 0 ] || fail "bootstrap deployed a SealedSecret the controller cannot open"
  grep -q 'sealed for another controller' "$WORK/stale.log" || fail "the stale seal was not named"
  ! grep -q 'step 4/5' "$WORK/stale.log" || fail "it got to the deploy step"
  rv_after=$(kubectl get sealedsecret tls-certs -n go-ok -o jsonpath='{.metadata.resourceVersion}')
  [ "$rv_before" = "$rv_after" ] || fail "the SealedSecret in the cluster was changed"
  [ "$secret_before" = "$(kubectl get secret tls-certs -n go-ok -o jsonpath='{.data}' | sha)" ] || fail "the Secret changed"
  # (Restore the copy's file; this is the last test of the cluster.)
  git -C "$PROJ" checkout -q -- secrets/production/tls-certs.yaml 2>/dev/null || true
}

# --- RBAC: each rule of our ClusterRole is needed --------------------------------------------------
FIX_NS=rbac-fixture
seal_fixture() {   # seal_fixture NAME VALUE: a SealedSecret (strict scope) for FIX_NS/NAME, as JSON
  curl -fsS --max-time 5 "http://127.0.0.1:$CTL_PORT/v1/cert.pem" >"$WORK/cert.pem"
  cat >"$WORK/seal-fixture.ts" <<EOF
import * as fs from 'fs';
import { parseSealingCertificate } from '$PROJ/lib/config/sealing';
import { sealValues } from '$PROJ/lib/config/secret-store';
const cert = parseSealingCertificate(fs.readFileSync('$WORK/cert.pem', 'utf-8'));
if (typeof cert === 'string') throw new Error(cert);
const s = sealValues({ name: process.argv[2], namespace: '$FIX_NS', type: 'Opaque' }, cert, 'test', { value: Buffer.from(process.argv[3]) });
const metadata = { name: s.name, namespace: s.namespace };
console.log(JSON.stringify({ apiVersion: 'bitnami.com/v1alpha1', kind: 'SealedSecret', metadata,
  spec: { encryptedData: s.encryptedData, template: { metadata: { ...metadata, labels: { fixture: 'rbac' } }, type: 'Opaque' } } }));
EOF
  (cd "$PROJ" && node_modules/.bin/tsx "$WORK/seal-fixture.ts" "$1" "$2")
}
RULES_JSON=""
with_rules() {   # with_rules JQ_FILTER: replace our ClusterRole's rules (as admin), restart the controller
  kubectl get clusterrole "$CTL_NAME" -o json | jq --argjson r "$RULES_JSON" "del(.metadata.managedFields) | .rules = (\$r | $1)" | kubectl replace -f - >/dev/null
  restart_controller_tolerant
}
restart_controller_tolerant() {   # like restart_controller, but the controller may fail to start
  stop_kubelet; [ -f "$WORK/ctl.pid" ] && CTL_PID=$(cat "$WORK/ctl.pid"); stop_controller
  ( start_controller ) >/dev/null 2>&1 || true
  CTL_PID=$(cat "$WORK/ctl.pid")
}
restore_rules() { with_rules '.'; }
secret_value() { kubectl get secret "$1" -n "$FIX_NS" -o jsonpath='{.data.value}' 2>/dev/null | base64 -d; }
synced() { kubectl get sealedsecret "$1" -n "$FIX_NS" -o json | jq -e '.status.conditions[]? | select(.type == "Synced" and .status == "True")' >/dev/null; }
forbidden_in_log() { grep -m3 -E "forbidden.*($1)|($1).*forbidden" "$WORK/controller.log" || true; grep -qE "forbidden.*($1)|($1).*forbidden" "$WORK/controller.log"; }

test_rbac_baseline() {   # all rules: unseal, status, event, re-create a deleted Secret, update on change
  kubectl create namespace "$FIX_NS" >/dev/null 2>&1 || true
  restart_controller
  seal_fixture base one | kubectl apply -f - >/dev/null
  until_ok "$WAIT_S" synced base || fail "baseline: not Synced"
  [ "$(secret_value base)" = one ] || fail "baseline: wrong value"
  until_ok "$WAIT_S" bash -c "kubectl get events -n $FIX_NS --field-selector involvedObject.name=base,reason=Unsealed -o name | grep -q ." || fail "baseline: no Unsealed event"
  kubectl delete secret base -n "$FIX_NS" >/dev/null
  until_ok "$WAIT_S" bash -c "kubectl get secret base -n $FIX_NS" || fail "baseline: deleted Secret not re-created"
  seal_fixture base two | kubectl apply -f - >/dev/null
  until_ok "$WAIT_S" bash -c "[ \"\$(kubectl get secret base -n $FIX_NS -o jsonpath='{.data.value}' | base64 -d)\" = two ]" || fail "baseline: Secret not updated"
  ! grep -i forbidden "$WORK/controller.log" || fail "baseline: the controller was denied something"
}
# Each: one rule (or verb) removed; what breaks, and the API server's "forbidden" in the controller's log.
test_rbac_without_sealedsecrets_read() {
  with_rules 'map(select(.resources != ["sealedsecrets"]))'
  seal_fixture r1 x | kubectl apply -f - >/dev/null
  sleep 8
  ! kubectl get secret r1 -n "$FIX_NS" >/dev/null 2>&1 || fail "unsealed without sealedsecrets list/watch"
  forbidden_in_log sealedsecrets || fail "no forbidden for sealedsecrets in the log"
  restore_rules; until_ok "$WAIT_S" synced r1 || fail "not unsealed once restored"
}
test_rbac_without_sealedsecrets_get() {
  with_rules 'map(if .resources == ["sealedsecrets"] then .verbs = ["list","watch"] else . end)'
  until_ok "$WAIT_S" bash -c "curl -fsS http://127.0.0.1:$CTL_PORT/readyz" || true
  sleep 2
  kubectl delete secret base -n "$FIX_NS" >/dev/null
  sleep 8
  ! kubectl get secret base -n "$FIX_NS" >/dev/null 2>&1 || fail "a deleted Secret was re-created without sealedsecrets get"
  forbidden_in_log sealedsecrets || fail "no forbidden for sealedsecrets get in the log"
  restore_rules   # at start the controller unseals every SealedSecret again
  until_ok "$WAIT_S" bash -c "kubectl get secret base -n $FIX_NS" || fail "not re-created once restored"
}
test_rbac_without_status() {
  with_rules 'map(select(.resources != ["sealedsecrets/status"]))'
  seal_fixture r2 x | kubectl apply -f - >/dev/null
  until_ok "$WAIT_S" bash -c "kubectl get secret r2 -n $FIX_NS" || fail "not unsealed"
  sleep 3
  ! synced r2 || fail "status written without sealedsecrets/status update"
  forbidden_in_log 'sealedsecrets/status|sealedsecrets.*status|status.*sealedsecrets' || fail "no forbidden for the status in the log"
  restore_rules
}
test_rbac_without_secrets() {
  with_rules 'map(select(.resources != ["secrets"]))'
  sleep 5
  ! kill -0 "$CTL_PID" 2>/dev/null || fail "the controller runs without secrets access"
  forbidden_in_log secrets || fail "no forbidden for secrets in the log"
  restore_rules
}
test_rbac_without_secrets_update() {
  with_rules 'map(if .resources == ["secrets"] then .verbs -= ["update"] else . end)'
  seal_fixture base three | kubectl apply -f - >/dev/null
  sleep 8
  [ "$(secret_value base)" != three ] || fail "updated without secrets update"
  forbidden_in_log secrets || fail "no forbidden for secrets update"
  restore_rules
}
test_rbac_without_events() {
  with_rules 'map(select(.resources != ["events"]))'
  seal_fixture r3 x | kubectl apply -f - >/dev/null
  until_ok "$WAIT_S" synced r3 || fail "not unsealed"
  sleep 3
  [ -z "$(kubectl get events -n "$FIX_NS" --field-selector involvedObject.name=r3 -o name)" ] || fail "event recorded without events create"
  grep -m2 -E 'rejected event|forbidden.*events|events.*forbidden' "$WORK/controller.log" || true
  grep -qE 'forbidden.*events|events.*forbidden|rejected event' "$WORK/controller.log" || fail "no forbidden for events in the log"
  restore_rules
}
test_rbac_without_events_patch() {   # a repeated event (the refused renamed copy is retried) is patched
  with_rules 'map(if .resources == ["events"] then .verbs = ["create"] else . end)'
  local ss; ss=$(seal_fixture r4 x | jq '.metadata.name = "r4-renamed" | .spec.template.metadata.name = "r4-renamed"')
  kubectl apply -f - <<<"$ss" >/dev/null
  sleep 12
  grep -qE 'forbidden.*events|events.*forbidden' "$WORK/controller.log" || fail "no forbidden for the event patch"
  grep -m2 -E 'forbidden.*events|events.*forbidden' "$WORK/controller.log" || true
  local count; count=$(kubectl get events -n "$FIX_NS" --field-selector involvedObject.name=r4-renamed,reason=ErrUnsealFailed -o jsonpath='{.items[0].count}')
  [ "${count:-0}" -le 1 ] || fail "the repeated event was counted ($count) without events patch"
  restore_rules
  sleep 12
  count=$(kubectl get events -n "$FIX_NS" --field-selector involvedObject.name=r4-renamed,reason=ErrUnsealFailed -o jsonpath='{.items[0].count}')
  echo "with patch: ErrUnsealFailed count $count"
}

# --- run ------------------------------------------------------------------------------------------
command -v unshare >/dev/null || { echo "FAIL: unshare (util-linux) is required"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "FAIL: root is required (a private mount namespace for the controller's in-cluster files)"; DONE=1; FAILED=1; summary; exit 1; }
"$ROOT/test/cluster/harness/build-sealed-secrets-controller.sh"
if (exec 3<>"/dev/tcp/127.0.0.1/$CTL_PORT") 2>/dev/null; then
  echo "FAIL: 127.0.0.1:$CTL_PORT is in use (the controller's pod port, reached through the service proxy)"; DONE=1; FAILED=1; summary; exit 1
fi
make_project_copy

ENV=local
new_cluster
t "local: bootstrap from an empty cluster (controller from our platform chart)" test_bootstrap_from_empty
t "local: every Secret unsealed, bytes = plain files, labels and owner as the model says" test_secrets_unsealed
t "local: re-running bootstrap changes nothing (files identical, deploy --diff exit 0)" test_bootstrap_again_no_change
t "local: a SealedSecret copied to another namespace or renamed is refused" test_copy_and_rename_refused default
RULES_JSON=$(kubectl get clusterrole "$CTL_NAME" -o json | jq -c .rules || echo "[]")
t "rbac: with our ClusterRole only, the controller unseals, reports status and events, re-creates and updates Secrets" test_rbac_baseline
t "rbac: without sealedsecrets get/list/watch nothing is unsealed" test_rbac_without_sealedsecrets_read
t "rbac: without sealedsecrets get a deleted Secret is not re-created" test_rbac_without_sealedsecrets_get
t "rbac: without sealedsecrets/status update no Synced condition" test_rbac_without_status
t "rbac: without secrets access the controller cannot start (its keys)" test_rbac_without_secrets
t "rbac: without secrets update a changed SealedSecret does not update its Secret" test_rbac_without_secrets_update
t "rbac: without events create no event is recorded" test_rbac_without_events
t "rbac: without events patch a repeated event is not counted" test_rbac_without_events_patch

ENV=production
new_cluster
# The platform team's controller: the same construct, installed by them (not part of dist/production).
kubectl apply --server-side --field-manager=platform-team -f "$PROJ/dist/local/platform.k8s.yaml" >/dev/null
t "production: no values are generated for a platform team's controller; nothing deployed" test_production_needs_values
give_production_values
t "production: bootstrap with the platform team's controller and values" test_bootstrap_from_empty
t "production: every Secret unsealed, bytes = plain files, labels and owner as the model says" test_secrets_unsealed
t "production: re-running bootstrap changes nothing (files identical, deploy --diff exit 0)" test_bootstrap_again_no_change
t "production: a SealedSecret copied to another namespace or renamed is refused" test_copy_and_rename_refused go-ok
t "production: a Secret left sealed with the old certificate is caught before deploy" test_stale_seal_caught

DONE=1
summary
[ "$FAILED" = 0 ]
