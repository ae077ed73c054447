#!/usr/bin/env bash
# The test cluster's node: one kubelet on containerd + runc with CNI (bridge), kube-proxy, kube-scheduler,
# kube-router (NetworkPolicy firewall only) and CoreDNS as an ordinary pod. Called by up.sh --node and
# down.sh; by hand only for `snapshot`.
#
#   node.sh net DIR        before the API server starts: take the node lock, record the host's state
#                          (snapshot), create the bridge with the node address, set the sysctls
#   node.sh start DIR      after the control plane: containerd (own config, socket and state), images,
#                          kube-scheduler, kubelet, kube-proxy, kube-router, CoreDNS; waits (bounded) for
#                          the node and CoreDNS to be Ready
#   node.sh stop-processes DIR   the daemons and pods only (down.sh, before the API server stops)
#   node.sh stop DIR       stops all of it by recorded pid, kills the pods' containers, unmounts, deletes
#                          the pods' netns, the bridge, every iptables/ip6tables rule and chain, ipset and
#                          cgroup that was not there before, restores every sysctl, releases the lock
#   node.sh snapshot       prints the host state teardown must restore (test/cluster/node.sh diffs it)
#
# Fixed names (so only one node runs per machine; the lock says whose it is): bridge k8si0 with the node
# address 10.244.0.1/24 (pods get 10.244.0.0/24), Services 10.96.0.0/16, cluster DNS 10.96.0.10, node
# k8s-infra-node, state under /run/k8s-infra-node. All traffic stays on loopback and the bridge: the API
# server and the kubelet listen on the node address only, NodePorts only there, and the pods' routes
# cover only the bridge and the Service range.
# Env: CLUSTER_BIN_DIR, NODE_IMAGES_DIR (see build-node.sh), CLUSTER_START_TIMEOUT (s, default 120)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
BIN="${CLUSTER_BIN_DIR:-$ROOT/.cache/bin}"
IMAGES="${NODE_IMAGES_DIR:-$ROOT/.cache/node-images}"
TIMEOUT="${CLUSTER_START_TIMEOUT:-120}"

BRIDGE=k8si0
NODE_IP=10.244.0.1
POD_CIDR=10.244.0.0/24
SVC_CIDR=10.96.0.0/16
DNS_IP=10.96.0.10
NODE_NAME=k8s-infra-node
RUN=/run/k8s-infra-node            # the lock (mkdir is atomic), containerd's state, CNI IPAM, the snapshot
export NODE_IP NODE_NAME SVC_CIDR DNS_IP

log() { echo "node.sh: $*" >&2; }

# What teardown must give back. Only node-specific processes are listed (other clusters' etcd and
# apiservers come and go on a shared machine); sysctls: the keys the kubelet, kube-proxy, kube-router
# and this script may write.
SYSCTL_RE='^(net\.ipv4\.ip_forward|net\.ipv4\.conf\.(all|default)\.[^ ]*|net\.ipv6\.conf\.(all|default)\.[^ ]*|net\.bridge\.[^ ]*|net\.netfilter\.nf_conntrack_(max|buckets|tcp_[^ ]*|udp_[^ ]*)|vm\.(overcommit_memory|panic_on_oom)|kernel\.(panic|panic_on_oops|keys\.root_max[^ ]*)) = '
NODE_PROCS='^(containerd|containerd-shim.*|runc|kubelet|kube-proxy|kube-router|kube-scheduler|coredns|pause|netcheck)$'
snapshot() {
  echo "## sysctl"; sysctl -a 2>/dev/null | grep -E "$SYSCTL_RE" | { grep -v 'stable_secret' || true; } | sort
  echo "## links"; ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | sort
  echo "## netns"; ip netns list 2>/dev/null | awk '{print $1}' | sort
  echo "## mounts"; awk '{print $2}' /proc/mounts | sort
  local fam t
  for fam in iptables ip6tables; do
    for t in filter nat mangle raw; do
      echo "## $fam $t"; "$fam-save" -t "$t" 2>/dev/null | { grep -E '^[:-]' || true; } | sed 's/ \[[0-9]*:[0-9]*\]$//' | sort
    done
  done
  echo "## ipsets"; ipset list -n 2>/dev/null | sort
  echo "## cgroups"; find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -type d -name 'kubepods*' 2>/dev/null | sort
  echo "## processes"; ps -eo comm= | { grep -E "$NODE_PROCS" || true; } | sort | uniq -c
}

