#!/usr/bin/env bash
# Lints what runs the pipelines: the GitHub workflows and every shell script. All must be clean.
#   1. zizmor --offline .github/workflows/   (unpinned actions, template injection, persisted credentials, ...)
#   2. actionlint                            (workflow syntax, expressions, and shellcheck on each run: block)
#   3. shellcheck -S warning                 (every *.sh, and every script with a sh/bash shebang, e.g. .ci/run)
# Installs its own pinned tools first, each a no-op until its pin changes (a stamp of the pins and interpreter):
#   zizmor, shellcheck  tools/python/requirements.txt (exact versions, hashes) -> venv .cache/lint-venv
#   actionlint          tools/actionlint/go.mod (`go install tool`)             -> .cache/bin/actionlint
# Needs Python >= 3.9 with venv and pip, Go >= 1.24, PyPI and the Go module proxy. Usage: scripts/lint-ci.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.cache/lint-venv"
bin="$root/.cache/bin"
python="${PYTHON:-python3}"

# --- pinned tools ------------------------------------------------------------------------------
want="$({ "$python" --version; sha256sum tools/python/requirements.txt; } | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/zizmor" || ! -x "$venv/bin/shellcheck" || "$(cat "$venv/.stamp" 2>/dev/null)" != "$want" ]]; then
  echo "lint-ci: pip install -r tools/python/requirements.txt into ${venv#"$root"/}"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --require-hashes --no-deps --only-binary=:all: -r tools/python/requirements.txt
  echo "$want" >"$venv/.stamp"
fi

want="$({ go env GOVERSION; sha256sum tools/actionlint/go.mod tools/actionlint/go.sum; } | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$bin/actionlint" || "$(cat "$bin/.actionlint.stamp" 2>/dev/null)" != "$want" ]]; then
  echo "lint-ci: go install tool (tools/actionlint/go.mod)"
  mkdir -p "$bin"
  (cd tools/actionlint && GOBIN="$bin" go install -mod=readonly -trimpath tool)
  echo "$want" >"$bin/.actionlint.stamp"
fi

# The venv first on PATH: actionlint runs the pinned shellcheck on the workflows' run: blocks.
export PATH="$venv/bin:$PATH"
echo "lint-ci: $(zizmor --version), shellcheck $(shellcheck --version | awk '/^version:/ { print $2 }'), actionlint $("$bin/actionlint" -version | head -n 1)"

# --- the shell scripts: tracked or new (not ignored), by name or by shebang ----------------------
scripts=()
while IFS= read -r -d '' f; do
  [[ -f "$f" ]] || continue
  if [[ "$f" == *.sh ]] || head -n 1 "$f" | grep -qE '^#!.*[/ ](ba|da)?sh( |$)'; then scripts+=("$f"); fi
done < <(git ls-files -z --cached --others --exclude-standard)
[[ ${#scripts[@]} -gt 0 ]] || { echo "lint-ci: found no shell scripts" >&2; exit 1; }

# --- the linters: run all, fail if any found something --------------------------------------------
failed=()
run() {
  local name=$1; shift
  echo "lint-ci: $name"
  "$@" || failed+=("$name")
}
run "zizmor --offline .github/workflows/" zizmor --offline --no-progress .github/workflows/
run "actionlint" "$bin/actionlint"
# test/.shellcheckrc lets the suites' `# shellcheck source=` directives be followed.
run "shellcheck -S warning (${#scripts[@]} scripts)" shellcheck -S warning "${scripts[@]}"

if [[ ${#failed[@]} -gt 0 ]]; then
  printf 'lint-ci: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "lint-ci: zizmor, actionlint and shellcheck are clean"
