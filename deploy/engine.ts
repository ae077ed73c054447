// The deploy tool's engine: pure functions over Kubernetes objects, no policy and no I/O. What a server-side apply
// would change on a live object (field by field), who holds a field (managedFields), ApplySet ids and group-kinds,
// and what a Namespace deletion would take with it. deploy.ts decides what to do with the answers.
import { createHash } from 'crypto';
import { groupOf } from './kube';

export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: any }; [k: string]: any };
export type Seg = string | number;
export interface Change { path: Seg[]; old: unknown; new: unknown; holders: string[] }

export const PART_OF = 'applyset.kubernetes.io/part-of';
export const APPLYSET_ID = 'applyset.kubernetes.io/id';
export const GROUP_KINDS = 'applyset.kubernetes.io/contains-group-kinds';
export const TOOLING = 'applyset.kubernetes.io/tooling';

/** kubectl's ApplySet id of a parent Secret (KEP-3659): "applyset-" + base64url(sha256("<name>.<namespace>.Secret.")) + "-v1". */
export function applysetId(namespace: string, parent: string): string {
  const hash = createHash('sha256').update(`${parent}.${namespace}.Secret.`).digest('base64url');
  return `applyset-${hash}-v1`;
}

/** "Deployment.apps", "ConfigMap": the form of the contains-group-kinds annotation. */
export const gkString = (o: { apiVersion: string; kind: string }) => (groupOf(o.apiVersion) ? `${o.kind}.${groupOf(o.apiVersion)}` : o.kind);
export function parseGk(s: string): { group: string; kind: string } {
  const i = s.indexOf('.');
  return i < 0 ? { group: '', kind: s } : { group: s.slice(i + 1), kind: s.slice(0, i) };
}

