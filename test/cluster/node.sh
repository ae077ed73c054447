#!/usr/bin/env bash
# `npm run test:node`: the test cluster with a real node (test/cluster/harness/up.sh --node: kubelet on
# containerd + runc with CNI, kube-proxy, kube-scheduler, kube-router as the NetworkPolicy firewall, CoreDNS
# as a pod), and what only a node can show: a hardened pod Ready under PodSecurity restricted and, seen on the
# host, running as the spec says; a Service reached by DNS name; a NetworkPolicy deny enforced; a Recreate
# rollout without overlap; a pod stopping on SIGTERM; and a teardown that leaves the host as it found it.
# The workloads here are the suite's own small programs (test/cluster/node-images/), not production's images.
#
# Usage: test/cluster/node.sh      (root; installs its Debian packages and builds what is missing first)
# Prints PASS/FAIL and "N passed, N failed". A machine that cannot run a node (no root, no containerd, no
# bridge) gets a loud "NODE SUITE NOT RUN" and exit 2; NODE_SUITE_OPTIONAL=1 makes that exit 0.
set -euo pipefail
shopt -s inherit_errexit

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
H="$ROOT/test/cluster/harness"
BIN="${CLUSTER_BIN_DIR:-$ROOT/.cache/bin}"
IMAGES="${NODE_IMAGES_DIR:-$ROOT/.cache/node-images}"
export PATH="$BIN:$PATH"   # the release's own kubectl
WORK="$(mktemp -d "${TMPDIR:-/tmp}/k8s-infra-node.XXXXXX")"
# shellcheck source=../lib/harness.sh
source "$ROOT/test/lib/harness.sh"
# shellcheck source=../lib/node-suite.sh
source "$ROOT/test/lib/node-suite.sh"   # k, until_ok, now_ms, node_cleanup, test_node_up, test_teardown_clean
on_exit node_cleanup
node_preflight

tb=$SECONDS
"$H/build.sh"
"$H/build-node.sh"
echo "node.sh: builds $((SECONDS - tb))s"

NS=node-suite
export KUBECTL_REQUEST_TIMEOUT=10s
NETCHECK=$(cat "$IMAGES/netcheck.ref")

# A hardened pod spec (restricted PodSecurity): UID/GID 10001, read-only root, no capabilities, seccomp.
pod_security='
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        fsGroup: 10001
        seccompProfile: {type: RuntimeDefault}'
container_security='
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}'

deployment() {   # deployment NAME STRATEGY [LABELS-EXTRA]: netcheck serve on 8080, ready on GET /
  cat <<Y
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1, namespace: $NS}
spec:
  replicas: 1
  strategy: {type: $2}
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec:
      terminationGracePeriodSeconds: 30$pod_security
      containers:
      - name: app
        image: $NETCHECK
        imagePullPolicy: Never
        args: [serve]
        env:
        - {name: PORT, value: "8080"}
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
        resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 64Mi}}$container_security
        volumeMounts: [{name: tmp, mountPath: /tmp}]
      volumes: [{name: tmp, emptyDir: {}}]
---
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: $NS}
spec:
  selector: {app: $1}
  ports: [{port: 80, targetPort: 8080}]
Y
}
client_pod() {   # client_pod NAME ROLE
  cat <<Y
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: $NS, labels: {role: $2}}
spec:
  terminationGracePeriodSeconds: 5${pod_security//$'\n    '/$'\n'}
  containers:
  - name: c
    image: $NETCHECK
    imagePullPolicy: Never
    args: [sleep]
    resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 64Mi}}${container_security//$'\n    '/$'\n'}
Y
}
in_pod() { k -n "$NS" exec "$1" -- /netcheck "${@:2}"; }
host_pid() {   # host_pid POD [CONTAINER-INDEX]: the container's init process on this host
  container_pid "$(k -n "$NS" get pod "$1" -o jsonpath="{.status.containerStatuses[${2:-0}].containerID}")"
}

