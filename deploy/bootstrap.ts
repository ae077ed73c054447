// npm run bootstrap -- <environment> [--no-rollout-wait]
//
// From an empty cluster (the current kubeconfig context) to the applied environment, in five steps, each printed
// and each skipped when already done (a second run changes nothing):
//   1. platform   deploy the sealed-secrets controller (environments that deploy it themselves), wait until it
//                 serves its certificate; for a controller run by a platform team, only wait for it
//   2. cert       fetch the certificate into sealing/<env>.pem (shows the change when it changed)
//   3. values     for every Secret of the environment whose sealed file this controller cannot open and whose
//                 plain files are missing: generate what can be generated (a self-signed TLS certificate for the
//                 environment's hosts) into the git-ignored secrets/<env>/plain/<name>/, only for environments
//                 whose controller this repository deploys (never for a platform team's: those are real values)
//   4. deploy     seal what changed, synth, check every SealedSecret with the controller (/v1/verify: one it
//                 cannot open stops here, before anything reaches the cluster), deploy with deploy/deploy.ts
//   5. wait       every SealedSecret Synced and its Secret there; the rollouts (bounded); then what to do next
// A failed step stops the run with its name and what to do. Files are written whole or not at all; nothing is
// committed (review and commit sealing/, secrets/<env>/ and dist/ yourself).
//
// Env: BOOTSTRAP_TIMEOUT (s, each wait; default 300), KUBECTL (default kubectl), SEALED_SECRETS_CONTROLLER_URL (reach
// the controller directly, e.g. behind `kubectl port-forward`, instead of the API server's service proxy); deploy/deploy.ts's own settings
// (DEPLOY_TARGETS, ...) pass through. ALLOW_DIRTY=1 is set for environments that deploy their own controller (a
// throw-away cluster); for the others the deploy tool deploys only a committed dist/.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as YAML from 'yaml';
import { ApiObject } from 'cdk8s';
import { ENVIRONMENTS, EnvironmentConfig, STANDIN_SWAP } from '../environments';
import { sealedSecretsControllerRef, PlatformChart } from '../charts/platform';
import { AppSecret } from '../lib/config/app-secret';
import { certificatePath, readSealedFile, sealedFilePath, secretRef, SealedFile } from '../lib/config/secret-store';
import { parseSealingCertificate } from '../lib/config/sealing';
import { projectRoot } from '../lib/core/project-root';
import { buildApp } from '../environments/app';
import { seal } from './seal';

const USAGE = 'usage: npm run bootstrap -- <environment> [--no-rollout-wait]';
const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const TIMEOUT_S = Number(process.env.BOOTSTRAP_TIMEOUT ?? '300');
/** The deploy tool, as `npm run deploy` runs it (node, from the project root). */
const DEPLOY_TOOL = ['deploy/run.js'];
/** Keys a self-signed certificate can fill. */
const TLS_KEYS = ['cert.pem', 'key.pem', 'tls.crt', 'tls.key'];

class StepError extends Error {}
let currentStep = '';
const say = (line: string) => console.log(`bootstrap: ${line}`);
function step(n: number, name: string, what: string): void {
  currentStep = `step ${n}/5 ${name}`;
  say(`${currentStep}: ${what}`);
}
function fail(message: string): never {
  throw new StepError(`${currentStep} failed: ${message}`);
}
const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** kubectl with a bounded request; returns stdout, or throws with stderr. */
function kubectl(args: string[], input?: string): string {
  const r = spawnSync(KUBECTL, ['--request-timeout=30s', ...args], { input, encoding: 'utf-8', timeout: 60_000 });
  if (r.status !== 0) throw new Error((r.stderr || r.stdout || `kubectl exited ${r.status}`).trim());
  return r.stdout;
}

interface Controller { namespace: string; name: string }
/** The API server's service proxy to the controller, the path `kubeseal --fetch-cert` uses. */
const proxyPath = (c: Controller, p: string) => `/api/v1/namespaces/${c.namespace}/services/http:${c.name}:http/proxy${p}`;
/**
 * SEALED_SECRETS_CONTROLLER_URL: reach the controller directly instead (e.g. `http://127.0.0.1:8080` behind
 * `kubectl -n kube-system port-forward svc/sealed-secrets-controller 8080`, or a controller run out of cluster, as
 * the cluster tests do: the API server proxies to no loopback address).
 */
const DIRECT_URL = process.env.SEALED_SECRETS_CONTROLLER_URL?.replace(/\/+$/, '');

