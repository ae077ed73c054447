#!/usr/bin/env bash
# The deploy pipeline: lock -> synth -> check dist/ is committed -> check the cluster and who owns
# what -> apply in stages -> (optionally) wait. Run with --help for usage, exit codes and settings.
#
# Stages (each one stops the pipeline on its first error, and nothing later runs):
#   1. crds        CustomResourceDefinitions from crds/ (and any in the manifests); never pruned,
#                  because deleting a CRD deletes every object of its kind in the cluster. Shared by
#                  every environment of the repo (field manager k8s-infra-crds).
#   2. cluster     cluster-scoped objects (Namespaces first, ClusterRoles, ...), pruned
#   3. namespaced  everything else, per namespace: first a "setup" batch (ServiceAccounts,
#                  LimitRanges, ResourceQuotas, Roles: what admission of the rest looks up), then
#                  the "resources" batch; each batch in a fixed kind order, each pruned
# Each stage is first run as a server dry-run, and only applied when that passed with no error
# and no warning, so a rejected or warned-about object stops the pipeline before it is written.
#
# Server-side apply + ApplySet prune (KUBECTL_APPLYSET=true): kubectl labels what it applies
# with applyset.kubernetes.io/part-of=<id> and prunes only objects carrying that label which are no
# longer in the manifests. (The older label-based `--prune -l` is refused by kubectl 1.32 together
# with --server-side.)
#
# Ownership (checked before anything is written, in every mode):
#   - an environment deploys only to the cluster it declares in deploy/targets.json (kube-system
#     Namespace UID and/or kube context names); --force-cluster overrides that one check;
#   - it has its own field manager (k8s-infra-<env>) and ApplySets (parents k8s-infra-<env>-*);
#   - it never takes over an object that another ApplySet or another k8s-infra-* field manager owns,
#     nor (without --adopt) one that exists but was not applied by this pipeline;
#   - a Namespace is pruned only when it holds nothing but this environment's objects (and what
#     controllers made from them); otherwise the deploy stops and lists the rest.
set -euo pipefail
shopt -s inherit_errexit   # failures inside $(...) stop the pipeline too

ROOT="$(cd "$(dirname "$0")/.." && pwd)"

usage() {
  cat <<'EOF'
usage: deploy/deploy.sh <env> [--dry-run | --diff] [--wait] [--force-cluster] [--adopt]

  --dry-run        every stage with --dry-run=server (admission, validation, PodSecurity, prune preview)
  --diff           show what an apply would change (kubectl diff, what prune would delete, and
                   everything a Namespace deletion would take with it)
  --wait           after applying, `kubectl rollout status` each Deployment/StatefulSet/DaemonSet
  --force-cluster  deploy although the cluster is not the one deploy/targets.json declares
  --adopt          take over objects that exist but were applied by no environment (e.g. made by
                   hand); objects of another environment are never taken over

exit codes:
  0  done; with --diff: no changes
  1  --diff only: changes pending
  2  error: bad usage, unreachable cluster, a kubectl call or the server failed, a deadline passed
  3  refused before writing: wrong cluster, an object owned by someone else, a Namespace prune that
     would delete objects this pipeline did not apply, another deploy holds the lock

deadlines (wall clock; plain seconds, or with an s/m suffix):
  KUBECTL_TIMEOUT=60s   each kubectl call, retries included (also its --request-timeout)
  STAGE_TIMEOUT=300s    each stage (preflight checks, crds, cluster, each namespace)
  DEPLOY_TIMEOUT=1800s  the whole run, synth and --wait included
  WAIT_TIMEOUT=300s     each rollout with --wait

other settings (env):
  SKIP_SYNTH=1 (use dist/ as it is), ALLOW_DIRTY=1 (deploy a dist/ that differs from git),
  DIST_DIR (<repo>/dist), CRD_DIR (<repo>/crds), DEPLOY_TARGETS (<repo>/deploy/targets.json),
  DEPLOY_LOCK (<repo>/.cache/deploy.lock), FIELD_MANAGER (k8s-infra-<env>),
  APPLYSET_NAMESPACE (home of the cluster stage's ApplySet parent Secret, "default")
EOF
}

# --- arguments and settings ------------------------------------------------------------------
EXIT_CHANGES=1; EXIT_ERROR=2; EXIT_REFUSED=3
case "${1:-}" in -h|--help) usage; exit 0 ;; esac
ENV_NAME="${1:-}"
if [ -z "$ENV_NAME" ] || [ "${ENV_NAME#-}" != "$ENV_NAME" ]; then usage >&2; exit "$EXIT_ERROR"; fi
shift
MODE=apply; WAIT=0; FORCE_CLUSTER=0; ADOPT=0
for a in "$@"; do
  case "$a" in
    --dry-run) MODE=dry-run ;;
    --diff) MODE='diff' ;;
    --wait) WAIT=1 ;;
    --force-cluster) FORCE_CLUSTER=1 ;;
    --adopt) ADOPT=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit "$EXIT_ERROR" ;;
  esac
done

say() { echo "deploy[$ENV_NAME]: $*" >&2; }
# die STEP: MESSAGE -- stops the run (exit 2); refuse: the same for a safety refusal (exit 3).
die() { echo "deploy[$ENV_NAME]: ERROR: $*" >&2; exit "$EXIT_ERROR"; }
refuse() { echo "deploy[$ENV_NAME]: ERROR: $*" >&2; echo "deploy[$ENV_NAME]: refused; nothing was written" >&2; exit "$EXIT_REFUSED"; }

