#!/usr/bin/env bash
# The deploy pipeline: synth -> check dist/ is committed -> apply in stages -> (optionally) wait.
#
# Usage: scripts/deploy.sh <env> [--dry-run] [--wait] [--diff]
#   --dry-run  every stage with --dry-run=server (admission, validation, PodSecurity, prune preview)
#   --wait     after applying, `kubectl rollout status` each Deployment/StatefulSet/DaemonSet
#   --diff     show what an apply would change (kubectl diff, plus what prune would delete);
#              exits 0 when nothing would change, 1 when something would
#
# Stages (each one stops the pipeline on its first error, and nothing later runs):
#   1. crds        CustomResourceDefinitions from crds/ (and any in the manifests); never pruned,
#                  because deleting a CRD deletes every object of its kind in the cluster
#   2. cluster     cluster-scoped objects (Namespaces first, ClusterRoles, ...), pruned
#   3. namespaced  everything else, per namespace: first a "setup" batch (ServiceAccounts,
#                  LimitRanges, ResourceQuotas, Roles: what admission of the rest looks up), then
#                  the "resources" batch; each batch in a fixed kind order, each pruned
# Each stage is first run as a server dry-run, and only applied when that passed with no error
# and no warning, so a rejected or warned-about object stops the pipeline before it is written.
#
# Server-side apply + ApplySet prune (KUBECTL_APPLYSET=true): kubectl labels what it applies
# with applyset.kubernetes.io/part-of=<id> and prunes only objects carrying that label which are no
# longer in the manifests; nothing else in the cluster is ever touched. (The older label-based
# `--prune -l` is refused by kubectl 1.32 together with --server-side: "--prune is in alpha and
# doesn't currently work on objects created by server-side apply".)
#
# Env: SKIP_SYNTH=1 (use dist/ as it is), ALLOW_DIRTY=1 (deploy a dist/ that differs from git),
#      DIST_DIR (default <repo>/dist), CRD_DIR (default <repo>/crds),
#      FIELD_MANAGER (default k8s-infra), APPLYSET_NAMESPACE (home of the cluster stage's ApplySet
#      parent Secret, default "default"), WAIT_TIMEOUT (default 300s), KUBECTL_TIMEOUT (60s).
set -euo pipefail
shopt -s inherit_errexit   # failures inside $(...) stop the pipeline too

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIST_DIR="${DIST_DIR:-$ROOT/dist}"
CRD_DIR="${CRD_DIR:-$ROOT/crds}"
FIELD_MANAGER="${FIELD_MANAGER:-k8s-infra}"
APPLYSET_NAMESPACE="${APPLYSET_NAMESPACE:-default}"
WAIT_TIMEOUT="${WAIT_TIMEOUT:-300s}"
KUBECTL_TIMEOUT="${KUBECTL_TIMEOUT:-60s}"
export KUBECTL_APPLYSET=true     # ApplySet is still behind this switch in kubectl 1.32

usage() { echo "usage: $0 <env> [--dry-run] [--wait] [--diff]" >&2; exit 2; }
ENV_NAME="${1:-}"; [ -n "$ENV_NAME" ] && [ "${ENV_NAME#-}" = "$ENV_NAME" ] || usage; shift
MODE=apply; WAIT=0
for a in "$@"; do
  case "$a" in
    --dry-run) MODE=dry-run ;;
    --diff) MODE="diff" ;;
    --wait) WAIT=1 ;;
    *) usage ;;
  esac
done

# ApplySet parents (Secrets): the cluster stage's in $APPLYSET_NAMESPACE, the namespaced
# stages' in each namespace (see stage 3).
CLUSTER_SET="k8s-infra-$ENV_NAME-cluster"
say() { echo "deploy[$ENV_NAME]: $*" >&2; }
die() { echo "deploy[$ENV_NAME]: ERROR: $*" >&2; exit 1; }
for tool in kubectl jq git; do command -v "$tool" >/dev/null || die "$tool is required"; done
kc() { kubectl --request-timeout="$KUBECTL_TIMEOUT" "$@"; }

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# --- 1. synth ------------------------------------------------------------------------------
if [ "${SKIP_SYNTH:-0}" = 1 ]; then
  say "step 1/4 synth: skipped (SKIP_SYNTH=1)"