# ---------------------------------------------------------------------------------------------------
net_up() {
  local W=$1
  for c in containerd runc ip iptables ipset; do
    command -v "$c" >/dev/null || { log "no $c: run test/cluster/harness/install-node-deps.sh"; return 1; }
  done
  [ -x /usr/lib/cni/bridge ] || { log "no CNI plugins in /usr/lib/cni: run test/cluster/harness/install-node-deps.sh"; return 1; }
  [ "$(id -u)" = 0 ] || { log "a node needs root"; return 1; }
  if ! mkdir "$RUN" 2>/dev/null; then
    log "another node holds $RUN (cluster $(cat "$RUN/owner" 2>/dev/null || echo '?')); stop it with down.sh <its dir>"
    return 1
  fi
  echo "$W" >"$RUN/owner"
  mkdir -p "$W/node"
  ln -s "$RUN" "$W/node/run"
  snapshot >"$RUN/before"
  sysctl -a 2>/dev/null | grep -E "$SYSCTL_RE" | grep -v 'stable_secret' >"$RUN/sysctl.before" || true
  [ -d /var/lib/kube-router ] || touch "$RUN/no-var-lib-kube-router"
  ip link add "$BRIDGE" type bridge
  ip addr add "$NODE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
  # Nothing from outside the machine reaches the node address (the host answers on any interface for it).
  iptables -w -N K8SINFRA-NODE-INPUT
  iptables -w -A K8SINFRA-NODE-INPUT -i lo -j RETURN
  iptables -w -A K8SINFRA-NODE-INPUT -i "$BRIDGE" -j RETURN
  iptables -w -A K8SINFRA-NODE-INPUT -j DROP
  iptables -w -I INPUT -d "$NODE_IP" -j K8SINFRA-NODE-INPUT
  log "bridge $BRIDGE $NODE_IP/24 up"
}

# ---------------------------------------------------------------------------------------------------
N=""; PKI=""; KC=()
start() {   # start NAME CMD...: a daemon in the background, log and pid in $N
  local name=$1; shift
  "$@" </dev/null >"$N/$name.log" 2>&1 &
  echo $! >"$N/pids/$name.pid"
}
alive() { kill -0 "$(cat "$N/pids/$1.pid")" 2>/dev/null; }
wait_for() {   # wait_for WHAT DAEMON CMD...: bounded, fails early when the daemon died
  local what=$1 daemon=$2; shift 2
  local deadline=$(( SECONDS + TIMEOUT ))
  until "$@" >/dev/null 2>&1; do
    [ -z "$daemon" ] || alive "$daemon" || { log "$daemon exited while waiting for $what"; tail -n 30 "$N/$daemon.log" >&2; return 1; }
    [ "$SECONDS" -lt "$deadline" ] || { log "timed out after ${TIMEOUT}s waiting for $what"; return 1; }
    sleep 0.5
  done
}
kubeconfig() {   # kubeconfig FILE TOKEN
  cat >"$1" <<K
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "$SERVER", certificate-authority: "$PKI/ca.crt"}
users:
- name: u
  user: {token: "$2"}
contexts:
- name: local
  context: {cluster: local, user: u}
current-context: local
K
  chmod 600 "$1"
}

node_start() {
  local W=$1
  N="$W/node"; PKI="$W/pki"
  mkdir -p "$N/pids" "$N/cni" "$N/kubelet" "$N/pod-logs" "$N/certs.d"
  # shellcheck source=/dev/null
  source "$W/env"
  SERVER=$(kubectl config view --kubeconfig="$KUBECONFIG" --minify -o jsonpath='{.clusters[0].cluster.server}')
  KC=(kubectl --kubeconfig="$KUBECONFIG" --request-timeout=10s)
  for b in kube-scheduler kubelet kube-proxy kube-router; do
    [ -x "$BIN/$b" ] || { log "missing $BIN/$b: run test/cluster/harness/build.sh and build-node.sh"; return 1; }
  done
  for i in pause coredns netcheck; do
    [ -f "$IMAGES/$i.tar" ] || { log "missing $IMAGES/$i.tar: run test/cluster/harness/build-node.sh"; return 1; }
  done
  local t0=$SECONDS
  # shellcheck source=../../lib/free-port.sh
  source "$ROOT/test/lib/free-port.sh"

  # --- containerd: its own config, socket, state (/run/k8s-infra-node) and root ($W/node) ---------
  local SOCK="$RUN/containerd/containerd.sock" PAUSE
  PAUSE=$(cat "$IMAGES/pause.ref")
  mkdir -p "$RUN/containerd"
  cat >"$N/cni/10-k8s-infra.conflist" <<J
{
  "cniVersion": "1.0.0",
  "name": "k8s-infra-pods",
  "plugins": [
    { "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$NODE_IP" }]],
                "routes": [{ "dst": "$SVC_CIDR" }], "dataDir": "$RUN/cni-ipam" } },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