/** GET (or POST a file to) a controller path: the HTTP status and body. */
function controllerRequest(c: Controller, p: string, postFile?: string): { status: number; body: string } {
  if (DIRECT_URL) {
    const args = ['-sS', '--max-time', '20', '-w', '\n%{http_code}', ...(postFile ? ['-X', 'POST', '--data-binary', `@${postFile}`] : []), `${DIRECT_URL}${p}`];
    const r = spawnSync('curl', args, { encoding: 'utf-8', timeout: 30_000 });
    if (r.status !== 0) return { status: 0, body: (r.stderr || `curl exited ${r.status}`).trim() };
    const i = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i) };
  }
  try {
    return { status: 200, body: kubectl(postFile ? ['create', '--raw', proxyPath(c, p), '-f', postFile] : ['get', '--raw', proxyPath(c, p)]) };
  } catch (e) {
    const msg = (e as Error).message;
    // kubectl reports the proxied 409 of /v1/verify as "Error from server (AlreadyExists): the server reported a
    // conflict" (a create's 409), and a 429 as TooManyRequests (seen on a node's API server proxy).
    const status = /\b409\b|conflict|AlreadyExists/i.test(msg) ? 409 : /TooManyRequests|\b429\b/.test(msg) ? 429 : 0;
    return { status, body: msg.split('\n')[0] };
  }
}

/** The controller's certificate, or undefined while it does not serve one. */
function fetchCert(c: Controller): { pem?: string; error?: string } {
  const r = controllerRequest(c, '/v1/cert.pem');
  if (r.status !== 200) return { error: r.body || `HTTP ${r.status}` };
  return /-----BEGIN CERTIFICATE-----/.test(r.body) ? { pem: r.body } : { error: 'the answer is not a PEM certificate' };
}

function waitForCert(c: Controller): string {
  const deadline = Date.now() + TIMEOUT_S * 1000;
  let last = '';
  for (;;) {
    const r = fetchCert(c);
    if (r.pem) return r.pem;
    last = r.error ?? last;
    if (Date.now() > deadline) {
      fail(`${c.namespace}/${c.name} did not serve its certificate within ${TIMEOUT_S}s (last answer: ${last}); `
        + `check \`kubectl -n ${c.namespace} get pods,events\` and \`kubectl -n ${c.namespace} logs deploy/${c.name}\``);
    }
    sleep(2000);
  }
}

/** The SealedSecret object of a sealed file, as synth writes it (what the controller's /v1/verify reads). */
function sealedSecretOf(sealed: SealedFile): object {
  const metadata = { name: sealed.name, namespace: sealed.namespace };
  return { apiVersion: 'bitnami.com/v1alpha1', kind: 'SealedSecret', metadata, spec: { encryptedData: sealed.encryptedData, template: { metadata, type: sealed.type } } };
}

/** Whether the controller can open a SealedSecret: its /v1/verify answers 200, or 409 Conflict when it cannot. */
function controllerOpens(c: Controller, sealedSecret: object): boolean {
  const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bootstrap-')), 'ss.json');
  fs.writeFileSync(tmp, JSON.stringify(sealedSecret));
  try {
    for (let attempt = 0; ; attempt++) {
      const r = controllerRequest(c, '/v1/verify', tmp);
      if (r.status === 200) return true;
      if (r.status === 409) return false;
      // /v1/verify allows 2 requests a second.
      if (r.status === 429 && attempt < 10) { sleep(1000); continue; }
      fail(`cannot ask ${c.namespace}/${c.name} to verify a SealedSecret: ${r.body || `HTTP ${r.status}`}`);
    }
  } finally {
    fs.rmSync(path.dirname(tmp), { recursive: true, force: true });
  }
}

function fingerprintOf(pem: string): string {
  const cert = parseSealingCertificate(pem);
  if (typeof cert === 'string') fail(`the controller's certificate ${cert}`);
  return cert.fingerprint;
}

/** Files of a plain folder: name -> mtime (ms); empty when the folder is missing. */
function plainFiles(dir: string): Map<string, number> {
  try {
    return new Map(fs.readdirSync(dir).filter((n) => fs.statSync(path.join(dir, n)).isFile()).map((n) => [n, fs.statSync(path.join(dir, n)).mtimeMs]));
  } catch {
    return new Map();
  }
}