else
  # The project's own synth script (cdk8s synth, without its online upgrade check).
  say "step 1/4 synth: npm run synth"
  (cd "$ROOT" && CDK8S_CHECK_UPGRADE=false npm run --silent synth) >&2 || die "synth failed"
fi

# --- 2. dist/ must be what is committed ----------------------------------------------------
if [ "${ALLOW_DIRTY:-0}" = 1 ]; then
  say "step 2/4 git check: skipped (ALLOW_DIRTY=1)"
else
  dirty=$(git -C "$ROOT" status --porcelain --untracked-files=all -- "$DIST_DIR") ||
    die "cannot run git status on $DIST_DIR (outside the repo? set ALLOW_DIRTY=1 for a scratch dir)"
  if [ -n "$dirty" ]; then
    echo "$dirty" >&2
    die "$DIST_DIR differs from the commit: commit the synthesized output (what is deployed must be reviewed in git)"
  fi
  say "step 2/4 git check: dist/ matches the commit"
fi

# --- 3. read the manifests -----------------------------------------------------------------
ENV_DIR="$DIST_DIR/$ENV_NAME"
shopt -s nullglob
MANIFESTS=("$ENV_DIR"/*.k8s.yaml)
CRD_FILES=("$CRD_DIR"/*.yaml "$CRD_DIR"/*.yml "$CRD_DIR"/*.json)
shopt -u nullglob
[ ${#MANIFESTS[@]} -gt 0 ] || die "no manifests: $ENV_DIR/*.k8s.yaml (unknown environment, or synth did not run?)"

# YAML -> one JSON object a line, parsed by kubectl itself (--local: no server involved; removing
# an annotation nobody has is a no-op). Lists are flattened; the empty annotations map it adds is dropped.
to_json_lines() {
  local f
  for f in "$@"; do
    kubectl annotate --local -f "$f" -o json k8s-infra.invalid/none- |
      jq -c 'if .kind == "List" then .items[] else . end
             | if (.metadata.annotations // {}) == {} then del(.metadata.annotations) else . end' || return 1
  done
}
to_json_lines "${MANIFESTS[@]}" >"$TMP/manifests.jsonl" || die "cannot parse $ENV_DIR"
: >"$TMP/crd-files.jsonl"
[ ${#CRD_FILES[@]} -eq 0 ] || to_json_lines "${CRD_FILES[@]}" >"$TMP/crd-files.jsonl" || die "cannot parse $CRD_DIR"

# What the server serves: "group/Kind namespaced" per line (api-resources' SHORTNAMES column may
# be empty, so read the last three columns: APIVERSION NAMESPACED KIND).
kc api-resources --no-headers >"$TMP/api-resources.txt" || die "cannot reach the cluster (KUBECONFIG?)"
awk '{ gv=$(NF-2); g=(index(gv,"/") ? substr(gv,1,index(gv,"/")-1) : ""); print g "/" $NF, $(NF-1) }' \
  "$TMP/api-resources.txt" | sort -u >"$TMP/served.txt"
kc get namespaces -o name | sed 's#^namespace/##' >"$TMP/namespaces.txt"

# Classify every object: stage (crds|cluster|namespaced), and whether a dry run can check it now
# (its kind may come from a CRD not installed yet, its namespace from the cluster stage).
jq -n -c --rawfile served "$TMP/served.txt" --rawfile nss "$TMP/namespaces.txt" \
   --slurpfile crdfiles "$TMP/crd-files.jsonl" --slurpfile objs "$TMP/manifests.jsonl" '
  def gk: ((.apiVersion | if contains("/") then split("/")[0] else "" end) + "/" + .kind);
  ($served | split("\n") | map(select(length > 0) | split(" ") | {key: .[0], value: (.[1] == "true")}) | from_entries) as $srv
  | ($nss | split("\n") | map(select(length > 0))) as $live
  | ($crdfiles + $objs | map(select(.kind == "CustomResourceDefinition")
       | {key: (.spec.group + "/" + .spec.names.kind), value: (.spec.scope == "Namespaced")}) | from_entries) as $crdk
  | ($crdfiles | map(. + {_from: "crds"})) + $objs
  | .[]
  | gk as $gk
  | (if $srv[$gk] != null then $srv[$gk] elif $crdk[$gk] != null then $crdk[$gk]
     else (.metadata.namespace != null) end) as $namespaced
  | . + {_stage: (if .kind == "CustomResourceDefinition" then "crds" elif $namespaced then "namespaced" else "cluster" end),
         _pendingKind: ($srv[$gk] == null and $crdk[$gk] != null),
         _pendingNs: ($namespaced and .metadata.namespace != null and ((.metadata.namespace) as $n | $live | index($n)) == null)}
' >"$TMP/objects.jsonl"

bad=$(jq -r 'select(._stage == "namespaced" and .metadata.namespace == null) | "\(.kind)/\(.metadata.name)"' "$TMP/objects.jsonl")
[ -z "$bad" ] || die "namespaced objects without metadata.namespace (would land in the kubeconfig's namespace): $bad"
dups=$(jq -r '"\(.apiVersion | split("/")[0])/\(.kind) \(.metadata.namespace // "-")/\(.metadata.name)"' "$TMP/objects.jsonl" | sort | uniq -d)
[ -z "$dups" ] || die "objects defined twice: $dups"

# Kind order inside a batch (as Helm installs): what others reference comes first, e.g. a Pod's
# ServiceAccount must exist before the ServiceAccount admission plugin lets the Pod in.
ORDER='["Namespace","ResourceQuota","LimitRange","PriorityClass","StorageClass","IngressClass",
  "ClusterRole","ClusterRoleBinding","PersistentVolume","NetworkPolicy","PodDisruptionBudget",
  "ServiceAccount","Secret","SealedSecret","ConfigMap","PersistentVolumeClaim","Role","RoleBinding",
  "Service","DaemonSet","Pod","ReplicaSet","Deployment","HorizontalPodAutoscaler","StatefulSet",
  "Job","CronJob","Ingress"]'
# --- helpers for one batch ----------------------------------------------------------------
# Writes a kubectl List of the selected objects (jq filter $1), without our _fields, in kind order
# (with $3: the ApplySet label set, as the live objects carry it); prints how many.
write_batch() {
  local filter=$1 out=$2 partof=${3:-}
  jq -s -c --argjson order "$ORDER" --arg partof "$partof" "
    map(select($filter))
    | sort_by(.kind as \$k | (\$order | index(\$k)) // 1000)
    | map(del(._stage, ._pendingKind, ._pendingNs, ._pendingSa, ._from)
          | if \$partof != \"\" then .metadata.labels[\"applyset.kubernetes.io/part-of\"] = \$partof else . end)
    | {apiVersion: \"v1\", kind: \"List\", items: .}" "$TMP/objects.jsonl" >"$out"
  jq '.items | length' "$out"
}

# Runs kubectl, shows its output, and fails on a non-zero exit or on any server warning
# ("Warning: would violate PodSecurity ...", deprecations): warnings are errors in this pipeline.
run_checked() {
  local what=$1; shift
  local rc=0
  "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
  sed 's/^/    /' "$TMP/out" >&2
  sed 's/^/    /' "$TMP/err" >&2
  [ "$rc" = 0 ] || die "$what failed (kubectl exit $rc)"
  if grep -q 'Warning:' "$TMP/err" "$TMP/out"; then
    die "$what: the server returned warnings (treated as errors)"
  fi
}

# server-side apply of one batch: dry run first, then (unless --dry-run) for real.
#   apply_batch <title> <file> [applyset args...]
apply_batch() {
  local title=$1 file=$2; shift 2
  local cmd=(kc apply --server-side --field-manager="$FIELD_MANAGER" -f "$file" "$@")
  run_checked "$title (server dry run)" "${cmd[@]}" --dry-run=server
  if [ "$MODE" = apply ]; then
    run_checked "$title" "${cmd[@]}"
  fi
}

# The ApplySet id (value of the part-of label) of a parent Secret, empty when it does not exist.
applyset_id() {
  kc get secret "$2" -n "$1" --ignore-not-found -o jsonpath='{.metadata.labels.applyset\.kubernetes\.io/id}'
}

# Members of an ApplySet still in the cluster: "kind.group/name" lines. Kinds from the parent's
# contains-group-kinds annotation, as kubectl's own pruner does.
# The cluster stage's members are cluster-scoped (its parent lives in $APPLYSET_NAMESPACE all the
# same); the namespaced stages' members live next to their parent.
member_ns() { if [ "$2" = "$CLUSTER_SET" ]; then echo ""; else echo "$1"; fi; }
applyset_members() {
  local ns=$1 parent=$2 id=$3 gks gk mns nsflag=()
  mns=$(member_ns "$ns" "$parent"); [ -z "$mns" ] || nsflag=(-n "$mns")
  gks=$(kc get secret "$parent" -n "$ns" -o jsonpath='{.metadata.annotations.applyset\.kubernetes\.io/contains-group-kinds}')
  for gk in ${gks//,/ }; do
    kc get "$gk" "${nsflag[@]}" -l "applyset.kubernetes.io/part-of=$id" -o name
  done
}

# ApplySet prune of a batch that became empty (kubectl apply refuses an empty input): delete the
# members by their part-of label, then the parent.
prune_empty_applyset() {
  local ns=$1 parent=$2 title=$3 id members dr=() mns nsflag=()
  id=$(applyset_id "$ns" "$parent"); [ -n "$id" ] || return 0
  mns=$(member_ns "$ns" "$parent"); [ -z "$mns" ] || nsflag=(-n "$mns")
  members=$(applyset_members "$ns" "$parent" "$id")
  [ "$MODE" = apply ] || dr=(--dry-run=server)
  say "$title: no objects left, pruning the whole ApplySet $ns/$parent"
  if [ -n "$members" ]; then
    # shellcheck disable=SC2086
    run_checked "$title prune" kc delete "${nsflag[@]}" --wait=false "${dr[@]}" $members
  fi
  run_checked "$title prune parent" kc delete secret "$parent" -n "$ns" --wait=false "${dr[@]}"
}

# --diff of one batch: kubectl diff (server-side, same field manager, with the ApplySet label the
# live objects carry), plus the members that prune would delete.
DIFF_RC=0
diff_batch() {
  local title=$1 ns=$2 parent=$3 filter=$4 id n rc=0 members wanted m kindpart
  id=""; [ -z "$parent" ] || id=$(applyset_id "$ns" "$parent")
  skip_pending "$filter"
  n=$(write_batch "($filter) and $CHECKABLE" "$TMP/batch.json" "$id")
  say "$title: diff of $n objects"
  if [ "$n" -gt 0 ]; then
    kc diff --server-side --field-manager="$FIELD_MANAGER" -f "$TMP/batch.json" >&2 || rc=$?
    [ "$rc" -le 1 ] || die "$title: kubectl diff failed (exit $rc)"
    [ "$rc" = 0 ] || DIFF_RC=1
  fi
  if [ -n "$id" ]; then
    members=$(applyset_members "$ns" "$parent" "$id")
    wanted=$(jq -r '.items[] | "\(.kind)/\(.metadata.name)"' "$TMP/batch.json" | tr 'A-Z' 'a-z')
    for m in $members; do
      # kubectl -o name prints kind[.group]/name; compare on kind/name.
      kindpart=${m%%/*}
      if ! grep -qxF "$(echo "${kindpart%%.*}/${m#*/}" | tr 'A-Z' 'a-z')" <<<"$wanted"; then
        say "$title: would prune $m"; DIFF_RC=1
      fi
    done
  fi
}

