#!/usr/bin/env bash
# Supply-chain tests: the image lock and the shop build, against a real OCI registry (distribution v3 from
# .cache/bin, `npm run tools`) on 127.0.0.1. Nothing here touches a public registry or the internet.
#
# STAND-INS, said plainly: the base image is made here (the host's node binary and its libraries for
# linux/amd64; a marker file only for linux/arm64), and the four services' app.js/package.json are small
# stand-ins served by a local HTTP server, with a stand-in dependency served as a tarball. What this proves is
# the pipeline (checksums, npm ci from a lockfile, buildah FROM a digest-pinned base, push, lock), not upstream's
# code: the real sources are checked against images/shop/sources.sha256 by the same code path.
#
# Usage: test/images/run.sh        (npm run test:images)
# Needs: .cache/bin/{registry,crane} (npm run tools), buildah (images/install-buildah.sh), python3, jq, curl.
# Without them it skips loudly (exit 0), unless CI is set: then a missing tool is a failure.
# Prints PASS/FAIL/SKIP lines and closes with "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail
shopt -s inherit_errexit

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="$ROOT/.cache/bin"
T_START=$SECONDS

missing=""
[ -x "$BIN/registry" ] || missing="$missing .cache/bin/registry (npm run tools)"
[ -x "$BIN/crane" ] || missing="$missing .cache/bin/crane (npm run tools)"
command -v buildah >/dev/null || missing="$missing buildah (images/install-buildah.sh)"
for c in python3 jq curl tar; do command -v "$c" >/dev/null || missing="$missing $c"; done
if [ -n "$missing" ]; then
  if [ -n "${CI:-}" ]; then
    echo "FAIL: image tests cannot run, missing:$missing"; echo "0 passed, 1 failed"; exit 1
  fi
  echo "SKIP: image tests (registry, lock, shop build) NOT RUN, missing:$missing"
  exit 0
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/k8s-infra-image-tests.XXXXXX")"
PIDS=()
# shellcheck source=../lib/harness.sh
source "$ROOT/test/lib/harness.sh"
REPO_LOCK="$ROOT/images.lock.json"
REPO_LOCK_SUM="$(sha256sum "$REPO_LOCK" 2>/dev/null || echo absent)"
timed_summary() { echo "$(summary) (in $((SECONDS - T_START)) s)"; }
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
on_exit cleanup timed_summary


# shellcheck source=../lib/free-port.sh
source "$ROOT/test/lib/free-port.sh"
# Bounded wait: wait_for SECONDS PID COMMAND...; fails early when the daemon died.
wait_for() {
  local timeout=$1 pid=$2; shift 2
  local deadline=$(( SECONDS + timeout ))
  until "$@" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { echo "process $pid exited"; return 1; }
    [ "$SECONDS" -lt "$deadline" ] || { echo "timed out after ${timeout}s: $*"; return 1; }
    sleep 0.2
  done
}

# Every script under test reads these: the scratch lock, the pinned crane, the registry on 127.0.0.1.
export IMAGES_LOCK="$WORK/images.lock.json"
export CRANE="$BIN/crane"
export OTEL_TRACES_EXPORTER=none   # the registry would otherwise try to export traces
crane() { "$BIN/crane" --insecure "$@"; }
lock() { (cd "$ROOT" && npm run -s images:lock -- "$@"); }
build() { (cd "$ROOT" && npm run -s images:build -- "$@"); }
entry() { jq -r --arg r "$1" ".images[\$r]$2" "$IMAGES_LOCK"; }

# --- the registry ---------------------------------------------------------------------------------
REG_PORT=$(free_port)
REG="127.0.0.1:$REG_PORT"
cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/registry
  delete:
    enabled: true
http:
  addr: $REG
  secret: test-only-not-secret
EOF
"$BIN/registry" serve "$WORK/registry.yml" </dev/null >"$WORK/registry.log" 2>&1 &
PIDS+=($!)
if ! wait_for 30 "${PIDS[-1]}" curl -fsS "http://$REG/v2/"; then
  echo "FAIL: registry did not start"; tail -n 20 "$WORK/registry.log"; FAILED=1; DONE=1; timed_summary; exit 1
