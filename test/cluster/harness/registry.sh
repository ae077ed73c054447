#!/usr/bin/env bash
# The test cluster's image registry: the pinned distribution registry (.cache/bin/registry, `npm run tools`) on
# 127.0.0.1:<free port>, plain HTTP, storage in the cluster folder. Called by up.sh --node and down.sh.
#
#   registry.sh start DIR   starts it (log DIR/registry.log, pid DIR/pids/registry.pid, data DIR/registry/),
#                           appends `export REGISTRY=127.0.0.1:<port>` to DIR/env, and, when DIR has a node,
#                           tells its containerd to pull from it over plain HTTP: DIR/node/certs.d/127.0.0.1:<port>/
#                           hosts.toml (containerd's CRI `config_path`, set in node.sh)
#   registry.sh stop DIR    stops it by its recorded pid (only while it is still this cluster's registry)
#
# Nothing but 127.0.0.1: containerd runs in the host's network namespace and pulls from there; pods never see it.
# Env: CLUSTER_BIN_DIR (default <repo>/.cache/bin), CLUSTER_START_TIMEOUT (s, default 120)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
BIN="${CLUSTER_BIN_DIR:-$ROOT/.cache/bin}"
TIMEOUT="${CLUSTER_START_TIMEOUT:-120}"
log() { echo "registry.sh: $*" >&2; }

start() {
  local W=$1 port addr pid deadline
  [ -x "$BIN/registry" ] || { log "missing $BIN/registry: run npm run tools"; return 1; }
  # shellcheck source=../../lib/free-port.sh
  source "$ROOT/test/lib/free-port.sh"
  port=$(free_port); addr="127.0.0.1:$port"
  mkdir -p "$W/registry/data" "$W/pids"
  cat >"$W/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $W/registry/data
  delete:
    enabled: true
http:
  addr: $addr
  secret: test-only-not-secret
EOF
  # OTEL_TRACES_EXPORTER=none: the registry would otherwise try to export traces.
  OTEL_TRACES_EXPORTER=none "$BIN/registry" serve "$W/registry/config.yml" </dev/null >"$W/registry.log" 2>&1 &
  pid=$!
  echo "$pid" >"$W/pids/registry.pid"
  deadline=$(( SECONDS + TIMEOUT ))
  until curl -fsS --max-time 2 "http://$addr/v2/" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { log "registry exited:"; tail -n 20 "$W/registry.log" >&2; return 1; }
    [ "$SECONDS" -lt "$deadline" ] || { log "timed out after ${TIMEOUT}s waiting for http://$addr/v2/"; return 1; }
    sleep 0.2
  done
  echo "export REGISTRY='$addr'" >>"$W/env"
  if [ -d "$W/node" ]; then
    mkdir -p "$W/node/certs.d/$addr"
    cat >"$W/node/certs.d/$addr/hosts.toml" <<EOF
# The test cluster's registry (test/cluster/harness/registry.sh): plain HTTP on loopback.
server = "http://$addr"
[host."http://$addr"]
  capabilities = ["pull", "resolve"]
EOF
  fi
  log "registry $("$BIN/registry" --version 2>/dev/null | awk '{print $NF}') on http://$addr (data in $W/registry)"
}

stop() {
  local W=$1 f="$1/pids/registry.pid" pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$W/registry/config.yml"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done   # <= 10 s
    if kill -0 "$pid" 2>/dev/null; then log "registry ($pid) ignored SIGTERM, killing"; kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$f"
}

case "${1:-}" in
  start) start "${2:?DIR}" ;;
  stop) stop "${2:?DIR}" ;;
  *) echo "usage: $0 start|stop CLUSTER_DIR" >&2; exit 2 ;;
esac