# In a dry run / diff, leave out what the server cannot check before earlier stages ran for real:
# objects of a CRD not installed yet, in a namespace not created yet, or Pods whose
# ServiceAccount is not created yet (the ServiceAccount admission plugin would reject them).
if [ "$MODE" = apply ]; then CHECKABLE='true'; else CHECKABLE='((._pendingKind or ._pendingNs or ._pendingSa) | not)'; fi
SKIPPED=0
skip_pending() {
  local filter=$1 list
  [ "$MODE" != apply ] || return 0
  list=$(jq -r "select($filter) | select(._pendingKind or ._pendingNs or ._pendingSa)
    | \"\(.kind)/\(.metadata.name) in \(.metadata.namespace // \"-\")\(
        if ._pendingNs then \" (namespace not created yet)\"
        elif ._pendingKind then \" (CRD not installed yet)\"
        else \" (ServiceAccount not created yet)\" end)\"" "$TMP/objects.jsonl")
  if [ -n "$list" ]; then
    while IFS= read -r l; do say "  not checked by this dry run: $l"; SKIPPED=$((SKIPPED + 1)); done <<<"$list"
    [ "$MODE" != diff ] || DIFF_RC=1   # they would be created
  fi
}

case "$MODE" in
  apply) say "step 3/4 apply (each stage: server dry run, then apply)" ;;
  dry-run) say "step 3/4 apply: server dry run only (--dry-run=server)" ;;
  diff) say "step 3/4 diff against the cluster" ;;