fi
echo "registry: $("$BIN/registry" --version 2>/dev/null | head -n 1) on $REG"

# A two-platform test index (OCI) at $1, each platform's image holding a file with content $2.
push_index() {
  local ref=$1 content=$2 arch
  for arch in amd64 arm64; do
    mkdir -p "$WORK/idx/$arch"
    printf '%s %s\n' "$content" "$arch" >"$WORK/idx/$arch/content.txt"
    tar -C "$WORK/idx/$arch" -cf "$WORK/idx/$arch.tar" content.txt
    crane append --oci-empty-base -f "$WORK/idx/$arch.tar" -t "$ref-$arch" >/dev/null
    crane mutate --set-platform "linux/$arch" "$ref-$arch" -t "$ref-$arch" >/dev/null
  done
  crane index append -m "$ref-amd64" -m "$ref-arm64" -t "$ref" >/dev/null 2>&1
}

# --- lock tests ----------------------------------------------------------------------------------
APP="$REG/test/app:v1"

test_lock_resolves_index() {
  push_index "$APP" one
  local want; want=$(crane digest "$APP")
  lock "$APP" | tee "$WORK/lock1.out"
  grep -q "images:lock: 1 reference(s) resolved in [0-9.]* s" "$WORK/lock1.out" || fail "no timing line"
  [ "$(entry "$APP" .digest)" = "$want" ] || fail "lock digest $(entry "$APP" .digest), registry says $want"
  # The index digest, not one platform's manifest digest.
  [ "$want" != "$(crane digest --platform linux/amd64 "$APP")" ] || fail "the digest is a platform manifest's"
  [ "$(entry "$APP" .mediaType)" = "application/vnd.oci.image.index.v1+json" ] || fail "mediaType $(entry "$APP" .mediaType)"
  [ "$(entry "$APP" '.platforms | join(",")')" = "linux/amd64,linux/arm64" ] || fail "platforms $(entry "$APP" .platforms)"
  entry "$APP" .resolvedAt | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' || fail "resolvedAt $(entry "$APP" .resolvedAt)"
  [ "$(entry "$APP" .resolvedFrom)" = "http://$REG/v2/test/app/manifests/v1" ] || fail "resolvedFrom $(entry "$APP" .resolvedFrom)"
}