# "90", "90s", "2m" -> 90, 90, 120
secs() {
  local v=$1 name=$2
  [[ "$v" =~ ^[0-9]+[sm]?$ ]] && [ "${v%[sm]}" -gt 0 ] || die "settings: $name=$v is not a duration (e.g. 60, 60s, 5m)"
  case "$v" in *m) echo $(( ${v%m} * 60 )) ;; *) echo "${v%s}" ;; esac
}
KUBECTL_TIMEOUT_S=$(secs "${KUBECTL_TIMEOUT:-60s}" KUBECTL_TIMEOUT)
STAGE_TIMEOUT_S=$(secs "${STAGE_TIMEOUT:-300s}" STAGE_TIMEOUT)
DEPLOY_TIMEOUT_S=$(secs "${DEPLOY_TIMEOUT:-1800s}" DEPLOY_TIMEOUT)
WAIT_TIMEOUT_S=$(secs "${WAIT_TIMEOUT:-300s}" WAIT_TIMEOUT)

DIST_DIR="${DIST_DIR:-$ROOT/dist}"
CRD_DIR="${CRD_DIR:-$ROOT/crds}"
TARGETS="${DEPLOY_TARGETS:-$ROOT/deploy/targets.json}"
LOCK="${DEPLOY_LOCK:-$ROOT/.cache/deploy.lock}"
FIELD_MANAGER="${FIELD_MANAGER:-k8s-infra-$ENV_NAME}"
CRD_FIELD_MANAGER=k8s-infra-crds   # crds/ belongs to the repo, not to one environment
LEGACY_FIELD_MANAGER=k8s-infra     # what every environment used before they had their own
APPLYSET_NAMESPACE="${APPLYSET_NAMESPACE:-default}"
export KUBECTL_APPLYSET=true       # ApplySet is still behind this switch in kubectl 1.32

for tool in kubectl jq git flock timeout sha256sum base64; do
  command -v "$tool" >/dev/null || die "setup: $tool is required"
done

# --- one deploy at a time per checkout -------------------------------------------------------
# flock on a file under .cache/; the kernel releases it when this process exits, however it
# exits. The holder writes who it is into the file, so a refused run can name it.
mkdir -p "$(dirname "$LOCK")"
exec 9>>"$LOCK"
if ! flock -n 9; then
  refuse "lock: another deploy holds $LOCK: $(cat "$LOCK" 2>/dev/null || echo unknown)"
fi
: >"$LOCK"
echo "pid $$ ($ENV_NAME $MODE, user ${USER:-$(id -un)}, since $(date -u +%FT%TZ))" >>"$LOCK"

STAGE="start"
TMP="$(mktemp -d)"
# On exit: clean up; an unexpected failure (a jq or shell error, not one of our own stops) still
# says ERROR with the stage it happened in, and exits 2.
on_exit() {
  local rc=$?
  rm -rf "$TMP"
  if [ "$rc" -gt "$EXIT_REFUSED" ]; then
    echo "deploy[$ENV_NAME]: ERROR: $STAGE: unexpected failure (exit $rc)" >&2
    exit "$EXIT_ERROR"
  fi
}
trap on_exit EXIT

# --- deadlines -------------------------------------------------------------------------------
# All wall clock, from bash's $SECONDS (subshells keep counting it). Each kubectl call gets the
# per-call limit, cut to what is left of the current stage, which is cut to what is left of the run.
DEPLOY_END=$((SECONDS + DEPLOY_TIMEOUT_S))
STAGE="start"; STAGE_END=$DEPLOY_END; STAGE_WHY="DEPLOY_TIMEOUT=${DEPLOY_TIMEOUT_S}s"
begin_stage() {   # begin_stage NAME [SECONDS]
  STAGE=$1
  local end=$((SECONDS + ${2:-$STAGE_TIMEOUT_S}))
  if [ "$end" -lt "$DEPLOY_END" ]; then
    STAGE_END=$end; STAGE_WHY="STAGE_TIMEOUT=${2:-$STAGE_TIMEOUT_S}s of $STAGE"
  else
    STAGE_END=$DEPLOY_END; STAGE_WHY="DEPLOY_TIMEOUT=${DEPLOY_TIMEOUT_S}s"
  fi
}
time_left() {   # seconds left in the stage; stops the run when none
  local left=$((STAGE_END - SECONDS))
  [ "$left" -gt 0 ] || die "$STAGE: deadline passed ($STAGE_WHY)"
  echo "$left"
}

# --- kubectl ---------------------------------------------------------------------------------
# Forbidden: every error line kubectl printed is an RBAC denial (nothing else went wrong).
is_forbidden() {
  local others
  grep -Eq '\(Forbidden\)|is forbidden:' "$1" || return 1
  others=$(grep -E '^(Error|error|Unable|The connection)' "$1" | grep -Ev '\(Forbidden\)|is forbidden:' || true)
  [ -z "$others" ]
}

# kc STEP ARGS...: one kubectl call under the deadlines. Prints kubectl's stdout; its stderr is
# shown (indented) and kept in $LAST_ERR. On failure the run stops with "ERROR: STEP", except:
#   KC_OK="1"          further exit codes that are answers, not failures (kubectl diff: 1)
#   KC_FORBIDDEN_OK=1  a real Forbidden returns 99, for the caller to downgrade with a message
#   KC_WATCH=1         no --request-timeout (it would cut a watch short; the deadline still holds)
LAST_ERR="$TMP/last.err"
kc() {
  local step=$1; shift
  local left limit why rc=0 rt=() out="$TMP/kc.$BASHPID.out" err="$TMP/kc.$BASHPID.err"
  left=$(time_left) || exit $?
  limit=$KUBECTL_TIMEOUT_S; why="KUBECTL_TIMEOUT=${KUBECTL_TIMEOUT_S}s"
  if [ "$left" -lt "$limit" ]; then limit=$left; why=$STAGE_WHY; fi
  [ "${KC_WATCH:-0}" = 1 ] || rt=(--request-timeout="${limit}s")
  timeout --kill-after=5 "$limit" kubectl "${rt[@]}" "$@" >"$out" 2>"$err" || rc=$?
  cp "$err" "$LAST_ERR"
  if [ "$rc" = 0 ] || [[ " ${KC_OK:-} " == *" $rc "* ]]; then
    sed 's/^/    /' "$err" >&2
    cat "$out"
    return "$rc"
  fi
  sed 's/^/    /' "$out" "$err" >&2
  if [ "$rc" = 124 ] || [ "$rc" = 137 ] ||
     grep -Eq 'context deadline exceeded|Client.Timeout|Timeout: request did not complete|i/o timeout' "$err"; then
    die "$step: kubectl did not finish within ${limit}s ($why)"
  fi
  if is_forbidden "$err"; then
    [ "${KC_FORBIDDEN_OK:-0}" = 1 ] && return 99
    die "$step: forbidden (the deploying user lacks an RBAC permission this step needs)"
  fi
  die "$step: kubectl failed (exit $rc)"
}

