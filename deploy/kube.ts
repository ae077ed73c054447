// The deploy tool's transport: the kubeconfig, one keep-alive HTTPS connection pool to the API server, discovery.
// No kubectl process is started: every call is an HTTP request made here, each bounded by the deadline it is given,
// and each failure is thrown as a KubeError carrying the step, the object and the server's own message.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as os from 'os';
import * as path from 'path';
import * as YAML from 'yaml';

/** A failed call: what was being done (step), and what the server (or the network) said. */
export class KubeError extends Error {
  constructor(
    readonly step: string,
    readonly detail: string,
    readonly status = 0,
    readonly reason = '',
    readonly timedOut = false,
  ) {
    super(`${step}: ${detail}`);
  }
  get forbidden(): boolean { return this.status === 403; }
  get notFound(): boolean { return this.status === 404; }
}

// --- testing-only fault hook ------------------------------------------------------------------------------------
// DEPLOY_TEST_HOOK_AT=<regex> DEPLOY_TEST_HOOK=<action> [DEPLOY_TEST_HOOK_STATE=<file>]: the first step (API call or
// stage start) whose name matches the regex gets the action, once: throw (an unexpected exception), throw-async (one
// thrown outside any promise), reset (the call fails as if the connection was reset), forbidden (the call is
// answered 403), sleep:<s> (the call waits first), sh:<command> (run a shell command first, e.g. freeze etcd).
// STATE is written with the time it fired. Used by test/cluster/run.sh only; unset, it costs one env lookup per call.
let hookFired = false;
export function testHook(step: string): 'reset' | 'forbidden' | undefined {
  const at = process.env.DEPLOY_TEST_HOOK_AT;
  if (!at || hookFired || !new RegExp(at).test(step)) return undefined;
  hookFired = true;
  const action = process.env.DEPLOY_TEST_HOOK ?? 'throw';
  if (process.env.DEPLOY_TEST_HOOK_STATE) fs.writeFileSync(process.env.DEPLOY_TEST_HOOK_STATE, `${Date.now() / 1000}\n`);
  if (action === 'throw') throw new TypeError(`injected by DEPLOY_TEST_HOOK at "${step}"`);
  if (action === 'throw-async') {
    setImmediate(() => { throw new RangeError(`injected by DEPLOY_TEST_HOOK (outside any promise) at "${step}"`); });
    return undefined;
  }
  if (action === 'reset' || action === 'forbidden') return action;
  if (action.startsWith('sleep:')) { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(action.slice(6)) * 1000); return undefined; }
  if (action.startsWith('sh:')) { spawnSync('sh', ['-c', action.slice(3)], { stdio: 'inherit' }); return undefined; }
  throw new Error(`DEPLOY_TEST_HOOK: unknown action "${action}"`);
}

// --- kubeconfig -------------------------------------------------------------------------------------------------
interface Named<T> { name: string; [k: string]: unknown; cluster?: T; user?: T; context?: T }
export interface Connection {
  context: string;
  server: URL;
  tls: https.AgentOptions;
  headers: Record<string, string>;
}

function readMaybe(file: string | undefined, data: string | undefined, base: string): Buffer | undefined {
  if (data) return Buffer.from(data, 'base64');
  if (file) return fs.readFileSync(path.resolve(base, file));
  return undefined;
}

