#!/usr/bin/env bash
# Regenerates images/shop/<service>/package-lock.json from images/shop/<service>/package.json (the upstream
# dependency ranges at 8ec0446) with npm, then prints the resolved versions of the direct dependencies
# (record them in images/shop/README.md). Needs the npm registry. images:build installs with `npm ci` from
# these lockfiles, so a dependency changes only when this script is rerun and the result committed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
for svc in api-gateway order-service payment-service db; do
  dir="$root/images/shop/$svc"
  rm -f "$dir/package-lock.json"
  # --package-lock-only: resolve and write the lock without installing; --ignore-scripts: run nothing;
  # no registry URLs in the lock (as in the root package-lock.json), whatever this machine's npmrc says:
  # npm ci fetches from the configured registry and checks each package's sha512 integrity.
  (cd "$dir" && npm install --package-lock-only --ignore-scripts --omit-lockfile-registry-resolved \
    --no-audit --no-fund --loglevel=error)
  node -e '
    const lock = require(process.argv[1]);
    const deps = Object.keys(lock.packages[""].dependencies || {});
    const all = Object.keys(lock.packages).filter((k) => k !== "").length;
    console.log(process.argv[2] + ": " + deps.map((d) => d + "@" + lock.packages["node_modules/" + d].version).join(", ") + " (" + all + " packages)");
  ' "$dir/package-lock.json" "$svc"
done