# --- tests --------------------------------------------------------------------------------------
test_versions() {
  local v
  v=$(k get node k8s-infra-node -o jsonpath='{.status.nodeInfo.kubeletVersion} {.status.nodeInfo.kubeProxyVersion}')
  echo "kubelet, kube-proxy: $v"
  [ "$v" = "v1.36.3 v1.36.3" ] || [ "$v" = "v1.36.3 " ] || fail "node reports $v, want v1.36.3"
  v=$(k version -o json | jq -r '.serverVersion.gitVersion + " " + .clientVersion.gitVersion')
  [ "$v" = "v1.36.3 v1.36.3" ] || fail "apiserver/kubectl: $v, want v1.36.3"
  "$BIN/kube-scheduler" --version | grep -qx 'Kubernetes v1.36.3' || fail "kube-scheduler is not v1.36.3"
  v=$("$BIN/etcd" --version | sed -n 1p)   # all of it read: grep -q would close the pipe early (SIGPIPE)
  [[ "$v" == "etcd Version: 3.6."* ]] || fail "etcd is not 3.6.x: $v"
}
test_coredns_is_a_pod() {
  local j; j=$(k -n kube-system get pod -l k8s-app=kube-dns -o json)
  jq -e '.items | length == 1' <<<"$j" >/dev/null || fail "not one CoreDNS pod"
  jq -e '.items[0].spec.hostNetwork != true and (.items[0].status.podIP | startswith("10.244.0."))' <<<"$j" >/dev/null ||
    fail "CoreDNS is not on the pod network" "$(jq -c '.items[0].status.podIP' <<<"$j")"
}
test_hardened_pod() {
  k apply -f - <<Y
apiVersion: v1
kind: Namespace
metadata:
  name: $NS
  labels: {pod-security.kubernetes.io/enforce: restricted, pod-security.kubernetes.io/enforce-version: latest}
Y
  until_sa() { for _ in $(seq 1 60); do k -n "$NS" get sa default >/dev/null 2>&1 && return 0; sleep 0.5; done; return 1; }
  until_sa || fail "no default ServiceAccount"
  { deployment web RollingUpdate; echo ---; client_pod client client; echo ---; client_pod intruder intruder; } | k apply -f -
  # Without the hardening PodSecurity refuses the pod: the namespace really enforces restricted.
  local out
  out=$(client_pod loose x | sed 's/runAsNonRoot: true/runAsNonRoot: false/' | k apply --dry-run=server -f - 2>&1) &&
    fail "restricted admitted a pod with runAsNonRoot: false" "$out"
  local t0=$SECONDS
  k -n "$NS" wait --for=condition=Available deploy/web --timeout=90s
  k -n "$NS" wait --for=condition=Ready pod/client pod/intruder --timeout=90s
  echo "MEASURE: hardened pods Ready in $((SECONDS - t0))s"
  local pod pid st
  pod=$(k -n "$NS" get pod -l app=web -o jsonpath='{.items[0].metadata.name}')
  pid=$(host_pid "$pod")
  st=$(cat "/proc/$pid/status")
  echo "$st" | grep -E '^(Uid|Gid|CapEff|NoNewPrivs|Seccomp):'
  grep -qE '^Uid:\s+10001\s+10001\s+10001\s+10001$' <<<"$st" || fail "not UID 10001"
  grep -qE '^Gid:\s+10001\s+10001\s+10001\s+10001$' <<<"$st" || fail "not GID 10001"
  grep -qE '^CapEff:\s+0+$' <<<"$st" || fail "capabilities left"
  grep -qE '^NoNewPrivs:\s+1$' <<<"$st" || fail "NoNewPrivs not set"
  grep -qE '^Seccomp:\s+2$' <<<"$st" || fail "no seccomp filter"
  in_pod "$pod" write /probe && fail "the root filesystem is writable"
  in_pod "$pod" write /tmp/probe || fail "the emptyDir is not writable"
  [ "$(k -n "$NS" get pod "$pod" -o jsonpath='{.status.containerStatuses[0].restartCount}')" = 0 ] || fail "restarts"
}
test_service_dns() {
  local out i
  # kube-proxy writes a new Service's rules asynchronously (seconds under load): the first GET may wait for them.
  for i in $(seq 1 15); do
    out=$(in_pod client get "http://web.$NS.svc.cluster.local/" 2>&1) && break
    sleep 2
  done
  [ "$i" = 1 ] || echo "MEASURE: the Service answered after $i tries (kube-proxy had not written its rules yet)"
  out=$(in_pod client get "http://web.$NS.svc.cluster.local/") || fail "GET by full DNS name failed" "$out"
  jq -e '.message == "ok" and .uid == "10001" and (.pod | startswith("web-"))' <<<"$out" >/dev/null || fail "unexpected answer" "$out"
  out=$(in_pod client get "http://web.$NS/") || fail "GET by short DNS name failed" "$out"
  out=$(in_pod client get "http://web.$NS/nope" 2>&1) && fail "another path did not 404" "$out"
  grep -q 'HTTP 404' <<<"$out" || fail "another path: $out"
  # Pods reach the API server through the kubernetes Service (it listens on the node address).
  in_pod client tcp kubernetes.default.svc.cluster.local:443 || fail "the API server is not reachable from a pod"
}
test_network_policy() {
  # Before any policy: both clients reach web.
  in_pod intruder get "http://web.$NS/" >/dev/null || fail "intruder cannot reach web before any policy"
  k apply -f - <<Y
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: $NS}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-client, namespace: $NS}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {role: client}}}], ports: [{port: 8080}]}]
Y
  # Enforcement is asynchronous: wait (bounded) for the deny, then check the allow still passes.
  local denied=0
  for _ in $(seq 1 30); do
    if ! in_pod intruder get "http://web.$NS/" >/dev/null 2>&1; then denied=1; break; fi
    sleep 1
  done
  [ "$denied" = 1 ] || fail "intruder still reaches web 30 s after the deny"
  local ip; ip=$(k -n "$NS" get pod -l app=web -o jsonpath='{.items[0].status.podIP}')
  in_pod intruder tcp "$ip:8080" && fail "intruder reaches web's pod IP directly"
  in_pod client get "http://web.$NS/" >/dev/null || fail "client (allowed) cannot reach web"
  in_pod client tcp "$ip:8080" || fail "client (allowed) cannot reach web's pod IP"
  # Egress: deny all but DNS to kube-system's kube-dns, written as production writes it.
  k apply -f - <<Y
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-egress, namespace: $NS}
spec:
  podSelector: {matchLabels: {role: client}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}]
    ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