# --- 1. synth ------------------------------------------------------------------------------
if [ "${SKIP_SYNTH:-0}" = 1 ]; then
  say "step 1/4 synth: skipped (SKIP_SYNTH=1)"
else
  # The project's own synth script (cdk8s synth, without its online upgrade check).
  say "step 1/4 synth: npm run synth"
  begin_stage "step 1/4 synth"
  (cd "$ROOT" && CDK8S_CHECK_UPGRADE=false timeout --kill-after=5 "$(time_left)" npm run --silent synth) >&2 ||
    die "step 1/4 synth: failed or passed its deadline ($STAGE_WHY)"
fi

# --- 2. dist/ must be what is committed ----------------------------------------------------
if [ "${ALLOW_DIRTY:-0}" = 1 ]; then
  say "step 2/4 git check: skipped (ALLOW_DIRTY=1)"
else
  dirty=$(git -C "$ROOT" status --porcelain --untracked-files=all -- "$DIST_DIR") ||
    die "step 2/4 git check: cannot run git status on $DIST_DIR (outside the repo? set ALLOW_DIRTY=1 for a scratch dir)"
  if [ -n "$dirty" ]; then
    echo "$dirty" >&2
    die "step 2/4 git check: $DIST_DIR differs from the commit: commit the synthesized output (what is deployed must be reviewed in git)"
  fi
  say "step 2/4 git check: dist/ matches the commit"
fi