J
  cat >"$N/containerd.toml" <<T
version = 2
root = "$N/containerd-root"
state = "$RUN/containerd"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE"
  enable_unprivileged_ports = false
  # Without CAP_SYS_RESOURCE (CI containers) runc cannot lower oom_score_adj: every sandbox failed
  # ("can't get final child's PID from pipe") until this. Pods' OOM priorities are therefore not realistic.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$(command -v runc)"
  # Registry hosts: registry.sh writes certs.d/127.0.0.1:<port>/hosts.toml (plain HTTP to the test registry).
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$N/certs.d"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$N/cni"
T
  start containerd containerd --config "$N/containerd.toml"
  local CTR=(ctr --address "$SOCK" --namespace k8s.io)
  wait_for "containerd" containerd "${CTR[@]}" version
  local i
  for i in pause coredns netcheck; do "${CTR[@]}" images import --all-platforms "$IMAGES/$i.tar" >/dev/null; done
  log "containerd up, images imported ($((SECONDS - t0))s)"

  # --- kube-scheduler --------------------------------------------------------------------------
  kubeconfig "$N/scheduler.kubeconfig" "$(cat "$PKI/token.scheduler")"
  start kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$N/scheduler.kubeconfig" \
    --authentication-kubeconfig="$N/scheduler.kubeconfig" --authorization-kubeconfig="$N/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$(free_port)" --leader-elect=false

  # --- kubelet ---------------------------------------------------------------------------------
  kubeconfig "$N/kubelet.kubeconfig" "$(cat "$PKI/token.kubelet")"
  : >"$N/kubelet/resolv.conf"   # pods with dnsPolicy Default get no host resolver: nothing leaves the machine
  cat >"$N/kubelet/config.yaml" <<Y
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 hosts (this CI's): kubelet >= 1.35 refuses them unless told, and logs a deprecation warning.
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$SOCK
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $(free_port)
tlsCertFile: $PKI/kubelet.crt
tlsPrivateKeyFile: $PKI/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
clusterDomain: cluster.local
clusterDNS: [$DNS_IP]
resolvConf: $N/kubelet/resolv.conf
podLogsDir: $N/pod-logs
oomScoreAdj: 0
failSwapOn: false
serializeImagePulls: false
maxPods: 40
evictionHard: {memory.available: "200Mi", nodefs.available: "2%", imagefs.available: "2%", nodefs.inodesFree: "2%"}
imageGCHighThresholdPercent: 100
Y
  start kubelet "$BIN/kubelet" --config="$N/kubelet/config.yaml" --kubeconfig="$N/kubelet.kubeconfig" \
    --root-dir="$N/kubelet-root" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --v=1

  # --- kube-proxy ------------------------------------------------------------------------------
  kubeconfig "$N/kube-proxy.kubeconfig" "$(cat "$PKI/token.kube-proxy")"
  cat >"$N/kube-proxy.yaml" <<Y
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $N/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:$(free_port)
metricsBindAddress: 127.0.0.1:$(free_port)
nodePortAddresses: ["$NODE_IP/32"]
# 0: leave the host's conntrack table size and timeouts alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false, syncPeriod: 10s, minSyncPeriod: 1s}
Y
  start kube-proxy "$BIN/kube-proxy" --config="$N/kube-proxy.yaml" --v=1

  # --- kube-router: the NetworkPolicy firewall only (no routing, no service proxy, no CNI) --------
  kubeconfig "$N/kube-router.kubeconfig" "$(cat "$PKI/token.kube-router")"
  "${KC[@]}" apply -f - >/dev/null <<Y
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: k8s-infra-test:kube-router}
rules:
- apiGroups: [""]
  resources: [pods, namespaces, nodes, services, endpoints]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: k8s-infra-test:kube-router}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: k8s-infra-test:kube-router}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: k8s-infra-test:kube-router}]