test_lock_format() {
  # Sorted keys, 2-space indent, string lists on one line, trailing newline: what the formatter writes.
  jq -e '.comment | test("do not edit by hand")' "$IMAGES_LOCK" >/dev/null || fail "no comment"
  [ "$(jq -r '.images | keys_unsorted | join(" ")' "$IMAGES_LOCK")" = "$(jq -r '.images | keys | join(" ")' "$IMAGES_LOCK")" ] || fail "keys not sorted"
  [ "$(tail -c 1 "$IMAGES_LOCK" | od -An -c | tr -d ' ')" = '\n' ] || fail "no trailing newline"
  grep -q '^      "platforms": \["linux/amd64", "linux/arm64"\],$' "$IMAGES_LOCK" || fail "platforms not on one 6-space-indented line" "$(cat "$IMAGES_LOCK")"
  # Reformatting the parsed file reproduces it byte for byte.
  (cd "$ROOT" && node_modules/.bin/tsx -e '
    const { formatLock, readLock } = require("./images/lock.ts");
    process.stdout.write(formatLock(readLock(process.env.IMAGES_LOCK)));') | diff - "$IMAGES_LOCK" || fail "not in canonical format"
}

test_repush_changes_digest_only_after_relock() {
  local old; old=$(entry "$APP" .digest)
  cp "$IMAGES_LOCK" "$WORK/before.json"
  sleep 1   # resolvedAt has whole seconds
  push_index "$APP" two
  local new; new=$(crane digest "$APP")
  [ "$new" != "$old" ] || fail "re-push did not change the registry digest"
  cmp -s "$IMAGES_LOCK" "$WORK/before.json" || fail "the lock changed without images:lock"
  lock "$APP" | tee "$WORK/lock2.out"
  grep -q "^changed *$APP -> $new" "$WORK/lock2.out" || fail "images:lock did not report the change"
  [ "$(entry "$APP" .digest)" = "$new" ] || fail "lock still has $(entry "$APP" .digest), want $new"
  [ "$(entry "$APP" .resolvedAt)" != "$(jq -r --arg r "$APP" '.images[$r].resolvedAt' "$WORK/before.json")" ] || fail "resolvedAt not updated"
}

test_relock_all_unchanged_is_noop() {
  push_index "$REG/test/other:2.0" other
  lock "$REG/test/other:2.0" >/dev/null
  cp "$IMAGES_LOCK" "$WORK/before.json"
  sleep 1
  lock | tee "$WORK/lock3.out"   # no argument: every reference in the lock
  grep -q "images:lock: 2 reference(s) resolved" "$WORK/lock3.out" || fail "did not re-resolve both entries"
  grep -q "no change in" "$WORK/lock3.out" || fail "reported a change"
  cmp -s "$IMAGES_LOCK" "$WORK/before.json" || fail "an unchanged digest rewrote the lock" "$(diff "$WORK/before.json" "$IMAGES_LOCK")"
}

test_lock_failure_names_ref_and_writes_nothing() {
  cp "$IMAGES_LOCK" "$WORK/before.json"
  push_index "$APP" three   # a real change that must NOT be written, because another ref fails
  local rc=0
  lock "$APP" "$REG/test/app:no-such-tag" >"$WORK/fail.out" 2>&1 || rc=$?
  cat "$WORK/fail.out"
  [ "$rc" != 0 ] || fail "images:lock succeeded for a missing tag"
  grep -q "$REG/test/app:no-such-tag: cannot resolve" "$WORK/fail.out" || fail "message does not name the reference"
  cmp -s "$IMAGES_LOCK" "$WORK/before.json" || fail "a failed run changed the lock"
  rc=0; lock "$REG/test/app@sha256:$(printf '0%.0s' {1..64})" >"$WORK/fail2.out" 2>&1 || rc=$?
  [ "$rc" != 0 ] && grep -q 'give the tag, not a digest' "$WORK/fail2.out" || fail "a digest reference was accepted" "$(cat "$WORK/fail2.out")"
  rc=0; lock "$REG/test/app:latest" >"$WORK/fail3.out" 2>&1 || rc=$?
  [ "$rc" != 0 ] && grep -q '"latest" is not a release' "$WORK/fail3.out" || fail "latest was accepted" "$(cat "$WORK/fail3.out")"
  lock "$APP" >/dev/null   # back in step for later tests
}

# The real synth in a copy of the project: production's hashgenerator image replaced by a test image of the
# local registry. dist/ gets exactly the lock's digest, and a re-pushed tag reaches dist/ only through the lock.
test_synth_pins_from_lock_only() {
  local copy="$WORK/project" ref="$REG/test/synthapp:v1" d1 d2 f
  (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard) | while IFS= read -r -d '' f; do
    [ -e "$ROOT/$f" ] || continue; mkdir -p "$copy/$(dirname "$f")"; cp "$ROOT/$f" "$copy/$f"
  done
  ln -s "$ROOT/node_modules" "$copy/node_modules"
  sed -i "s|image: 'jakousa/dwk-app1:78031863af07c4c4cc3c96d07af68e8ce6e3afba'|image: '$ref'|" "$copy/environments/production.ts"
  grep -q "$ref" "$copy/environments/production.ts" || fail "test setup: hashgenerator image not replaced"
  synth_copy() { (cd "$copy" && node synth/synth.js) >"$WORK/synth.out" 2>&1 || { cat "$WORK/synth.out"; return 1; }; }
  image_in_dist() { grep -o "image: ${ref}[^ ]*" "$copy/dist/production/hashgenerator.k8s.yaml" | sed 's/^image: //'; }
  push_index "$ref" first
  # No entry yet: synth refuses, naming the image and the command.
  ! synth_copy || fail "synth passed with an image missing from the lock"
  grep -q "invalid container \"hashgenerator\" image \"$ref\": must have a digest in images.lock.json .*npm run images:lock -- $ref" "$WORK/synth.out" || fail "no clear message" "$(cat "$WORK/synth.out")"
  IMAGES_LOCK="$copy/images.lock.json" lock "$ref" >/dev/null
  d1=$(crane digest "$ref")
  synth_copy || fail "synth failed after the lock entry was added"
  [ "$(image_in_dist)" = "$ref@$d1" ] || fail "dist has $(image_in_dist), want $ref@$d1"
  push_index "$ref" second
  d2=$(crane digest "$ref")
  [ "$d2" != "$d1" ] || fail "re-push did not change the digest"
  synth_copy || fail "synth failed"
  [ "$(image_in_dist)" = "$ref@$d1" ] || fail "dist moved to $(image_in_dist) without a lock change"
  IMAGES_LOCK="$copy/images.lock.json" lock "$ref" >/dev/null
  synth_copy || fail "synth failed after re-lock"
  [ "$(image_in_dist)" = "$ref@$d2" ] || fail "dist has $(image_in_dist) after re-lock, want $ref@$d2"
}

t "images:lock resolves a two-platform tag to its OCI index digest, with resolvedAt/resolvedFrom" test_lock_resolves_index
t "images.lock.json is canonical: sorted keys, 2-space indent, trailing newline" test_lock_format
t "a re-pushed tag changes the digest, and the lock only after images:lock runs again" test_repush_changes_digest_only_after_relock
t "images:lock with no argument re-resolves every entry and leaves an unchanged lock byte-identical" test_relock_all_unchanged_is_noop
t "synth (a copy of the project) pins the lock's digest, refuses an unlocked image, and moves only when the lock does" test_synth_pins_from_lock_only
t "a failed resolution names the reference and writes nothing; digests and latest are refused" test_lock_failure_names_ref_and_writes_nothing

# --- the shop build --------------------------------------------------------------------------------
# STAND-IN base image: the host's node with its shared libraries at /usr/local/bin/node (amd64); arm64 gets
# a marker file only (no arm64 node here). Enough for COPY-only builds of both platforms and to run amd64.
BASE="$REG/standin/node:24"
make_base() {
  local node rootfs="$WORK/base/amd64" lib
  node=$(readlink -f "$(command -v node)")
  mkdir -p "$rootfs/usr/local/bin" "$WORK/base/arm64"
  cp "$node" "$rootfs/usr/local/bin/node"
  for lib in $(ldd "$node" | grep -o '/[^ ]*\.so[^ ]*'); do
    mkdir -p "$rootfs$(dirname "$lib")"; cp -L "$lib" "$rootfs$lib"
  done
  echo "STAND-IN base image made by test/images/run.sh: no node for arm64" >"$WORK/base/arm64/STANDIN"
  echo "STAND-IN base image made by test/images/run.sh: the host's node" >"$rootfs/STANDIN"
  local arch
  for arch in amd64 arm64; do
    tar -C "$WORK/base/$arch" -cf "$WORK/base/$arch.tar" .
    crane append --oci-empty-base -f "$WORK/base/$arch.tar" -t "$BASE-$arch" >/dev/null 2>&1
    crane mutate --set-platform "linux/$arch" "$BASE-$arch" -t "$BASE-$arch" >/dev/null 2>&1
  done
  crane index append -m "$BASE-amd64" -m "$BASE-arm64" -t "$BASE" >/dev/null 2>&1
}

# STAND-IN sources: per service an app.js (an HTTP server that reports its uid, cwd, argv and a dependency)
# and a package.json depending on a stand-in package served as a tarball by the same local server.
SRC="$WORK/src"
HTTP_PORT=$(free_port)
SRC_URL="http://127.0.0.1:$HTTP_PORT"
make_sources() {
  mkdir -p "$SRC/deps/package" "$WORK/lockfiles"
  echo '{"name":"standin-dep","version":"1.0.0","main":"index.js"}' >"$SRC/deps/package/package.json"
  echo "module.exports = 'standin-dep 1.0.0';" >"$SRC/deps/package/index.js"
  tar -C "$SRC/deps" -czf "$SRC/deps/standin-dep-1.0.0.tgz" package
  local svc
  for svc in api-gateway order-service payment-service db; do
    mkdir -p "$SRC/$svc" "$WORK/lockfiles/$svc"
    cat >"$SRC/$svc/app.js" <<EOF
// STAND-IN for upstream $svc/app.js, made by test/images/run.sh.
const http = require('http');
const dep = require('standin-dep');
let rootWrite = 'written';
try { require('fs').writeFileSync('/app/probe', 'x'); } catch (e) { rootWrite = e.code; }
http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ service: '$svc', dep, uid: process.getuid(), gid: process.getgid(), cwd: process.cwd(), argv: process.argv.slice(2), rootWrite }));
}).listen(Number(process.env.PORT), '127.0.0.1');
EOF
    printf '{"name":"%s","version":"1.0.0","main":"app.js","dependencies":{"standin-dep":"%s/deps/standin-dep-1.0.0.tgz"}}\n' \
      "$svc" "$SRC_URL" >"$SRC/$svc/package.json"
    # The stand-in lockfile, made the way images/gen-shop-lockfiles.sh makes the real ones.
    cp "$SRC/$svc/package.json" "$WORK/lockfiles/$svc/"
    (cd "$WORK/lockfiles/$svc" && npm install --package-lock-only --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  done
  (cd "$SRC" && sha256sum ./*/app.js ./*/package.json | sed 's| \./| |') >"$WORK/sources.sha256"
}