# --- 3. read the manifests -----------------------------------------------------------------
begin_stage "read the manifests"
ENV_DIR="$DIST_DIR/$ENV_NAME"
shopt -s nullglob
MANIFESTS=("$ENV_DIR"/*.k8s.yaml)
CRD_FILES=("$CRD_DIR"/*.yaml "$CRD_DIR"/*.yml "$CRD_DIR"/*.json)
shopt -u nullglob
[ ${#MANIFESTS[@]} -gt 0 ] || die "read the manifests: none in $ENV_DIR/*.k8s.yaml (unknown environment, or synth did not run?)"

# YAML -> one JSON object a line, parsed by kubectl itself (--local: no server involved; removing
# an annotation nobody has is a no-op). Lists are flattened; the empty annotations map it adds is dropped.
to_json_lines() {
  local f
  for f in "$@"; do
    kc "read $f" annotate --local -f "$f" -o json k8s-infra.invalid/none- |
      jq -c 'if .kind == "List" then .items[] else . end
             | if (.metadata.annotations // {}) == {} then del(.metadata.annotations) else . end' || return 1
  done
}
to_json_lines "${MANIFESTS[@]}" >"$TMP/manifests.jsonl" || die "read the manifests: cannot parse $ENV_DIR"
: >"$TMP/crd-files.jsonl"
[ ${#CRD_FILES[@]} -eq 0 ] || to_json_lines "${CRD_FILES[@]}" >"$TMP/crd-files.jsonl" || die "read the manifests: cannot parse $CRD_DIR"

# --- 4. is this the environment's cluster? -----------------------------------------------------
# deploy/targets.json: {"environments": {"<env>": {"cluster": {"kubeSystemUid": "...",
# "contexts": ["glob", ...]}}}}. Every criterion declared must hold; none declared is a refusal.
begin_stage "cluster check"
check_cluster() {
  local decl want_uid ctx uid p ok problem=""
  [ -f "$TARGETS" ] || die "cluster check: $TARGETS not found"
  decl=$(jq -c --arg e "$ENV_NAME" '.environments[$e].cluster // {}' "$TARGETS") || die "cluster check: cannot read $TARGETS"
  want_uid=$(jq -r '.kubeSystemUid // ""' <<<"$decl")
  mapfile -t want_ctx < <(jq -r '.contexts // [] | .[]' <<<"$decl")
  ctx=$(kubectl config current-context 2>/dev/null) || ctx=""   # local file; no context is not an error
  uid=$(kc "cluster check: read Namespace kube-system (cluster unreachable? KUBECONFIG?)" \
        get namespace kube-system -o jsonpath='{.metadata.uid}')
  say "cluster: kube context '${ctx:-<none>}', kube-system uid $uid"
  if [ -z "$want_uid" ] && [ ${#want_ctx[@]} -eq 0 ]; then
    problem="$ENV_NAME declares no cluster in $TARGETS (record kube-system's uid: kubectl get namespace kube-system -o jsonpath='{.metadata.uid}')"
  elif [ -n "$want_uid" ] && [ "$want_uid" != "$uid" ]; then
    problem="this cluster's kube-system uid is $uid, $ENV_NAME belongs to the cluster with $want_uid ($TARGETS)"
  elif [ ${#want_ctx[@]} -gt 0 ]; then
    ok=0
    # shellcheck disable=SC2053   # glob match on purpose
    for p in "${want_ctx[@]}"; do [[ -n "$ctx" && "$ctx" == $p ]] && ok=1; done
    [ "$ok" = 1 ] || problem="kube context '${ctx:-<none>}' is not one of $ENV_NAME's (${want_ctx[*]}, $TARGETS)"
  fi
  [ -n "$problem" ] || return 0
  [ "$FORCE_CLUSTER" = 1 ] || refuse "cluster check: $problem; pass --force-cluster if this really is $ENV_NAME's cluster"
  say "WARNING: --force-cluster: $problem"
}
check_cluster

# What the server serves: "group/Kind namespaced" per line (api-resources' SHORTNAMES column may
# be empty, so read the last three columns: APIVERSION NAMESPACED KIND).
kc "read the cluster's API resources" api-resources --no-headers >"$TMP/api-resources.txt"
awk '{ gv=$(NF-2); g=(index(gv,"/") ? substr(gv,1,index(gv,"/")-1) : ""); print g "/" $NF, $(NF-1) }' \
  "$TMP/api-resources.txt" | sort -u >"$TMP/served.txt"
kc "list Namespaces" get namespaces -o name | sed 's#^namespace/##' >"$TMP/namespaces.txt"

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
[ -z "$bad" ] || die "read the manifests: namespaced objects without metadata.namespace (would land in the kubeconfig's namespace): $bad"
dups=$(jq -r '"\(.apiVersion | split("/")[0])/\(.kind) \(.metadata.namespace // "-")/\(.metadata.name)"' "$TMP/objects.jsonl" | sort | uniq -d)
[ -z "$dups" ] || die "read the manifests: objects defined twice: $dups"

# Kind order inside a batch (as Helm installs): what others reference comes first, e.g. a Pod's
# ServiceAccount must exist before the ServiceAccount admission plugin lets the Pod in.
ORDER='["Namespace","ResourceQuota","LimitRange","PriorityClass","StorageClass","IngressClass",
  "ClusterRole","ClusterRoleBinding","PersistentVolume","NetworkPolicy","PodDisruptionBudget",
  "ServiceAccount","Secret","SealedSecret","ConfigMap","PersistentVolumeClaim","Role","RoleBinding",
  "Service","DaemonSet","Pod","ReplicaSet","Deployment","HorizontalPodAutoscaler","StatefulSet",
  "Job","CronJob","Ingress"]'

# --- this environment's ApplySets ------------------------------------------------------------
# Parents (Secrets): the cluster stage's in $APPLYSET_NAMESPACE, the namespaced stages' in each
# namespace. The names carry the environment, so the ids (the part-of label values) do too.
CLUSTER_SET="k8s-infra-$ENV_NAME-cluster"
SETUP_SET="k8s-infra-$ENV_NAME-setup"
NS_SET="k8s-infra-$ENV_NAME"
SETUP_KINDS='["ServiceAccount","LimitRange","ResourceQuota","Role"]'

# kubectl's ApplySet id of a parent Secret (kubectl/pkg/cmd/apply/applyset.go):
# "applyset-" + base64url(sha256("<name>.<namespace>.Secret.")) + "-v1". Computed, not looked up,
# so it is known before the parent exists and cannot be confused by a lookup that failed.
applyset_id() {   # applyset_id NAMESPACE PARENT
  local hex
  hex=$(printf '%s.%s.Secret.' "$2" "$1" | sha256sum | cut -d' ' -f1)
  # shellcheck disable=SC2059   # the format is the hex bytes as \x escapes, on purpose
  echo "applyset-$(printf "$(sed 's/../\\x&/g' <<<"$hex")" | base64 -w0 | tr '+/' '-_' | tr -d '=')-v1"
}
CLUSTER_SET_ID=$(applyset_id "$APPLYSET_NAMESPACE" "$CLUSTER_SET")
# This environment's ApplySet ids per namespace ("" = cluster-scoped objects): {"ns": [ids]}.
my_ids_json() {
  local ns
  {
    echo "{\"key\": \"\", \"value\": [\"$CLUSTER_SET_ID\"]}"
    for ns in "$@"; do
      echo "{\"key\": \"$ns\", \"value\": [\"$(applyset_id "$ns" "$SETUP_SET")\", \"$(applyset_id "$ns" "$NS_SET")\"]}"
    done
  } | jq -s -c 'from_entries'
}

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

# --- 5. preflight: nothing is taken over from anyone --------------------------------------------
begin_stage "ownership check"
# The ApplySet parents in the cluster, id -> "namespace/name", to name an object's owner. Only
# used for messages, so a Forbidden is downgraded (the owner is then named by its id).
applyset_parents() {
  local rc=0 out
  out=$(KC_FORBIDDEN_OK=1 kc "$STAGE: list ApplySet parents" get secrets -A -l applyset.kubernetes.io/id -o json) || rc=$?
  if [ "$rc" = 99 ]; then say "note: cannot list Secrets cluster-wide (Forbidden): owners are named by ApplySet id"; echo '{}'; return; fi
  [ "$rc" = 0 ] || exit "$rc"
  jq -c '[.items[] | {key: .metadata.labels["applyset.kubernetes.io/id"], value: "\(.metadata.namespace)/\(.metadata.name)"}] | from_entries' <<<"$out"
}

# Every manifest object (CRDs aside) that already exists must be this environment's: its ApplySet
# label one of our ids, no other environment's field manager on it, and (unless --adopt) applied
# by us before. The legacy shared manager "k8s-infra" counts as ours on objects in our ApplySets.
ownership_check() {
  local n live problems mine parents='{}'
  n=$(write_batch '._stage != "crds" and (._pendingKind | not)' "$TMP/preflight.json")
  [ "$n" -gt 0 ] || return 0
  live=$(kc "$STAGE: read the live objects" get -f "$TMP/preflight.json" --ignore-not-found --show-managed-fields -o json |
         jq -c 'if .kind == "List" then .items[] else . end')
  [ -n "$live" ] || { say "$STAGE: none of the $n objects exists yet"; return 0; }
  mapfile -t nss < <(jq -r 'select(._stage == "namespaced") | .metadata.namespace' "$TMP/objects.jsonl" | sort -u)
  mine=$(my_ids_json "${nss[@]}")
  echo "$live" >"$TMP/live.jsonl"; echo "$mine" >"$TMP/mine.json"
  if [ "$(jq -s --argjson mine "$mine" 'any(.[]; (.metadata.labels["applyset.kubernetes.io/part-of"] // "") as $s
       | $s != "" and (($mine[.metadata.namespace // ""] // []) | index($s)) == null)' <<<"$live")" = true ]; then
    parents=$(applyset_parents)
  fi
  problems=$(jq -r --argjson mine "$mine" --argjson parents "$parents" --arg me "$FIELD_MANAGER" \
      --arg crdm "$CRD_FIELD_MANAGER" --arg legacy "$LEGACY_FIELD_MANAGER" --argjson adopt "$ADOPT" '
    . as $o
    | (.metadata.labels["applyset.kubernetes.io/part-of"] // "") as $set
    | (($mine[.metadata.namespace // ""] // []) | index($set) != null) as $inmine
    | [.metadata.managedFields[]? | select(.operation == "Apply") | .manager] as $appliers
    | [$appliers[] | select(startswith("k8s-infra") and . != $me and . != $crdm and (. != $legacy or ($inmine | not)))] as $others
    | [ (if $set != "" and ($inmine | not) then "belongs to ApplySet \($parents[$set] // $set)" else empty end),
        (if ($others | length) > 0 then "fields applied by field manager \($others | unique | join(", "))" else empty end),
        (if $set == "" and ($others | length) == 0 and ($appliers | index($me)) == null and $adopt != 1
         then "not applied by any environment (managers: \([.metadata.managedFields[]?.manager] | unique | join(", ") | if . == "" then "none" else . end)); --adopt takes it over"
         else empty end) ]
    | select(length > 0)
    | "  \($o.kind) \(if $o.metadata.namespace then $o.metadata.namespace + "/" else "" end)\($o.metadata.name): \(join("; "))"' <<<"$live")
  if [ -n "$problems" ]; then
    echo "$problems" >&2
    refuse "$STAGE: $(wc -l <<<"$problems") object(s) above belong to someone else; $ENV_NAME (field manager $FIELD_MANAGER) does not take them over"
  fi
  say "$STAGE: $(wc -l <<<"$live") of $n objects exist; all are $ENV_NAME's"
}
ownership_check

# Before environments had field managers of their own, all applied as "k8s-infra". On objects in
# this environment's ApplySets, that entry is handed to k8s-infra-<env> (renamed, or dropped when
# ours exists), so that fields leaving the model are removed and changes do not conflict with it.
# A metadata-only patch of managedFields, once per object; apply mode only.
hand_over_legacy_fields() {
  [ "$MODE" = apply ] && [ -s "$TMP/live.jsonl" ] || return 0
  local line ref name ns patch nsflag
  jq -c --slurpfile mine "$TMP/mine.json" --arg me "$FIELD_MANAGER" --arg legacy "$LEGACY_FIELD_MANAGER" '
    (.metadata.labels["applyset.kubernetes.io/part-of"] // "") as $set
    | select($set != "" and (($mine[0][.metadata.namespace // ""] // []) | index($set)) != null)
    | [.metadata.managedFields | to_entries[] | select(.value.manager == $legacy and .value.operation == "Apply") | .key] as $old
    | select($old | length > 0)
    | any(.metadata.managedFields[]; .manager == $me and .operation == "Apply") as $has
    | {ref: "\(.kind).\(.apiVersion | if contains("/") then (split("/") | .[1] + "." + .[0]) else . + "." end)",
       name: .metadata.name, ns: (.metadata.namespace // ""),
       patch: [($old | reverse)[] as $i   # highest index first, so removals do not shift the rest
               | {op: "test", path: "/metadata/managedFields/\($i)/manager", value: $legacy},
                 (if $has or $i != $old[0] then {op: "remove", path: "/metadata/managedFields/\($i)"}
                  else {op: "replace", path: "/metadata/managedFields/\($i)/manager", value: $me} end)]}' \
    "$TMP/live.jsonl" >"$TMP/legacy.jsonl"
  while IFS= read -r line; do
    ref=$(jq -r .ref <<<"$line"); name=$(jq -r .name <<<"$line"); ns=$(jq -r .ns <<<"$line"); patch=$(jq -c .patch <<<"$line")
    nsflag=(); [ -z "$ns" ] || nsflag=(-n "$ns")
    say "$STAGE: $ref ${ns:+$ns/}$name: fields of the shared field manager $LEGACY_FIELD_MANAGER handed to $FIELD_MANAGER"
    kc "$STAGE: hand $ref ${ns:+$ns/}$name over to $FIELD_MANAGER" patch "$ref" "$name" "${nsflag[@]}" --type=json -p "$patch" >/dev/null
  done <"$TMP/legacy.jsonl"
}

# A Namespace that left the model is pruned by the cluster stage, and the namespace controller
# then deletes everything in it. Allowed only when everything in it is ours: members of our
# ApplySets there, what controllers made from them (ownerReferences, Endpoints of our Services),
# and what the control plane puts in every namespace. Events are records, not objects: ignored.
# In --diff: listed, and the run ends with exit 3; otherwise: the deploy stops here.
NS_BLOCKED=""
namespace_prune_check() {
  local ours gone ns resources items report foreign
  ours=$(kc "$STAGE: list our Namespaces" get namespaces -l "applyset.kubernetes.io/part-of=$CLUSTER_SET_ID" \
           -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}')
  gone=$(grep -vxF -f <(jq -r 'select(.kind == "Namespace") | .metadata.name' "$TMP/objects.jsonl"; echo) <<<"$ours" || true)
  [ -n "$gone" ] || return 0
  resources=$(kc "$STAGE: list namespaced resource kinds" api-resources --verbs=list --namespaced -o name |
              grep -vxE 'events|events\.events\.k8s\.io' | paste -sd, -)
  for ns in $gone; do
    items=$(kc "$STAGE: list everything in namespace $ns" get "$resources" -n "$ns" -o json)
    report=$(jq -r --argjson mine "$(my_ids_json "$ns")" --arg ns "$ns" '
      [.items[] | select(.metadata.deletionTimestamp == null)] as $items
      | ($mine[$ns]) as $ids
      | def isours: (.metadata.labels["applyset.kubernetes.io/part-of"] // "") as $p
          | (.metadata.labels["applyset.kubernetes.io/id"] // "") as $i
          | ($ids | index($p) != null) or ($ids | index($i) != null)
            or (.kind == "ServiceAccount" and .metadata.name == "default")
            or (.kind == "ConfigMap" and .metadata.name == "kube-root-ca.crt");
        def grow: . as $s
          | ($s + ([$items[] | select(any(.metadata.ownerReferences[]?; $s[.uid])) | {(.metadata.uid): true}] | add // {}))
          | if length == ($s | length) then . else grow end;
        ([$items[] | select(isours)]) as $seed
        | ([$seed[] | select(.kind == "Service") | .metadata.name]) as $svcs
        | ([$seed[], ($items[] | select(.kind == "Endpoints" and (.metadata.name as $n | $svcs | index($n) != null)))]
           | map({(.metadata.uid): true}) | add // {} | grow) as $ours
        | $items[]
        | "\(if $ours[.metadata.uid] then "ours " else "OTHER" end) \(.kind)\(.apiVersion | if contains("/") then "." + split("/")[0] else "" end)/\(.metadata.name)"' <<<"$items")
    foreign=$(grep -c '^OTHER' <<<"$report" || true)
    say "$STAGE: pruning namespace/$ns would delete everything in it ($(grep -c . <<<"$report") objects; OTHER = not from this pipeline):"
    sed 's/^/      /' <<<"$report" >&2
    [ "$foreign" -gt 0 ] || continue
    if [ "$MODE" = diff ]; then
      say "$STAGE: an apply would refuse to prune namespace/$ns: it holds $foreign object(s) this pipeline did not apply"
      NS_BLOCKED="$NS_BLOCKED $ns"
    else
      refuse "$STAGE: namespace/$ns left the model but holds $foreign object(s) this pipeline did not apply (OTHER above): delete or move them first, then deploy again"
    fi
  done
}
begin_stage "namespace prune check"
namespace_prune_check
begin_stage "legacy field manager"
hand_over_legacy_fields   # the first write: only after every check above passed

# --- apply helpers -------------------------------------------------------------------------
# Runs kubectl (kc), shows its output, and fails on any server warning ("Warning: would violate
# PodSecurity ...", deprecations): warnings are errors in this pipeline.
run_checked() {
  local what=$1; shift
  kc "$what" "$@" >"$TMP/out"
  sed 's/^/    /' "$TMP/out" >&2
  if grep -q 'Warning:' "$LAST_ERR" "$TMP/out"; then
    die "$what: the server returned warnings (treated as errors)"
  fi
}

# server-side apply of one batch: dry run first, then (unless --dry-run) for real.
#   apply_batch <title> <file> <field manager> [applyset args...]
apply_batch() {
  local title=$1 file=$2 manager=$3; shift 3
  local cmd=(apply --server-side --field-manager="$manager" -f "$file" "$@")
  run_checked "$title (server dry run)" "${cmd[@]}" --dry-run=server
  if [ "$MODE" = apply ]; then
    run_checked "$title" "${cmd[@]}"
  fi
}

# Whether a parent Secret exists. (Called in conditions, where `set -e` is off: hence `|| exit`.)
parent_exists() {   # parent_exists NAMESPACE PARENT
  local out
  out=$(kc "$STAGE: look up ApplySet parent $1/$2" get secret "$2" -n "$1" --ignore-not-found -o name) || exit $?
  [ -n "$out" ]
}

# Members of an ApplySet still in the cluster: "kind.group/name" lines. Kinds from the parent's
# contains-group-kinds annotation, as kubectl's own pruner does.
# The cluster stage's members are cluster-scoped (its parent lives in $APPLYSET_NAMESPACE all the
# same); the namespaced stages' members live next to their parent.
member_ns() { if [ "$2" = "$CLUSTER_SET" ]; then echo ""; else echo "$1"; fi; }
applyset_members() {
  local ns=$1 parent=$2 id gks gk mns nsflag=()
  id=$(applyset_id "$ns" "$parent")
  mns=$(member_ns "$ns" "$parent"); [ -z "$mns" ] || nsflag=(-n "$mns")
  gks=$(kc "$STAGE: read ApplySet $ns/$parent" get secret "$parent" -n "$ns" \
          -o jsonpath='{.metadata.annotations.applyset\.kubernetes\.io/contains-group-kinds}')
  for gk in ${gks//,/ }; do
    kc "$STAGE: list members of ApplySet $ns/$parent" get "$gk" "${nsflag[@]}" -l "applyset.kubernetes.io/part-of=$id" -o name
  done
}

# ApplySet prune of a batch that became empty (kubectl apply refuses an empty input): delete the
# members by their part-of label, then the parent.
prune_empty_applyset() {
  local ns=$1 parent=$2 title=$3 members dr=() mns nsflag=()
  parent_exists "$ns" "$parent" || return 0
  mns=$(member_ns "$ns" "$parent"); [ -z "$mns" ] || nsflag=(-n "$mns")
  members=$(applyset_members "$ns" "$parent")
  [ "$MODE" = apply ] || dr=(--dry-run=server)
  say "$title: no objects left, pruning the whole ApplySet $ns/$parent"
  if [ -n "$members" ]; then
    # shellcheck disable=SC2086
    run_checked "$title prune" delete "${nsflag[@]}" --wait=false "${dr[@]}" $members
  fi
  run_checked "$title prune parent" delete secret "$parent" -n "$ns" --wait=false "${dr[@]}"
}

# --diff of one batch: kubectl diff (server-side, same field manager, with the ApplySet label the
# live objects carry), plus the members that prune would delete.
DIFF_RC=0
diff_batch() {
  local title=$1 ns=$2 parent=$3 filter=$4 manager=$5 id="" n rc members wanted m kindpart
  if [ -n "$parent" ] && parent_exists "$ns" "$parent"; then id=$(applyset_id "$ns" "$parent"); fi
  skip_pending "$filter"
  n=$(write_batch "($filter) and $CHECKABLE" "$TMP/batch.json" "$id")
  say "$title: diff of $n objects"
  if [ "$n" -gt 0 ]; then
    # kubectl diff: 0 no differences, 1 differences, more: it failed.
    rc=0; KC_OK=1 kc "$title: kubectl diff" diff --server-side --field-manager="$manager" -f "$TMP/batch.json" >&2 || rc=$?
    [ "$rc" = 0 ] || DIFF_RC=$EXIT_CHANGES
  fi
  if [ -n "$id" ]; then
    members=$(applyset_members "$ns" "$parent")
    wanted=$(jq -r '.items[] | "\(.kind)/\(.metadata.name)"' "$TMP/batch.json" | tr 'A-Z' 'a-z')
    for m in $members; do
      # kubectl -o name prints kind[.group]/name; compare on kind/name.
      kindpart=${m%%/*}
      if ! grep -qxF "$(echo "${kindpart%%.*}/${m#*/}" | tr 'A-Z' 'a-z')" <<<"$wanted"; then
        say "$title: would prune $m"; DIFF_RC=$EXIT_CHANGES
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
    [ "$MODE" != diff ] || DIFF_RC=$EXIT_CHANGES   # they would be created
  fi
}