esac

# --- stage 1: CRDs (never pruned) ---
F='._stage == "crds"'
if [ "$MODE" = diff ]; then
  diff_batch "stage 1/3 crds" "" "" "$F"
else
  n=$(write_batch "$F" "$TMP/crds.json")
  if [ "$n" -gt 0 ]; then
    say "stage 1/3 crds: $n CustomResourceDefinitions"
    apply_batch "stage 1/3 crds" "$TMP/crds.json"
    if [ "$MODE" = apply ]; then
      # Their kinds must be served before stage 3 sends objects of them.
      mapfile -t crds < <(jq -r '.items[] | "crd/\(.metadata.name)"' "$TMP/crds.json")
      run_checked "stage 1/3 crds established" kubectl wait --for=condition=Established --timeout=60s "${crds[@]}"
    fi
  else
    say "stage 1/3 crds: none"
  fi
fi

# --- stage 2: cluster-scoped objects (ApplySet parent: Secret in $APPLYSET_NAMESPACE) ---
F='._stage == "cluster"'
if [ "$MODE" = diff ]; then
  diff_batch "stage 2/3 cluster" "$APPLYSET_NAMESPACE" "$CLUSTER_SET" "$F"
else
  skip_pending "$F"
  n=$(write_batch "$F and $CHECKABLE" "$TMP/cluster.json")
  if [ "$n" -gt 0 ]; then
    say "stage 2/3 cluster: $n cluster-scoped objects (ApplySet $APPLYSET_NAMESPACE/$CLUSTER_SET)"
    apply_batch "stage 2/3 cluster" "$TMP/cluster.json" -n "$APPLYSET_NAMESPACE" --applyset="$CLUSTER_SET" --prune
  else
    prune_empty_applyset "$APPLYSET_NAMESPACE" "$CLUSTER_SET" "stage 2/3 cluster"
  fi
