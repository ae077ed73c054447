#!/usr/bin/env bash
# `npm run test:node` (second suite): production's model running on the test cluster's real node.
#
# The environment under test is `production-standin` (environments/production-standin.ts): production's config
# with only its images swapped, derived in code. Its images are built here and served from the cluster's own
# registry through the image lock, so they run by digest exactly as production's do.
#
# STAND-INS, said plainly (test/cluster/standin-images/): go-ok is a small Go server with go-ok's contract, nginx
# is Debian's nginx laid out like the official image, hashgenerator a Node program printing a hash every 5 s, the
# shop's four services stand-in sources with upstream's routes and peer calls, built by `npm run images:build`.
# The sealed-secrets controller and metrics-server are the real programs, built from their pinned Go modules,
# installed the way a platform team would (production expects both from the platform); so is the Ingress controller,
# Traefik (tools/traefik/go.mod; its ingress-nginx provider serves the IngressClass nginx that production names). What this suite proves is
# production's manifests and their wiring (security contexts, probes, Services, DNS, NetworkPolicies, rollouts,
# disruption budgets, unsealing, the autoscaler, the deploy tool), not the upstream programs.
#
# Usage: test/cluster/production-node.sh      (root; builds what is missing first)
#        NODE_SUITE_PATCH=<diff> test/cluster/production-node.sh   the same, with the diff applied to the scratch
#        copy of the project under test: to see a test fail when a behaviour is absent (a wrong probe, a rule less)
# Prints PASS/FAIL, MEASURE lines and "N passed, N failed". A machine that cannot run a node gets a loud
# "NODE SUITE NOT RUN" and exit 2 (NODE_SUITE_OPTIONAL=1: exit 0).
set -euo pipefail
shopt -s inherit_errexit

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
H="$ROOT/test/cluster/harness"
BIN="${CLUSTER_BIN_DIR:-$ROOT/.cache/bin}"
IMAGES="${NODE_IMAGES_DIR:-$ROOT/.cache/node-images}"
export PATH="$BIN:$PATH"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/k8s-infra-prod-node.XXXXXX")"
PROJ="$WORK/proj"
ENV_NAME=production-standin
CONTEXT=k8s-infra-test-node   # deploy/targets.json: the only context production-standin deploys to
NAMESPACES=(go-ok hashgenerator shop)
# shellcheck source=../lib/harness.sh
source "$ROOT/test/lib/harness.sh"
# shellcheck source=../lib/node-suite.sh
source "$ROOT/test/lib/node-suite.sh"   # k, until_ok, now_ms, node_cleanup, test_node_up, project_copy, lock_ref, ingress_controller_up, test_teardown_clean
on_exit node_cleanup
node_preflight

tb=$SECONDS
"$H/build.sh"
"$H/build-node.sh"
"$H/build-node-controllers.sh"
"$H/build-ingress-controller.sh"   # Traefik, the Ingress controller (test_ingress)
"$H/build-standin-images.sh"
echo "production-node.sh: builds $((SECONDS - tb))s"

export KUBECTL_REQUEST_TIMEOUT=10s
NETCHECK=$(cat "$IMAGES/netcheck.ref")
in_client() { k -n ingress-nginx exec ingress-client -- /netcheck "$@"; }      # a pod production admits
in_outsider() { k -n outsider exec outsider -- /netcheck "$@"; }              # a pod no policy admits
# in_node NS DEPLOYMENT JS: run JavaScript with the container's own node (the stand-ins are Node programs).
in_node() { k -n "$1" exec "deploy/$2" -- node -e "$3"; }
# A TCP connect from inside a Node container: prints "open" or the error, exit 0 only when it opened.
tcp_js() {
  printf '%s' "const s=require('net').connect({host:'$1',port:$2,timeout:3000},()=>{console.log('open');process.exit(0)});s.on('timeout',()=>{console.log('timeout');process.exit(1)});s.on('error',e=>{console.log(e.code);process.exit(1)})"
}
deploy() { (cd "$PROJ" && SYNTH_ENVIRONMENTS=$ENV_NAME ALLOW_DIRTY=1 DIST_DIR="$PROJ/dist-local" \
  timeout 900 npm run -s deploy -- "$ENV_NAME" "$@"); }

client_pod() {   # client_pod NAMESPACE NAME LABELS-JSON: a hardened netcheck pod that sleeps
  cat <<Y
apiVersion: v1
kind: Pod
metadata: {name: $2, namespace: $1, labels: $3}
spec:
  terminationGracePeriodSeconds: 2
  securityContext: {runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: c
    image: $NETCHECK
    imagePullPolicy: Never
    args: [sleep]
    resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 64Mi}}
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
    volumeMounts: [{name: ca, mountPath: /ca, readOnly: true}]
  volumes: [{name: ca, configMap: {name: test-ca, optional: true}}]
Y
}
restricted_ns() {
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels: {pod-security.kubernetes.io/enforce: restricted}\n' "$1"
}

# --- tests --------------------------------------------------------------------------------------