setup_build() {
  make_base
  lock "$BASE"
  mkdir -p "$SRC"
  python3 -m http.server --bind 127.0.0.1 "$HTTP_PORT" --directory "$SRC" </dev/null >"$WORK/http.log" 2>&1 &
  PIDS+=($!)
  wait_for 30 "${PIDS[-1]}" curl -fsS "$SRC_URL/"
  make_sources
}
export IMAGES_REGISTRY="$REG/shop" SHOP_BASE_IMAGE="$BASE" SHOP_SOURCES_URL="$SRC_URL" \
  SHOP_SOURCES_SHA256="$WORK/sources.sha256" SHOP_LOCKFILES_DIR="$WORK/lockfiles"
DB="$REG/shop/db:8ec0446"

test_build_refuses_wrong_checksum() {
  sed 's/^[0-9a-f]\{8\}\(.*  db\/app.js\)$/00000000\1/' "$WORK/sources.sha256" >"$WORK/bad.sha256"
  cp "$IMAGES_LOCK" "$WORK/before.json"
  local rc=0 actual
  SHOP_SOURCES_SHA256="$WORK/bad.sha256" build db >"$WORK/bad.out" 2>&1 || rc=$?
  cat "$WORK/bad.out"
  [ "$rc" != 0 ] || fail "the build succeeded with a wrong checksum"
  actual=$(sha256sum "$SRC/db/app.js" | cut -d' ' -f1)
  grep -q "db/app.js: sha256 mismatch (downloaded from $SRC_URL/db/app.js): expected 00000000${actual:8}, actual $actual" "$WORK/bad.out" ||
    fail "the message does not name the file with expected and actual sha256"
  ! crane digest "$DB" >/dev/null 2>&1 || fail "an image was pushed"
  cmp -s "$IMAGES_LOCK" "$WORK/before.json" || fail "the lock changed"
}

