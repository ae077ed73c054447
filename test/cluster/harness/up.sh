#!/usr/bin/env bash
# Starts a throw-away control plane on 127.0.0.1: etcd + kube-apiserver (+ kube-controller-manager
# with --kcm), each on a free port, everything (data, keys, certs, logs) in one temp folder.
# Prints that folder on stdout; "$DIR/env" exports KUBECONFIG. Stop it with down.sh "$DIR".
# If anything fails to come up, whatever was started is stopped again before exiting non-zero.
#
# With --node (implies --kcm; root): a node as well (test/cluster/harness/node.sh: kube-scheduler,
# containerd, kubelet, kube-proxy, kube-router, CoreDNS). The API server then listens on the node's
# bridge address instead of 127.0.0.1, so that pods reach it through the kubernetes Service, and the
# kubelet's API is authorized (Node,RBAC, NodeRestriction, a client certificate to the kubelet).
# --node also starts an image registry on 127.0.0.1 (registry.sh; "$DIR/env" exports REGISTRY=127.0.0.1:<port>).
#
# Usage: test/cluster/harness/up.sh [--kcm | --node]
# Env:   CLUSTER_BIN_DIR (binaries; default <repo>/.cache/bin), CLUSTER_START_TIMEOUT (s, default 120)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
BIN="${CLUSTER_BIN_DIR:-$ROOT/.cache/bin}"
TIMEOUT="${CLUSTER_START_TIMEOUT:-120}"
KCM=0 NODE=0
[ "${1:-}" = "--kcm" ] && KCM=1
[ "${1:-}" = "--node" ] && KCM=1 NODE=1

log() { echo "up.sh: $*" >&2; }
for b in etcd kube-apiserver kube-controller-manager; do
  [ -x "$BIN/$b" ] || { log "missing $BIN/$b: run test/cluster/harness/build.sh first"; exit 1; }
done
command -v openssl >/dev/null || { log "openssl is required"; exit 1; }

