#!/usr/bin/env bash
# Installs Debian's chromium (and fonts-liberation, the Arial-metric font it recommends, which the picture widths are
# measured with) for npm run test:pictures; a no-op when both are there. playwright-core drives /usr/bin/chromium
# and never downloads a browser.
set -euo pipefail
"$(dirname "$0")/../../scripts/apt-install.sh" install-chromium.sh chromium fonts-liberation