test_build_pushes_and_locks() {
  build db | tee "$WORK/build.out"
  local want; want=$(crane digest "$DB")
  [ "$(entry "$DB" .digest)" = "$want" ] || fail "lock has $(entry "$DB" .digest), registry $want"
  [ "$(entry "$DB" .mediaType)" = "application/vnd.oci.image.index.v1+json" ] || fail "mediaType $(entry "$DB" .mediaType)"
  [ "$(entry "$DB" '.platforms | join(",")')" = "linux/amd64,linux/arm64" ] || fail "platforms $(entry "$DB" .platforms)"
  grep -Eq "^$DB@$want: built and pushed in [0-9.]+ s$" "$WORK/build.out" || fail "no build time line"
  grep -Eq '^  linux/amd64: [0-9.]+ [kM]B compressed, app layer [0-9.]+ [kM]B$' "$WORK/build.out" || fail "no size line"
}

test_image_config() {
  local cfg; cfg=$(crane config --platform linux/amd64 "$DB")
  echo "$cfg" | jq -c .config
  [ "$(jq -r .config.User <<<"$cfg")" = "10001:10001" ] || fail "User $(jq -r .config.User <<<"$cfg")"
  [ "$(jq -r .config.WorkingDir <<<"$cfg")" = "/app" ] || fail "WorkingDir"
  [ "$(jq -c .config.Entrypoint <<<"$cfg")" = '["/usr/local/bin/node","app.js"]' ] || fail "Entrypoint"
  [ "$(jq -c '.config.Cmd // []' <<<"$cfg")" = '[]' ] || fail "Cmd should be empty (peers come as args)"
  [ "$(jq -c '.config.ExposedPorts | keys' <<<"$cfg")" = '["3004/tcp"]' ] || fail "ExposedPorts"
  [ "$(jq -r '.config.Labels["org.opencontainers.image.revision"]' <<<"$cfg")" = "8ec04469d4ca0b6cea96e5061cf896967220f607" ] || fail "revision label"
  [ "$(jq -r .created <<<"$cfg")" = "1970-01-01T00:00:00Z" ] || fail "created is not fixed (--timestamp 0)"
  [ "$(crane config --platform linux/arm64 "$DB" | jq -r .architecture)" = arm64 ] || fail "no arm64 image"
}