/** The current context of $KUBECONFIG (or ~/.kube/config), merged as kubectl merges: the first file to set a name wins. */
export function loadKubeconfig(): Connection {
  const files = (process.env.KUBECONFIG || path.join(os.homedir(), '.kube', 'config')).split(path.delimiter).filter(Boolean);
  let current = '';
  const clusters = new Map<string, [any, string]>();
  const users = new Map<string, [any, string]>();
  const contexts = new Map<string, any>();
  for (const f of files) {
    if (!fs.existsSync(f)) continue;
    const doc = (YAML.parse(fs.readFileSync(f, 'utf-8')) ?? {}) as any;
    const base = path.dirname(path.resolve(f));
    current ||= doc['current-context'] ?? '';
    for (const c of (doc.clusters ?? []) as Named<any>[]) if (!clusters.has(c.name)) clusters.set(c.name, [c.cluster ?? {}, base]);
    for (const u of (doc.users ?? []) as Named<any>[]) if (!users.has(u.name)) users.set(u.name, [u.user ?? {}, base]);
    for (const c of (doc.contexts ?? []) as Named<any>[]) if (!contexts.has(c.name)) contexts.set(c.name, c.context ?? {});
  }
  if (!current) throw new Error(`no current context in ${files.join(', ')} (KUBECONFIG)`);
  const ctx = contexts.get(current);
  if (!ctx) throw new Error(`context "${current}" is not defined in ${files.join(', ')}`);
  const [cluster, cbase] = clusters.get(ctx.cluster) ?? [undefined, ''];
  if (!cluster?.server) throw new Error(`cluster "${ctx.cluster}" of context "${current}" has no server`);
  if (cluster['proxy-url']) throw new Error(`cluster "${ctx.cluster}": proxy-url is not supported by the deploy tool`);
  const [user, ubase] = users.get(ctx.user) ?? [{}, ''];
  const tls: https.AgentOptions = {
    ca: readMaybe(cluster['certificate-authority'], cluster['certificate-authority-data'], cbase),
    rejectUnauthorized: cluster['insecure-skip-tls-verify'] !== true,
    servername: cluster['tls-server-name'],
    cert: readMaybe(user['client-certificate'], user['client-certificate-data'], ubase),
    key: readMaybe(user['client-key'], user['client-key-data'], ubase),
  };
  const headers: Record<string, string> = {};
  let token: string | undefined = user.token ?? (user.tokenFile ? fs.readFileSync(path.resolve(ubase, user.tokenFile), 'utf-8').trim() : undefined);
  if (user.exec) {
    const e = user.exec;
    const r = spawnSync(e.command, e.args ?? [], {
      encoding: 'utf-8', timeout: 60_000, stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...Object.fromEntries((e.env ?? []).map((v: any) => [v.name, v.value])), KUBERNETES_EXEC_INFO: JSON.stringify({ apiVersion: e.apiVersion, kind: 'ExecCredential', spec: { interactive: false } }) },
    });
    if (r.status !== 0) throw new Error(`the kubeconfig's exec credential plugin ${e.command} failed (exit ${r.status ?? r.signal})`);
    const status = JSON.parse(r.stdout).status ?? {};
    token = status.token ?? token;
    if (status.clientCertificateData) tls.cert = status.clientCertificateData;
    if (status.clientKeyData) tls.key = status.clientKeyData;
  }
  if (token) headers.authorization = `Bearer ${token}`;
  else if (user.username) headers.authorization = `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}`;
  return { context: current, server: new URL(cluster.server), tls, headers };
}

// --- requests ---------------------------------------------------------------------------------------------------
export interface Answer { status: number; body: any; warnings: string[] }
export interface CallOptions {
  body?: unknown;
  contentType?: string;
  accept?: string;
  /** ms; the call fails after it, naming `why` */
  timeoutMs: number;
  why: string;
  /** statuses that are answers, not failures (e.g. 404 on a lookup) */
  ok?: number[];
}

/** The Status message of an error answer, else its text. */
function messageOf(status: number, body: any, raw: string): string {
  if (body && typeof body === 'object' && body.kind === 'Status') {
    const causes = (body.details?.causes ?? []).map((c: any) => c.message).filter((m: string) => m && !String(body.message).includes(m));
    return [body.message || body.reason || `HTTP ${status}`, ...causes].join('; ');
  }
  return raw.trim().slice(0, 500) || `HTTP ${status}`;
}

export class Kube {
  private readonly agent: https.Agent | http.Agent;
  calls = 0;
  constructor(readonly conn: Connection) {
    const opts = { keepAlive: true, maxSockets: 16 };
    this.agent = conn.server.protocol === 'http:' ? new http.Agent(opts) : new https.Agent({ ...opts, ...conn.tls });
  }