fi

# --- stage 3: namespaced objects, per namespace in two batches, each its own ApplySet (parent
# Secret in that namespace): "setup" holds what admission of the rest looks up (ServiceAccounts,
# LimitRanges, ResourceQuotas, Roles), so its server dry run and apply come first; "resources"
# is everything else.
SETUP_KINDS='["ServiceAccount","LimitRange","ResourceQuota","Role"]'
SETUP_SET="k8s-infra-$ENV_NAME-setup"
NS_SET="k8s-infra-$ENV_NAME"
# Namespaces in the manifests, plus those where an earlier deploy left objects (to prune them).
jq -r 'select(._stage == "namespaced") | .metadata.namespace' "$TMP/objects.jsonl" >"$TMP/ns-list.txt"
for set in "$SETUP_SET" "$NS_SET"; do
  kc get secrets -A --field-selector "metadata.name=$set" -l applyset.kubernetes.io/id \
    -o jsonpath='{range .items[*]}{.metadata.namespace}{"\n"}{end}' >>"$TMP/ns-list.txt" ||
    say "note: cannot list Secrets cluster-wide (RBAC?): a namespace whose objects all left the manifests is not pruned"
done
sort -u -o "$TMP/ns-list.txt" "$TMP/ns-list.txt"

# Dry run / diff: mark the Pods of namespace $1 whose ServiceAccount does not exist yet.
mark_pending_sa() {
  local sas
  sas=$(kc get serviceaccounts -n "$1" -o json | jq -c '[.items[].metadata.name]')
  jq -c --arg ns "$1" --argjson sas "$sas" '
    if .kind == "Pod" and .metadata.namespace == $ns
    then (.spec.serviceAccountName // "default") as $sa | ._pendingSa = (($sas | index($sa)) == null)
    else . end' "$TMP/objects.jsonl" >"$TMP/objects.new"
  mv "$TMP/objects.new" "$TMP/objects.jsonl"
}

# One batch of namespace $ns: namespace_batch TITLE FILTER APPLYSET
namespace_batch() {
  local title=$1 filter=$2 set=$3 n
  if [ "$MODE" = diff ]; then
    diff_batch "$title" "$ns" "$set" "$filter"
    return
  fi
  skip_pending "$filter"
  [ "$MODE" = apply ] || [ -n "$phase" ] || return 0   # dry run: namespace comes from stage 2
  n=$(write_batch "$filter and $CHECKABLE" "$TMP/ns.json")
  if [ "$n" -gt 0 ]; then
    say "$title: $n objects (ApplySet $ns/$set)"
    apply_batch "$title" "$TMP/ns.json" -n "$ns" --applyset="$set" --prune
  elif [ "$phase" = Active ]; then
    prune_empty_applyset "$ns" "$set" "$title"
  fi
}

while IFS= read -r ns; do
  [ -n "$ns" ] || continue
  F="._stage == \"namespaced\" and .metadata.namespace == \"$ns\""
  phase=$(kc get namespace "$ns" --ignore-not-found -o jsonpath='{.status.phase}')
  namespace_batch "stage 3/3 namespace $ns (setup)" "$F and (.kind as \$k | $SETUP_KINDS | index(\$k)) != null" "$SETUP_SET"
  if [ "$MODE" = apply ]; then
    # A bare Pod is admitted only once its ServiceAccount exists; "default" is created by the
    # controller-manager a moment after the Namespace, so give it a bounded wait.
    if jq -e --arg ns "$ns" -s 'any(.[]; .kind == "Pod" and .metadata.namespace == $ns and (.spec.serviceAccountName // "default") == "default")' "$TMP/objects.jsonl" >/dev/null; then
      for _ in $(seq 1 60); do kc get serviceaccount default -n "$ns" >/dev/null 2>&1 && break; sleep 1; done
    fi
  elif [ -n "$phase" ]; then
    mark_pending_sa "$ns"
  fi
  namespace_batch "stage 3/3 namespace $ns (resources)" "$F and (.kind as \$k | $SETUP_KINDS | index(\$k)) == null" "$NS_SET"
done <"$TMP/ns-list.txt"

if [ "$MODE" = diff ]; then
  if [ "$DIFF_RC" = 0 ]; then say "diff: no changes"; else say "diff: changes pending (see above)"; fi
  exit "$DIFF_RC"
fi
if [ "$MODE" = dry-run ]; then
  total=$(wc -l <"$TMP/objects.jsonl")
  say "dry run passed: $((total - SKIPPED)) objects checked by the server, $SKIPPED not checkable yet"
fi

# --- 4. wait for rollouts ------------------------------------------------------------------
if [ "$WAIT" = 1 ] && [ "$MODE" = apply ]; then
  say "step 4/4 wait: rollout status (timeout $WAIT_TIMEOUT each)"
  jq -r 'select(.kind == "Deployment" or .kind == "StatefulSet" or .kind == "DaemonSet")
         | "\(.kind | ascii_downcase)/\(.metadata.name) \(.metadata.namespace)"' "$TMP/objects.jsonl" |
  while read -r obj ns; do
    # (plain kubectl: --request-timeout would cut the watch short; --timeout bounds it)
    kubectl rollout status "$obj" -n "$ns" --timeout="$WAIT_TIMEOUT" >&2 || die "rollout of $ns/$obj did not finish within $WAIT_TIMEOUT"
  done
else
  say "step 4/4 wait: skipped"
fi
say "done ($MODE)"