test_image_from_pinned_base_with_root_owned_app() {
  # The base layers are the locked stand-in's: FROM used the digest.
  local base_layer img_layers
  base_layer=$(crane manifest --platform linux/amd64 "$REG/standin/node@$(entry "$BASE" .digest)" | jq -r '.layers[0].digest')
  img_layers=$(crane manifest --platform linux/amd64 "$DB" | jq -r '.layers[].digest')
  [ "$(head -n 1 <<<"$img_layers")" = "$base_layer" ] || fail "the image does not start from the locked base layer"
  # The app layer: verified sources, the dependency installed by npm ci, everything root-owned and read-only
  # for the app's UID.
  crane blob "$REG/shop/db@$(tail -n 1 <<<"$img_layers")" | tar -tvzf - >"$WORK/applayer.txt"
  cat "$WORK/applayer.txt"
  grep -q ' app/app.js$' "$WORK/applayer.txt" || fail "no app/app.js"
  grep -q ' app/node_modules/standin-dep/index.js$' "$WORK/applayer.txt" || fail "dependency not installed"
  grep -q ' app/package-lock.json$' "$WORK/applayer.txt" || fail "lockfile not shipped"
  ! grep -v ' 0/0 ' "$WORK/applayer.txt" || fail "files not owned by root"
  ! grep -E '^.{5}w|^.{8}w' "$WORK/applayer.txt" || fail "group/world-writable files"
}

test_image_runs_as_10001_on_readonly_root() {
  # Runs the amd64 image's filesystem as the image's user, mounted read-only (no container runtime here).
  [ "$(id -u)" = 0 ] || skip "needs root for chroot"
  local rootfs="$WORK/rootfs" port pid
  mkdir -p "$rootfs"
  crane export --platform linux/amd64 "$DB" - | tar -C "$rootfs" -xf -
  unshare -m true 2>/dev/null || skip "no mount namespace (unshare -m) on this machine"
  port=$(free_port)
  # The image's Entrypoint in its WorkingDir, as its User, on a read-only bind of its root (the mount lives only
  # in this mount namespace); env -i: nothing of the host's environment but the stand-in's PORT.
  unshare -m sh -c 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" &&
    exec env -i PORT="$2" unshare --root="$1" --wd=/app --setgid 10001 --setuid 10001 /usr/local/bin/node app.js peer.shop:3001' \
    _ "$rootfs" "$port" >"$WORK/run.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_for 30 "$pid" curl -fsS "http://127.0.0.1:$port/" || { cat "$WORK/run.log"; fail "the app did not answer"; }
  curl -fsS "http://127.0.0.1:$port/" | tee "$WORK/run.json"; echo
  [ "$(jq -r '"\(.uid):\(.gid)"' "$WORK/run.json")" = "10001:10001" ] || fail "not running as 10001:10001"
  [ "$(jq -r .dep "$WORK/run.json")" = "standin-dep 1.0.0" ] || fail "dependency not loaded"
  [ "$(jq -c .argv "$WORK/run.json")" = '["peer.shop:3001"]' ] || fail "args not passed to app.js"
  [ "$(jq -r .cwd "$WORK/run.json")" = /app ] || fail "cwd $(jq -r .cwd "$WORK/run.json")"
  # EROFS (not EACCES): the write was refused by the read-only mount, as with readOnlyRootFilesystem.
  [ "$(jq -r .rootWrite "$WORK/run.json")" = EROFS ] || fail "a write to /app gave $(jq -r .rootWrite "$WORK/run.json"), want EROFS"
  kill "$pid"
}