test_standins() {
  # A scratch copy of the working tree, committed: the deploy tool, seal and synth write into it.
  project_copy "$PROJ"
  git -C "$PROJ" init -q
  if [ -n "${NODE_SUITE_PATCH:-}" ]; then
    # To see the suite fail when a behaviour is absent: a change to the model, applied to the scratch copy only.
    git -C "$PROJ" apply "$NODE_SUITE_PATCH" || fail "NODE_SUITE_PATCH $NODE_SUITE_PATCH does not apply"
    echo "MEASURE: NODE_SUITE_PATCH applied to the copy under test: $NODE_SUITE_PATCH"
  fi
  local t0=$SECONDS
  "$H/push-standins.sh" "$REGISTRY" "$PROJ/images.lock.json" | tee "$WORK/push.log"
  echo "MEASURE: stand-ins pushed and locked in $((SECONDS - t0))s"
  local ref
  for ref in go-ok nginx hashgenerator; do
    jq -e --arg r "$REGISTRY/standin/$ref:1" '.images[$r].digest | startswith("sha256:")' "$PROJ/images.lock.json" >/dev/null ||
      fail "$REGISTRY/standin/$ref:1 is not in the lock"
  done
  for ref in api-gateway order-service payment-service db; do
    jq -e --arg r "$REGISTRY/standin/shop/$ref:8ec0446" '.images[$r].digest | startswith("sha256:")' "$PROJ/images.lock.json" >/dev/null ||
      fail "the shop's $ref image is not in the lock"
  done
  git -C "$PROJ" -c user.name=test -c user.email=test@invalid add -A
  git -C "$PROJ" -c user.name=test -c user.email=test@invalid commit -qm "working tree under test, stand-ins locked"
}

test_platform() {
  # What production expects of its platform team, installed as they would: the sealed-secrets controller
  # (kube-system/sealed-secrets-controller, our own construct's manifest as `local` deploys it) and metrics-server;
  # the Ingress controller (Traefik, test/cluster/fixtures/traefik.yaml); and in its namespace a netcheck pod labelled
  # like it (production's policies admit it).
  local ctl ms
  ctl=$(lock_ref sealed-secrets-controller) || fail "no sealed-secrets-controller image was pushed"
  ms=$(lock_ref metrics-server) || fail "no metrics-server image was pushed"
  sed -E "s#^( *image: ).*sealed-secrets.*#\1$ctl#" "$ROOT/dist/local/platform.k8s.yaml" >"$WORK/platform.yaml"
  grep -q "image: $ctl" "$WORK/platform.yaml" || fail "could not set the controller's image"
  sed "s#IMAGE#$ms#" "$ROOT/test/cluster/fixtures/metrics-server.yaml" >"$WORK/metrics-server.yaml"
  k apply -f "$WORK/platform.yaml" -f "$WORK/metrics-server.yaml" >/dev/null
  { restricted_ns ingress-nginx; echo ---; restricted_ns outsider; } | k apply -f - >/dev/null
  until_ok 60 k -n ingress-nginx get sa default || fail "no default ServiceAccount"
  until_ok 60 k -n outsider get sa default || fail "no default ServiceAccount"
  # The test's own CA: the client verifies the certificate go-ok's nginx serves against it.
  mkdir -p "$WORK/tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=k8s-infra test CA" \
    -keyout "$WORK/tls/ca.key" -out "$WORK/tls/ca.crt" 2>/dev/null
  k -n ingress-nginx create configmap test-ca --from-file=ca.crt="$WORK/tls/ca.crt" >/dev/null
  { client_pod ingress-nginx ingress-client '{app.kubernetes.io/name: ingress-nginx}'; echo ---
    client_pod outsider outsider '{role: outsider}'; } | k apply -f - >/dev/null
  local t0=$SECONDS
  k -n kube-system rollout status deploy/sealed-secrets-controller --timeout=120s
  k -n kube-system rollout status deploy/metrics-server --timeout=120s
  # The Ingress controller (issue 22): Traefik serving IngressClass nginx, labelled as production's settings name it.
  ingress_controller_up
  k -n ingress-nginx wait --for=condition=Ready pod/ingress-client --timeout=60s
  k -n outsider wait --for=condition=Ready pod/outsider --timeout=60s
  echo "MEASURE: platform (sealed-secrets controller, metrics-server, Ingress controller, test clients) Ready in $((SECONDS - t0))s"
}

