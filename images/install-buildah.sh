#!/usr/bin/env bash
# Installs Debian's buildah (daemonless OCI builder) for images:build and test/images/run.sh.
# Idempotent: a no-op when buildah is on PATH. Needs root (CI runs as root) or passwordless sudo.
# No runtime (runc/crun) is installed: our Containerfiles COPY only, nothing RUNs.
# Storage is chosen per command (--storage-driver vfs), so no /etc/containers change is needed.
set -euo pipefail

if command -v buildah >/dev/null; then
  echo "install-buildah.sh: $(buildah --version) already installed"
  exit 0
fi
command -v apt-get >/dev/null || { echo "install-buildah.sh: apt-get not found (Debian/Ubuntu only); install buildah by hand" >&2; exit 1; }
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install-buildah.sh: need root or sudo to apt-get install buildah" >&2; exit 1; }
  sudo="sudo"
fi
start=$SECONDS
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# --no-install-recommends: no fuse-overlayfs/crun/runc; vfs storage and COPY-only builds need neither.
$sudo apt-get install -y -qq --no-install-recommends buildah >/dev/null
echo "install-buildah.sh: $(buildah --version) installed in $((SECONDS - start))s"