case "$MODE" in
  apply) say "step 3/4 apply (each stage: server dry run, then apply; field manager $FIELD_MANAGER)" ;;
  dry-run) say "step 3/4 apply: server dry run only (--dry-run=server)" ;;
  diff) say "step 3/4 diff against the cluster" ;;
esac

# --- stage 1: CRDs (never pruned) ---
begin_stage "stage 1/3 crds"
F='._stage == "crds"'
if [ "$MODE" = diff ]; then
  diff_batch "stage 1/3 crds" "" "" "$F" "$CRD_FIELD_MANAGER"
else
  n=$(write_batch "$F" "$TMP/crds.json")
  if [ "$n" -gt 0 ]; then
    say "stage 1/3 crds: $n CustomResourceDefinitions"
    apply_batch "stage 1/3 crds" "$TMP/crds.json" "$CRD_FIELD_MANAGER"
    if [ "$MODE" = apply ]; then
      # Their kinds must be served before stage 3 sends objects of them.
      mapfile -t crds < <(jq -r '.items[] | "crd/\(.metadata.name)"' "$TMP/crds.json")
      KC_WATCH=1 run_checked "stage 1/3 crds established" wait --for=condition=Established --timeout="$(time_left)s" "${crds[@]}"
    fi
  else
    say "stage 1/3 crds: none"
  fi
