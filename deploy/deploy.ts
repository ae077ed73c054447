// npm run deploy -- <env> [--dry-run | --diff] [--wait] [--force-cluster] [--adopt] [--prune-namespaces] [--push-all]
// (deploy/run.js runs this file as a bundle; `node --import tsx deploy/deploy.ts` runs it as it is)
//
// The deploy pipeline (policy; the transport is kube.ts, the object arithmetic engine.ts):
//   lock -> synth -> dist/ is committed -> read the manifests -> is this the environment's cluster? -> who owns
//   what -> SealedSecrets verified by the controller -> Namespace prune check -> apply in stages -> (--wait)
// Stages, each a server dry run of every object first, written only when the whole stage passed with no error and
// no warning:
//   1. crds        CustomResourceDefinitions of crds/ and the manifests; never pruned (field manager k8s-infra-crds)
//   2. cluster     cluster-scoped objects (Namespaces, ClusterRoles, ...), pruned
//   3. namespaced  per namespace a "setup" batch (ServiceAccounts, LimitRanges, ResourceQuotas, Roles: what admission
//                  of the rest looks up), then the "resources" batch; each pruned
// Every write is a server-side apply by the environment's field manager with force: the model (git) wins over a
// hand edit of a field it sets, and the fields it takes back are printed. Fields the model does not set are left
// alone. Ownership (which environment an object belongs to) is checked before anything is written, so force never
// takes an object from another environment, nor (without --adopt) one made by hand.
//
// Membership is recorded the way KEP-3659 ApplySets record it (kubectl's alpha `apply --applyset` reads the same
// labels): each member carries applyset.kubernetes.io/part-of=<id>; each batch has a parent Secret whose
// contains-group-kinds annotation lists the kinds to look in. This program computes, writes and prunes that itself;
// kubectl's ApplySet implementation is not used, so a change to kubectl's alpha flag changes nothing here.
//
// An environment reconciled by Flux (its dist/<env>/ has the GitOps bootstrap, flux.k8s.yaml: platform.gitops) has
// one writer, Flux: this program then applies the bootstrap only, as field manager k8s-infra-bootstrap (what README
// "GitOps" has an admin run by hand), with no ApplySets and no prune (Flux prunes), and refuses to change a field
// Flux's kustomize-controller holds (change it through git instead). --push-all is the break-glass: the whole
// environment as for any other, refused while Flux is reconciling it (suspend its Kustomization first).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as YAML from 'yaml';
import { acquireLock } from './lock';
import { Answer, discover, groupOf, Kube, KubeError, loadKubeconfig, ResourceInfo, resourcePath, testHook } from './kube';
import {
  APPLYSET_ID, applysetId, Change, changes, describe, FLUX_MANAGER, GITOPS_BOOTSTRAP_FILE, gitopsOf, GROUP_KINDS,
  gkString, K8sObject, key, namespaceContent, ownershipMoves, PART_OF, parseGk, ref, TOOLING,
} from './engine';

const USAGE = `usage: npm run deploy -- <env> [--dry-run | --diff] [--wait] [--force-cluster] [--adopt] [--prune-namespaces] [--push-all]

  --dry-run           every stage as a server dry run (admission, validation, PodSecurity, prune preview)
  --diff              what an apply would change, field by field (with who holds a field someone else changed),
                      what prune would delete, and everything a Namespace deletion would take with it
  --wait              after applying, wait for each Deployment/StatefulSet/DaemonSet to roll out
  --force-cluster     deploy although the cluster is not the one deploy/targets.json declares
  --adopt             take over objects that exist but were applied by no environment (e.g. made by hand), the
                      model's values winning; objects of another environment are never taken over
  --prune-namespaces  delete Namespaces that left the model (and so everything in them); see README, Deploy
  --push-all          break-glass, for an environment reconciled by Flux (dist/<env>/flux.k8s.yaml, platform.gitops):
                      push every object as for any other environment, instead of the GitOps bootstrap only; refused
                      while Flux reconciles it (suspend its Kustomization first; README, GitOps). Objects Flux made
                      are taken over only with --adopt. Also DEPLOY_PUSH_ALL=1

GitOps: for an environment with dist/<env>/flux.k8s.yaml, Flux applies dist/<env>/ from git; this tool applies only
that bootstrap (its Namespaces, the reconciler's ServiceAccount and RBAC, Flux's sources and Kustomizations) as field
manager k8s-infra-bootstrap, prunes nothing, and refuses to change a field Flux holds (change it in git).

exit codes:
  0  done; with --diff: no changes
  1  --diff only: changes pending (drift included)
  2  error: bad usage, unreachable cluster, the server refused or failed, a deadline passed, any unexpected failure
  3  refused before writing: wrong cluster, an object owned by someone else, a SealedSecret the controller cannot
     open, a Namespace prune that would delete others' objects or was not asked for, another deploy holds the lock

deadlines (wall clock; plain seconds, or with an s/m suffix):
  KUBECTL_TIMEOUT=60s   each call to the API server
  STAGE_TIMEOUT=300s    each stage (preflight checks, crds, cluster, each namespace)
  DEPLOY_TIMEOUT=1800s  the whole run, synth and --wait included
  WAIT_TIMEOUT=300s     each rollout with --wait

other settings (env):
  SKIP_SYNTH=1 (use dist/ as it is), ALLOW_DIRTY=1 (deploy a dist/ that differs from git),
  DIST_DIR (<repo>/dist), CRD_DIR (<repo>/crds), DEPLOY_TARGETS (<repo>/deploy/targets.json),
  DEPLOY_LOCK (<repo>/.cache/deploy.lock), FIELD_MANAGER (k8s-infra-<env>; k8s-infra-bootstrap for a GitOps bootstrap),
  APPLYSET_NAMESPACE (home of the cluster stage's ApplySet parent Secret, "default"),
  SEALED_SECRETS_CONTROLLER_URL (reach the sealed-secrets controller directly instead of through the API server)
testing only: DEPLOY_TEST_HOOK_AT, DEPLOY_TEST_HOOK, DEPLOY_TEST_HOOK_STATE (deploy/kube.ts)`;

const EXIT_CHANGES = 1;
const EXIT_ERROR = 2;
const EXIT_REFUSED = 3;

/** A deliberate stop: an error (2) or a refusal (3), with the step and what happened. */
class Stop extends Error {
  constructor(readonly code: number, message: string) { super(message); }
}

let ENV = '';
let STAGE = 'start';
/** The project (deploy/..); deploy/run.js, which runs this as a bundle from .cache/deploy/, passes it. */
let ROOT = path.resolve(__dirname, '..');
const say = (line: string) => process.stderr.write(`deploy[${ENV}]: ${line}\n`);
const die = (message: string): never => { throw new Stop(EXIT_ERROR, message); };
const refuse = (message: string): never => { throw new Stop(EXIT_REFUSED, message); };
const indent = (lines: string[], by = '    ') => lines.map((l) => `${by}${l}`).join('\n');

// --- settings ---------------------------------------------------------------------------------------------------
function seconds(name: string, fallback: string): number {
  const v = process.env[name] || fallback;
  const m = /^(\d+)([sm]?)$/.exec(v);
  if (!m || Number(m[1]) === 0) die(`settings: ${name}=${v} is not a duration (e.g. 60, 60s, 5m)`);
  return Number(m![1]) * (m![2] === 'm' ? 60 : 1);
}

