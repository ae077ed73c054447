#!/usr/bin/env bash
# Installs Debian's chromium (and fonts-liberation, the Arial-metric font it recommends, which the picture widths are
# measured with) for npm run test:pictures. Idempotent: a no-op when both are there. Needs root (CI runs as root) or
# passwordless sudo. playwright-core drives /usr/bin/chromium and never downloads a browser.
set -euo pipefail

if [ -x /usr/bin/chromium ] && dpkg -s fonts-liberation >/dev/null 2>&1; then
  echo "install-chromium.sh: $(/usr/bin/chromium --version 2>/dev/null) already installed"
  exit 0
fi
command -v apt-get >/dev/null || { echo "install-chromium.sh: apt-get not found (Debian/Ubuntu only); install chromium by hand" >&2; exit 1; }
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install-chromium.sh: need root or sudo to apt-get install chromium" >&2; exit 1; }
  sudo="sudo"
fi
start=$SECONDS
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
echo "install-chromium.sh: $(/usr/bin/chromium --version 2>/dev/null) installed in $((SECONDS - start))s"
