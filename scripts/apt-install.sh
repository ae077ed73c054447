#!/usr/bin/env bash
# Installs Debian packages that are missing, for the test and build steps that need one (buildah, chromium, the
# node's containerd): `scripts/apt-install.sh NAME PACKAGE...`, NAME for the messages. A no-op when every package
# is installed (dpkg -s). Needs apt-get, and root (CI runs as root) or passwordless sudo.
# --no-install-recommends: callers name what they need; recommends pull in daemons and runtimes we do not use.
set -euo pipefail
name="$1"; shift

missing=()
for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "$name: $* already installed"
  exit 0
fi
command -v apt-get >/dev/null || { echo "$name: apt-get not found (Debian/Ubuntu only); install ${missing[*]} by hand" >&2; exit 1; }
sudo=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "$name: need root or sudo to apt-get install ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
start=$SECONDS
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "$name: ${missing[*]} installed in $((SECONDS - start))s"