Y
  node_ready() { [ "$("${KC[@]}" get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
  wait_for "node $NODE_NAME Ready" kubelet node_ready
  local t1=$SECONDS
  log "node $NODE_NAME Ready ($((t1 - t0))s)"
  # After the Node exists: kube-router reads it at start and exits when it is not there yet.
  start kube-router "$BIN/kube-router" --kubeconfig="$N/kube-router.kubeconfig" --hostname-override="$NODE_NAME" \
    --run-firewall=true --run-router=false --run-service-proxy=false --enable-cni=false \
    --service-cluster-ip-range="$SVC_CIDR" --health-port=0 --metrics-port=0 --iptables-sync-period=30s -v=1
  router_chains() { iptables-save -t filter | grep -c '^:KUBE-ROUTER-FORWARD' >/dev/null; }
  wait_for "kube-router's firewall chains" kube-router router_chains
  for d in kube-scheduler kube-proxy kube-router; do alive "$d" || { log "$d died"; tail -n 30 "$N/$d.log" >&2; return 1; }; done
  # Pods reach the API server through the kubernetes Service only once kube-proxy has written its rules;
  # a client that tries earlier waits out a TCP timeout (CoreDNS then took ~30 s longer).
  svc_rules() { iptables-save -t nat | grep -c 'default/kubernetes:https' >/dev/null; }   # -c: reads all (no SIGPIPE)
  wait_for "kube-proxy's rules for the kubernetes Service" kube-proxy svc_rules

  # --- CoreDNS: an ordinary pod on the pod network, Service kube-dns at $DNS_IP ------------------
  local COREDNS_IMAGE
  COREDNS_IMAGE=$(cat "$IMAGES/coredns.ref")
  "${KC[@]}" apply -f - >/dev/null <<Y
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: k8s-infra-test:coredns}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: k8s-infra-test:coredns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: k8s-infra-test:coredns}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    .:53 {
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
        }
        cache 5
        loadbalance
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      dnsPolicy: Default
      # Port 53 as UID 10001 without a capability: a namespaced, safe sysctl.
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        seccompProfile: {type: RuntimeDefault}
        sysctls: [{name: net.ipv4.ip_unprivileged_port_start, value: "53"}]
      containers:
      - name: coredns
        image: $COREDNS_IMAGE
        imagePullPolicy: Never
        args: [-conf, /etc/coredns/Corefile]
        ports:
        - {name: dns, containerPort: 53, protocol: UDP}
        - {name: dns-tcp, containerPort: 53, protocol: TCP}
        readinessProbe: {httpGet: {path: /ready, port: 8181}, periodSeconds: 2}
        livenessProbe: {httpGet: {path: /health, port: 8080}, periodSeconds: 10}
        resources: {requests: {cpu: 50m, memory: 40Mi}, limits: {memory: 128Mi}}
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}
        volumeMounts: [{name: config, mountPath: /etc/coredns, readOnly: true}]
      volumes: [{name: config, configMap: {name: coredns}}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $DNS_IP
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
Y
  wait_for "CoreDNS Ready" kubelet "${KC[@]}" -n kube-system wait --for=condition=Available deploy/coredns --timeout=5s
  log "CoreDNS Ready ($((SECONDS - t1))s); node up in $((SECONDS - t0))s"
  echo "NODE_UP_SECONDS=$((SECONDS - t0))" >"$N/timing"
}

# ---------------------------------------------------------------------------------------------------
stop_pid() {   # stop_pid NAME: the recorded pid, only while it is still a process of this node
  local f="$N/pids/$1.pid" pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qE "$W|$RUN"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done   # <= 10 s
    if kill -0 "$pid" 2>/dev/null; then log "$1 ($pid) ignored SIGTERM, killing"; kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$f"
}

# iptables/ip6tables: delete every rule, then every chain, that the snapshot before did not have.
restore_tables() {
  local fam=$1 t before rule chain
  for t in filter nat mangle raw; do
    before=$(sed -n "/^## $fam $t\$/,/^## /p" "$RUN/before")
    "$fam-save" -t "$t" 2>/dev/null | sed -n -e 's/ \[[0-9]*:[0-9]*\]$//' -e '/^-A /p' | while IFS= read -r rule; do
      grep -qxF -- "$rule" <<<"$before" && continue
      # Rules of chains we remove go with the chain; only rules in pre-existing chains are deleted one by one.
      chain=$(awk '{print $2}' <<<"$rule")
      grep -qxE -- ":$chain( .*)?" <<<"$before" || continue
      eval "$fam -w -t $t ${rule/#-A/-D}" 2>/dev/null || log "could not delete from $fam $t: $rule"
    done
    for chain in $("$fam-save" -t "$t" 2>/dev/null | sed -n 's/^:\([^ ]*\) .*/\1/p'); do
      grep -qE "^:$chain( |\$)" <<<"$before" || "$fam" -w -t "$t" -F "$chain" 2>/dev/null || true
    done
    for chain in $("$fam-save" -t "$t" 2>/dev/null | sed -n 's/^:\([^ ]*\) .*/\1/p'); do
      grep -qE "^:$chain( |\$)" <<<"$before" || "$fam" -w -t "$t" -X "$chain" 2>/dev/null || log "could not delete chain $fam $t $chain"
    done
  done
}