  /** One HTTP call. Throws KubeError with the step, the server's message and status (or the deadline that ran out). */
  async call(step: string, method: string, urlPath: string, o: CallOptions): Promise<Answer> {
    const fault = testHook(step);
    if (fault === 'reset') throw new KubeError(step, `read tcp ${this.conn.server.host}: connection reset by peer (DEPLOY_TEST_HOOK)`);
    if (fault === 'forbidden') throw new KubeError(step, 'forbidden (DEPLOY_TEST_HOOK): User "deployer" cannot do this', 403, 'Forbidden');
    if (o.timeoutMs <= 0) throw new KubeError(step, `deadline passed (${o.why})`, 0, '', true);
    this.calls++;
    const base = this.conn.server.pathname.replace(/\/+$/, '');
    const sep = urlPath.includes('?') ? '&' : '?';
    // The server gives up too (and says so) a little before we do.
    const serverTimeout = urlPath.startsWith('/api') ? `${sep}timeout=${Math.max(1, Math.floor(o.timeoutMs / 1000) - 1)}s` : '';
    const data = o.body === undefined ? undefined : Buffer.from(typeof o.body === 'string' ? o.body : JSON.stringify(o.body));
    const lib = this.conn.server.protocol === 'http:' ? http : https;
    return new Promise<Answer>((resolve, reject) => {
      let done = false;
      const finish = (f: () => void) => { if (!done) { done = true; clearTimeout(timer); f(); } };
      const req = lib.request({
        protocol: this.conn.server.protocol, hostname: this.conn.server.hostname, port: this.conn.server.port,
        path: base + urlPath + serverTimeout, method, agent: this.agent,
        headers: {
          ...this.conn.headers, accept: o.accept ?? 'application/json', 'user-agent': 'k8s-infra-deploy',
          ...(data ? { 'content-type': o.contentType ?? 'application/json', 'content-length': String(data.length) } : {}),
        },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', (e) => finish(() => reject(new KubeError(step, `${e.message}`))));
        res.on('end', () => finish(() => {
          const raw = Buffer.concat(chunks).toString('utf-8');
          let body: any = raw;
          try { body = raw ? JSON.parse(raw) : undefined; } catch { /* not JSON: keep the text */ }
          const warnings = ([] as string[]).concat(res.headers.warning ?? []).flatMap((w) => w.split(/,(?=\s*\d{3} )/))
            .map((w) => w.trim().replace(/^\d{3} \S+ "?/, '').replace(/"$/, '').replace(/\\"/g, '"'));
          const status = res.statusCode ?? 0;
          if ((status >= 200 && status < 300) || o.ok?.includes(status)) resolve({ status, body, warnings });
          else {
            const msg = messageOf(status, body, raw);
            const timedOut = status === 504 || (body?.reason === 'Timeout');
            reject(new KubeError(step, timedOut ? `did not finish within ${Math.round(o.timeoutMs / 1000)}s (${o.why}); the server said: ${msg}` : msg, status, body?.reason ?? '', timedOut));
          }
        }));
      });
      const timer = setTimeout(() => finish(() => {
        req.destroy();
        reject(new KubeError(step, `did not finish within ${Math.round(o.timeoutMs / 1000)}s (${o.why})`, 0, '', true));
      }), o.timeoutMs);
      req.on('error', (e: NodeJS.ErrnoException) => finish(() => reject(new KubeError(step, `cannot reach the API server ${this.conn.server.host}: ${e.code ?? ''} ${e.message}`.replace(/\s+/g, ' ')))));
      req.end(data);
    });
  }

  close(): void { this.agent.destroy(); }
}

// --- discovery --------------------------------------------------------------------------------------------------
export interface ResourceInfo { group: string; version: string; kind: string; resource: string; namespaced: boolean; verbs: string[] }
export interface Discovery {
  /** "apiVersion/Kind" -> resource */
  byGvk: Map<string, ResourceInfo>;
  /** "group/Kind" -> the preferred version's resource */
  byGk: Map<string, ResourceInfo>;
  all: ResourceInfo[];
}
export const groupOf = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.split('/')[0] : '');
export const versionOf = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.split('/')[1] : apiVersion);

const AGGREGATED = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';

/** What the server serves: two requests with aggregated discovery (Kubernetes >= 1.27), else one per group version. */
export async function discover(call: (step: string, path: string, accept?: string) => Promise<Answer>): Promise<Discovery> {
  const all: ResourceInfo[] = [];
  const add = (group: string, version: string, r: any, namespaced: boolean, kind: string) => {
    if (String(r.resource ?? r.name).includes('/')) return;   // subresources
    all.push({ group, version, kind, resource: r.resource ?? r.name, namespaced, verbs: r.verbs ?? [] });
  };
  const [core, groups] = await Promise.all([call('discover /api', '/api', AGGREGATED), call('discover /apis', '/apis', AGGREGATED)]);
  if (core.body?.kind === 'APIGroupDiscoveryList' && groups.body?.kind === 'APIGroupDiscoveryList') {
    for (const g of [...core.body.items, ...groups.body.items]) {
      for (const v of g.versions ?? []) {
        for (const r of v.resources ?? []) add(g.metadata?.name ?? '', v.version, r, r.scope === 'Namespaced', r.responseKind?.kind);
      }
    }
  } else {
    const lists: [string, string, Promise<Answer>][] = [['', 'v1', call('discover /api/v1', '/api/v1')]];
    for (const g of groups.body?.groups ?? []) {
      for (const v of g.versions ?? []) lists.push([g.name, v.version, call(`discover /apis/${v.groupVersion}`, `/apis/${v.groupVersion}`)]);
    }
    const answers = await Promise.all(lists.map(([, , p]) => p));
    lists.forEach(([g, v], i) => { for (const r of answers[i].body?.resources ?? []) add(g, v, r, r.namespaced, r.kind); });
  }
  const byGvk = new Map<string, ResourceInfo>();
  const byGk = new Map<string, ResourceInfo>();
  for (const r of all) {
    const key = `${r.group ? `${r.group}/` : ''}${r.version}/${r.kind}`;
    if (!byGvk.has(key)) byGvk.set(key, r);
    if (!byGk.has(`${r.group}/${r.kind}`)) byGk.set(`${r.group}/${r.kind}`, r);   // versions come in preference order
  }
  return { byGvk, byGk, all };
}

/** The URL path of a resource (collection when name is omitted). */
export function resourcePath(r: { group: string; version: string; resource: string; namespaced: boolean }, namespace?: string, name?: string): string {
  const root = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  const ns = r.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${root}${ns}/${r.resource}${name ? `/${encodeURIComponent(name)}` : ''}`;
}
