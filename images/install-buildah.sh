#!/usr/bin/env bash
# Installs Debian's buildah (daemonless OCI builder) for images:build and test/images/run.sh; a no-op when installed.
# No runtime (runc/crun) is installed: our Containerfiles COPY only, nothing RUNs. Storage is chosen per command
# (--storage-driver vfs), so no /etc/containers change is needed.
set -euo pipefail
"$(dirname "$0")/../scripts/apt-install.sh" install-buildah.sh buildah