W="$(mktemp -d "${TMPDIR:-/tmp}/k8s-infra-cluster.XXXXXX")"
mkdir -p "$W/pids" "$W/pki"
ok=0
# On any failure: stop what we started and keep the logs visible.
cleanup_on_failure() {
  if [ "$ok" != 1 ]; then
    for f in "$W"/*.log; do [ -f "$f" ] && { log "--- last lines of $f"; tail -n 25 "$f" >&2; }; done
    KEEP_CLUSTER_DIR="${KEEP_CLUSTER_DIR:-0}" "$HERE/down.sh" "$W" >&2 || true
  fi
}
trap cleanup_on_failure EXIT

# shellcheck source=../../lib/free-port.sh
source "$ROOT/test/lib/free-port.sh"
ETCD_PORT=$(free_port); ETCD_PEER_PORT=$(free_port); API_PORT=$(free_port)
API_IP=127.0.0.1
if [ "$NODE" = 1 ]; then
  # The bridge and its address exist before the API server binds to it; the lock is taken here.
  "$HERE/node.sh" net "$W"
  API_IP=10.244.0.1
fi

# Start a daemon in the background, its output in a log, its pid in pids/.
start() {
  local name=$1; shift
  "$@" </dev/null >"$W/$name.log" 2>&1 &
  echo $! >"$W/pids/$name.pid"
}
alive() { kill -0 "$(cat "$W/pids/$1.pid")" 2>/dev/null; }

# Bounded wait for a condition; fails early when the daemon died.
wait_for() {
  local what=$1 daemon=$2; shift 2
  local deadline=$(( SECONDS + TIMEOUT ))
  until "$@" >/dev/null 2>&1; do
    alive "$daemon" || { log "$daemon exited while waiting for $what"; return 1; }
    [ "$SECONDS" -lt "$deadline" ] || { log "timed out after ${TIMEOUT}s waiting for $what"; return 1; }
    sleep 0.5
  done
}

# --- keys and credentials -------------------------------------------------------------------
# One RSA key signs and verifies service-account tokens (apiserver) and is given to the
# controller-manager's token controller.
openssl genrsa -out "$W/pki/sa.key" 2048 2>/dev/null
# Static bearer token in system:masters (superuser), so RBAC stays on for everyone else.
TOKEN=$(openssl rand -hex 24)
printf '%s,admin,admin,"system:masters"\n' "$TOKEN" >"$W/pki/tokens.csv"
if [ "$NODE" = 1 ]; then
  # The node's components, each as the user the default RBAC and the Node authorizer know.
  for u in 'kubelet|system:node:k8s-infra-node|system:nodes' 'scheduler|system:kube-scheduler|' \
           'kube-proxy|system:kube-proxy|' 'kube-router|k8s-infra-test:kube-router|'; do
    IFS='|' read -r name user group <<<"$u"
    t=$(openssl rand -hex 24); echo "$t" >"$W/pki/token.$name"; chmod 600 "$W/pki/token.$name"
    printf '%s,%s,%s,"%s"\n' "$t" "$user" "$user" "$group" >>"$W/pki/tokens.csv"
  done
fi
chmod 600 "$W/pki/sa.key" "$W/pki/tokens.csv"

# Our own CA and a serving cert for 127.0.0.1/localhost, so the kubeconfig can verify TLS from
# the first byte (no waiting for a self-signed cert to appear on disk).
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=k8s-infra-test-ca" \
  -keyout "$W/pki/ca.key" -out "$W/pki/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
  -keyout "$W/pki/apiserver.key" -out "$W/pki/apiserver.csr" 2>/dev/null
SANS=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc
[ "$NODE" = 1 ] && SANS="$SANS,IP:$API_IP,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc.cluster.local"
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$SANS" >"$W/pki/ext.cnf"
openssl x509 -req -in "$W/pki/apiserver.csr" -CA "$W/pki/ca.crt" -CAkey "$W/pki/ca.key" \
  -CAcreateserial -days 2 -extfile "$W/pki/ext.cnf" -out "$W/pki/apiserver.crt" 2>/dev/null
NODE_FLAGS=() AUTHZ=RBAC ADMISSION=PodSecurity
if [ "$NODE" = 1 ]; then
  sign() {   # sign NAME SUBJECT EXTENSIONS: a key and a certificate from our CA
    openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$W/pki/$1.key" -out "$W/pki/$1.csr" 2>/dev/null
    printf '%s\n' "$3" >"$W/pki/$1.ext"
    openssl x509 -req -in "$W/pki/$1.csr" -CA "$W/pki/ca.crt" -CAkey "$W/pki/ca.key" -CAcreateserial -days 2 \
      -extfile "$W/pki/$1.ext" -out "$W/pki/$1.crt" 2>/dev/null
  }
  sign kubelet "/CN=system:node:k8s-infra-node" "$(printf 'subjectAltName=IP:%s,DNS:k8s-infra-node\nextendedKeyUsage=serverAuth' "$API_IP")"
  sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "extendedKeyUsage=clientAuth"
  AUTHZ="Node,RBAC" ADMISSION="NodeRestriction,PodSecurity"
  NODE_FLAGS=(--kubelet-client-certificate="$W/pki/apiserver-kubelet-client.crt" --kubelet-client-key="$W/pki/apiserver-kubelet-client.key"
    --kubelet-certificate-authority="$W/pki/ca.crt" --kubelet-preferred-address-types=InternalIP)
  # API aggregation (metrics.k8s.io from metrics-server): the API server proxies as front-proxy-client, with a
  # certificate from a CA of its own that extension API servers trust for the X-Remote-* headers only; to
  # the APIService's endpoints (pod IPs on the bridge, reachable from this host), not its ClusterIP.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=k8s-infra-test-front-proxy-ca" \
    -keyout "$W/pki/front-proxy-ca.key" -out "$W/pki/front-proxy-ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=front-proxy-client" \
    -keyout "$W/pki/front-proxy-client.key" -out "$W/pki/front-proxy-client.csr" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' >"$W/pki/front-proxy-client.ext"
  openssl x509 -req -in "$W/pki/front-proxy-client.csr" -CA "$W/pki/front-proxy-ca.crt" -CAkey "$W/pki/front-proxy-ca.key" \
    -CAcreateserial -days 2 -extfile "$W/pki/front-proxy-client.ext" -out "$W/pki/front-proxy-client.crt" 2>/dev/null
  NODE_FLAGS+=(--requestheader-client-ca-file="$W/pki/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client
    --requestheader-extra-headers-prefix=X-Remote-Extra- --requestheader-group-headers=X-Remote-Group
    --requestheader-username-headers=X-Remote-User --proxy-client-cert-file="$W/pki/front-proxy-client.crt"
    --proxy-client-key-file="$W/pki/front-proxy-client.key" --enable-aggregator-routing=true)
fi

# --- etcd -----------------------------------------------------------------------------------
log "starting etcd on 127.0.0.1:$ETCD_PORT"
start etcd "$BIN/etcd" --name=test --data-dir="$W/etcd" \
  --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="test=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state=new \
  --unsafe-no-fsync=true --log-level=warn
# (--unsafe-no-fsync: throw-away data; makes every write much cheaper on a slow disk.)
wait_for "etcd /health" etcd curl -fsS --max-time 5 "http://127.0.0.1:$ETCD_PORT/health"

# --- kube-apiserver -------------------------------------------------------------------------
# --advertise-address=127.0.0.1 + --endpoint-reconciler-type=none: nothing is ever advertised on
# a real interface (loopback endpoints would fail validation in the default reconciler). With a
# node: the node's bridge address, advertised (the kubernetes Service's endpoint), and the default
# reconciler.
# Admission: the defaults, which include PodSecurity (namespace PSS labels are enforced) and
# ServiceAccount.
RECONCILER=(--endpoint-reconciler-type=none)
[ "$NODE" = 1 ] && RECONCILER=()
log "starting kube-apiserver on https://$API_IP:$API_PORT"
start kube-apiserver "$BIN/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --bind-address="$API_IP" --secure-port="$API_PORT" \
  --advertise-address="$API_IP" "${RECONCILER[@]}" \
  --tls-cert-file="$W/pki/apiserver.crt" --tls-private-key-file="$W/pki/apiserver.key" \
  --client-ca-file="$W/pki/ca.crt" \
  --service-cluster-ip-range=10.96.0.0/16 --service-node-port-range=30000-32767 \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$W/pki/sa.key" --service-account-signing-key-file="$W/pki/sa.key" \
  --token-auth-file="$W/pki/tokens.csv" \
  --authorization-mode="$AUTHZ" \
  --enable-admission-plugins="$ADMISSION" \
  --allow-privileged=true \
  --profiling=false \
  "${NODE_FLAGS[@]}"

# kubeconfig: our CA, the static token.
K="$W/kubeconfig"
kubectl config --kubeconfig="$K" set-cluster local --server="https://$API_IP:$API_PORT" \
  --certificate-authority="$W/pki/ca.crt" --embed-certs=true >/dev/null
kubectl config --kubeconfig="$K" set-credentials admin --token="$TOKEN" >/dev/null
kubectl config --kubeconfig="$K" set-context local --cluster=local --user=admin --namespace=default >/dev/null
kubectl config --kubeconfig="$K" use-context local >/dev/null
chmod 600 "$K"
kc() { kubectl --kubeconfig="$K" --request-timeout=5s "$@"; }

wait_for "kube-apiserver /readyz" kube-apiserver kc get --raw=/readyz
# Like Kubernetes' own test server: ready once the bootstrap namespace exists.
wait_for "namespace default" kube-apiserver kc get namespace default

# --- kube-controller-manager (optional) -----------------------------------------------------
if [ "$KCM" = 1 ]; then
  KCM_NODE_FLAGS=()
  [ "$NODE" = 1 ] && KCM_NODE_FLAGS=(--allocate-node-cidrs=true --cluster-cidr=10.244.0.0/16 --node-cidr-mask-size=24
    --service-cluster-ip-range=10.96.0.0/16)
  log "starting kube-controller-manager"
  # --secure-port=0: no serving endpoint (nothing to scrape). No cloud provider, no leader
  # election. The token controller needs the SA key; root-ca is what pods would trust.
  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig="$K" --leader-elect=false \
    --bind-address=127.0.0.1 --secure-port=0 \
    --service-account-private-key-file="$W/pki/sa.key" --root-ca-file="$W/pki/ca.crt" \
    --use-service-account-credentials=false \
    --controllers='*' "${KCM_NODE_FLAGS[@]}"
  # Its serviceaccount controller creates "default" in every namespace: proof it is working.
  wait_for "kube-controller-manager (default ServiceAccount)" kube-controller-manager \
    kc get serviceaccount default -n default
fi

cat >"$W/env" <<ENV
export KUBECONFIG='$K'
export CLUSTER_DIR='$W'
ENV
# The node's image registry (REGISTRY= in $W/env; containerd pulls from it over plain HTTP).
[ "$NODE" = 1 ] && "$HERE/registry.sh" start "$W"
[ "$NODE" = 1 ] && "$HERE/node.sh" start "$W"
ok=1
log "cluster ready in $W (KUBECONFIG=$K)"
echo "$W"