fi

# --- stage 2: cluster-scoped objects (ApplySet parent: Secret in $APPLYSET_NAMESPACE) ---
begin_stage "stage 2/3 cluster"
F='._stage == "cluster"'
if [ "$MODE" = diff ]; then
  diff_batch "stage 2/3 cluster" "$APPLYSET_NAMESPACE" "$CLUSTER_SET" "$F" "$FIELD_MANAGER"
else
  skip_pending "$F"
  n=$(write_batch "$F and $CHECKABLE" "$TMP/cluster.json")
  if [ "$n" -gt 0 ]; then
    say "stage 2/3 cluster: $n cluster-scoped objects (ApplySet $APPLYSET_NAMESPACE/$CLUSTER_SET)"
    apply_batch "stage 2/3 cluster" "$TMP/cluster.json" "$FIELD_MANAGER" -n "$APPLYSET_NAMESPACE" --applyset="$CLUSTER_SET" --prune
  else
    prune_empty_applyset "$APPLYSET_NAMESPACE" "$CLUSTER_SET" "stage 2/3 cluster"
  fi
fi

# --- stage 3: namespaced objects, per namespace in two batches, each its own ApplySet (parent
# Secret in that namespace): "setup" holds what admission of the rest looks up (ServiceAccounts,
# LimitRanges, ResourceQuotas, Roles), so its server dry run and apply come first; "resources"
# is everything else.
begin_stage "stage 3/3 find namespaces"
# Namespaces in the manifests, plus those where an earlier deploy left objects (to prune them).
# Only a real Forbidden may skip the lookup (with a note); any other failure stops the run.
jq -r 'select(._stage == "namespaced") | .metadata.namespace' "$TMP/objects.jsonl" >"$TMP/ns-list.txt"
for set in "$SETUP_SET" "$NS_SET"; do
  rc=0
  found=$(KC_FORBIDDEN_OK=1 kc "stage 3/3: look up ApplySet parents $set in all namespaces" \
            get secrets -A --field-selector "metadata.name=$set" -l applyset.kubernetes.io/id \
            -o jsonpath='{range .items[*]}{.metadata.namespace}{"\n"}{end}') || rc=$?
  case "$rc" in
    0) echo "$found" >>"$TMP/ns-list.txt" ;;
    99) say "note: cannot list Secrets cluster-wide (Forbidden): a namespace whose objects all left the manifests is not pruned" ;;
    *) exit "$rc" ;;
  esac