// --- deadlines --------------------------------------------------------------------------------------------------
const T0 = Date.now();
let deployEnd = 0;
let deployWhy = '';
let stageEnd = 0;
let stageWhy = '';
let KUBECTL_S = 60;
let STAGE_S = 300;
function beginStage(name: string, secs = STAGE_S): void {
  STAGE = name;
  const end = Date.now() + secs * 1000;
  if (end < deployEnd) { stageEnd = end; stageWhy = `STAGE_TIMEOUT=${secs}s of ${name}`; } else { stageEnd = deployEnd; stageWhy = deployWhy; }
  testHook(`${name}: begin`);
}
function budget(): { timeoutMs: number; why: string } {
  const left = stageEnd - Date.now();
  return left < KUBECTL_S * 1000 ? { timeoutMs: left, why: stageWhy } : { timeoutMs: KUBECTL_S * 1000, why: `KUBECTL_TIMEOUT=${KUBECTL_S}s` };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- the API server ---------------------------------------------------------------------------------------------
let kube: Kube;
/** One call, named `${STAGE}: ${what}`; a failure stops the run naming both, with the server's message. */
async function api(what: string, method: string, urlPath: string, o: { body?: unknown; contentType?: string; ok?: number[]; accept?: string } = {}): Promise<Answer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await kube.call(`${STAGE}: ${what}`, method, urlPath, { ...o, ...budget() });
    } catch (e) {
      // A read the server cannot answer yet (503: e.g. "storage is (re)initializing" just after a CRD was created;
      // 429: too many requests) is asked again, within the same deadlines; writes and everything else are not.
      const again = method === 'GET' && e instanceof KubeError && (e.status === 503 || e.status === 429) && attempt < 20;
      if (!again || Date.now() + 250 * attempt >= Math.min(stageEnd, deployEnd)) throw e;
      await sleep(Math.min(1000, 250 * attempt));
    }
  }
}
const get = (what: string, urlPath: string, ok?: number[]) => api(what, 'GET', urlPath, { ok });

// --- objects ----------------------------------------------------------------------------------------------------
interface Obj {
  o: K8sObject;
  file: string;
  stage: 'crds' | 'cluster' | 'namespaced';
  res?: ResourceInfo;
  pending?: string;   // why a dry run cannot check it yet
}
const ORDER = ['Namespace', 'ResourceQuota', 'LimitRange', 'PriorityClass', 'StorageClass', 'IngressClass', 'ClusterRole',
  'ClusterRoleBinding', 'PersistentVolume', 'NetworkPolicy', 'PodDisruptionBudget', 'ServiceAccount', 'Secret', 'SealedSecret',
  'ConfigMap', 'PersistentVolumeClaim', 'Role', 'RoleBinding', 'Service', 'DaemonSet', 'Pod', 'ReplicaSet', 'Deployment',
  'HorizontalPodAutoscaler', 'StatefulSet', 'Job', 'CronJob', 'Ingress'];
const rank = (kind: string) => (ORDER.includes(kind) ? ORDER.indexOf(kind) : 1000);
const SETUP_KINDS = ['ServiceAccount', 'LimitRange', 'ResourceQuota', 'Role'];
/** kubectl's `-o name` form: configmap/x, ingress.networking.k8s.io/x */
const oname = (o: K8sObject) => `${o.kind.toLowerCase()}${groupOf(o.apiVersion) ? `.${groupOf(o.apiVersion)}` : ''}/${o.metadata.name}`;

function readManifests(files: string[], root: string): { o: K8sObject; file: string }[] {
  const out: { o: K8sObject; file: string }[] = [];
  for (const f of files) {
    let docs: YAML.Document[];
    try { docs = YAML.parseAllDocuments(fs.readFileSync(f, 'utf-8')) as YAML.Document[]; } catch (e) { return die(`read the manifests: ${f}: ${(e as Error).message}`); }
    for (const d of docs) {
      if (d.errors.length) die(`read the manifests: ${path.relative(root, f)}: ${d.errors[0].message}`);
      const v = d.toJSON();
      if (v == null) continue;
      for (const o of (v.kind === 'List' ? v.items ?? [] : [v]) as K8sObject[]) {
        if (!o?.apiVersion || !o.kind || !o.metadata?.name) die(`read the manifests: ${path.relative(root, f)}: an object without apiVersion, kind or metadata.name`);
        if (o.metadata.annotations && Object.keys(o.metadata.annotations).length === 0) delete o.metadata.annotations;
        out.push({ o, file: path.relative(root, f) });
      }
    }
  }
  return out;
}

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

