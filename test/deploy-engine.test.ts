// The deploy tool's engine (deploy/engine.ts) on its own, without a cluster: ApplySet ids as kubectl computes them,
// field-by-field changes with the manager that holds each field (drift), what a Namespace deletion takes with it,
// and the controller lookup of deploy/deploy.ts against the model; and the tool itself on a GitOps environment
// against a fake API server (below). The tool runs against a real API server in test/cluster/run.sh and flux.sh.
import { spawn, spawnSync } from 'child_process';
import * as http from 'http';
import * as YAML from 'yaml';
import { ENVIRONMENTS } from '../environments';
import { production } from '../environments/production';
import {
  applysetId, changes, describe as describeChange, GITOPS_BOOTSTRAP_FILE, gitopsOf, holds, K8sObject, namespaceContent, ownershipMoves, PART_OF,
} from '../deploy/engine';
import { controllerOf } from '../deploy/deploy';
import { acquireLock } from '../deploy/lock';
import { FLUX_BOOTSTRAP_FILE, resourceOf } from '../lib/gitops';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const scaled: K8sObject = {
  apiVersion: 'apps/v1', kind: 'Deployment',
  metadata: {
    name: 'order-service', namespace: 'shop', labels: { app: 'order-service' }, annotations: { 'by-hand': 'kept' },
    managedFields: [
      { manager: 'k8s-infra-production', operation: 'Apply', fieldsV1: { 'f:metadata': { 'f:labels': { 'f:app': {} } }, 'f:spec': { 'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {} } } } } } } },
      { manager: 'kubectl', operation: 'Update', subresource: 'scale', fieldsV1: { 'f:spec': { 'f:replicas': {} } } },
      { manager: 'kubectl-annotate', operation: 'Update', fieldsV1: { 'f:metadata': { 'f:annotations': { 'f:by-hand': {} } } } },
    ],
  },
  spec: { replicas: 5, template: { spec: { containers: [{ name: 'app', image: 'a:1' }] } } },
};

describe('deploy engine', () => {
  test('ApplySet ids are kubectl\'s (KEP-3659: base64url(sha256("<name>.<namespace>.Secret.")))', () => {
    // the value deploy.sh computed with sha256sum | base64 for the same parent
    expect(applysetId('default', 'k8s-infra-production-cluster')).toBe('applyset-SNhaTIH7RLWXpf4dONbbssIqx13yah0sL1c9Vulv3dc-v1');
  });

  test('a field someone else holds is a change with its old and new value and its manager; untouched fields are not', () => {
    const next = { ...scaled, spec: { replicas: 2, template: scaled.spec.template } };
    const cs = changes(scaled, next);
    expect(cs.map((c) => describeChange(c, 'k8s-infra-production', false))).toEqual(['.spec.replicas: 5 -> 2   (drift: held by kubectl (scale))']);
    expect(describeChange(cs[0], 'k8s-infra-production', true)).toBe('.spec.replicas: 5 -> 2   (drift: taken back from kubectl (scale))');
    // the annotation the model does not set stays in the apply result: no change
    expect(changes(scaled, scaled)).toEqual([]);
  });

  test('list elements are matched by name, and their fields by the managedFields key', () => {
    const next = { ...scaled, spec: { ...scaled.spec, template: { spec: { containers: [{ name: 'app', image: 'a:2' }] } } } };
    const cs = changes(scaled, next);
    expect(cs.map((c) => describeChange(c, 'k8s-infra-production', false))).toEqual(['.spec.template.spec.containers[0].image: "a:1" -> "a:2"']);
    expect(holds(scaled.metadata.managedFields[0].fieldsV1, ['spec', 'template', 'spec', 'containers', 0, 'image'], scaled)).toBe(true);
    expect(holds(scaled.metadata.managedFields[1].fieldsV1, ['spec', 'template', 'spec', 'containers', 0, 'image'], scaled)).toBe(false);
  });

  test('keys that are not identifiers are quoted; a taken-over label names its manager', () => {
    const live: K8sObject = {
      apiVersion: 'v1', kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'n', labels: { 'app.kubernetes.io/name': 'drifted' }, managedFields: [{ manager: 'kubectl-label', operation: 'Update', fieldsV1: { 'f:metadata': { 'f:labels': { 'f:app.kubernetes.io/name': {} } } } }] },
      data: { 'proxy.conf': 'x' },
    };
    const next = { ...live, metadata: { ...live.metadata, labels: { 'app.kubernetes.io/name': 'go-ok' } } };
    expect(changes(live, next).map((c) => describeChange(c, 'me', false))).toEqual(['.metadata.labels["app.kubernetes.io/name"]: "drifted" -> "go-ok"   (drift: held by kubectl-label)']);
  });

  test('field ownership moving to us counts, other managers\' entries do not', () => {
    const taken = { ...scaled, metadata: { ...scaled.metadata, managedFields: [{ ...scaled.metadata.managedFields[0], fieldsV1: { 'f:spec': { 'f:replicas': {} } } }, scaled.metadata.managedFields[2]] } };
    expect(ownershipMoves(scaled, taken, 'k8s-infra-production')).toBe(true);
    expect(ownershipMoves(scaled, { ...scaled, metadata: { ...scaled.metadata, managedFields: [scaled.metadata.managedFields[0]] } }, 'k8s-infra-production')).toBe(false);
  });

  test('a Namespace\'s content: members, what controllers made from them and the control plane\'s defaults are ours', () => {
    const id = applysetId('shop', 'k8s-infra-production');
    const o = (kind: string, name: string, extra: object = {}) => ({ apiVersion: kind === 'ReplicaSet' ? 'apps/v1' : 'v1', kind, metadata: { name, namespace: 'shop', uid: `${kind}-${name}`, ...extra } }) as K8sObject;
    const items = [
      o('Service', 'api', { labels: { [PART_OF]: id } }), o('Endpoints', 'api'),
      o('Deployment', 'api', { labels: { [PART_OF]: id } }),
      o('ReplicaSet', 'api-1', { ownerReferences: [{ uid: 'Deployment-api' }] }), o('Pod', 'api-1-x', { ownerReferences: [{ uid: 'ReplicaSet-api-1' }] }),
      o('ServiceAccount', 'default'), o('ConfigMap', 'kube-root-ca.crt'),
      o('ConfigMap', 'by-hand'), o('ConfigMap', 'going', { deletionTimestamp: 'now' }),
    ];
    expect(namespaceContent(items, [id]).map((r) => r.line)).toEqual([
      'ours  Service/api', 'ours  Endpoints/api', 'ours  Deployment/api', 'ours  ReplicaSet.apps/api-1', 'ours  Pod/api-1-x',
      'ours  ServiceAccount/default', 'ours  ConfigMap/kube-root-ca.crt', 'OTHER ConfigMap/by-hand',
    ]);
  });

  test('the controller the deploy asks to verify SealedSecrets is the one the model names, for every environment', () => {
    for (const env of ENVIRONMENTS) {
      const c = env.sealedSecretsController;
      expect([env.name, controllerOf(env.name)]).toEqual([env.name, { namespace: c?.namespace ?? 'kube-system', name: c?.name ?? 'sealed-secrets-controller' }]);
    }
    expect(controllerOf('not-an-environment')).toEqual({ namespace: 'kube-system', name: 'sealed-secrets-controller' });
  });
});

describe('deploy lock', () => {
  test('the lock file is created whole with its holder, so a refusal always names it; a dead holder\'s lock is taken over', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deploy-lock-'));
    try {
      const file = path.join(dir, 'deploy.lock');
      expect(acquireLock(file, 'env apply, user a')).toEqual({ ok: true, stale: undefined });
      const held = fs.readFileSync(file, 'utf-8');
      expect(held).toMatch(new RegExp(`^pid ${process.pid} \\(env apply, user a, host ${os.hostname()}, since \\d{4}-`));
      expect(acquireLock(file, 'env diff, user b')).toEqual({ ok: false, holder: held.trim() });
      fs.writeFileSync(file, `pid 999999 (env apply, user gone, host ${os.hostname()}, since 2000-01-01T00:00:00Z)\n`);
      expect(acquireLock(file, 'env diff, user b')).toEqual({ ok: true, stale: `pid 999999 (env apply, user gone, host ${os.hostname()}, since 2000-01-01T00:00:00Z)` });
      fs.writeFileSync(file, '');   // the old deploy.sh's flock file, left empty
      expect(acquireLock(file, 'env diff, user b')).toMatchObject({ ok: true });
      expect(fs.readdirSync(dir)).toEqual(['deploy.lock']);   // no temporary files left
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// --- the deploy tool itself, on a GitOps environment, against a fake API server --------------------------------
// The tool runs as `npm run deploy` runs it (node deploy/run.js) on the committed dist/production/, talking HTTP to
// a small in-process API server: discovery of the kinds in dist/ and crds/, objects kept by URL path, server-side
// apply as a merge (dry run or not), lists with label/field selectors, deletes. Every write is recorded.
type Write = { method: string; path: string; manager: string; dryRun: boolean; body?: any };
const CLUSTER_SCOPED = new Set(['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding']);

function merge(live: any, body: any): any {
  if (!live || typeof live !== 'object' || Array.isArray(live) || !body || typeof body !== 'object' || Array.isArray(body)) return body;
  const out = { ...live };
  for (const [k, v] of Object.entries(body)) out[k] = merge(live[k], v);
  return out;
}

class FakeApi {
  readonly objects = new Map<string, any>();
  readonly writes: Write[] = [];
  private readonly kinds = new Map<string, { group: string; version: string; kind: string; resource: string; namespaced: boolean }>();
  private server?: http.Server;
  constructor() {
    const files = [...fs.readdirSync(path.join(ROOT, 'dist', 'production')).map((f) => path.join(ROOT, 'dist', 'production', f)),
      ...fs.readdirSync(path.join(ROOT, 'crds')).map((f) => path.join(ROOT, 'crds', f))];
    const seen: { apiVersion: string; kind: string }[] = [{ apiVersion: 'v1', kind: 'Secret' }, { apiVersion: 'v1', kind: 'ConfigMap' },
      { apiVersion: 'v1', kind: 'Namespace' }, { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition' }];
    for (const f of files) for (const d of YAML.parseAllDocuments(fs.readFileSync(f, 'utf-8'))) {
      const o = d.toJS();
      if (o?.kind) seen.push(o);
      if (o?.kind === 'CustomResourceDefinition') for (const v of o.spec.versions) seen.push({ apiVersion: `${o.spec.group}/${v.name}`, kind: o.spec.names.kind });
    }
    for (const o of seen) {
      const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
      this.kinds.set(`${o.apiVersion}/${o.kind}`, { group, version, kind: o.kind, resource: resourceOf(o.kind), namespaced: !CLUSTER_SCOPED.has(o.kind) });
    }
    this.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kube-system', uid: 'fake-kube-system' } });
  }
  pathOf(o: any): string {
    const r = this.kinds.get(`${o.apiVersion}/${o.kind}`)!;
    const root = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
    return `${root}${r.namespaced ? `/namespaces/${o.metadata.namespace}` : ''}/${r.resource}/${o.metadata.name}`;
  }
  /** An object as a cluster holds it (managedFields given by the caller, e.g. Flux's). */
  put(o: any): void { this.objects.set(this.pathOf(o), { ...o, metadata: { uid: `uid-${o.metadata.name}`, ...o.metadata } }); }
  private discovery(core: boolean) {
    const groups = new Map<string, any[]>();
    for (const r of this.kinds.values()) {
      if ((r.group === '') !== core) continue;
      const k = `${r.group} ${r.version}`;
      groups.set(k, [...(groups.get(k) ?? []), { resource: r.resource, scope: r.namespaced ? 'Namespaced' : 'Cluster', responseKind: { kind: r.kind }, verbs: ['get', 'list', 'patch', 'delete'] }]);
    }
    return { kind: 'APIGroupDiscoveryList', items: [...groups.entries()].map(([k, resources]) => ({ metadata: { name: k.split(' ')[0] }, versions: [{ version: k.split(' ')[1], resources }] })) };
  }
  private list(p: string, q: URLSearchParams) {
    const label = q.get('labelSelector'); const field = q.get('fieldSelector');
    const items = [...this.objects.entries()].filter(([k]) => {
      const dir = k.slice(0, k.lastIndexOf('/'));
      return dir === p || dir.replace(/\/namespaces\/[^/]+\//, '/') === p;
    }).map(([, o]) => o).filter((o) => {
      if (label) for (const sel of label.split(',')) { const [lk, lv] = sel.split('='); const v = o.metadata.labels?.[lk]; if (v === undefined || (lv !== undefined && v !== lv)) return false; }
      if (field) { const [, name] = field.split('='); if (o.metadata.name !== name) return false; }
      return true;
    });
    return { kind: 'List', items };
  }
  private handle(method: string, p: string, q: URLSearchParams, body: any): [number, any] {
    if (method === 'GET' && p === '/api') return [200, this.discovery(true)];
    if (method === 'GET' && p === '/apis') return [200, this.discovery(false)];
    if (method === 'POST' && p.includes('/proxy/v1/verify')) return [200, {}];
    const resources = new Set([...this.kinds.values()].map((r) => r.resource));
    const last = p.split('/').pop()!;
    if (method === 'GET') {
      if (this.objects.has(p)) return [200, this.objects.get(p)];
      return resources.has(last) ? [200, this.list(p, q)] : [404, { kind: 'Status', reason: 'NotFound', message: `${p} not found` }];
    }
    const dryRun = q.get('dryRun') === 'All' || (body?.dryRun ?? []).includes('All');
    if (method === 'PATCH') {
      const manager = q.get('fieldManager') ?? '';
      const live = this.objects.get(p);
      const next = merge(live, body);
      const others = (live?.metadata.managedFields ?? []).filter((m: any) => m.manager !== manager);
      next.metadata = { ...next.metadata, uid: live?.metadata.uid ?? `uid-${body.metadata.name}`, managedFields: [...others, { manager, operation: 'Apply', fieldsV1: {} }] };
      if (next.kind === 'CustomResourceDefinition') next.status = { conditions: [{ type: 'Established', status: 'True' }] };
      this.writes.push({ method, path: p, manager, dryRun, body });
      if (!dryRun) this.objects.set(p, next);
      // the sealed-secrets controller's part: a SealedSecret applied becomes its Secret
      if (!dryRun && next.kind === 'SealedSecret') this.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: next.metadata.name, namespace: next.metadata.namespace } });
      return [200, next];
    }
    if (method === 'DELETE') {
      this.writes.push({ method, path: p, manager: '', dryRun });
      if (!dryRun) this.objects.delete(p);
      return [200, { kind: 'Status', status: 'Success' }];
    }
    return [405, { kind: 'Status', message: `${method} ${p}` }];
  }
  async start(): Promise<number> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const u = new URL(req.url!, 'http://x');
        const raw = Buffer.concat(chunks).toString('utf-8');
        const [status, out] = this.handle(req.method!, u.pathname, u.searchParams, raw ? YAML.parse(raw) : undefined);
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(out));
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    return (this.server!.address() as any).port;
  }
  stop(): void { this.server?.close(); }
}

/** Runs `node deploy/run.js production ARGS` against the fake; its exit code and stderr. */
async function deployTo(api: FakeApi, args: string[]): Promise<{ code: number; out: string }> {
  const port = await api.start();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deploy-fake-'));
  try {
    fs.writeFileSync(path.join(dir, 'kubeconfig'), YAML.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'fake-cluster',
      clusters: [{ name: 'fake', cluster: { server: `http://127.0.0.1:${port}` } }], users: [{ name: 'u', user: { token: 't' } }],
      contexts: [{ name: 'fake-cluster', context: { cluster: 'fake', user: 'u' } }],
    }));
    fs.writeFileSync(path.join(dir, 'targets.json'), JSON.stringify({ environments: { production: { cluster: { contexts: ['fake-cluster'] } } } }));
    const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: path.join(dir, 'kubeconfig'), DEPLOY_TARGETS: path.join(dir, 'targets.json'), DEPLOY_LOCK: path.join(dir, 'lock'), SKIP_SYNTH: '1', ALLOW_DIRTY: '1' };
    delete env.DEPLOY_PUSH_ALL; delete env.FIELD_MANAGER; delete env.SEALED_SECRETS_CONTROLLER_URL;
    const child = spawn(process.execPath, ['deploy/run.js', 'production', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => { out += c; });
    child.stderr.on('data', (c) => { out += c; });
    const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
    return { code, out };
  } finally {
    api.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const ROOT = path.resolve(__dirname, '..');
const bootstrapObjects = () => YAML.parseAllDocuments(fs.readFileSync(path.join(ROOT, 'dist', 'production', FLUX_BOOTSTRAP_FILE), 'utf-8')).map((d) => d.toJS()).filter(Boolean);
const fluxApplied = (fields: object = {}) => [{ manager: 'kustomize-controller', operation: 'Apply', fieldsV1: fields }];
/** What a cluster Flux reconciles holds: the bootstrap (by the admin, then Flux), and an object Flux made. */
function reconciledCluster(kustomization: { suspend?: boolean; status?: object } = {}): FakeApi {
  const api = new FakeApi();
  for (const o of bootstrapObjects()) {
    const live = { ...o, metadata: { ...o.metadata, managedFields: [{ manager: 'k8s-infra-bootstrap', operation: 'Apply', fieldsV1: {} }, ...fluxApplied()] } };
    if (o.kind === 'Kustomization' && o.metadata.name === 'production') Object.assign(live, { spec: { ...o.spec, ...(kustomization.suspend ? { suspend: true } : {}) }, status: kustomization.status });
    api.put(live);
  }
  api.put({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'go-ok', namespace: 'go-ok', managedFields: fluxApplied() }, spec: { replicas: 2 } });
  // left by a push deploy before the move to Flux: a member of production's ApplySet in shop, with its parent
  const set = applysetId('shop', 'k8s-infra-production');
  api.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'k8s-infra-production', namespace: 'shop', labels: { 'applyset.kubernetes.io/id': set }, annotations: { 'applyset.kubernetes.io/contains-group-kinds': 'ConfigMap' } } });
  api.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'left-over', namespace: 'shop', labels: { [PART_OF]: set } }, data: { a: 'b' } });
  return api;
}
const applied = (api: FakeApi) => api.writes.filter((w) => !w.dryRun);
const RECONCILING = { lastAttemptedRevision: 'main@sha1:abc', lastAppliedRevision: 'main@sha1:abc', conditions: [{ type: 'Ready', status: 'True' }] };