test_seal() {
  # The test controller's certificate, fetched as `npm run bootstrap` does; values made here (one certificate for
  # go-ok's names, another for the shop's, both signed by the test CA), sealed with the project's own `npm run seal`.
  mkdir -p "$PROJ/sealing"
  until_ok 60 kubeseal --controller-namespace kube-system --controller-name sealed-secrets-controller --fetch-cert ||
    fail "the controller serves no certificate"
  kubeseal --controller-namespace kube-system --controller-name sealed-secrets-controller --fetch-cert >"$PROJ/sealing/$ENV_NAME.pem"
  local d="$WORK/tls"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=go-ok-pod.go-ok.svc" -keyout "$d/tls.key" -out "$d/tls.csr" 2>/dev/null
  printf 'subjectAltName=DNS:go-ok-pod.go-ok.svc.cluster.local,DNS:go-ok-pod.go-ok.svc,DNS:go-ok-pod.go-ok,DNS:go-ok.imti.cloud\n' >"$d/san.ext"
  openssl x509 -req -in "$d/tls.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 -extfile "$d/san.ext" -out "$d/tls.crt" 2>/dev/null
  # The shop's own: the Ingress test then tells the two Secrets apart (a host served the other's certificate fails).
  openssl req -newkey rsa:2048 -nodes -subj "/CN=shop.imti.cloud" -keyout "$d/shop.key" -out "$d/shop.csr" 2>/dev/null
  printf 'subjectAltName=DNS:shop.imti.cloud\n' >"$d/shop-san.ext"
  openssl x509 -req -in "$d/shop.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 -extfile "$d/shop-san.ext" -out "$d/shop.crt" 2>/dev/null
  mkdir -p "$WORK/plain/tls-certs" "$WORK/plain/api-gateway-tls"
  cp "$d/shop.crt" "$WORK/plain/api-gateway-tls/tls.crt"; cp "$d/shop.key" "$WORK/plain/api-gateway-tls/tls.key"
  cp "$d/tls.crt" "$d/tls.key" "$WORK/plain/tls-certs/"
  cp "$d/tls.crt" "$WORK/plain/tls-certs/cert.pem"; cp "$d/tls.key" "$WORK/plain/tls-certs/key.pem"
  (cd "$PROJ" && npm run -s seal -- "$ENV_NAME" tls-certs "$WORK/plain/tls-certs" &&
    npm run -s seal -- "$ENV_NAME" api-gateway-tls "$WORK/plain/api-gateway-tls") || fail "npm run seal failed"
  ! grep -rq "BEGIN" "$PROJ/secrets/$ENV_NAME/" || fail "a plaintext value in the sealed files"
}

# Every Deployment Available, the bare Pod Ready, and api-gateway at its HPA's minimum: its Deployment leaves the
# count to the HPA (no replicas field, so it starts at 1) until the HPA raises it to 2.
all_ready() {
  local ns
  for ns in "${NAMESPACES[@]}"; do k -n "$ns" wait --for=condition=Available deploy --all --timeout=180s >/dev/null; done
  k -n go-ok wait --for=condition=Ready pod/go-ok-pod --timeout=120s >/dev/null
  until_ok 90 bash -c "[ \"\$(kubectl -n shop get deploy api-gateway -o jsonpath='{.status.availableReplicas}')\" -ge 2 ]" ||
    fail "the HPA did not bring api-gateway to its 2 minimum replicas" "$(k -n shop describe hpa api-gateway | tail -n 12)"
}
test_deploy() {
  local t0; t0=$(now_ms)
  deploy --wait >"$WORK/deploy.log" 2>&1 || { tail -n 60 "$WORK/deploy.log"; fail "npm run deploy -- $ENV_NAME --wait failed"; }
  all_ready
  echo "MEASURE: npm run deploy (synth, checks, apply) to every production pod Ready: $(( $(now_ms) - t0 )) ms"
  grep -E '^(step|cluster|stage)' "$WORK/deploy.log" | tail -n 5 || true
}