// --- the run ----------------------------------------------------------------------------------------------------
async function main(argv: string[]): Promise<number> {
  if (argv[0] === '-h' || argv[0] === '--help') { console.log(USAGE); return 0; }
  ENV = argv[0] ?? '';
  if (!ENV || ENV.startsWith('-')) { console.error(USAGE); return EXIT_ERROR; }
  let mode: 'apply' | 'dry-run' | 'diff' = 'apply';
  let wait = false; let forceCluster = false; let adopt = false; let pruneNamespaces = false;
  let pushAll = process.env.DEPLOY_PUSH_ALL === '1';
  for (const a of argv.slice(1)) {
    if (a === '--dry-run') mode = 'dry-run';
    else if (a === '--diff') mode = 'diff';
    else if (a === '--wait') wait = true;
    else if (a === '--force-cluster') forceCluster = true;
    else if (a === '--adopt') adopt = true;
    else if (a === '--prune-namespaces') pruneNamespaces = true;
    else if (a === '--push-all') pushAll = true;
    else if (a === '-h' || a === '--help') { console.log(USAGE); return 0; }
    else { console.error(`unknown argument ${a}\n${USAGE}`); return EXIT_ERROR; }
  }
  KUBECTL_S = seconds('KUBECTL_TIMEOUT', '60s');
  STAGE_S = seconds('STAGE_TIMEOUT', '300s');
  const DEPLOY_S = seconds('DEPLOY_TIMEOUT', '1800s');
  const WAIT_S = seconds('WAIT_TIMEOUT', '300s');
  deployEnd = T0 + DEPLOY_S * 1000; deployWhy = `DEPLOY_TIMEOUT=${DEPLOY_S}s`;
  stageEnd = deployEnd; stageWhy = deployWhy;
  const DIST_DIR = path.resolve(process.env.DIST_DIR || path.join(ROOT, 'dist'));
  const CRD_DIR = path.resolve(process.env.CRD_DIR || path.join(ROOT, 'crds'));
  const TARGETS = process.env.DEPLOY_TARGETS || path.join(ROOT, 'deploy', 'targets.json');
  const LOCK = process.env.DEPLOY_LOCK || path.join(ROOT, '.cache', 'deploy.lock');
  let ME = process.env.FIELD_MANAGER || `k8s-infra-${ENV}`;
  const CRD_ME = 'k8s-infra-crds';    // crds/ belongs to the repo, not to one environment
  const LEGACY = 'k8s-infra';         // what every environment applied as before they had their own
  const SET_NS = process.env.APPLYSET_NAMESPACE || 'default';
  const CLUSTER_SET = `k8s-infra-${ENV}-cluster`;
  const SETUP_SET = `k8s-infra-${ENV}-setup`;
  const NS_SET = `k8s-infra-${ENV}`;
  const CLUSTER_ID = applysetId(SET_NS, CLUSTER_SET);
  const dry = mode !== 'apply';

  // --- lock ---
  beginStage('lock');
  const user = process.env.USER || process.env.LOGNAME || String(process.getuid?.() ?? '?');
  const lock = acquireLock(LOCK, `${ENV} ${mode}, user ${user}`);
  if (!lock.ok) refuse(`lock: another deploy holds ${LOCK}: ${lock.holder}`);
  if (lock.ok && lock.stale) say(`lock: took over the stale lock ${LOCK} of a process that is gone: ${lock.stale}`);

  // --- 1. synth ---
  if (process.env.SKIP_SYNTH === '1') say('step 1/4 synth: skipped (SKIP_SYNTH=1)');
  else {
    beginStage('step 1/4 synth');
    say('step 1/4 synth: npm run synth');
    const r = spawnSync('npm', ['run', '--silent', 'synth'], { cwd: ROOT, stdio: ['ignore', 2, 2], env: { ...process.env, CDK8S_CHECK_UPGRADE: 'false' }, timeout: Math.max(1, stageEnd - Date.now()), killSignal: 'SIGKILL' });
    if (r.error || r.status !== 0) die(`step 1/4 synth: ${r.error ? `${r.error.message} (${stageWhy})` : `npm run synth exited ${r.status ?? r.signal}`}`);
  }

  // --- 2. dist/ must be what is committed ---
  if (process.env.ALLOW_DIRTY === '1') say('step 2/4 git check: skipped (ALLOW_DIRTY=1)');
  else {
    beginStage('step 2/4 git check');
    const r = spawnSync('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=all', '--', DIST_DIR], { encoding: 'utf-8' });
    if (r.status !== 0) die(`step 2/4 git check: cannot run git status on ${DIST_DIR} (outside the repo? set ALLOW_DIRTY=1 for a scratch dir): ${(r.stderr || r.error?.message || '').trim()}`);
    if (r.stdout.trim()) { process.stderr.write(r.stdout); die(`step 2/4 git check: ${DIST_DIR} differs from the commit: commit the synthesized output (what is deployed must be reviewed in git)`); }
    say('step 2/4 git check: dist/ matches the commit');
  }

  // --- 3. read the manifests ---
  beginStage('read the manifests');
  const envDir = path.join(DIST_DIR, ENV);
  const list = (dir: string, re: RegExp) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => re.test(f)).sort().map((f) => path.join(dir, f)) : []);
  const manifestFiles = list(envDir, /\.k8s\.yaml$/);
  if (!manifestFiles.length) die(`read the manifests: none in ${envDir}/*.k8s.yaml (unknown environment, or synth did not run?)`);
  // An environment reconciled by Flux: one writer. Its bootstrap only (no CRDs: Flux's installation brings Flux's,
  // and the bootstrap's <env>-platform Kustomization applies crds/), unless --push-all.
  const bootstrapFile = manifestFiles.find((f) => path.basename(f) === GITOPS_BOOTSTRAP_FILE);
  const gitops = bootstrapFile ? gitopsOf(ENV, readManifests([bootstrapFile], ROOT).map((m) => m.o)) : undefined;
  if (bootstrapFile && !gitops) die(`read the manifests: ${path.relative(ROOT, bootstrapFile)} has no Kustomization ${ENV} with its GitRepository`);
  const bootstrapOnly = !!gitops && !pushAll;
  if (bootstrapOnly && !process.env.FIELD_MANAGER) ME = 'k8s-infra-bootstrap';
  if (pushAll && !gitops) say(`note: --push-all: ${ENV} is not reconciled by Flux (no ${GITOPS_BOOTSTRAP_FILE}); every object is pushed, as always`);
  if (gitops) {
    say(bootstrapOnly
      ? `${ENV} is reconciled by Flux from ${gitops.url} ${gitops.branch}: the GitOps bootstrap only (${path.relative(ROOT, bootstrapFile!)}, field manager ${ME}, no prune); the rest arrives from git`
      : `WARNING: --push-all: ${ENV} is reconciled by Flux from ${gitops.url} ${gitops.branch}; pushing every object of it (break-glass: README, GitOps)`);
  }
  const manifests = readManifests(bootstrapOnly ? [bootstrapFile!] : manifestFiles, ROOT);
  const crdFiles = bootstrapOnly ? [] : readManifests(list(CRD_DIR, /\.(ya?ml|json)$/), ROOT);

  // --- 4. is this the environment's cluster? ---
  beginStage('cluster check');
  try { kube = new Kube(loadKubeconfig()); } catch (e) { die(`cluster check: cannot use the kubeconfig: ${(e as Error).message}`); }
  if (!fs.existsSync(TARGETS)) die(`cluster check: ${TARGETS} not found`);
  let decl: { kubeSystemUid?: string | null; contexts?: string[] } = {};
  try { decl = JSON.parse(fs.readFileSync(TARGETS, 'utf-8')).environments?.[ENV]?.cluster ?? {}; } catch (e) { die(`cluster check: cannot read ${TARGETS}: ${(e as Error).message}`); }
  const ctx = kube.conn.context;
  const [ks, disco, nsList] = await Promise.all([
    get('read Namespace kube-system (cluster unreachable? KUBECONFIG?)', '/api/v1/namespaces/kube-system'),
    discover((step, p, accept) => api(step, 'GET', p, { accept })),
    get('list Namespaces', '/api/v1/namespaces'),
  ]);
  const uid = ks.body.metadata.uid;
  say(`cluster: kube context '${ctx}', kube-system uid ${uid} (${kube.conn.server.host})`);
  const wantCtx = decl.contexts ?? [];
  let problem = '';
  if (!decl.kubeSystemUid && !wantCtx.length) problem = `${ENV} declares no cluster in ${TARGETS} (record kube-system's uid: kubectl get namespace kube-system -o jsonpath='{.metadata.uid}')`;
  else if (decl.kubeSystemUid && decl.kubeSystemUid !== uid) problem = `this cluster's kube-system uid is ${uid}, ${ENV} belongs to the cluster with ${decl.kubeSystemUid} (${TARGETS})`;
  else if (wantCtx.length && !wantCtx.some((p) => globToRegExp(p).test(ctx))) problem = `kube context '${ctx}' is not one of ${ENV}'s (${wantCtx.join(' ')}, ${TARGETS})`;
  if (problem) {
    if (!forceCluster) refuse(`cluster check: ${problem}; pass --force-cluster if this really is ${ENV}'s cluster`);
    say(`WARNING: --force-cluster: ${problem}`);
  }
  const liveNamespaces = new Map<string, any>(nsList.body.items.map((n: any) => [n.metadata.name, n]));

  // --- classify: stage, resource, and whether a dry run can check it now ---
  const crdKinds = new Map<string, { namespaced: boolean; plural: string; version: string }>();
  for (const { o } of [...crdFiles, ...manifests]) {
    if (o.kind === 'CustomResourceDefinition') {
      const v = (o.spec.versions ?? []).find((x: any) => x.storage) ?? o.spec.versions?.[0];
      crdKinds.set(`${o.spec.group}/${o.spec.names.kind}`, { namespaced: o.spec.scope === 'Namespaced', plural: o.spec.names.plural, version: v?.name });
    }
  }
  const objs: Obj[] = [];
  const problems: string[] = [];
  for (const m of [...crdFiles, ...manifests]) {
    const { o } = m;
    const g = groupOf(o.apiVersion);
    const res = disco.byGvk.get(`${o.apiVersion}/${o.kind}`);
    const crd = crdKinds.get(`${g}/${o.kind}`);
    if (!res && !crd) {
      problems.push(`${ref(o)} (${m.file}): the cluster serves no ${o.kind} in ${o.apiVersion}, and no CRD in crds/ or the manifests defines it${bootstrapOnly && groupOf(o.apiVersion).endsWith('.toolkit.fluxcd.io') ? ' (install Flux on the cluster first: README, GitOps)' : ''}`);
      continue;
    }
    const info: ResourceInfo = res ?? { group: g, version: o.apiVersion.split('/').pop()!, kind: o.kind, resource: crd!.plural, namespaced: crd!.namespaced, verbs: [] };
    const stage = o.kind === 'CustomResourceDefinition' ? 'crds' : info.namespaced ? 'namespaced' : 'cluster';
    if (stage === 'namespaced' && !o.metadata.namespace) problems.push(`${ref(o)} (${m.file}): namespaced, but has no metadata.namespace (it would land in the kubeconfig's namespace)`);
    if (stage !== 'namespaced' && o.metadata.namespace) delete o.metadata.namespace;
    const pending = !res ? 'CRD not installed yet' : stage === 'namespaced' && !liveNamespaces.has(o.metadata.namespace!) ? 'namespace not created yet' : undefined;
    objs.push({ o, file: m.file, stage, res: info, pending });
  }
  const seen = new Map<string, string>();
  for (const x of objs) {
    if (seen.has(key(x.o))) problems.push(`${ref(x.o)}: defined twice (${seen.get(key(x.o))} and ${x.file})`);
    seen.set(key(x.o), x.file);
  }
  if (problems.length) die(`read the manifests: ${problems.length} problem(s):\n${indent(problems)}`);
  const modelNamespaces = [...new Set(objs.filter((x) => x.stage === 'namespaced').map((x) => x.o.metadata.namespace!))].sort();
  const mine: Record<string, string[]> = { '': [CLUSTER_ID] };
  for (const ns of modelNamespaces) mine[ns] = [applysetId(ns, SETUP_SET), applysetId(ns, NS_SET)];
  const inMine = (o: K8sObject) => (mine[o.metadata.namespace ?? ''] ?? []).includes(o.metadata.labels?.[PART_OF] ?? '');

  // --- --push-all: never while Flux reconciles the environment (it would take every field back: two writers) ---
  if (gitops && pushAll) {
    beginStage('gitops check');
    const kr = disco.byGvk.get(`${gitops.apiVersion}/Kustomization`);
    const k = kr ? (await get(`read Kustomization ${gitops.namespace}/${gitops.kustomization}`, resourcePath(kr, gitops.namespace, gitops.kustomization), [404])) : undefined;
    const status = k?.status === 200 ? k.body.status ?? {} : undefined;
    if (status && k!.body.spec?.suspend !== true && (status.lastAttemptedRevision || (status.conditions ?? []).length)) {
      const why = `Flux reconciles ${ENV} (Kustomization ${gitops.namespace}/${gitops.kustomization}, last at ${status.lastAppliedRevision ?? status.lastAttemptedRevision ?? '?'}): `
        + `a push would fight it (it takes every field back within its interval). Break-glass: suspend it first `
        + `(kubectl -n ${gitops.namespace} patch kustomization ${gitops.kustomization} --type=merge -p '{"spec":{"suspend":true}}'), push, `
        + `put the fix into git, then resume it (suspend: false)`;
      if (mode === 'apply') refuse(`gitops check: --push-all: ${why}`);
      say(`note: an apply would be refused: ${why}`);
    } else say(`gitops check: Flux does not reconcile ${ENV} now (${!status ? 'no Kustomization' : k!.body.spec?.suspend === true ? 'its Kustomization is suspended' : 'its Kustomization has never run'}): --push-all goes on`);
  }

  // --- 5. ownership: nothing is taken over from anyone ---
  beginStage('ownership check');
  const live = new Map<string, K8sObject>();
  await Promise.all(objs.filter((x) => x.res && x.pending !== 'CRD not installed yet').map(async (x) => {
    const a = await get(`read ${ref(x.o)}`, resourcePath(x.res!, x.o.metadata.namespace, x.o.metadata.name), [404]);
    if (a.status === 200) live.set(key(x.o), a.body);
  }));
  const foreignSets = [...live.values()].some((l) => (l.metadata.labels?.[PART_OF] ?? '') !== '' && !inMine(l) && l.kind !== 'CustomResourceDefinition');
  const parents = new Map<string, string>();
  if (foreignSets) {
    try {
      const a = await get('list ApplySet parents', `/api/v1/secrets?labelSelector=${encodeURIComponent(APPLYSET_ID)}`);
      for (const s of a.body.items) parents.set(s.metadata.labels[APPLYSET_ID], `${s.metadata.namespace}/${s.metadata.name}`);
    } catch (e) {
      if (!(e instanceof KubeError && e.forbidden)) throw e;
      say('note: cannot list Secrets cluster-wide (Forbidden): owners are named by ApplySet id');
    }
  }
  const owned: string[] = [];
  for (const x of objs) {
    const l = live.get(key(x.o));
    if (!l || x.stage === 'crds') continue;
    const set = l.metadata.labels?.[PART_OF] ?? '';
    const ours = inMine(l);
    const appliers: string[] = (l.metadata.managedFields ?? []).filter((m: any) => m.operation === 'Apply').map((m: any) => m.manager);
    // The bootstrap is the environment's own, whoever applied it before: its push deploy, or Flux (<env>-platform);
    // and to a --push-all, the bootstrap's manager is the same environment's (what Flux made needs --adopt).
    const same = bootstrapOnly ? [`k8s-infra-${ENV}`, FLUX_MANAGER] : gitops ? ['k8s-infra-bootstrap'] : [];
    const others = [...new Set(appliers.filter((m) => m.startsWith('k8s-infra') && m !== ME && m !== CRD_ME && (m !== LEGACY || !ours) && !same.includes(m)))];
    const why: string[] = [];
    if (set && !ours) why.push(`belongs to ApplySet ${parents.get(set) ?? set}`);
    if (others.length) why.push(`fields applied by field manager ${others.join(', ')}`);
    if (!set && !others.length && !appliers.includes(ME) && !appliers.some((m) => same.includes(m)) && !adopt) {
      const all = [...new Set((l.metadata.managedFields ?? []).map((m: any) => m.manager))].join(', ') || 'none';
      why.push(`not applied by any environment (managers: ${all}); --adopt takes it over, the model's values winning`);
    }
    if (why.length) owned.push(`  ${ref(x.o)}: ${why.join('; ')}`);
  }
  if (owned.length) {
    process.stderr.write(`${owned.join('\n')}\n`);
    refuse(`ownership check: ${owned.length} object(s) above belong to someone else; ${ENV} (field manager ${ME}) does not take them over`);
  }
  say(`ownership check: ${live.size} of ${objs.length} objects exist; all are ${ENV}'s${adopt ? ' (or adopted: --adopt)' : ''}`);

  // --- 6. SealedSecrets: the controller that will unseal them must be able to open them ---
  const sealed = objs.filter((x) => x.o.kind === 'SealedSecret');
  if (sealed.length) {
    beginStage('sealed secrets');
    await verifySealedSecrets(sealed);
  }

  // --- 7. Namespaces that left the model ---
  beginStage('namespace prune check');
  // (a GitOps bootstrap prunes nothing: Flux prunes what left the model, and never a Namespace)
  const ourNs = bootstrapOnly ? { body: { items: [] } } : await get('list our Namespaces', `/api/v1/namespaces?labelSelector=${encodeURIComponent(`${PART_OF}=${CLUSTER_ID}`)}`);
  const modelNsObjects = new Set(objs.filter((x) => x.o.kind === 'Namespace').map((x) => x.o.metadata.name));
  const goneNamespaces: string[] = ourNs.body.items.map((n: any) => n.metadata.name).filter((n: string) => !modelNsObjects.has(n));
  const namespacedKinds = disco.all.filter((r) => r.namespaced && r.verbs.includes('list') && !(r.kind === 'Event'));
  const uniqueKinds = [...new Map(namespacedKinds.map((r) => [`${r.group}/${r.kind}`, disco.byGk.get(`${r.group}/${r.kind}`)!])).values()];
  /** Everything in a namespace, each marked ours or OTHER. */
  async function contentOf(ns: string) {
    const lists = await Promise.all(uniqueKinds.map((r) => get(`list ${r.resource}${r.group ? `.${r.group}` : ''} in namespace ${ns}`, resourcePath(r, ns), [404, 405])));
    const items = lists.flatMap((a, i) => (a.status === 200 ? a.body.items.map((it: any) => ({ ...it, kind: uniqueKinds[i].kind, apiVersion: uniqueKinds[i].group ? `${uniqueKinds[i].group}/${uniqueKinds[i].version}` : uniqueKinds[i].version })) : []));
    return namespaceContent(items, [applysetId(ns, SETUP_SET), applysetId(ns, NS_SET)]);
  }
  const nsBlocked: string[] = [];
  for (const ns of goneNamespaces) {
    const report = await contentOf(ns);
    const foreign = report.filter((r) => !r.ours).length;
    say(`${STAGE}: pruning namespace/${ns} would delete everything in it (${report.length} objects; OTHER = not from this pipeline):`);
    process.stderr.write(`${indent(report.map((r) => r.line), '      ')}\n`);
    if (foreign) {
      if (mode === 'diff') { say(`${STAGE}: an apply would refuse to prune namespace/${ns}: it holds ${foreign} object(s) this pipeline did not apply`); nsBlocked.push(ns); continue; }
      refuse(`${STAGE}: namespace/${ns} left the model but holds ${foreign} object(s) this pipeline did not apply (OTHER above): delete or move them first, then deploy again`);
    }
    if (!pruneNamespaces) {
      const why = 'deleting a Namespace deletes everything in it, and the API server cannot make "it holds only our objects" and the deletion one step '
        + '(a delete precondition covers the Namespace object, not what is created in it meanwhile); with --prune-namespaces the check is repeated '
        + 'right before the delete and again right after it, and anything that appeared in between is named (exit 2)';
      if (mode === 'diff') say(`${STAGE}: an apply deletes namespace/${ns} only with --prune-namespaces: ${why}`);
      else refuse(`${STAGE}: namespace/${ns} left the model; it is deleted only with --prune-namespaces: ${why}`);
    }
  }

  // --- 8. the old shared field manager "k8s-infra" hands its fields to k8s-infra-<env> (the first write) ---
  if (mode === 'apply' && !bootstrapOnly) {
    beginStage('legacy field manager');
    for (const x of objs) {
      const l = live.get(key(x.o));
      if (!l || !inMine(l) || !l.metadata.labels?.[PART_OF]) continue;
      const mf: any[] = l.metadata.managedFields ?? [];
      const old = mf.map((m, i) => [m, i] as const).filter(([m]) => m.manager === LEGACY && m.operation === 'Apply').map(([, i]) => i);
      if (!old.length) continue;
      const has = mf.some((m) => m.manager === ME && m.operation === 'Apply');
      const patch = [...old].reverse().flatMap((i) => [
        { op: 'test', path: `/metadata/managedFields/${i}/manager`, value: LEGACY },
        has || i !== old[0] ? { op: 'remove', path: `/metadata/managedFields/${i}` } : { op: 'replace', path: `/metadata/managedFields/${i}/manager`, value: ME },
      ]);
      say(`${STAGE}: ${ref(x.o)}: fields of the shared field manager ${LEGACY} handed to ${ME}`);
      const a = await api(`hand ${ref(x.o)} over to ${ME}`, 'PATCH', resourcePath(x.res!, x.o.metadata.namespace, x.o.metadata.name), { body: patch, contentType: 'application/json-patch+json' });
      live.set(key(x.o), a.body);
    }
  }

  // --- apply helpers ---
  let changed = false;   // --diff: something would change
  let skipped = 0;
  let tookBack = 0;
  const verb = mode === 'apply' ? '' : mode === 'dry-run' ? ' (server dry run)' : '';
  const applyPath = (x: Obj, force = true) => `${resourcePath(x.res!, x.o.metadata.namespace, x.o.metadata.name)}?fieldManager=${encodeURIComponent(x.stage === 'crds' ? CRD_ME : ME)}${force ? '&force=true' : ''}`;
  async function ssa(what: string, x: Obj, body: K8sObject, dryRun: boolean): Promise<Answer> {
    return api(`${what} ${ref(body)}`, 'PATCH', `${applyPath(x)}${dryRun ? '&dryRun=All' : ''}`, { body, contentType: 'application/apply-patch+yaml' });
  }
  /** Every call of a step in parallel; all failures (and server warnings) reported together, naming each object. */
  async function all<T>(title: string, items: T[], f: (t: T) => Promise<Answer | undefined>, name: (t: T) => string): Promise<(Answer | undefined)[]> {
    const results = await Promise.allSettled(items.map(f));
    const failed: string[] = [];
    let timeout = '';
    // (a deadline that ran out is said once, with the batch and the first object it cut short)
    results.forEach((r, i) => {
      if (r.status === 'rejected') {
        const e = r.reason;
        if (!(e instanceof KubeError)) throw e;
        if (e.timedOut) timeout ||= `${title}: ${name(items[i])}: ${e.detail}`;
        failed.push(`${name(items[i])}: ${e.forbidden ? `forbidden (the deploying user lacks an RBAC permission this step needs): ${e.detail}` : e.detail}`);
      } else if (r.value?.warnings.length) failed.push(`${name(items[i])}: the server warned (warnings are errors here): ${r.value.warnings.join('; ')}`);
    });
    if (timeout) die(timeout);
    if (failed.length) die(`${title}: ${failed.length} of ${items.length} object(s) failed:\n${indent(failed)}`);
    return results.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
  }
  const parentPath = (ns: string, name: string) => `/api/v1/namespaces/${encodeURIComponent(ns)}/secrets/${encodeURIComponent(name)}`;
  async function applyParent(ns: string, name: string, gks: string[]): Promise<void> {
    const body = { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns, labels: { [APPLYSET_ID]: applysetId(ns, name) }, annotations: { [TOOLING]: 'k8s-infra-deploy/v1', [GROUP_KINDS]: [...gks].sort().join(',') } } };
    await api(`write ApplySet parent ${ns}/${name}`, 'PATCH', `${parentPath(ns, name)}?fieldManager=${encodeURIComponent(ME)}&force=true`, { body, contentType: 'application/apply-patch+yaml' });
  }

  /**
   * One batch: every object dry run (server-side apply, force), compared with the live object field by field;
   * then (apply) the changed ones written in kind order, and the ApplySet's members that left the model pruned.
   */
  async function batch(title: string, items: Obj[], parent?: { ns: string; name: string }, memberNs?: string): Promise<void> {
    const id = parent ? applysetId(parent.ns, parent.name) : '';
    let parentLive: K8sObject | undefined;
    if (parent) {
      const a = await get(`read ApplySet parent ${parent.ns}/${parent.name}`, parentPath(parent.ns, parent.name), [404]);
      parentLive = a.status === 200 ? a.body : undefined;
    }
    if (dry) {
      for (const x of items.filter((i) => i.pending)) {
        say(`  not checked by this dry run: ${x.o.kind}/${x.o.metadata.name} in ${x.o.metadata.namespace ?? '-'} (${x.pending})`);
        skipped++; changed = true;
      }
    }
    const todo = items.filter((x) => !dry || !x.pending).sort((a, b) => rank(a.o.kind) - rank(b.o.kind));
    const bodies = todo.map((x) => (parent ? { ...x.o, metadata: { ...x.o.metadata, labels: { ...x.o.metadata.labels, [PART_OF]: id } } } : x.o));
    if (todo.length) say(`${title}: ${todo.length} objects${parent ? ` (ApplySet ${parent.ns}/${parent.name})` : ''}`);
    // the server dry run of the whole batch
    const results = await all(`${title} (server dry run)`, todo.map((x, i) => [x, bodies[i]] as const), ([x, b]) => ssa('dry run', x, b, true), ([x]) => `${ref(x.o)} (${x.file})`);
    const writes: [Obj, K8sObject][] = [];
    let unchanged = 0;
    todo.forEach((x, i) => {
      const next = results[i]!.body as K8sObject;
      const l = live.get(key(x.o));
      if (!l) {
        say(`  ${mode === 'diff' ? 'would create' : 'created'} ${ref(x.o)}${verb}`);
        writes.push([x, bodies[i]]); changed = true;
        return;
      }
      const cs: Change[] = changes(l, next);
      const moves = ownershipMoves(l, next, x.stage === 'crds' ? CRD_ME : ME);
      if (!cs.length && !moves) { unchanged++; return; }
      changed = true;
      writes.push([x, bodies[i]]);
      const drift = cs.filter((c) => c.holders.some((h) => h !== ME && h !== CRD_ME));
      tookBack += drift.length;
      say(`  ${mode === 'diff' ? 'would change' : 'configured'} ${ref(x.o)}${verb}${drift.length ? ` (${mode === 'apply' ? 'took' : 'would take'} back ${drift.length} field(s) someone else changed)` : ''}${!cs.length ? ' (field ownership only)' : ''}`);
      process.stderr.write(cs.map((c) => `      ${describe(c, x.stage === 'crds' ? CRD_ME : ME, mode === 'apply')}\n`).join(''));
    });
    if (unchanged) say(`  ${unchanged} unchanged`);
    // what prune would delete: members of the ApplySet no longer in the batch
    const gksNow = [...new Set(todo.map((x) => gkString(x.o)))];
    const gksOld: string[] = (parentLive?.metadata.annotations?.[GROUP_KINDS] ?? '').split(',').filter(Boolean);
    const prune: { o: K8sObject; res: ResourceInfo }[] = [];
    if (parentLive) {
      const wanted = new Set(todo.map((x) => key(x.o)));
      const gks = [...new Set([...gksOld, ...gksNow])];
      await Promise.all(gks.map(async (gk) => {
        const { group, kind } = parseGk(gk);
        const r = disco.byGk.get(`${group}/${kind}`);
        if (!r) { say(`  note: ApplySet ${parent!.ns}/${parent!.name} lists ${gk}, which the cluster no longer serves: not looked at`); return; }
        const a = await get(`list members ${gk} of ApplySet ${parent!.ns}/${parent!.name}`, `${resourcePath(r, memberNs)}?labelSelector=${encodeURIComponent(`${PART_OF}=${id}`)}`);
        for (const it of a.body.items) {
          const o = { ...it, kind, apiVersion: group ? `${group}/${r.version}` : r.version };
          if (!wanted.has(key(o)) && !o.metadata.deletionTimestamp) prune.push({ o, res: r });
        }
      }));
    }
    if (mode === 'diff') {
      for (const p of prune) { say(`${title}: would prune ${oname(p.o)}`); changed = true; }
      return;
    }
    if (mode === 'apply' && parent && (writes.length || !parentLive || gksNow.some((g) => !gksOld.includes(g)))) {
      if (todo.length || parentLive) await applyParent(parent.ns, parent.name, [...new Set([...gksOld, ...gksNow])]);
    }
    if (mode === 'apply') {
      // kind by kind, in install order; each kind's objects in parallel
      const kinds = [...new Set(writes.map(([x]) => x.o.kind))];
      for (const k of kinds) {
        const these = writes.filter(([x]) => x.o.kind === k);
        await all(title, these, ([x, b]) => ssa('apply', x, b, false), ([x]) => `${ref(x.o)} (${x.file})`);
        if (k === 'SealedSecret' && controllerVerified) await unsealed(these.map(([x]) => x.o));
      }
    }
    for (const p of prune) {
      if (p.o.kind === 'Namespace' && !groupOf(p.o.apiVersion)) await pruneNamespace(p.o, p.res);
      else {
        await api(`prune ${ref(p.o)}`, 'DELETE', `${resourcePath(p.res, p.o.metadata.namespace, p.o.metadata.name)}${dry ? '?dryRun=All' : ''}`,
          { body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background', preconditions: { uid: p.o.metadata.uid }, ...(dry ? { dryRun: ['All'] } : {}) }, ok: [404] });
      }
      say(`  ${oname(p.o)} pruned${verb}`);
    }
    if (mode === 'apply' && parent && parentLive) {
      if (!todo.length) {
        say(`${title}: no objects left, the whole ApplySet ${parent.ns}/${parent.name} pruned`);
        await api(`delete ApplySet parent ${parent.ns}/${parent.name}`, 'DELETE', parentPath(parent.ns, parent.name), { ok: [404] });
      } else if (gksOld.some((g) => !gksNow.includes(g))) await applyParent(parent.ns, parent.name, gksNow);
    }
  }

  /**
   * Waits (within the stage) until the controller has made the Secret of each SealedSecret just written, so that the
   * Pods applied next mount it at once instead of failing (a FailedMount warning, retried by the kubelet). Only when
   * the controller answered the verification above: an unreachable one is reported there, and not waited for.
   */
  async function unsealed(sealed: K8sObject[]): Promise<void> {
    const t0 = Date.now();
    for (const o of sealed) {
      const p = `/api/v1/namespaces/${o.metadata.namespace}/secrets/${o.metadata.name}`;
      while ((await get(`read Secret ${o.metadata.namespace}/${o.metadata.name}`, p, [404])).status === 404) {
        if (Date.now() > stageEnd) die(`${STAGE}: the sealed-secrets controller did not unseal ${ref(o)} (${stageWhy}); is it running, and was the file sealed with its certificate?`);
        await sleep(300);
      }
    }
    say(`  ${sealed.length} SealedSecret(s) unsealed by the controller in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  }

  const prunedNamespaces = new Set<string>();
  /** A Namespace that left the model: checked right before the delete, deleted only as checked, checked right after. */
  async function pruneNamespace(o: K8sObject, res: ResourceInfo): Promise<void> {
    const ns = o.metadata.name;
    if (mode === 'apply') {
      const before = (await contentOf(ns)).filter((r) => !r.ours);
      if (before.length) die(`${STAGE}: namespace/${ns} holds ${before.length} object(s) this pipeline did not apply, which appeared since the check; not deleted:\n${indent(before.map((r) => r.line))}`);
    }
    await api(`delete Namespace ${ns}`, 'DELETE', `${resourcePath(res, undefined, ns)}${dry ? '?dryRun=All' : ''}`, {
      body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background', preconditions: { uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion }, ...(dry ? { dryRun: ['All'] } : {}) },
    });
    prunedNamespaces.add(ns);
    if (mode === 'apply') {
      const after = (await contentOf(ns)).filter((r) => !r.ours);
      if (after.length) die(`${STAGE}: namespace/${ns} was deleted, and ${after.length} object(s) this pipeline did not apply were created in it between the check and the delete; they are being deleted with it:\n${indent(after.map((r) => r.line))}`);
    }
  }

  // --- a GitOps bootstrap never changes a field Flux holds: the two would take it from each other ---
  if (bootstrapOnly && mode !== 'diff') {
    beginStage('gitops check');
    const held: string[] = [];
    await Promise.all(objs.filter((x) => live.has(key(x.o)) && !x.pending).map(async (x) => {
      const a = await ssa('dry run', x, x.o, true);
      for (const c of changes(live.get(key(x.o))!, a.body)) if (c.holders.includes(FLUX_MANAGER)) held.push(`${ref(x.o)} (${x.file}): ${describe(c, ME, false)}`);
    }));
    if (held.length) {
      refuse(`gitops check: ${held.length} field(s) of the bootstrap that Flux (${FLUX_MANAGER}) holds with another value; Flux applies ${gitops!.branch} of ${gitops!.url}, `
        + `this is another revision: change them through git (a merge to ${gitops!.branch}), not by a push:\n${indent(held.sort())}`);
    }
  }

  say(mode === 'apply' ? `step 3/4 apply (each stage: server dry run, then apply; field manager ${ME})`
    : mode === 'dry-run' ? 'step 3/4 apply: server dry run only' : 'step 3/4 diff against the cluster');

  // --- stage 1: CRDs (never pruned) ---
  beginStage('stage 1/3 crds');
  const crds = objs.filter((x) => x.stage === 'crds');
  if (crds.length) {
    await batch('stage 1/3 crds', crds);
    if (mode === 'apply') {
      // their kinds must be served before stage 3 sends objects of them
      for (;;) {
        const states = await Promise.all(crds.map((x) => get(`wait for ${ref(x.o)} to be Established`, resourcePath(x.res!, undefined, x.o.metadata.name))));
        const waiting = states.filter((a) => !(a.body.status?.conditions ?? []).some((c: any) => c.type === 'Established' && c.status === 'True'));
        if (!waiting.length) break;
        if (Date.now() > stageEnd) die(`${STAGE}: CRDs not Established (${stageWhy}): ${waiting.map((a) => a.body.metadata.name).join(', ')}`);
        await sleep(200);
      }
      const again = await discover((step, p, accept) => api(step, 'GET', p, { accept }));
      for (const x of objs) {
        if (x.pending === 'CRD not installed yet') { x.res = again.byGvk.get(`${x.o.apiVersion}/${x.o.kind}`) ?? x.res; x.pending = undefined; }
      }
      disco.byGk = again.byGk;
    }
  } else say('stage 1/3 crds: none');

  // --- stage 2: cluster-scoped objects (ApplySet parent: a Secret in APPLYSET_NAMESPACE) ---
  beginStage('stage 2/3 cluster');
  await batch('stage 2/3 cluster', objs.filter((x) => x.stage === 'cluster'), bootstrapOnly ? undefined : { ns: SET_NS, name: CLUSTER_SET }, undefined);
  if (mode === 'apply') {
    // namespaces created just now: their objects are checkable
    for (const x of objs) if (x.pending === 'namespace not created yet') x.pending = undefined;
  }

  // --- stage 3: per namespace, "setup" then "resources", each its own ApplySet ---
  STAGE = 'stage 3/3';
  const nsSet = new Set(modelNamespaces);
  for (const set of bootstrapOnly ? [] : [SETUP_SET, NS_SET]) {
    try {
      const a = await get(`look up ApplySet parents ${set} in all namespaces`, `/api/v1/secrets?fieldSelector=${encodeURIComponent(`metadata.name=${set}`)}&labelSelector=${encodeURIComponent(APPLYSET_ID)}`);
      for (const s of a.body.items) nsSet.add(s.metadata.namespace);
    } catch (e) {
      if (!(e instanceof KubeError && e.forbidden)) throw e;
      say('note: cannot list Secrets cluster-wide (Forbidden): a namespace whose objects all left the manifests is not pruned');
    }
  }
  for (const ns of [...nsSet].sort()) {
    if (prunedNamespaces.has(ns)) continue;
    beginStage(`stage 3/3 namespace ${ns}`);
    const here = objs.filter((x) => x.stage === 'namespaced' && x.o.metadata.namespace === ns);
    const exists = mode === 'apply' || liveNamespaces.has(ns);
    const setup = here.filter((x) => SETUP_KINDS.includes(x.o.kind));
    const rest = here.filter((x) => !SETUP_KINDS.includes(x.o.kind));
    await batch(`stage 3/3 namespace ${ns} (setup)`, setup, exists && !bootstrapOnly ? { ns, name: SETUP_SET } : undefined, ns);
    const pods = rest.filter((x) => x.o.kind === 'Pod');
    const sas = [...new Set(pods.map((x) => x.o.spec?.serviceAccountName ?? 'default'))];
    const saMissing = async (sa: string) => (await get(`read ServiceAccount ${sa}`, `/api/v1/namespaces/${ns}/serviceaccounts/${sa}`, [404])).status === 404;
    if (mode === 'apply' && sas.includes('default')) {
      // A Pod is admitted only once its ServiceAccount exists; "default" comes from the controller-manager a moment
      // after the Namespace: wait for it (within the stage).
      while (await saMissing('default')) {
        if (Date.now() > stageEnd) die(`${STAGE}: ServiceAccount default did not appear (${stageWhy}); is kube-controller-manager running?`);
        await sleep(300);
      }
    } else if (mode !== 'apply') {
      // a dry run cannot check a Pod whose ServiceAccount does not exist yet
      const missing = exists ? (await Promise.all(sas.map(async (sa) => ((await saMissing(sa)) ? sa : '')))).filter(Boolean) : sas;
      for (const x of pods) if (!x.pending && missing.includes(x.o.spec?.serviceAccountName ?? 'default')) x.pending = 'ServiceAccount not created yet';
    }
    await batch(`stage 3/3 namespace ${ns} (resources)`, rest, exists && !bootstrapOnly ? { ns, name: NS_SET } : undefined, ns);
  }

  if (tookBack && mode === 'apply') say(`took back ${tookBack} field(s) that someone else had changed (the model's values are in place again; see "drift" above)`);
  if (mode === 'diff') {
    if (nsBlocked.length) { say(`diff: an apply would be refused: namespace(s) ${nsBlocked.join(' ')} hold objects this pipeline did not apply (see above)`); return EXIT_REFUSED; }
    say(changed ? 'diff: changes pending (see above)' : 'diff: no changes');
    return changed ? EXIT_CHANGES : 0;
  }
  if (mode === 'dry-run') say(`dry run passed: ${objs.length - skipped} objects checked by the server, ${skipped} not checkable yet`);

  // --- 4. wait for rollouts ---
  if (wait && mode === 'apply') {
    beginStage('step 4/4 wait', Math.max(1, Math.floor((deployEnd - Date.now()) / 1000)));
    say(`step 4/4 wait: rollouts (at most ${WAIT_S}s each)`);
    const rollouts = objs.filter((x) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(x.o.kind));
    await Promise.all(rollouts.map(async (x) => {
      const end = Math.min(Date.now() + WAIT_S * 1000, deployEnd);
      let last = '';
      for (;;) {
        const s = (await get(`read ${ref(x.o)}`, resourcePath(x.res!, x.o.metadata.namespace, x.o.metadata.name))).body;
        last = rolloutState(s);
        if (!last) { say(`  ${ref(x.o)} rolled out`); return; }
        if (last.startsWith('failed')) die(`step 4/4 wait: rollout of ${ref(x.o)} ${last}`);
        if (Date.now() > end) die(`step 4/4 wait: rollout of ${ref(x.o)} did not finish within ${WAIT_S}s (WAIT_TIMEOUT=${WAIT_S}s): ${last}`);
        await sleep(1000);
      }
    }));
  } else say('step 4/4 wait: skipped');
  if (bootstrapOnly) say(`${ENV} is reconciled by Flux from ${gitops!.url} ${gitops!.branch}: ${mode === 'apply' ? 'applied' : 'checked'} the bootstrap only; the rest arrives from git`);
  say(`done (${mode}, ${((Date.now() - T0) / 1000).toFixed(1)}s, ${kube.calls} API calls)`);
  return 0;
}

/** '' when rolled out, else what it waits for (as kubectl rollout status says it), or "failed: ...". */
function rolloutState(o: any): string {
  const s = o.status ?? {};
  if ((s.observedGeneration ?? 0) < (o.metadata.generation ?? 0)) return 'waiting for the controller to observe the new generation';
  const want = o.spec?.replicas ?? 1;
  if (o.kind === 'Deployment') {
    const c = (s.conditions ?? []).find((x: any) => x.type === 'Progressing');
    if (c?.reason === 'ProgressDeadlineExceeded') return `failed: progress deadline exceeded (${c.message})`;
    if ((s.updatedReplicas ?? 0) < want) return `${s.updatedReplicas ?? 0} of ${want} updated replicas`;
    if ((s.replicas ?? 0) > (s.updatedReplicas ?? 0)) return `${(s.replicas ?? 0) - (s.updatedReplicas ?? 0)} old replicas pending termination`;
    if ((s.availableReplicas ?? 0) < (s.updatedReplicas ?? 0)) return `${s.availableReplicas ?? 0} of ${s.updatedReplicas} updated replicas available`;
    return '';
  }
  if (o.kind === 'StatefulSet') return (s.readyReplicas ?? 0) < want || (s.updatedReplicas ?? 0) < want ? `${s.readyReplicas ?? 0} of ${want} ready` : '';
  return (s.updatedNumberScheduled ?? 0) < (s.desiredNumberScheduled ?? 0) || (s.numberAvailable ?? 0) < (s.desiredNumberScheduled ?? 0)
    ? `${s.numberAvailable ?? 0} of ${s.desiredNumberScheduled ?? 0} available` : '';
}

// --- SealedSecrets ----------------------------------------------------------------------------------------------
/**
 * The environment's controller, as environments/<env>.ts names it (`sealedSecretsController: { namespace, name }`),
 * read from the file's text: loading the model would cost ~0.6 s of every deploy. test/deploy-engine.test.ts checks
 * that this agrees with the model for every environment. Not a model environment (a test fixture): the defaults.
 */
export function controllerOf(env: string, root = ROOT): { namespace: string; name: string } {
  const ref = { namespace: 'kube-system', name: 'sealed-secrets-controller' };
  let text = '';
  try { text = fs.readFileSync(path.join(root, 'environments', `${env}.ts`), 'utf-8'); } catch { return ref; }
  const block = /sealedSecretsController:\s*\{([^}]*)\}/.exec(text)?.[1] ?? '';
  return {
    namespace: /\bnamespace:\s*['"]([^'"]+)['"]/.exec(block)?.[1] ?? ref.namespace,
    name: /\bname:\s*['"]([^'"]+)['"]/.exec(block)?.[1] ?? ref.name,
  };
}

/** POST a SealedSecret to the controller's /v1/verify: 200 opens, 409 cannot open; anything else: not reachable. */
async function verifyOne(ctl: { namespace: string; name: string }, o: K8sObject): Promise<{ status: number; detail: string }> {
  const direct = process.env.SEALED_SECRETS_CONTROLLER_URL?.replace(/\/+$/, '');
  const body = JSON.stringify(o);
  const { timeoutMs, why } = budget();
  if (direct) {
    try {
      const r = await fetch(`${direct}/v1/verify`, { method: 'POST', body, signal: AbortSignal.timeout(Math.max(1, Math.min(timeoutMs, 20_000))), headers: { 'content-type': 'application/json' } });
      return { status: r.status, detail: (await r.text()).trim() };
    } catch (e) {
      return { status: 0, detail: `${direct}: ${(e as Error).message}${(e as any).cause ? ` (${(e as any).cause.code ?? (e as any).cause.message})` : ''}` };
    }
  }
  try {
    const a = await kube.call(`${STAGE}: verify ${ref(o)}`, 'POST', `/api/v1/namespaces/${ctl.namespace}/services/http:${ctl.name}:http/proxy/v1/verify`, { body, timeoutMs: Math.min(timeoutMs, 20_000), why });
    return { status: a.status, detail: '' };
  } catch (e) {
    if (e instanceof KubeError && !e.timedOut) return { status: e.status, detail: e.detail };
    throw e;
  }
}

/** Whether the controller answered and opens every SealedSecret (then the apply waits for their Secrets). */
let controllerVerified = false;
async function verifySealedSecrets(sealed: Obj[]): Promise<void> {
  const ctl = controllerOf(ENV);
  const where = process.env.SEALED_SECRETS_CONTROLLER_URL ? process.env.SEALED_SECRETS_CONTROLLER_URL : `the API server's service proxy`;
  const cannot: string[] = [];
  for (const x of sealed) {
    let r = await verifyOne(ctl, x.o);
    for (let i = 0; r.status === 429 && i < 10; i++) { await sleep(1000); r = await verifyOne(ctl, x.o); }   // /v1/verify allows 2 a second
    if (r.status === 409) { cannot.push(`${ref(x.o)} (${x.file})${r.detail ? `: ${r.detail.split('\n')[0]}` : ''}`); continue; }
    if (r.status < 200 || r.status >= 300) {
      say(`sealed secrets: the controller ${ctl.namespace}/${ctl.name} is not reachable (through ${where}: ${r.status ? `HTTP ${r.status} ` : ''}${r.detail.split('\n')[0]}); `
        + `${sealed.length} SealedSecret(s) NOT verified, going on (a SealedSecret it cannot open would stay unsealed)`);
      return;
    }
  }
  if (cannot.length) {
    refuse(`sealed secrets: the controller ${ctl.namespace}/${ctl.name} cannot open ${cannot.length} SealedSecret(s) (sealed for another controller, e.g. before sealing/<env>.pem changed):\n${indent(cannot)}\n`
      + `    re-seal them (npm run seal, or npm run bootstrap) and synthesize again`);
  }
  say(`sealed secrets: the controller ${ctl.namespace}/${ctl.name} opens all ${sealed.length} SealedSecret(s)`);
  controllerVerified = true;
}

// --- entry: every way out is one of the four exit codes ---------------------------------------------------------
function exitWith(code: number): never {
  try { kube?.close(); } catch { /* closing */ }
  process.exit(code);
}
function unexpected(e: unknown): never {
  process.stderr.write(`deploy[${ENV}]: ERROR: ${STAGE}: unexpected failure: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  exitWith(EXIT_ERROR);
}
/** Runs the deploy and exits with its code (deploy/run.js calls this; so does `node --import tsx deploy/deploy.ts`). */
export function cli(argv: string[], root = ROOT): void {
  ROOT = root;
  process.on('uncaughtException', unexpected);
  process.on('unhandledRejection', unexpected);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => { process.stderr.write(`deploy[${ENV}]: ERROR: ${STAGE}: stopped by ${sig}\n`); exitWith(EXIT_ERROR); });
  }
  main(argv).then(exitWith, (e) => {
    if (e instanceof Stop) {
      say(`ERROR: ${e.message}`);
      if (e.code === EXIT_REFUSED) say('refused; nothing was written');
      exitWith(e.code);
    }
    if (e instanceof KubeError) {
      say(`ERROR: ${e.forbidden ? `${e.step}: forbidden (the deploying user lacks an RBAC permission this step needs): ${e.detail}` : e.message}`);
      exitWith(EXIT_ERROR);
    }
    unexpected(e);
  });
}
if (require.main === module) cli(process.argv.slice(2));