describe('deploy tool on a GitOps environment (production: platform.gitops), against a fake API server', () => {
  jest.setTimeout(60_000);

  test('the bootstrap file name is the one lib/gitops writes', () => {
    expect(GITOPS_BOOTSTRAP_FILE).toBe(FLUX_BOOTSTRAP_FILE);
    expect(gitopsOf('production', bootstrapObjects())).toEqual({
      namespace: 'gitops', kustomization: 'production', apiVersion: 'kustomize.toolkit.fluxcd.io/v1', url: production.platform!.gitops!.url, branch: 'main',
    });
    expect(gitopsOf('local', bootstrapObjects())).toBeUndefined();
  });

  test('it applies only the bootstrap, as k8s-infra-bootstrap, says so, and deletes nothing (Flux applied the rest)', async () => {
    const api = reconciledCluster({ status: RECONCILING });
    const r = await deployTo(api, []);
    expect([r.code, r.out]).toEqual([0, expect.stringContaining(`production is reconciled by Flux from ${production.platform!.gitops!.url} main: applied the bootstrap only; the rest arrives from git`)]);
    const want = bootstrapObjects().map((o) => api.pathOf(o)).sort();
    // every write is an object of flux.k8s.yaml (no ApplySet parent, nothing of the other files), by the bootstrap's manager
    expect(applied(api).filter((w) => w.method === 'PATCH').every((w) => want.includes(w.path) && w.manager === 'k8s-infra-bootstrap')).toBe(true);
    expect(api.writes.filter((w) => w.method === 'DELETE')).toEqual([]);
    expect(api.objects.has('/api/v1/namespaces/shop/configmaps/left-over')).toBe(true);
    expect(api.objects.get('/apis/apps/v1/namespaces/go-ok/deployments/go-ok').metadata.managedFields).toEqual(fluxApplied());
  });

  test('a bootstrap field Flux holds with another value is refused, naming it; nothing is written', async () => {
    const api = reconciledCluster({ status: RECONCILING });
    const k = api.objects.get('/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/gitops/kustomizations/production');
    k.spec.interval = '5m';
    k.metadata.managedFields = fluxApplied({ 'f:spec': { 'f:interval': {} } });
    const r = await deployTo(api, []);
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/gitops check: 1 field\(s\) of the bootstrap that Flux \(kustomize-controller\) holds with another value/);
    expect(r.out).toContain('Kustomization gitops/production (dist/production/flux.k8s.yaml): .spec.interval: "5m" -> "10m"');
    expect(applied(api)).toEqual([]);
  });

  test('--push-all is refused while Flux reconciles the environment, and goes on once its Kustomization is suspended', async () => {
    const active = reconciledCluster({ status: RECONCILING });
    const r = await deployTo(active, ['--push-all', '--adopt']);
    expect(r.code).toBe(3);
    expect(r.out).toContain('--push-all: Flux reconciles production (Kustomization gitops/production, last at main@sha1:abc)');
    expect(r.out).toContain(`kubectl -n gitops patch kustomization production --type=merge -p '{"spec":{"suspend":true}}'`);
    expect(applied(active)).toEqual([]);

    const suspended = reconciledCluster({ suspend: true, status: RECONCILING });
    const s = await deployTo(suspended, ['--push-all', '--adopt']);
    if (s.code !== 0) console.log(s.out);
    expect([s.code, s.out]).toEqual([0, expect.stringContaining('WARNING: --push-all: production is reconciled by Flux')]);
    const patched = applied(suspended).filter((w) => w.method === 'PATCH').map((w) => w.path);
    expect(patched).toContain('/apis/apps/v1/namespaces/go-ok/deployments/go-ok');
    expect(applied(suspended).find((w) => w.path.endsWith('/deployments/go-ok'))!.manager).toBe('k8s-infra-production');
  });

  test('--help documents --push-all and the GitOps rule', async () => {
    const r = spawnSync(process.execPath, ['deploy/run.js', '--help'], { cwd: ROOT, encoding: 'utf-8' });
    expect(r.stdout).toContain('--push-all');
    expect(r.stdout).toContain('this tool applies only\nthat bootstrap');
  });
});
