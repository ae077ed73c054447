#!/usr/bin/env bash
# `npm run test:node` (third suite): the README's quick start, seen working on the test cluster's real node.
#
# From an empty cluster, `npm run bootstrap -- local`, unchanged, as a newcomer runs it: the sealed-secrets controller
# deployed by the platform chart and waited for, its certificate fetched, a TLS certificate generated and sealed,
# synth, every SealedSecret verified and unsealed, the deploy, the rollout waits, and the /etc/hosts line it prints.
# Then go-ok answers at http://local.imti.cloud/ through the cluster's Ingress controller, reached by that very line.
#
# THE ONE SWAP, said plainly: the node cannot pull from Docker Hub nor download the shop's code from GitHub, so the
# suite sets LOCAL_STANDIN_REGISTRY=<the cluster's registry>: `local` gets the node suites' image swap (what it
# changes: withStandinImages in environments/production-standin.ts). Nothing else differs from what a user runs.
# The cluster's Ingress controller (Traefik serving IngressClass nginx,
# fixtures/traefik.yaml) stands in for minikube's ingress addon: it is there before the bootstrap, as the README
# asks of a cluster. The kube context is named k8s-infra-test-quickstart (deploy/targets.json lets local deploy there).
#
# Usage: test/cluster/quickstart-node.sh   (root; builds what is missing first; NODE_BENCH=1 adds the plain-kubectl
#        figure from the same empty start, for npm run bench:node)
# Prints PASS/FAIL, MEASURE lines and "N passed, N failed". A machine that cannot run a node gets a loud
# "NODE SUITE NOT RUN" and exit 2 (NODE_SUITE_OPTIONAL=1: exit 0).
set -euo pipefail
shopt -s inherit_errexit

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
H="$ROOT/test/cluster/harness"
BIN="${CLUSTER_BIN_DIR:-$ROOT/.cache/bin}"
export PATH="$BIN:$PATH"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/k8s-infra-quickstart.XXXXXX")"
PROJ="$WORK/proj"
CONTEXT=k8s-infra-test-quickstart   # deploy/targets.json: one of the contexts local deploys to
HOST=local.imti.cloud               # environments/local.ts: go-ok's Ingress host
# shellcheck source=../lib/harness.sh
source "$ROOT/test/lib/harness.sh"
# shellcheck source=../lib/node-suite.sh
source "$ROOT/test/lib/node-suite.sh"   # k, until_ok, now_ms, node_cleanup, test_node_up, project_copy, lock_ref, ingress_controller_up, test_teardown_clean
on_exit node_cleanup
node_preflight
command -v unshare >/dev/null || cannot_run "It needs unshare (util-linux) to try the /etc/hosts line in a private mount namespace."

tb=$SECONDS
"$H/build.sh"
"$H/build-node.sh"
"$H/build-node-controllers.sh"
"$H/build-ingress-controller.sh"
"$H/build-standin-images.sh"
echo "quickstart-node.sh: builds $((SECONDS - tb))s"

export KUBECTL_REQUEST_TIMEOUT=10s

# bootstrap LOG: `npm run bootstrap -- local` in the project copy, each output line stamped with the seconds since
# it started (where the newcomer's time goes).
bootstrap() {
  local t0; t0=$(now_ms)
  (cd "$PROJ" && LOCAL_STANDIN_REGISTRY=$REGISTRY timeout 900 npm run -s bootstrap -- local 2>&1; echo "exit $?") |
    while IFS= read -r line; do printf '%7.1fs %s\n' "$(( $(now_ms) - t0 ))e-3" "$line"; done >"$1"
  tail -n 1 "$1" | grep -q ' exit 0$'
}
# with_hosts_line LINE COMMAND...: COMMAND in a private mount namespace whose /etc/hosts is the host's plus LINE,
# as a user who added the line sees it (the host's own /etc/hosts is not touched).
with_hosts_line() {
  local line=$1; shift
  cat /etc/hosts >"$WORK/hosts"; printf '%s\n' "$line" >>"$WORK/hosts"
  # shellcheck disable=SC2016 # expanded by the inner bash
  unshare --mount --propagation private bash -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' _ "$WORK/hosts" "$@"
}
go_ok_at_host() {   # the JSON go-ok answers at http://local.imti.cloud/, resolved by the printed /etc/hosts line
  with_hosts_line "$(cat "$WORK/hosts.line")" curl -fsS --max-time 5 "http://$HOST/"
}