/** Host names for a Secret's certificate: the hosts of the Ingresses that use it, else every Ingress host of the environment. */
function hostsFor(objects: any[], secret: AppSecret): string[] {
  const ingresses = objects.filter((o) => o.kind === 'Ingress');
  const own = ingresses.filter((i) => i.metadata.namespace === secret.namespace && (i.spec.tls ?? []).some((t: any) => t.secretName === secret.name));
  const hosts = (own.length ? own : ingresses).flatMap((i) => (i.spec.rules ?? []).map((r: any) => r.host).filter(Boolean));
  return [...new Set(hosts.length ? hosts : ['localhost'])];
}

function generateTls(dir: string, secret: AppSecret, hosts: string[]): void {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bootstrap-tls-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '365', '-subj', `/CN=${hosts[0]}`,
      '-addext', `subjectAltName=${hosts.map((h) => `DNS:${h}`).join(',')}`, '-keyout', path.join(tmp, 'key.pem'), '-out', path.join(tmp, 'cert.pem')],
    { stdio: ['ignore', 'ignore', 'pipe'] });
    const cert = fs.readFileSync(path.join(tmp, 'cert.pem'));
    const key = fs.readFileSync(path.join(tmp, 'key.pem'));
    const files: Record<string, Buffer> = { 'cert.pem': cert, 'key.pem': key, 'tls.crt': cert, 'tls.key': key };
    const staged = `${dir}.${process.pid}.tmp`;
    fs.mkdirSync(staged, { recursive: true, mode: 0o700 });
    for (const k of secret.requiredKeys) fs.writeFileSync(path.join(staged, k), files[k], { mode: 0o600 });
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    fs.renameSync(staged, dir);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, root: string): void {
  const r = spawnSync(cmd, args, { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'], timeout: (TIMEOUT_S + 600) * 1000 });
  if (r.status !== 0) fail(`\`${cmd} ${args.join(' ')}\` exited ${r.status ?? r.signal}`);
}

/** Seconds the Ingress controller gets to write an address into the Ingresses' status after the rollouts. */
const INGRESS_STATUS_WAIT_S = Math.min(TIMEOUT_S, 30);

/**
 * The IP addresses the Ingress controller reports in the status of these Ingresses (`status.loadBalancer.ingress[].ip`;
 * a `hostname` there, as kind's `localhost` or a cloud load balancer's name, is no /etc/hosts address), waited for a
 * bounded while: the line for /etc/hosts names what the controller serves, not a guess. Not waited for when the
 * cluster has none of the IngressClasses they name (no controller will write a status). Empty when none is reported.
 */
function ingressAddresses(ingresses: any[]): string[] {
  const classes = [...new Set(ingresses.map((i) => i.spec.ingressClassName).filter(Boolean))] as string[];
  const served = classes.some((c) => { try { kubectl(['get', 'ingressclass', c, '-o', 'name']); return true; } catch { return false; } });
  if (!served) return [];
  const deadline = Date.now() + INGRESS_STATUS_WAIT_S * 1000;
  for (;;) {
    const seen = ingresses.map((i) => {
      try {
        const status = JSON.parse(kubectl(['get', 'ingress', i.metadata.name, '-n', i.metadata.namespace ?? 'default', '-o', 'json'])).status;
        return (status?.loadBalancer?.ingress ?? []).map((a: any) => a.ip).filter(Boolean) as string[];
      } catch { return []; }
    });
    if (seen.every((a) => a.length > 0) || Date.now() > deadline) return [...new Set(seen.flat())];
    sleep(1000);
  }
}

export function bootstrap(args: readonly string[]): void {
  const envName = args[0];
  const rolloutWait = !args.includes('--no-rollout-wait');
  if (!envName || args.slice(1).some((a) => a !== '--no-rollout-wait')) throw new Error(USAGE);
  const env: EnvironmentConfig | undefined = ENVIRONMENTS.find((e) => e.name === envName);
  if (!env) throw new Error(`bootstrap: unknown environment "${envName}"; known: ${ENVIRONMENTS.map((e) => e.name).join(', ')}`);
  if (!env.sealedSecretsController) throw new Error(`bootstrap: environment "${envName}" names no sealed-secrets controller (sealedSecretsController in environments/${envName}.ts)`);
  if ((env.outputRoot ?? 'dist') !== 'dist') throw new Error(`bootstrap: environment "${envName}" is written to ${env.outputRoot}/, not deployed by the pipeline`);
  const root = projectRoot();
  const ours = env.sealedSecretsController.deployedBy === 'this-repository';
  const ctl = sealedSecretsControllerRef(env.sealedSecretsController);
  const t0 = Date.now();
  const deployEnv = { ...process.env, CDK8S_CHECK_UPGRADE: 'false', ...(ours ? { ALLOW_DIRTY: '1' } : {}) };
  let context = '(none)';
  try { context = kubectl(['config', 'current-context']).trim(); } catch { /* reported below */ }
  say(`environment ${env.name}, kube context ${context}, controller ${ctl.namespace}/${ctl.name} (${ours ? 'deployed by this repository' : `run by the ${env.sealedSecretsController.deployedBy}`})`);
  if (STANDIN_SWAP && env.name === 'local') say(STANDIN_SWAP);

  // --- 1. platform --------------------------------------------------------------------------
  step(1, 'platform', ours ? 'deploy the sealed-secrets controller' : 'wait for the platform team\'s controller');
  try { kubectl(['get', '--raw', '/readyz']); } catch (e) { fail(`cannot reach the cluster of context ${context}: ${(e as Error).message.split('\n')[0]}`); }
  let pem: string;
  const serving = fetchCert(ctl);
  if (serving.pem) {
    say(`  skipped: ${ctl.namespace}/${ctl.name} already serves its certificate`);
    pem = serving.pem;
  } else if (ours) {
    // Only the platform chart: the rest waits until its Secrets are sealed for this controller (step 4). A cluster
    // where this environment was deployed before gets the whole environment, so the pipeline's prune never sees
    // the other charts leave.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bootstrap-dist-'));
    try {
      const deployedBefore = (() => {
        try { return kubectl(['get', 'secret', `k8s-infra-${env.name}-cluster`, '-n', process.env.APPLYSET_NAMESPACE ?? 'default', '--ignore-not-found', '-o', 'name']).trim() !== ''; } catch { return false; }
      })();
      let distDir: string;
      if (deployedBefore) {
        say('  this environment was deployed to the cluster before: deploying it whole, as dist/ holds it');
        distDir = path.join(root, 'dist');
      } else {
        const app = buildApp(env, path.join(tmp, 'out'));
        // (instanceof is true for every cdk8s Chart: Chart overrides Symbol.hasInstance)
        const chart = app.charts.find((c) => (c.constructor as unknown) === PlatformChart);
        if (!chart) fail(`environment ${env.name} builds no platform chart`);
        fs.mkdirSync(path.join(tmp, env.name));
        fs.writeFileSync(path.join(tmp, env.name, 'platform.k8s.yaml'), chart.toJson().map((o: unknown) => YAML.stringify(o)).join('---\n'));
        distDir = tmp;
      }
      run(process.execPath, [...DEPLOY_TOOL, env.name], { ...deployEnv, SKIP_SYNTH: '1', ALLOW_DIRTY: '1', DIST_DIR: distDir }, root);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    say(`  waiting (<= ${TIMEOUT_S}s) for ${ctl.namespace}/${ctl.name} to serve its certificate`);
    pem = waitForCert(ctl);
  } else {
    say(`  waiting (<= ${TIMEOUT_S}s) for ${ctl.namespace}/${ctl.name}`);
    pem = waitForCert(ctl);
  }
  const fingerprint = fingerprintOf(pem);
  say(`  controller certificate SHA-256 ${fingerprint}`);

  // --- 2. certificate -----------------------------------------------------------------------
  const certRel = certificatePath(env.name);
  step(2, 'cert', `fetch the certificate into ${certRel}`);
  const certFile = path.join(root, certRel);
  const old = fs.existsSync(certFile) ? fs.readFileSync(certFile, 'utf-8') : '';
  if (old === pem) {
    say(`  skipped: ${certRel} is the controller's certificate`);
  } else {
    const oldCert = old ? parseSealingCertificate(old) : 'missing';
    say(`  ${certRel} changed: SHA-256 ${typeof oldCert === 'string' ? `(${oldCert})` : oldCert.fingerprint} -> ${fingerprint}`);
    const diff = spawnSync('bash', ['-c', 'diff -u --label "$1 (before)" --label "$1 (controller)" "$2" - || true', 'diff', certRel, old ? certFile : '/dev/null'], { input: pem, encoding: 'utf-8' });
    process.stdout.write(diff.stdout.split('\n').map((l) => (l ? `    ${l}` : l)).join('\n'));
    fs.mkdirSync(path.dirname(certFile), { recursive: true });
    writeAtomically(certFile, pem);
  }

  // --- 3. values ----------------------------------------------------------------------------
  step(3, 'values', `the values of every Secret of ${env.name}`);
  const modelDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bootstrap-model-'));
  const app = buildApp(env, modelDir);
  fs.rmSync(modelDir, { recursive: true, force: true });
  const secrets = app.node.findAll().filter((c): c is AppSecret => c instanceof AppSecret && c.source.kind === 'sealed');
  // Ingresses and Deployments only: serializing the charts would read the sealed files, which may not exist yet.
  const objects = app.node.findAll().filter((c): c is ApiObject => c instanceof ApiObject && ['Ingress', 'Deployment'].includes(c.kind)).map((o) => o.toJson());
  const toSeal: AppSecret[] = [];
  const cannot: string[] = [];
  for (const s of secrets) {
    const sealedRel = sealedFilePath(env.name, s.name);
    const plainRel = `secrets/${env.name}/plain/${s.name}`;
    const plainDir = path.join(root, plainRel);
    const plain = plainFiles(plainDir);
    let sealed: SealedFile | undefined;
    try { sealed = readSealedFile('bootstrap', secretRef(s), root, sealedRel, ''); } catch { sealed = undefined; }
    if (plain.size > 0) {
      const sealedAt = sealed ? fs.statSync(path.join(root, sealedRel)).mtimeMs : 0;
      const sameKeys = sealed && [...plain.keys()].sort().join() === Object.keys(sealed.encryptedData).sort().join();
      const fresh = sealed && sealed.certificate.sha256 === fingerprint && sameKeys && [...plain.values()].every((m) => m <= sealedAt);
      if (fresh) say(`  ${secretRef(s)}: sealed for this controller from ${plainRel}/: nothing to do`);
      else { say(`  ${secretRef(s)}: ${plainRel}/ will be sealed (${!sealed ? 'no sealed file' : sealed.certificate.sha256 !== fingerprint ? 'sealed with another certificate' : 'values changed'})`); toSeal.push(s); }
      continue;
    }
    if (sealed && (sealed.certificate.sha256 === fingerprint || controllerOpens(ctl, sealedSecretOf(sealed)))) {
      say(`  ${secretRef(s)}: ${sealedRel} opens with this controller: kept (no plain files needed)`);
      continue;
    }
    const why = sealed ? `${sealedRel} was sealed for another controller` : `${sealedRel} does not exist`;
    const generatable = s.requiredKeys.length > 0 && s.requiredKeys.every((k) => TLS_KEYS.includes(k)) && ['Opaque', 'kubernetes.io/tls'].includes(s.type);
    if (generatable && ours) {
      const hosts = hostsFor(objects, s);
      generateTls(plainDir, s, hosts);
      say(`  ${secretRef(s)}: ${why}; generated a self-signed certificate for ${hosts.join(', ')} into ${plainRel}/ (${s.requiredKeys.join(', ')})`);
      toSeal.push(s);
    } else {
      cannot.push(`${secretRef(s)}: ${why}, and ${plainRel}/ is missing; ${ours ? 'its keys cannot be generated' : 'values of a platform team\'s environment are never generated'}: `
        + `put ${s.requiredKeys.length ? s.requiredKeys.join(', ') : 'one file per key'} into ${plainRel}/ and re-run`);
    }
  }
  if (cannot.length) fail(`Secrets without usable values (nothing was deployed):\n  ${cannot.join('\n  ')}`);

  // --- 4. seal, synth, verify, deploy -------------------------------------------------------
  step(4, 'deploy', 'seal, synth, verify every SealedSecret with the controller, deploy');
  if (toSeal.length === 0) say('  sealing skipped: every sealed file is current');
  for (const s of toSeal) seal([env.name, s.name, `secrets/${env.name}/plain/${s.name}`], { root, cwd: root, log: (l) => say(`  ${l}`) });
  run('npm', ['run', '--silent', 'synth'], deployEnv, root);
  // What will be applied, checked by the controller that will unseal it: a SealedSecret it cannot open stops here.
  const distObjects = fs.readdirSync(path.join(root, 'dist', env.name)).filter((f) => f.endsWith('.k8s.yaml'))
    .flatMap((f) => YAML.parseAllDocuments(fs.readFileSync(path.join(root, 'dist', env.name, f), 'utf-8')).map((d) => d.toJSON()))
    .filter((o) => o?.kind === 'SealedSecret');
  const refused = distObjects.filter((o) => !controllerOpens(ctl, o));
  if (refused.length) {
    fail(`${ctl.namespace}/${ctl.name} cannot open ${refused.map((o) => `SealedSecret ${o.metadata.namespace}/${o.metadata.name}`).join(', ')} `
      + `(sealed for another controller, e.g. before ${certRel} changed): put their values into secrets/${env.name}/plain/<name>/ and re-run; nothing was deployed`);
  }
  say(`  the controller opens all ${distObjects.length} SealedSecrets of dist/${env.name}/`);
  run(process.execPath, [...DEPLOY_TOOL, env.name], { ...deployEnv, SKIP_SYNTH: '1' }, root);

  // --- 5. wait ------------------------------------------------------------------------------
  // An environment reconciled by Flux: the deploy tool applied its GitOps bootstrap only (unless DEPLOY_PUSH_ALL=1);
  // its SealedSecrets and workloads arrive from git once dist/ is committed and merged.
  if (env.platform?.gitops && process.env.DEPLOY_PUSH_ALL !== '1') {
    step(5, 'wait', 'skipped: Flux applies the rest of the environment from git');
    say(`  commit and merge sealing/, secrets/${env.name}/ and dist/${env.name}/ to ${env.platform.gitops.branch}: Flux applies them from ${env.platform.gitops.url}`);
    return;
  }
  step(5, 'wait', `SealedSecrets unsealed${rolloutWait ? ', rollouts finished' : ''} (each <= ${TIMEOUT_S}s)`);
  for (const o of distObjects) {
    const { name, namespace } = o.metadata;
    try {
      kubectl(['wait', `sealedsecret.bitnami.com/${name}`, '-n', namespace, '--for=condition=Synced', `--timeout=${TIMEOUT_S}s`]);
      kubectl(['get', 'secret', name, '-n', namespace, '-o', 'name']);
    } catch (e) {
      fail(`SealedSecret ${namespace}/${name} was not unsealed: ${(e as Error).message.split('\n')[0]}; see \`kubectl -n ${namespace} describe sealedsecret ${name}\``);
    }
    say(`  Secret ${namespace}/${name} unsealed`);
  }
  if (rolloutWait) {
    for (const o of objects.filter((x) => x.kind === 'Deployment')) {
      try {
        kubectl(['rollout', 'status', `deployment/${o.metadata.name}`, '-n', o.metadata.namespace, `--timeout=${TIMEOUT_S}s`]);
      } catch (e) {
        fail(`deployment ${o.metadata.namespace}/${o.metadata.name} did not roll out within ${TIMEOUT_S}s: ${(e as Error).message.split('\n')[0]}`);
      }
      say(`  deployment ${o.metadata.namespace}/${o.metadata.name} rolled out`);
    }
  } else {
    say('  rollouts not awaited (--no-rollout-wait)');
  }
  const ingresses = objects.filter((o) => o.kind === 'Ingress');
  const hosts = [...new Set(ingresses.flatMap((i) => (i.spec.rules ?? []).map((r: any) => r.host)))];
  const addresses = rolloutWait ? ingressAddresses(ingresses) : [];
  say(`done in ${((Date.now() - t0) / 1000).toFixed(1)}s. Next:`);
  if (hosts.length && addresses.length === 1) {
    say(`  - reach the Ingress hosts: add this line to /etc/hosts (the address your Ingress controller reports in the Ingresses' status):`);
    say(`      ${addresses[0]} ${hosts.join(' ')}`);
  } else if (hosts.length) {
    const seen = addresses.length ? `the Ingresses report ${addresses.join(', ')}` : 'no Ingress controller reported an IP address';
    say(`  - reach the Ingress hosts: add "<ingress IP> ${hosts.join(' ')}" to /etc/hosts (${seen}; minikube: $(minikube ip); kind/k3d: 127.0.0.1)`);
  }
  say(`  - review and commit ${certRel}, secrets/${env.name}/*.yaml and dist/${env.name}/ (the plain values in secrets/${env.name}/plain/ are git-ignored)`);
  say(`  - later changes: npm run deploy -- ${env.name} --diff`);
}

if (require.main === module) {
  try {
    bootstrap(process.argv.slice(2));
  } catch (e) {
    console.error(e instanceof StepError ? `bootstrap: ${e.message}` : (e as Error).message);
    process.exit(1);
  }
}