# Observation 1: every Deployment and the bare Pod Ready within their probe budgets, 0 restarts, no warnings.
test_ready() {
  local ns j pods
  pods=$(for ns in "${NAMESPACES[@]}"; do k -n "$ns" get pods -o name; done | wc -l)
  # go-ok 2 + go-ok-pod, hashgenerator 1, the shop 2 + 2 + 2 + 1 (api-gateway at its HPA's minimum)
  [ "$pods" = 11 ] || fail "want production's 11 pods, found $pods"
  for ns in "${NAMESPACES[@]}"; do
    j=$(k -n "$ns" get pods -o json)
    # Ready - started, per pod, against the probes' budget: startup (initialDelay + period x failureThreshold)
    # plus readiness (initialDelay + period x failureThreshold); Kubernetes' defaults where a field is unset.
    jq -r '.items[] | . as $p | ($p.spec.containers | map(
          ((.startupProbe // null) as $s | if $s then ($s.initialDelaySeconds // 0) + ($s.periodSeconds // 10) * ($s.failureThreshold // 3) else 0 end)
        + ((.readinessProbe // null) as $r | if $r then ($r.initialDelaySeconds // 0) + ($r.periodSeconds // 10) * ($r.failureThreshold // 3) else 0 end)
        ) | max) as $budget
      | ([$p.status.containerStatuses[].state.running.startedAt // empty | fromdateiso8601] | max) as $started
      | ([$p.status.conditions[] | select(.type == "Ready" and .status == "True") | .lastTransitionTime | fromdateiso8601] | first) as $ready
      | [$p.metadata.name, (if $ready and $started then $ready - $started else "never" end), $budget,
         ([$p.status.containerStatuses[].restartCount] | add)] | @tsv' <<<"$j" |
    while IFS=$'\t' read -r pod took budget restarts; do
      [ "$took" != never ] || fail "$ns/$pod is not Ready" "$(k -n "$ns" describe pod "$pod" | tail -n 12)"
      echo "MEASURE: $ns/$pod Ready ${took}s after start (probe budget ${budget}s), restarts $restarts"
      [ "$restarts" = 0 ] || fail "$ns/$pod restarted $restarts times"
      [ "$took" -le $((budget + 2)) ] || fail "$ns/$pod took ${took}s to be Ready, its probes allow ${budget}s"
    done
    # One kind is left out, and printed: the API server's own ClusterIP repair loop, which can see a Service created
    # a moment ago before its IP allocation is visible to it ("ClusterIPNotAllocated ... repairing"): a control
    # plane race on this loaded machine, about no field of our manifests.
    local all warn; all=$(k -n "$ns" get events --field-selector type=Warning -o json)
    jq -r '.items[] | select(.reason == "ClusterIPNotAllocated") | "MEASURE: ignored: \(.involvedObject.kind)/\(.involvedObject.name) \(.reason): \(.message)"' <<<"$all"
    warn=$(jq -r '.items[] | select(.reason != "ClusterIPNotAllocated") | "\(.involvedObject.kind)/\(.involvedObject.name) \(.reason): \(.message)"' <<<"$all")
    [ -z "$warn" ] || fail "warning events in $ns" "$warn"
  done
}

# Observation 2: on the host, each container as its spec says.
test_security() {
  local ns n=0
  for ns in "${NAMESPACES[@]}"; do
    while IFS=$'\t' read -r pod container id uid gid mounts; do
      local pid st
      pid=$(container_pid "$id"); st=$(cat "/proc/$pid/status")
      grep -qE "^Uid:\s+$uid\s+$uid\s+$uid\s+$uid$" <<<"$st" || fail "$ns/$pod/$container: not UID $uid" "$(grep ^Uid <<<"$st")"
      grep -qE "^Gid:\s+$gid\s+$gid\s+$gid\s+$gid$" <<<"$st" || fail "$ns/$pod/$container: not GID $gid" "$(grep ^Gid <<<"$st")"
      grep -qE '^CapEff:\s+0+$' <<<"$st" || fail "$ns/$pod/$container: capabilities left" "$(grep ^CapEff <<<"$st")"
      grep -qE '^NoNewPrivs:\s+1$' <<<"$st" || fail "$ns/$pod/$container: NoNewPrivs not set"
      grep -qE '^Seccomp:\s+2$' <<<"$st" || fail "$ns/$pod/$container: no seccomp filter"
      # The root filesystem, seen through the container's own mounts: read-only even for root.
      local out
      out=$(touch "/proc/$pid/root/.k8s-infra-probe" 2>&1) && { rm -f "/proc/$pid/root/.k8s-infra-probe"; fail "$ns/$pod/$container: / is writable"; }
      grep -q 'Read-only file system' <<<"$out" || fail "$ns/$pod/$container: writing / failed, but not as read-only" "$out"
      local m
      for m in $mounts; do
        setpriv --reuid="$uid" --regid="$gid" --clear-groups touch "/proc/$pid/root$m/.k8s-infra-probe" ||
          fail "$ns/$pod/$container: emptyDir $m is not writable by $uid"
        rm -f "/proc/$pid/root$m/.k8s-infra-probe"
      done
      n=$((n + 1))
    done < <(k -n "$ns" get pods -o json | jq -r '.items[] | . as $p | $p.spec.containers[] as $c
      | ($p.status.containerStatuses[] | select(.name == $c.name) | .containerID) as $id
      | ([$p.spec.volumes[]? | select(.emptyDir) | .name]) as $empty
      | [$p.metadata.name, $c.name, $id,
         ($c.securityContext.runAsUser // $p.spec.securityContext.runAsUser // "unset"),
         ($c.securityContext.runAsGroup // $p.spec.securityContext.runAsGroup // "unset"),
         ([$c.volumeMounts[]? | select(.name as $v | $empty | index($v)) | .mountPath] | join(" "))] | @tsv')
  done
  echo "MEASURE: $n containers checked on the host"
  [ "$n" -ge 11 ] || fail "only $n containers found"
}

# Observation 3: go-ok through its Service, and TLS through nginx with the sealed certificate.
test_go_ok() {
  local out
  until_ok 30 in_client get http://go-ok.go-ok:8080/ || fail "GET http://go-ok.go-ok:8080/ from the ingress controller's namespace failed"
  out=$(in_client get http://go-ok.go-ok:8080/)
  jq -e '.message == "ok" and (.pod_name | startswith("go-ok-")) and .pod_namespace == "go-ok"
         and .node_name == "k8s-infra-node" and (.pod_ip | startswith("10.244."))' <<<"$out" >/dev/null ||
    fail "go-ok's answer lacks its identity (downward API)" "$out"
  out=$(in_client get http://go-ok.go-ok:8080/nope 2>&1) && fail "another path did not 404" "$out"
  out=$(in_client get https://go-ok-pod.go-ok.svc.cluster.local/ /ca/ca.crt) ||
    fail "HTTPS to go-ok-pod:443 (nginx, the sealed certificate, verified against the test CA) failed" "$out"
  jq -e '.message == "ok" and .pod_name == "go-ok-pod"' <<<"$out" >/dev/null || fail "nginx did not proxy to go-ok" "$out"
  # The certificate nginx serves is the one sealed: the Secret the controller made holds it.
  [ "$(k -n go-ok get secret tls-certs -o jsonpath='{.data.cert\.pem}' | base64 -d | openssl x509 -noout -fingerprint -sha256)" = \
    "$(openssl x509 -noout -fingerprint -sha256 -in "$WORK/tls/tls.crt")" ] || fail "the unsealed Secret is not the sealed certificate"
}

# Observation 4: data through every declared peer call of the shop.
test_shop() {
  local out item
  until_ok 30 in_client get http://api-gateway.shop:3000/orders || fail "GET /orders through the gateway failed"
  item="book-$RANDOM$RANDOM"
  out=$(in_client post http://api-gateway.shop:3000/orders "{\"item\":\"$item\",\"amount\":12}") ||
    fail "POST /orders through the gateway failed" "$out"
  echo "POST: $out"
  # gateway -> order-service -> db (the order); order-service -> payment-service -> db (its transaction). Each
  # stand-in names itself in the chain of services that served a response.
  jq -e '(.via.orders | map(split("@")[0])) == ["order-service", "db"]
         and (.via.transaction | map(split("@")[0])) == ["payment-service", "db"]' <<<"$out" >/dev/null ||
    fail "the POST did not pass through order-service -> db and payment-service -> db" "$out"
  out=$(in_client get http://api-gateway.shop:3000/orders) || fail "GET /orders failed" "$out"
  echo "GET: $out"
  # gateway -> order-service -> db and gateway -> payment-service -> db, joined by the gateway.
  jq -e --arg item "$item" '([.orders[] | select(.item == $item) | . as $o
          | select((.transactions | length) == 1 and .transactions[0].orderId == $o.id)] | length) == 1
         and (.via.orders | map(split("@")[0])) == ["order-service", "db"]
         and (.via.transactions | map(split("@")[0])) == ["payment-service", "db"]' <<<"$out" >/dev/null ||
    fail "the order and its transaction did not come back joined through the gateway's peers" "$out"
}

# Observation 5: the declared flows pass (above, and here), undeclared ones fail.
test_policies() {
  # Control: without a policy in its way the outsider reaches the API server's bridge address, and db's pod IP.
  local api_ip db_ip; api_ip=$(k get endpoints kubernetes -o jsonpath='{.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}')
  db_ip=$(k -n shop get pod -l app=db -o jsonpath='{.items[0].status.podIP}')
  in_outsider tcp "$api_ip" >/dev/null || fail "control: the outsider cannot reach $api_ip"
  # Declared: order-service and payment-service reach db; the gateway reaches order-service and payment-service.
  in_node shop order-service "$(tcp_js db.shop 3004)" || fail "order-service -> db (declared) failed"
  in_node shop order-service "$(tcp_js payment-service.shop 3001)" || fail "order-service -> payment-service (declared) failed"
  in_node shop payment-service "$(tcp_js db.shop 3004)" || fail "payment-service -> db (declared) failed"
  in_node shop api-gateway "$(tcp_js order-service.shop 3002)" || fail "api-gateway -> order-service (declared) failed"
  in_node shop api-gateway "$(tcp_js payment-service.shop 3001)" || fail "api-gateway -> payment-service (declared) failed"
  # Undeclared.
  in_outsider tcp db.shop:3004 && fail "another namespace reaches db"
  in_outsider tcp "$db_ip:3004" && fail "another namespace reaches db's pod IP"
  in_node hashgenerator hashgenerator-dep "$(tcp_js api-gateway.shop 3000)" && fail "hashgenerator reaches the shop"
  in_node shop db "$(tcp_js api-gateway.shop 3000)" && fail "db reaches the gateway"
  in_node shop payment-service "$(tcp_js order-service.shop 3002)" && fail "payment-service reaches order-service"
  in_node shop api-gateway "$(tcp_js db.shop 3004)" && fail "the gateway reaches db directly"
  in_client tcp db.shop:3004 && fail "the ingress controller reaches db"
  # Egress to an address outside the declared set (the API server on the bridge).
  in_node shop db "$(tcp_js "${api_ip%:*}" "${api_ip##*:}")" && fail "db reaches $api_ip"
  in_node hashgenerator hashgenerator-dep "$(tcp_js "${api_ip%:*}" "${api_ip##*:}")" && fail "hashgenerator reaches $api_ip"
  true
}

# Observation 7: a second deploy changes nothing and restarts no pod.
state() {
  local ns
  for ns in "${NAMESPACES[@]}"; do
    k -n "$ns" get deploy,pods,svc,networkpolicy,pdb,hpa,secret,configmap -o json |
      jq -r '.items[] | select(.kind != "Secret" or .type != "kubernetes.io/service-account-token")
        | [.kind, .metadata.namespace, .metadata.name, .metadata.uid, (.metadata.generation // "-"),
           ([.status.containerStatuses[]?.restartCount] | add // "-")] | @tsv'
  done | sort
}
test_redeploy() {
  state >"$WORK/state.before"
  local rc=0 t0; t0=$(now_ms)
  deploy --diff >"$WORK/diff.log" 2>&1 || rc=$?
  echo "MEASURE: npm run deploy -- --diff with nothing to do: $(( $(now_ms) - t0 )) ms"
  [ "$rc" = 0 ] || { tail -n 40 "$WORK/diff.log"; fail "--diff reports changes (exit $rc) right after the deploy"; }
  t0=$(now_ms)
  deploy >"$WORK/redeploy.log" 2>&1 || { tail -n 40 "$WORK/redeploy.log"; fail "the second deploy failed"; }
  echo "MEASURE: no-op re-deploy (npm run deploy: synth, checks, apply): $(( $(now_ms) - t0 )) ms"
  t0=$(now_ms)
  k apply --server-side --force-conflicts --field-manager=bench-plain --dry-run=server -f "$PROJ/dist-local/$ENV_NAME/" >/dev/null
  echo "MEASURE: plain kubectl apply --server-side --dry-run=server of the same manifests: $(( $(now_ms) - t0 )) ms"
  sleep 2
  state >"$WORK/state.after"
  diff "$WORK/state.before" "$WORK/state.after" || fail "the second deploy changed objects or restarted pods (diff above)"
}

# Observation 6a: db (one instance, data in memory) is never two pods Running during a rollout.
test_db_rollout() {
  k -n shop get pods -l app=db --watch --output-watch-events -o json >"$WORK/db-watch.json" 2>/dev/null &
  echo $! >"$WORK/db-watch.pid"
  sleep 1
  k -n shop rollout restart deploy/db >/dev/null
  k -n shop rollout status deploy/db --timeout=120s >/dev/null
  sleep 2
  kill "$(cat "$WORK/db-watch.pid")"; rm -f "$WORK/db-watch.pid"
  local max pods; max=$(max_running "$WORK/db-watch.json")
  pods=$(jq -r '.object.metadata.name' "$WORK/db-watch.json" | sort -u | wc -l)
  echo "MEASURE: db rollout: $pods pods seen, at most $max running at once"
  [ "$pods" -ge 2 ] || fail "the watch saw no new db pod"
  [ "$max" = 1 ] || fail "two db pods were running at once"
}

# Observation 6b: a RollingUpdate Deployment with a PodDisruptionBudget keeps a Ready pod throughout.
test_rolling_keeps_ready() {
  k -n shop get pods -l app=order-service --watch --output-watch-events -o json >"$WORK/os-watch.json" 2>/dev/null &
  echo $! >"$WORK/os-watch.pid"
  sleep 1
  k -n shop rollout restart deploy/order-service >/dev/null
  k -n shop rollout status deploy/order-service --timeout=180s >/dev/null
  sleep 2
  kill "$(cat "$WORK/os-watch.pid")"; rm -f "$WORK/os-watch.pid"
  local least pods; least=$(min_ready "$WORK/os-watch.json")
  pods=$(jq -r '.object.metadata.name' "$WORK/os-watch.json" | sort -u | wc -l)
  echo "MEASURE: order-service rollout: $pods pods seen, never fewer than $least Ready"
  [ "$pods" -ge 4 ] || fail "the watch saw no new order-service pods"
  [ "$least" -ge 1 ] || fail "order-service had no Ready pod during its rollout"
}

# Observation 6c: an eviction that would break a PodDisruptionBudget is refused.
evict() {
  printf '{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"%s","namespace":"shop"}}' "$1" |
    k create --raw "/api/v1/namespaces/shop/pods/$1/eviction" -f - 2>&1
}
test_eviction() {
  k -n shop wait --for=condition=Available deploy/payment-service --timeout=60s >/dev/null
  until_ok 30 bash -c "[ \"\$(kubectl -n shop get pdb payment-service -o jsonpath='{.status.disruptionsAllowed}')\" = 1 ]" ||
    fail "payment-service's PDB does not allow one disruption with both pods Ready"
  local pods out; mapfile -t pods < <(k -n shop get pods -l app=payment-service -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}')
  [ "${#pods[@]}" = 2 ] || fail "want 2 payment-service pods, have ${#pods[@]}"
  out=$(evict "${pods[0]}") || fail "the first eviction (allowed by the PDB) was refused" "$out"
  out=$(evict "${pods[1]}") && fail "the second eviction was allowed: the PDB did not hold" "$out"
  grep -qi 'disruption budget' <<<"$out" || fail "the second eviction failed, but not because of the PDB" "$out"
  echo "MEASURE: second eviction refused: $(head -c 160 <<<"$out")"
  k -n shop wait --for=condition=Available deploy/payment-service --timeout=120s >/dev/null
}

# The SIGTERM fix: every workload stops well inside its 30 s grace period (Node programs are not PID 1).
test_stop_times() {
  local ns sel pod t0 ms
  for ns_sel in go-ok:app=go-ok hashgenerator:app=hashgenerator shop:app=api-gateway shop:app=order-service; do
    ns=${ns_sel%%:*} sel=${ns_sel#*:}
    pod=$(k -n "$ns" get pod -l "$sel" -o jsonpath='{.items[0].metadata.name}')
    k -n "$ns" get pod "$pod" --watch -o json >"$WORK/stop.json" 2>/dev/null &
    echo $! >"$WORK/stop.pid"
    t0=$(now_ms)
    k -n "$ns" delete pod "$pod" --wait=true --timeout=60s >/dev/null
    ms=$(( $(now_ms) - t0 ))
    kill "$(cat "$WORK/stop.pid")" 2>/dev/null; rm -f "$WORK/stop.pid"
    local codes; codes=$(jq -r '.status.containerStatuses[]?.state.terminated.exitCode // empty' "$WORK/stop.json" | sort -u | tr '\n' ' ')
    echo "MEASURE: $ns/$pod stopped in $ms ms (exit codes seen: ${codes:-none}; grace period 30 s)"
    [ "$ms" -lt 10000 ] || fail "$ns/$pod took $ms ms to stop: SIGTERM was not honoured"
    grep -qw 137 <<<"$codes" && fail "$ns/$pod was killed (exit 137)"
  done
  for ns in "${NAMESPACES[@]}"; do k -n "$ns" wait --for=condition=Available deploy --all --timeout=120s >/dev/null; done
}

# The autoscaler reads metrics (metrics-server) and scales the gateway under load.
test_hpa() {
  until_ok 120 bash -c "kubectl -n shop get hpa api-gateway -o json | jq -e '.status.currentMetrics[0].resource.current.averageUtilization != null'" ||
    fail "the HPA never read a CPU metric" "$(k -n shop describe hpa api-gateway | tail -n 15)"
  echo "MEASURE: HPA reads CPU: $(k -n shop get hpa api-gateway -o jsonpath='{.status.currentMetrics[0].resource.current.averageUtilization}')%"
  local t0=$SECONDS
  in_client load http://api-gateway.shop:3000/orders 150 8 >"$WORK/load.log" 2>&1 &
  echo $! >"$WORK/load.pid"
  until_ok 150 bash -c "[ \"\$(kubectl -n shop get hpa api-gateway -o jsonpath='{.status.desiredReplicas}')\" -gt 2 ]" ||
    fail "the HPA did not scale api-gateway above 2 under load" "$(k -n shop describe hpa api-gateway | tail -n 15)"
  echo "MEASURE: HPA scaled api-gateway to $(k -n shop get hpa api-gateway -o jsonpath='{.status.desiredReplicas}') after $((SECONDS - t0))s of load"
  kill "$(cat "$WORK/load.pid")" 2>/dev/null; rm -f "$WORK/load.pid"
}

# Issue 22: production's Ingresses through a real controller: Traefik's ingress-nginx provider (fixtures/traefik.yaml),
# reached from the host as a user would, at the node's address on its NodePorts (30443 https, 30080 http), with the
# hosts resolved there by curl --resolve (an /etc/hosts line's effect, nothing written).
INGRESSES=(go-ok/go-ok shop/api-gateway)   # namespace/name of production's Ingresses
ingress_curl() {   # ingress_curl HOST PATH [CURL-ARGS...]: https://HOST/PATH through the controller, verified against the test CA
  local host=$1 path=$2; shift 2
  curl -sS --max-time 10 --resolve "$host:30443:$NODE_ADDR" --cacert "$WORK/tls/ca.crt" "$@" "https://$host:30443$path"
}
served_cert() {   # served_cert HOST: the fingerprint of the certificate the controller serves for SNI HOST
  openssl s_client -connect "$NODE_ADDR:30443" -servername "$1" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256
}
test_ingress() {
  NODE_ADDR=$(k get node k8s-infra-node -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
  [ -n "$NODE_ADDR" ] || fail "the node has no InternalIP"
  local ni ns name host secret want got out
  for ni in "${INGRESSES[@]}"; do
    ns=${ni%/*} name=${ni#*/}
    [ "$(k -n "$ns" get ingress "$name" -o jsonpath='{.spec.ingressClassName}')" = nginx ] || fail "$ni is not of class nginx"
    # The controller claimed it: the status names the address it answers at.
    until_ok 60 bash -c "[ \"\$(kubectl -n $ns get ingress $name -o jsonpath='{.status.loadBalancer.ingress[0].ip}')\" = $NODE_ADDR ]" ||
      fail "the controller did not claim $ni (status: $(k -n "$ns" get ingress "$name" -o jsonpath='{.status}'))"
    host=$(k -n "$ns" get ingress "$name" -o jsonpath='{.spec.tls[0].hosts[0]}')
    secret=$(k -n "$ns" get ingress "$name" -o jsonpath='{.spec.tls[0].secretName}')
    [[ -n "$host" && -n "$secret" ]] || fail "$ni declares no TLS host and Secret"
    # Over https, verified by the client against the test CA, with the certificate of the Ingress's own TLS Secret.
    until_ok 60 ingress_curl "$host" / -o /dev/null || fail "https://$host/ through the controller failed" "$(ingress_curl "$host" / -o /dev/null 2>&1)"
    want=$(k -n "$ns" get secret "$secret" -o jsonpath='{.data.tls\.crt}' | base64 -d | openssl x509 -noout -fingerprint -sha256)
    got=$(served_cert "$host")
    [[ -n "$want" && "$got" = "$want" ]] || fail "https://$host/ serves another certificate than $ns/$secret's" "served: $got; Secret: $want"
    echo "MEASURE: $host -> $ni, TLS Secret $ns/$secret served and verified (${got##*=})"
    echo "$got" >>"$WORK/served.fingerprints"
  done
  # Each host its own Secret's certificate: the two Secrets hold different ones (test_seal), so a controller that
  # served one Secret for both hosts fails above, and this says the check could tell them apart.
  [ "$(sort -u "$WORK/served.fingerprints" | wc -l)" = "${#INGRESSES[@]}" ] || fail "the hosts were served the same certificate"
  # Routed: go-ok.imti.cloud to go-ok, shop.imti.cloud to the shop's gateway (and on through its peers).
  out=$(ingress_curl go-ok.imti.cloud / -f) || fail "GET https://go-ok.imti.cloud/ failed" "$out"
  jq -e '.message == "ok" and .pod_namespace == "go-ok" and (.pod_name | startswith("go-ok-"))' <<<"$out" >/dev/null ||
    fail "go-ok.imti.cloud did not reach go-ok" "$out"
  out=$(ingress_curl shop.imti.cloud /orders -f -D "$WORK/shop.headers") || fail "GET https://shop.imti.cloud/orders failed" "$out"
  grep -qi '^x-served-by: api-gateway@' "$WORK/shop.headers" || fail "shop.imti.cloud was not served by the gateway" "$(cat "$WORK/shop.headers")"
  jq -e '(.via.orders | map(split("@")[0])) == ["order-service", "db"]' <<<"$out" >/dev/null ||
    fail "shop.imti.cloud/orders did not pass through the gateway's peers" "$out"
  # http to a TLS host redirects to https (ingress-nginx's ssl-redirect default, kept by Traefik's provider).
  out=$(curl -sS --max-time 10 --resolve go-ok.imti.cloud:30080:"$NODE_ADDR" -o /dev/null -w '%{http_code} %{redirect_url}' http://go-ok.imti.cloud:30080/)
  [[ "$out" == 30[18]\ https://go-ok.imti.cloud* ]] || fail "http://go-ok.imti.cloud/ does not redirect to https" "$out"
  # A host that no Ingress declares: 404, over https (the controller's default certificate, not ours) and http.
  [ "$(served_cert nobody.imti.cloud)" != "$want" ] || fail "an undeclared host got an Ingress's certificate"
  out=$(curl -sS --max-time 10 -k --resolve nobody.imti.cloud:30443:"$NODE_ADDR" -o /dev/null -w '%{http_code}' https://nobody.imti.cloud:30443/)
  [ "$out" = 404 ] || fail "https://nobody.imti.cloud/ (no Ingress) answered $out, not 404"
  out=$(curl -sS --max-time 10 --resolve nobody.imti.cloud:30080:"$NODE_ADDR" -o /dev/null -w '%{http_code}' http://nobody.imti.cloud:30080/)
  [ "$out" = 404 ] || fail "http://nobody.imti.cloud/ (no Ingress) answered $out, not 404"
}

# NODE_BENCH=1 (npm run bench:node): the figure plain kubectl gives on the same cluster, from the same empty start:
# the namespaces deleted, the same manifests applied (retried while a Namespace is not there yet, as a user would),
# and the same waits.
test_bench_plain() {
  k delete namespace "${NAMESPACES[@]}" --wait=true --timeout=180s >/dev/null
  local t0 i; t0=$(now_ms)
  for i in 1 2 3; do
    k apply --server-side --field-manager=bench-plain -f "$PROJ/dist-local/$ENV_NAME/" >/dev/null 2>&1 && break
    [ "$i" != 3 ] || fail "plain kubectl apply failed 3 times"
  done
  all_ready
  echo "MEASURE: plain kubectl apply --server-side to every production pod Ready: $(( $(now_ms) - t0 )) ms ($i apply runs)"
}

t "node up with the cluster's registry" test_node_up "$CONTEXT"
CLUSTER=$(cat "$WORK/cluster" 2>/dev/null || true)
if [ -n "$CLUSTER" ]; then
  # shellcheck disable=SC1091
  source "$CLUSTER/env"
  export STANDIN_REGISTRY=$REGISTRY   # environments/production-standin.ts: where its images live
  t "stand-in images built, pushed to the cluster's registry and locked by digest (images:lock, images:build)" test_standins
  t "platform: the real sealed-secrets controller, metrics-server and Ingress controller (Traefik) as pods" test_platform
  t "secrets sealed for the test controller with npm run seal" test_seal
  t "npm run deploy -- $ENV_NAME --wait: every production pod Ready" test_deploy
  t "1 Ready within the probe budgets, 0 restarts, no warning events" test_ready
  t "2 every container on the host: its UID/GID, CapEff 0, NoNewPrivs, seccomp, read-only /, emptyDirs writable" test_security
  t "3 go-ok by its Service with its downward-API identity; go-ok-pod:443 serves the sealed certificate through nginx" test_go_ok
  t "4 shop: POST and GET through the gateway by DNS name pass through every peer call" test_shop
  t "5 NetworkPolicies: declared flows pass, undeclared ones (other namespace, hashgenerator, db, egress) fail" test_policies
  t "7 a second deploy changes nothing and restarts no pod" test_redeploy
  t "6 db (Recreate) never runs two pods during a rollout" test_db_rollout
  t "6 order-service (RollingUpdate + PDB) keeps a Ready pod throughout its rollout" test_rolling_keeps_ready
  t "6 an eviction that would break payment-service's PDB is refused" test_eviction
  t "stops: go-ok, hashgenerator and the shop stop on SIGTERM in seconds, not by SIGKILL after 30 s" test_stop_times
  t "the HPA reads metrics from metrics-server and scales the gateway under load" test_hpa
  t "Ingress (Traefik, class nginx): production's hosts over https with their Secrets' certificates, routed; unknown host 404" test_ingress
  [ "${NODE_BENCH:-0}" != 1 ] || t "bench: the same manifests by plain kubectl, from deleted namespaces to every pod Ready" test_bench_plain
  t "teardown restores the host" test_teardown_clean
fi
DONE=1
summary
[ "$FAILED" = 0 ]