state() {   # every object of the environment with its uid, generation and restarts
  { k get deploy,pods,svc,ingress,configmap,secret,sealedsecret,serviceaccount -n default -o json
    k get deploy,pods,svc,configmap,secret,sealedsecret -n shop -o json
    k get deploy,pods,svc,serviceaccount -n kube-system -l app.kubernetes.io/name=sealed-secrets -o json
  } | jq -r '.items[] | select(.kind != "Secret" or .type != "kubernetes.io/service-account-token")
  | [.kind, .metadata.namespace, .metadata.name, .metadata.uid, (.metadata.generation // "-"),
     ([.status.containerStatuses[]?.restartCount] | add // "-")] | @tsv' | sort
}

# --- tests --------------------------------------------------------------------------------------
test_cluster_ready() {
  # A newcomer's checkout: the committed tree, copied (the bootstrap writes sealing/, secrets/ and dist/ into it).
  project_copy "$PROJ"
  [ ! -e "$PROJ/secrets/local/plain" ] || fail "the copy has plain values (git-ignored files were copied)"
  local t0=$SECONDS
  "$H/push-standins.sh" "$REGISTRY" "$PROJ/images.lock.json" >"$WORK/push.log" 2>&1 || { tail -n 30 "$WORK/push.log"; fail "push-standins.sh failed"; }
  echo "MEASURE: stand-ins pushed to the cluster's registry in $((SECONDS - t0))s"
  git -C "$PROJ" init -q
  git -C "$PROJ" -c user.name=test -c user.email=test@invalid add -A
  git -C "$PROJ" -c user.name=test -c user.email=test@invalid commit -qm "a newcomer's checkout"
  # The cluster's Ingress controller, as minikube's ingress addon would be: Traefik serving IngressClass nginx,
  # answering on ports 80 and 443 of the node's address.
  t0=$SECONDS
  ingress_controller_up >/dev/null
  echo "MEASURE: the Ingress controller (the cluster's addon, before the bootstrap) Ready in $((SECONDS - t0))s"
  # Empty: nothing of the environment is there yet.
  local deployments; deployments=$(k get deploy -A -o name)
  ! grep -q -v -e coredns -e ingress-nginx <<<"$deployments" || fail "the cluster is not empty" "$deployments"
}

test_bootstrap() {
  local t0 status
  t0=$(now_ms); echo "$t0" >"$WORK/t0"
  bootstrap "$WORK/bootstrap.log" || { tail -n 60 "$WORK/bootstrap.log"; fail "npm run bootstrap -- local failed"; }
  local took=$(( $(now_ms) - t0 ))
  cat "$WORK/bootstrap.log"
  # It ran every step for real, the rollout waits included, and said it used the swap.
  grep -q "images swapped for the node tests' stand-ins from $REGISTRY" "$WORK/bootstrap.log" || fail "the bootstrap did not say it used the stand-ins"
  grep -q 'step 1/5 platform: deploy the sealed-secrets controller' "$WORK/bootstrap.log" || fail "step 1 did not deploy the controller"
  grep -q 'generated a self-signed certificate for' "$WORK/bootstrap.log" || fail "step 3 generated no certificate"
  grep -q 'Secret default/tls-certs unsealed' "$WORK/bootstrap.log" || fail "tls-certs was not unsealed"
  local n
  n=$(grep -c 'deployment .* rolled out' "$WORK/bootstrap.log" || true)
  [ "$n" = 7 ] || fail "want 7 rollouts awaited (go-ok, hashgenerator, the shop's four, the controller), saw $n"
  # The /etc/hosts line it printed: the address the Ingress controller reports, and the host.
  { grep -A1 'add this line to /etc/hosts' "$WORK/bootstrap.log" || true; } | tail -n 1 | sed -E 's/^ *[0-9.]+s bootstrap: +//' >"$WORK/hosts.line"
  grep -Eq "^[0-9.]+ ${HOST//./\\.}\$" "$WORK/hosts.line" || fail "the bootstrap printed no /etc/hosts line for $HOST" "$(tail -n 8 "$WORK/bootstrap.log")"
  status=$(k -n default get ingress go-ok -o jsonpath='{.status.loadBalancer.ingress[0].ip}')
  [ "$(cut -d' ' -f1 "$WORK/hosts.line")" = "$status" ] || fail "the printed line ($(cat "$WORK/hosts.line")) is not the Ingress's status ($status)"
  echo "MEASURE: npm run bootstrap -- local (controller, certificate, values, seal, synth, verify, deploy, rollouts): $took ms"
  echo "MEASURE: it printed: $(cat "$WORK/hosts.line")"
  # Where the time went: the moment each step started.
  grep -E 'step [1-5]/5|done in' "$WORK/bootstrap.log" | sed -E 's/bootstrap: //; s/^ */MEASURE: at /' | cut -c1-110
}

test_host_answers() {
  # With the printed line in /etc/hosts (a private mount namespace: the host's file is untouched), a plain
  # http://local.imti.cloud/ reaches go-ok through the Ingress controller, on port 80 of the node's address.
  local out t0; t0=$(cat "$WORK/t0")
  until_ok 60 go_ok_at_host || fail "http://$HOST/ does not answer with the printed line in /etc/hosts" "$(go_ok_at_host 2>&1)"
  echo "MEASURE: empty cluster to go-ok answering at http://$HOST/ (the newcomer's wait): $(( $(now_ms) - t0 )) ms"
  out=$(go_ok_at_host)
  jq -e '.message == "ok" and .pod_namespace == "default" and (.pod_name | startswith("go-ok-"))' <<<"$out" >/dev/null ||
    fail "http://$HOST/ did not reach go-ok" "$out"
  echo "MEASURE: http://$HOST/ -> $(jq -c '{message, pod_name}' <<<"$out")"
  # Without the line, the name does not resolve here: the line is what makes it work.
  ! timeout 20 getent hosts "$HOST" >/dev/null || fail "$HOST resolves without the /etc/hosts line: $(getent hosts "$HOST")"
  # A host that no Ingress declares: 404 from the controller.
  local ip; ip=$(cut -d' ' -f1 "$WORK/hosts.line")
  out=$(curl -sS --max-time 5 --resolve "nobody.imti.cloud:80:$ip" -o /dev/null -w '%{http_code}' http://nobody.imti.cloud/)
  [ "$out" = 404 ] || fail "http://nobody.imti.cloud/ (no Ingress) answered $out, not 404"
}

test_sealed_tls() {
  # The certificate the bootstrap generated and sealed is the one go-ok's declared Pod serves through nginx (local:
  # NodePort 31443), after the controller unsealed it: the sealing round trip on the real controller.
  local ip want got
  ip=$(k get node k8s-infra-node -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
  want=$(openssl x509 -noout -fingerprint -sha256 -in "$PROJ/secrets/local/plain/tls-certs/cert.pem")
  until_ok 60 curl -fsS --max-time 5 --cacert "$PROJ/secrets/local/plain/tls-certs/cert.pem" --resolve "$HOST:31443:$ip" "https://$HOST:31443/" ||
    fail "go-ok-pod's nginx on 31443 does not serve the generated certificate" "$(curl -sS --max-time 5 --cacert "$PROJ/secrets/local/plain/tls-certs/cert.pem" --resolve "$HOST:31443:$ip" "https://$HOST:31443/" 2>&1)"
  got=$(openssl s_client -connect "$ip:31443" -servername "$HOST" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256)
  [ "$got" = "$want" ] || fail "31443 serves another certificate" "served: $got; generated: $want"
  ! grep -rq 'BEGIN' "$PROJ/secrets/local/"*.yaml || fail "a plaintext value in secrets/local/"
  echo "MEASURE: go-ok-pod:31443 serves the bootstrap's generated certificate (${got##*=}), verified by the client"
}

test_second_run() {
  state >"$WORK/state.before"
  (cd "$PROJ" && git add -A >/dev/null && git -c user.name=test -c user.email=test@invalid commit -qm "after the first bootstrap")
  local t0; t0=$(now_ms)
  bootstrap "$WORK/bootstrap2.log" || { tail -n 60 "$WORK/bootstrap2.log"; fail "the second bootstrap failed"; }
  echo "MEASURE: second npm run bootstrap -- local (nothing to do): $(( $(now_ms) - t0 )) ms"
  grep -q 'already serves its certificate' "$WORK/bootstrap2.log" || fail "step 1 ran again" "$(cat "$WORK/bootstrap2.log")"
  grep -q "skipped: sealing/local.pem is the controller's certificate" "$WORK/bootstrap2.log" || fail "step 2 rewrote the certificate"
  grep -q 'sealing skipped: every sealed file is current' "$WORK/bootstrap2.log" || fail "step 4 sealed again"
  ! grep -q 'generated a self-signed' "$WORK/bootstrap2.log" || fail "step 3 generated values again"
  [ -z "$(git -C "$PROJ" status --porcelain)" ] || fail "the second run changed files" "$(git -C "$PROJ" status --short)"
  sleep 2
  state >"$WORK/state.after"
  diff "$WORK/state.before" "$WORK/state.after" || fail "the second run changed objects or restarted pods (diff above)"
  (cd "$PROJ" && LOCAL_STANDIN_REGISTRY=$REGISTRY ALLOW_DIRTY=1 timeout 300 npm run -s deploy -- local --diff) >"$WORK/diff.log" 2>&1 ||
    { tail -n 30 "$WORK/diff.log"; fail "npm run deploy -- local --diff reports changes after two bootstraps"; }
  echo "MEASURE: $(wc -l <"$WORK/state.after") objects unchanged (uid, generation, restarts); deploy --diff exits 0"
}

# NODE_BENCH=1: the plain tool's figure from the same empty start: the environment deleted (its Namespaces and the
# default namespace's objects), then dist/local/ as the bootstrap left it applied by plain kubectl (retried while a
# CRD or Namespace is not there yet, as a user would), the same rollouts waited for, and the host asked.
test_bench_plain() {
  k delete -f "$PROJ/dist/local/" --wait=true --timeout=180s --ignore-not-found >/dev/null 2>&1 || true
  until_ok 120 bash -c '! kubectl get ns shop >/dev/null 2>&1' || fail "namespace shop did not go"
  local t0 i; t0=$(now_ms)
  for i in 1 2 3 4 5; do
    k apply --server-side --field-manager=bench-plain -f "$PROJ/dist/local/" >/dev/null 2>&1 && break
    [ "$i" != 5 ] || fail "plain kubectl apply failed 5 times"; sleep 1
  done
  k -n default rollout status deploy --timeout=300s >/dev/null
  k -n shop rollout status deploy --timeout=300s >/dev/null
  until_ok 60 go_ok_at_host || fail "http://$HOST/ did not answer after the plain apply"
  echo "MEASURE: plain kubectl apply of dist/local/ to go-ok answering at http://$HOST/: $(( $(now_ms) - t0 )) ms ($i apply runs)"
}

t "node up with the cluster's registry" test_node_up "$CONTEXT"
CLUSTER=$(cat "$WORK/cluster" 2>/dev/null || true)
if [ -n "$CLUSTER" ]; then
  # shellcheck disable=SC1091
  source "$CLUSTER/env"
  t "an empty cluster with an Ingress controller; a newcomer's checkout; the stand-ins in the cluster's registry" test_cluster_ready
  t "npm run bootstrap -- local, unchanged: controller, certificate, values, deploy, rollout waits; an /etc/hosts line" test_bootstrap
  t "the printed /etc/hosts line works: http://$HOST/ reaches go-ok through the Ingress controller; unknown host 404" test_host_answers
  t "the generated certificate, sealed and unsealed by the real controller, is what go-ok-pod serves" test_sealed_tls
  t "a second bootstrap changes nothing: no step redone, no file, object or pod changed" test_second_run
  [ "${NODE_BENCH:-0}" != 1 ] || t "bench: dist/local/ by plain kubectl, from the environment deleted to go-ok answering at its host" test_bench_plain
  t "teardown restores the host" test_teardown_clean
fi
DONE=1
summary
[ "$FAILED" = 0 ]