/** "Deployment shop/order-service", "Namespace shop" */
export const ref = (o: K8sObject) => `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;
/** A key that is the same for the manifest and the live object. */
export const key = (o: K8sObject) => `${groupOf(o.apiVersion)}/${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;

// --- what changes -----------------------------------------------------------------------------------------------
const IGNORED_METADATA = new Set(['managedFields', 'resourceVersion', 'generation', 'creationTimestamp', 'uid']);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function diffValues(a: unknown, b: unknown, path: Seg[], out: { path: Seg[]; old: unknown; new: unknown }[]): void {
  if (same(a, b)) return;
  if (isObj(a) && isObj(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (path.length === 1 && path[0] === 'metadata' && IGNORED_METADATA.has(k)) continue;
      diffValues(a[k], b[k], [...path, k], out);
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const named = (xs: unknown[]) => xs.every((x) => isObj(x) && typeof x.name === 'string') && new Set(xs.map((x: any) => x.name)).size === xs.length;
    if (named(a) && named(b) && a.length && b.length) {
      const at = new Map(a.map((x: any, i) => [x.name, i]));
      const bt = new Map(b.map((x: any) => [x.name, x]));
      if (same([...at.keys()], [...bt.keys()])) {
        a.forEach((x: any, i) => diffValues(x, bt.get(x.name), [...path, i], out));
        return;
      }
    } else if (a.length === b.length) {
      a.forEach((x, i) => diffValues(x, b[i], [...path, i], out));
      return;
    }
  }
  out.push({ path, old: a, new: b });
}

/** Does a managedFields fieldsV1 set hold the field at `path` of the live object? */
export function holds(fields: any, path: Seg[], live: unknown): boolean {
  let node = fields;
  let value: any = live;
  for (const seg of path) {
    if (!isObj(node)) return false;
    if (Object.keys(node).length === 0) return true;   // a leaf: the whole value (an atomic map or list) is held
    if (typeof seg === 'string') {
      node = node[`f:${seg}`];
      value = isObj(value) ? value[seg] : undefined;
      continue;
    }
    const el = Array.isArray(value) ? value[seg] : undefined;
    const k = Object.keys(node).find((name) => {
      if (name === `i:${seg}`) return true;
      if (name.startsWith('v:')) return same(JSON.parse(name.slice(2)), el);
      if (name.startsWith('k:')) {
        const want = JSON.parse(name.slice(2));
        return isObj(el) && Object.entries(want).every(([kk, vv]) => same(el[kk], vv));
      }
      return false;
    });
    node = k ? node[k] : undefined;
    value = el;
  }
  return node !== undefined;
}

const managerName = (m: any) => `${m.manager}${m.subresource ? ` (${m.subresource})` : ''}`;

/** Field by field, what the apply result `next` changes on `live`; each change with the managers that hold it now. */
export function changes(live: K8sObject, next: K8sObject): Change[] {
  const raw: { path: Seg[]; old: unknown; new: unknown }[] = [];
  diffValues(live, next, [], raw);
  const mf: any[] = live.metadata.managedFields ?? [];
  return raw.filter((c) => c.path[0] !== 'status').map((c) => ({
    ...c,
    holders: c.old === undefined ? [] : [...new Set(mf.filter((m) => holds(m.fieldsV1, c.path, live)).map(managerName))],
  }));
}

/** Whether the apply moves what `manager` owns (fields taken or given back with equal values). */
export function ownershipMoves(live: K8sObject, next: K8sObject, manager: string): boolean {
  const mine = (o: K8sObject) => (o.metadata.managedFields ?? []).filter((m: any) => m.manager === manager && m.operation === 'Apply' && !m.subresource).map((m: any) => m.fieldsV1);
  return !same(mine(live), mine(next));
}

export function formatPath(path: Seg[]): string {
  return path.map((s) => (typeof s === 'number' ? `[${s}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) ? `.${s}` : `["${s}"]`)).join('') || '.';
}
export function formatValue(v: unknown): string {
  if (v === undefined) return '(absent)';
  const s = JSON.stringify(v);
  return s.length > 160 ? `${s.slice(0, 157)}...` : s;
}

/** One line per change: path, old -> new, and who holds the field when it is not us. */
export function describe(c: Change, me: string, taken: boolean): string {
  const others = c.holders.filter((h) => h !== me);
  const who = !others.length ? '' : taken ? `   (drift: taken back from ${others.join(', ')})` : `   (drift: held by ${others.join(', ')})`;
  return `${formatPath(c.path)}: ${formatValue(c.old)} -> ${formatValue(c.new)}${who}`;
}

// --- what a Namespace deletion takes with it --------------------------------------------------------------------
/**
 * Every object in a namespace, marked ours when it is: a member of one of our ApplySets, made by a controller from
 * one of ours (ownerReferences, transitively), the Endpoints of one of our Services, or what the control plane puts in
 * every namespace (ServiceAccount default, ConfigMap kube-root-ca.crt). Objects being deleted are left out.
 */
export function namespaceContent(items: K8sObject[], ourIds: string[]): { ours: boolean; line: string; obj: K8sObject }[] {
  const live = items.filter((o) => !o.metadata.deletionTimestamp);
  const seed = live.filter((o) => {
    const l = o.metadata.labels ?? {};
    return ourIds.includes(l[PART_OF] ?? '') || ourIds.includes(l[APPLYSET_ID] ?? '')
      || (o.kind === 'ServiceAccount' && o.metadata.name === 'default') || (o.kind === 'ConfigMap' && o.metadata.name === 'kube-root-ca.crt');
  });
  const services = new Set(seed.filter((o) => o.kind === 'Service').map((o) => o.metadata.name));
  const ours = new Set<string>([...seed, ...live.filter((o) => o.kind === 'Endpoints' && services.has(o.metadata.name))].map((o) => o.metadata.uid));
  for (let grew = true; grew;) {
    grew = false;
    for (const o of live) {
      if (!ours.has(o.metadata.uid) && (o.metadata.ownerReferences ?? []).some((r: any) => ours.has(r.uid))) { ours.add(o.metadata.uid); grew = true; }
    }
  }
  return live.map((o) => {
    const g = groupOf(o.apiVersion);
    const mine = ours.has(o.metadata.uid);
    return { ours: mine, obj: o, line: `${mine ? 'ours ' : 'OTHER'} ${o.kind}${g ? `.${g}` : ''}/${o.metadata.name}` };
  });
}

// --- GitOps -----------------------------------------------------------------------------------------------------
/** The GitOps bootstrap of dist/<env>/ (lib/gitops's FLUX_BOOTSTRAP_FILE; test/deploy-engine.test.ts keeps them equal). */
export const GITOPS_BOOTSTRAP_FILE = 'flux.k8s.yaml';
/** Flux's field manager: kustomize-controller's server-side applies. */
export const FLUX_MANAGER = 'kustomize-controller';
export interface GitOpsSource {
  /** The environment's Kustomization (`<namespace>/<name>`), the one that applies dist/<env>/. */
  readonly namespace: string;
  readonly kustomization: string;
  readonly apiVersion: string;
  /** Its GitRepository's url and branch. */
  readonly url: string;
  readonly branch: string;
}
/**
 * Where Flux pulls an environment from, read from its bootstrap's objects: the Kustomization named after the
 * environment and the GitRepository it reads; undefined when the bootstrap has none.
 */
export function gitopsOf(env: string, objects: readonly K8sObject[]): GitOpsSource | undefined {
  const k = objects.find((o) => o.kind === 'Kustomization' && groupOf(o.apiVersion) === 'kustomize.toolkit.fluxcd.io' && o.metadata.name === env);
  if (!k) return undefined;
  const namespace = k.metadata.namespace ?? '';
  const src = objects.find((o) => o.kind === 'GitRepository' && o.metadata.name === k.spec?.sourceRef?.name && (o.metadata.namespace ?? '') === (k.spec?.sourceRef?.namespace ?? namespace));
  if (!src) return undefined;
  return { namespace, kustomization: env, apiVersion: k.apiVersion, url: src.spec?.url ?? '', branch: src.spec?.ref?.branch ?? src.spec?.ref?.tag ?? src.spec?.ref?.commit ?? '' };
}