done
sort -u -o "$TMP/ns-list.txt" "$TMP/ns-list.txt"

# Dry run / diff: mark the Pods of namespace $1 whose ServiceAccount does not exist yet.
mark_pending_sa() {
  local sas
  sas=$(kc "$STAGE: list ServiceAccounts" get serviceaccounts -n "$1" -o json | jq -c '[.items[].metadata.name]')
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
    diff_batch "$title" "$ns" "$set" "$filter" "$FIELD_MANAGER"
    return
  fi
  skip_pending "$filter"
  [ "$MODE" = apply ] || [ -n "$phase" ] || return 0   # dry run: namespace comes from stage 2
  n=$(write_batch "$filter and $CHECKABLE" "$TMP/ns.json")
  if [ "$n" -gt 0 ]; then
    say "$title: $n objects (ApplySet $ns/$set)"
    apply_batch "$title" "$TMP/ns.json" "$FIELD_MANAGER" -n "$ns" --applyset="$set" --prune
  elif [ "$phase" = Active ]; then
    prune_empty_applyset "$ns" "$set" "$title"
  fi
}

while IFS= read -r ns; do
  [ -n "$ns" ] || continue
  begin_stage "stage 3/3 namespace $ns"
  F="._stage == \"namespaced\" and .metadata.namespace == \"$ns\""
  phase=$(kc "$STAGE: read Namespace" get namespace "$ns" --ignore-not-found -o jsonpath='{.status.phase}')
  namespace_batch "stage 3/3 namespace $ns (setup)" "$F and (.kind as \$k | $SETUP_KINDS | index(\$k)) != null" "$SETUP_SET"
  if [ "$MODE" = apply ]; then
    # A bare Pod is admitted only once its ServiceAccount exists; "default" is created by the
    # controller-manager a moment after the Namespace, so wait for it (within the stage deadline).
    if jq -e --arg ns "$ns" -s 'any(.[]; .kind == "Pod" and .metadata.namespace == $ns and (.spec.serviceAccountName // "default") == "default")' "$TMP/objects.jsonl" >/dev/null; then
      while :; do
        sa=$(kc "$STAGE: wait for ServiceAccount default" get serviceaccount default -n "$ns" --ignore-not-found -o name)
        [ -z "$sa" ] || break
        time_left >/dev/null; sleep 1
      done
    fi
  elif [ -n "$phase" ]; then
    mark_pending_sa "$ns"
  fi
  namespace_batch "stage 3/3 namespace $ns (resources)" "$F and (.kind as \$k | $SETUP_KINDS | index(\$k)) == null" "$NS_SET"
