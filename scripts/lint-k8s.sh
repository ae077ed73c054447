#!/usr/bin/env bash
# Lints the synthesized manifests dist/<env>/*.k8s.yaml, fully offline:
#   1. kubeconform -strict against the committed schemas (schemas/), for Kubernetes 1.27.0 AND 1.36.0:
#      unknown fields, wrong types, missing required fields. No -ignore-missing-schemas: a kind without a schema
#      fails (regenerate with scripts/gen-schemas.mjs).
#   2. kube-score (fails on CRITICAL and, with --exit-one-on-warning, on WARNING).
#   3. kube-linter with .kube-linter.yaml (defaults plus probes, NetworkPolicy, default ServiceAccount).
# With --info (used for the `local` environment) the linters' findings are printed but only kubeconform
# failures fail the script: a local cluster deliberately relaxes some policies (e.g. imagePullPolicy).
#
# Usage: scripts/lint-k8s.sh <env|dir> [--info]
#   <env>  an environment name: lints dist/<env>/*.k8s.yaml
#   <dir>  a path containing a `/` (e.g. ./fixtures): lints <dir>/*.k8s.yaml instead
# Exit status: 0 when every gating tool passed, 1 otherwise, 2 on bad usage.
set -euo pipefail

usage() { echo "usage: $0 <env|dir> [--info]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
target="$1"
info=0
if [[ $# == 2 ]]; then [[ "$2" == "--info" ]] && info=1 || usage; fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ "$target" == */* ]]; then dir="$target"; else dir="$root/dist/$target"; fi
[[ -d "$dir" ]] || { echo "lint-k8s: $dir does not exist (run the synth for '$target' first)" >&2; exit 1; }

shopt -s nullglob
files=("$dir"/*.k8s.yaml)
shopt -u nullglob
[[ ${#files[@]} -gt 0 ]] || { echo "lint-k8s: no *.k8s.yaml files in $dir" >&2; exit 1; }

# The pinned binaries; a no-op when already built (see scripts/tools.sh).
"$root/scripts/tools.sh" >&2
bin="$root/.cache/bin"

# Kubernetes versions to validate against: the oldest API level we target and the newest release.
kube_versions=(1.27.0 1.36.0)
# Directory form: kubeconform appends /v<version>-standalone-strict/<kind><-group>-<version>.json itself.
# Template form for the CRD schemas (schemas/crds/sealedsecret-bitnami-v1alpha1.json).
k8s_schemas="$root/schemas/kubernetes"
crd_schemas="$root/schemas/crds/{{ .ResourceKind }}{{ .KindSuffix }}.json"

summary=()
failed=0
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
# run <name> <gating 0|1> <command...>: runs a tool (output shown and kept in $out), records its result with a
# one-line count of findings, and counts a failure only if the tool gates.
run() {
  local name="$1" gating="$2" rc=0 detail status
  shift 2
  echo
  echo "=== $name"
  { "$@" 2>&1 | tee "$out"; } || rc=$?
  case "$name" in
    kubeconform*) detail="$(grep -o 'Valid: .*' "$out" | tail -1 || true)" ;;
    kube-score) detail="$(grep -c '\[CRITICAL\]' "$out" || true) critical, $(grep -c '\[WARNING\]' "$out" || true) warning check(s)" ;;
    kube-linter) detail="$(grep -o 'found [0-9]* lint errors' "$out" || echo 'no lint errors')" ;;
  esac
  # A tool that exits non-zero without findings could not run (e.g. a manifest it cannot parse).
  [[ $rc != 0 && "$detail" =~ ^(0\ critical,\ 0\ warning|no\ lint) ]] && detail="error: $(head -c 200 "$out" | head -1)"
  if [[ $rc == 0 ]]; then
    status=PASS
  elif [[ $gating == 1 ]]; then
    status="FAIL (exit $rc)"
    failed=1
  else
    status="FINDINGS (exit $rc, not gating under --info)"
  fi
  summary+=("$(printf '  %-20s %-48s %s' "$name" "$status" "$detail")")
}

echo "lint-k8s: ${#files[@]} file(s) in ${dir#"$root"/}: ${files[*]##*/}"

for v in "${kube_versions[@]}"; do
  # -strict: reject unknown fields and duplicate keys; -summary: counts at the end.
  run "kubeconform $v" 1 "$bin/kubeconform" -strict -summary -kubernetes-version "$v" \
    -schema-location "$k8s_schemas" -schema-location "$crd_schemas" "${files[@]}"
done

linters_gate=$((1 - info))
# --kubernetes-version: kube-score defaults to v1.18 for its stable-API-version advice.
# container-seccomp-profile is optional in kube-score; our pods set seccompProfile RuntimeDefault (PSS restricted).
run "kube-score" "$linters_gate" "$bin/kube-score" score --exit-one-on-warning \
  --kubernetes-version v1.27 --enable-optional-test container-seccomp-profile "${files[@]}"

run "kube-linter" "$linters_gate" "$bin/kube-linter" lint --config "$root/.kube-linter.yaml" "${files[@]}"

echo
echo "=== lint-k8s summary for ${dir#"$root"/}$([[ $info == 1 ]] && echo ' (--info: only kubeconform gates)')"
printf '%s\n' "${summary[@]}"
if [[ $failed == 1 ]]; then
  echo "lint-k8s: FAILED"
  exit 1
fi
echo "lint-k8s: OK"