ours() {   # ours DIR: the node state belongs to the cluster in DIR
  N="$1/node"
  [ -d "$N" ] || return 1
  if [ "$(cat "$RUN/owner" 2>/dev/null)" != "$1" ]; then
    log "$RUN is not this cluster's ($1): nothing of the host touched"; return 1
  fi
  mkdir -p "$N/pids"
}
# Processes first (daemons, then the pods' containers through containerd, then containerd): down.sh does this
# before stopping the API server, whose shutdown otherwise waits for the node's open watches.
node_stop_processes() {
  local W=$1
  ours "$W" || return 0
  for d in kube-router kube-proxy kubelet kube-scheduler; do stop_pid "$d"; done
  # The pods' containers: killed through containerd (their shims exit with them), then containerd.
  local SOCK="$RUN/containerd/containerd.sock"
  if [ -S "$SOCK" ] && [ -f "$N/pids/containerd.pid" ]; then
    local CTR=(timeout 20 ctr --address "$SOCK" --namespace k8s.io) c
    for c in $("${CTR[@]}" tasks ls -q 2>/dev/null); do "${CTR[@]}" tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true; done
    for _ in $(seq 1 50); do [ -z "$("${CTR[@]}" tasks ls -q 2>/dev/null | head -c1)" ] && break
      for c in $("${CTR[@]}" tasks ls -q 2>/dev/null); do "${CTR[@]}" tasks delete -f "$c" >/dev/null 2>&1 || true; done; sleep 0.2; done
    for c in $("${CTR[@]}" containers ls -q 2>/dev/null); do "${CTR[@]}" containers delete "$c" >/dev/null 2>&1 || true; done
  fi
  stop_pid containerd
  # Shims left behind (containerd killed hard): only those serving our containerd's state.
  local p
  for p in $(pgrep -f "containerd-shim.*$RUN" || true); do kill -KILL "$p" 2>/dev/null || true; done
}

# Then the host: after the API server stopped, which deletes its lease through the node address on the bridge.
node_stop() {
  local W=$1
  ours "$W" || return 0
  local t0=$SECONDS
  node_stop_processes "$W"

  # Network namespaces and mounts made since the snapshot, deepest first.
  local before ns m
  before=$(cat "$RUN/before")
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    sed -n '/^## netns$/,/^## /p' <<<"$before" | grep -qxF "$ns" || ip netns delete "$ns" 2>/dev/null || log "could not delete netns $ns"
  done
  awk '{print $2}' /proc/mounts | sort -r | while IFS= read -r m; do
    sed -n '/^## mounts$/,/^## /p' <<<"$before" | grep -qxF "$m" && continue
    case "$m" in "$W"/*|"$RUN"/*|/run/netns/*|/var/run/netns/*) umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m";; esac
  done

  "$BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  restore_tables iptables
  restore_tables ip6tables
  local s
  for s in $(ipset list -n 2>/dev/null); do
    sed -n '/^## ipsets$/,/^## /p' <<<"$before" | grep -qxF "$s" || ipset destroy "$s" 2>/dev/null || log "could not destroy ipset $s"
  done
  # Pod interfaces go with their netns; anything still on the bridge, then the bridge.
  for s in $(ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do ip link del "$s" 2>/dev/null || true; done
  ip link del "$BRIDGE" 2>/dev/null || true
  # cgroups the kubelet and containerd made (empty now), deepest first.
  local cg
  while IFS= read -r cg; do
    sed -n '/^## cgroups$/,/^## /p' <<<"$before" | grep -qxF "$cg" && continue
    find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || log "could not remove cgroup $cg"
  done < <(find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -type d -name 'kubepods*' 2>/dev/null)
  # Every sysctl back to what it was.
  local k v
  while IFS= read -r line; do
    k=${line%% = *}; v=${line#* = }
    [ "$(sysctl -n "$k" 2>/dev/null)" = "$v" ] || sysctl -qw "$k=$v" 2>/dev/null || log "could not restore $k"
  done <"$RUN/sysctl.before"
  [ -f "$RUN/no-var-lib-kube-router" ] && rm -rf /var/lib/kube-router
  mv "$RUN/before" "$N/snapshot.before"
  rm -rf "$RUN"
  log "node stopped and host restored ($((SECONDS - t0))s)"
}

case "${1:-}" in
  net) net_up "${2:?DIR}" ;;
  start) node_start "${2:?DIR}" ;;
  stop-processes) W="${2:?DIR}"; node_stop_processes "$W" ;;
  stop) W="${2:?DIR}"; node_stop "$W" ;;
  snapshot) snapshot ;;
  *) echo "usage: $0 net|start|stop DIR | snapshot" >&2; exit 2 ;;
esac
