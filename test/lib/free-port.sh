# shellcheck shell=bash
# free_port: prints a free port on 127.0.0.1 (nothing answers on it), never the same one twice in this shell.
# Ports below the kernel's ephemeral range (32768+), so that outgoing connections cannot grab them between this
# check and the bind, and below Kubernetes' NodePort range (30000-32767): kube-router admits every pod's traffic
# to a node port on the node's addresses, so an API server there was reachable from pods whose policies forbid
# it (the production node suite's "db reaches <API address>" failed whenever the port fell in that range).
# Shared by test/cluster/harness/up.sh and test/images/run.sh.
used_ports=" "
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 10000 ))
    case "$used_ports" in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then used_ports="$used_ports$p "; echo "$p"; return 0; fi
  done
  echo "free_port: no free port found" >&2; return 1
}