test_build_is_reproducible_and_pinned() {
  local first; first=$(entry "$DB" .digest)
  cp "$IMAGES_LOCK" "$WORK/before.json"
  # Re-push the base tag with other content without re-locking: the build must still use the locked digest.
  crane tag "$BASE-arm64" 24 >/dev/null 2>&1   # the tag now names a single arm64 image
  build db | tee "$WORK/build2.out"
  [ "$(entry "$DB" .digest)" = "$first" ] || fail "same inputs gave another digest: $(entry "$DB" .digest) vs $first"
  grep -q "^unchanged *$DB" "$WORK/build2.out" || fail "lock entry not reported unchanged"
  cmp -s "$IMAGES_LOCK" "$WORK/before.json" || fail "the lock changed" "$(diff "$WORK/before.json" "$IMAGES_LOCK")"
  crane index append -m "$BASE-amd64" -m "$BASE-arm64" -t "$BASE" >/dev/null 2>&1   # restore
}

test_build_all() {
  build all | tee "$WORK/all.out"
  local svc ref
  for svc in api-gateway order-service payment-service db; do
    ref="$REG/shop/$svc:8ec0446"
    [ "$(entry "$ref" .digest)" = "$(crane digest "$ref")" ] || fail "$svc not locked at the pushed digest"
    [ "$(crane config --platform linux/amd64 "$ref" | jq -r .config.User)" = "10001:10001" ] || fail "$svc user"
  done
  grep -q 'images:build: 4 image(s) in' "$WORK/all.out" || fail "no summary"
}

test_repo_lock_untouched() {
  [ "$(sha256sum "$REPO_LOCK" 2>/dev/null || echo absent)" = "$REPO_LOCK_SUM" ] || fail "the tests changed $REPO_LOCK"
}

if setup_build >"$WORK/setup.log" 2>&1; then
  echo "stand-ins: base $BASE@$(entry "$BASE" .digest), sources $SRC_URL"
  t "a wrong checksum stops the build, naming the file, expected and actual sha256; nothing pushed or locked" test_build_refuses_wrong_checksum
  t "images:build pushes a two-platform index and locks <registry>/db:8ec0446 at the pushed digest" test_build_pushes_and_locks
  t "image config: User 10001:10001, WorkingDir /app, Entrypoint node app.js, no Cmd, port, labels, fixed time" test_image_config
  t "image starts from the locked base digest; app layer has the checked sources, npm ci deps, root-owned files" test_image_from_pinned_base_with_root_owned_app
  t "the amd64 image runs as 10001:10001 on a read-only root and gets its peers as args" test_image_runs_as_10001_on_readonly_root
  t "a rebuild gives the same digest (reproducible) and ignores a re-pushed base tag (pinned by digest)" test_build_is_reproducible_and_pinned
  t "images:build -- all builds, pushes and locks the four services" test_build_all
else
  FAILED=$((FAILED + 1)); echo "FAIL: build setup (stand-in base image, sources, HTTP server)"
  tail -n 40 "$WORK/setup.log" | sed 's/^/    | /'
fi
t "the repository's images.lock.json is untouched (tests use IMAGES_LOCK=<scratch>)" test_repo_lock_untouched

DONE=1
timed_summary
[ "$FAILED" = 0 ]