Y
  denied=0
  for _ in $(seq 1 30); do
    if ! in_pod client tcp "$ip:8080" >/dev/null 2>&1; then denied=1; break; fi
    sleep 1
  done
  [ "$denied" = 1 ] || fail "client's egress to web not denied 30 s after the egress policy"
  in_pod client lookup "web.$NS.svc.cluster.local" || fail "DNS egress (kube-system/kube-dns:53) is not admitted"
  k -n "$NS" delete networkpolicy client-egress
}
test_recreate_rollout() {
  deployment solo Recreate | k apply -f -
  k -n "$NS" wait --for=condition=Available deploy/solo --timeout=90s
  k -n "$NS" get pods -l app=solo --watch --output-watch-events -o json >"$WORK/watch.json" 2>/dev/null &
  local watcher=$!; echo "$watcher" >"$WORK/watcher.pid"
  sleep 1
  k -n "$NS" set env deploy/solo ROLL=2
  k -n "$NS" rollout status deploy/solo --timeout=90s
  sleep 2
  kill "$watcher"; wait "$watcher" 2>/dev/null || true; rm -f "$WORK/watcher.pid"
  # Per event: the pods whose phase is Running or whose container is running, at that instant.
  local max
  max=$(max_running "$WORK/watch.json")
  local pods; pods=$(jq -r '.object.metadata.name' "$WORK/watch.json" | sort -u | wc -l)
  echo "MEASURE: Recreate rollout: $pods pods seen, at most $max running at once"
  [ "$pods" -ge 2 ] || fail "the watch saw no new pod"
  [ "$max" = 1 ] || fail "two pods were running at once"
}
test_sigterm_stop() {
  # netcheck handles SIGTERM as PID 1: the pod stops well inside its 30 s grace period, exit 0.
  local pod t0 ms; pod=$(k -n "$NS" get pod -l app=solo -o jsonpath='{.items[0].metadata.name}')
  t0=$(date +%s%N)
  k -n "$NS" delete pod "$pod" --wait=true --timeout=60s
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  echo "MEASURE: pod stopped and deleted in ${ms} ms (grace period 30 s)"
  [ "$ms" -lt 10000 ] || fail "stopping took ${ms} ms: SIGTERM not honoured"
}

t "node up: kubelet, kube-proxy, scheduler, kube-router, CoreDNS; node Ready" test_node_up
CLUSTER=$(cat "$WORK/cluster" 2>/dev/null || true)
if [ -n "$CLUSTER" ]; then
  # shellcheck disable=SC1091
  source "$CLUSTER/env"
  t "every component is Kubernetes v1.36.3 (etcd 3.6)" test_versions
  t "CoreDNS is an ordinary pod on the pod network" test_coredns_is_a_pod
  t "hardened pod Ready under PodSecurity restricted; on the host: UID/GID 10001, CapEff 0, NoNewPrivs, seccomp, read-only root, emptyDir writable" test_hardened_pod
  t "Service by DNS name (full and short), 404 elsewhere, API server reachable from a pod" test_service_dns
  t "NetworkPolicy: default deny enforced, the declared allow passes; egress deny with DNS admitted" test_network_policy
  t "Recreate rollout: never two pods running (watch)" test_recreate_rollout
  t "a pod whose PID 1 honours SIGTERM stops in seconds" test_sigterm_stop
  t "teardown restores the host: sysctls, links, netns, mounts, iptables, ipsets, cgroups, processes" test_teardown_clean
fi
DONE=1
summary
[ "$FAILED" = 0 ]