done <"$TMP/ns-list.txt"

if [ "$MODE" = diff ]; then
  if [ -n "$NS_BLOCKED" ]; then
    say "diff: an apply would be refused: namespace(s)$NS_BLOCKED hold objects this pipeline did not apply (see above)"
    exit "$EXIT_REFUSED"
  fi
  if [ "$DIFF_RC" = 0 ]; then say "diff: no changes"; else say "diff: changes pending (see above)"; fi
  exit "$DIFF_RC"
fi
if [ "$MODE" = dry-run ]; then
  total=$(wc -l <"$TMP/objects.jsonl")
  say "dry run passed: $((total - SKIPPED)) objects checked by the server, $SKIPPED not checkable yet"
fi

# --- 4. wait for rollouts ------------------------------------------------------------------
# Each rollout gets WAIT_TIMEOUT; the step as a whole is bounded by DEPLOY_TIMEOUT.
if [ "$WAIT" = 1 ] && [ "$MODE" = apply ]; then
  begin_stage "step 4/4 wait" "$DEPLOY_TIMEOUT_S"
  say "step 4/4 wait: rollout status (timeout ${WAIT_TIMEOUT_S}s each)"
  jq -r 'select(.kind == "Deployment" or .kind == "StatefulSet" or .kind == "DaemonSet")
         | "\(.kind | ascii_downcase)/\(.metadata.name) \(.metadata.namespace)"' "$TMP/objects.jsonl" >"$TMP/rollouts.txt"
  while read -r obj ns; do
    limit=$(time_left); [ "$limit" -lt "$WAIT_TIMEOUT_S" ] || limit=$WAIT_TIMEOUT_S
    # (timeout + --timeout bound it; kubectl's own --request-timeout would cut the watch short)
    rc=0
    timeout --kill-after=5 "$((limit + 5))" kubectl rollout status "$obj" -n "$ns" --timeout="${limit}s" 2>"$TMP/wait.err" >&2 || rc=$?
    sed 's/^/    /' "$TMP/wait.err" >&2
    [ "$rc" = 0 ] && continue
    if [ "$rc" = 124 ] || [ "$rc" = 137 ] || grep -q 'timed out waiting' "$TMP/wait.err"; then
      die "step 4/4 wait: rollout of $ns/$obj did not finish within ${limit}s (WAIT_TIMEOUT=${WAIT_TIMEOUT_S}s)"
    fi
    is_forbidden "$TMP/wait.err" && die "step 4/4 wait: rollout of $ns/$obj: forbidden (RBAC)"
    die "step 4/4 wait: kubectl rollout status $ns/$obj failed (exit $rc)"
  done <"$TMP/rollouts.txt"
else
  say "step 4/4 wait: skipped"
fi
say "done ($MODE)"
