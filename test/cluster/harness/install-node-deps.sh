#!/usr/bin/env bash
# Installs the Debian packages a node of the test cluster needs: containerd, runc, the CNI plugins
# (containernetworking-plugins: bridge, host-local, loopback, portmap in /usr/lib/cni), iptables and
# ipset (kube-proxy, the NetworkPolicy enforcer), iproute2 (the bridge, netns), conntrack, procps (ps, sysctl),
# mmdebstrap (the Debian root filesystems of the stand-in images, build-standin-images.sh).
# Idempotent: installs only what is missing. Needs root (CI runs as root) or passwordless sudo.
# Nothing is enabled or started: the harness runs its own containerd with its own config and socket
# (test/cluster/harness/node.sh); Debian's containerd.service is masked so it cannot start.
#
# Usage: test/cluster/harness/install-node-deps.sh
set -euo pipefail

# command:package
WANT=(containerd:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins
      iptables:iptables ipset:ipset ip:iproute2 conntrack:conntrack nsenter:util-linux ps:procps sysctl:procps
      mmdebstrap:mmdebstrap)
missing=()
for w in "${WANT[@]}"; do
  c=${w%%:*} p=${w#*:}
  if [ "${c#/}" != "$c" ]; then [ -x "$c" ] || missing+=("$p"); else command -v "$c" >/dev/null || missing+=("$p"); fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-node-deps.sh: $(containerd --version | cut -d' ' -f3), runc $(runc --version | sed -n '1s/.* //p'), CNI plugins already installed"
  exit 0
fi
command -v apt-get >/dev/null || { echo "install-node-deps.sh: apt-get not found (Debian/Ubuntu only); install ${missing[*]} by hand" >&2; exit 1; }
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install-node-deps.sh: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
start=$SECONDS
export DEBIAN_FRONTEND=noninteractive
# The package's service must never start on its own (it would take /run/containerd and a default CNI dir).
if [ -d /etc/systemd/system ] && [ ! -e /etc/systemd/system/containerd.service ]; then
  $sudo ln -s /dev/null /etc/systemd/system/containerd.service
fi
# No service starts during install in a container/CI machine without systemd either (policy-rc.d).
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-node-deps.sh: installed ${missing[*]} in $((SECONDS - start))s ($(containerd --version | cut -d' ' -f3), runc $(runc --version | sed -n '1s/.* //p'))"
