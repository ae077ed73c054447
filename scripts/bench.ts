/**
 * `npm run bench`: how long the things people run all day take, against `helm template` on the same objects, in
 * the same run (paired: ours and Helm alternate, and the ratio is the median of the per-pair ratios). Numbers,
 * never assertions. Wall times are medians of BENCH_RUNS (default 7) runs; on a loaded machine, run it again in
 * a quiet moment.
 *   - the everyday synth (`node synth/synth.js`: both environments, schema validation at both Kubernetes
 *     versions, atomic promotion) vs Helm rendering the committed dist/production objects from a generated chart,
 *     with nothing changed and after an edit to a .ts file (our code bundled again);
 *   - plain `cdk8s synth` (the CLI, its validation plugin and report);
 *   - generated apps of 100 and 1000 services through the same path (bundled app, in-memory validation, stamp,
 *     promotion): model unchanged, and after an edit (every object changed, the validators run), vs Helm's
 *     `range` template over as many services; the cost per added object;
 *   - a cold first synth (a copy of the project without .cache/: esbuild, the committed validators), and the same
 *     with the validators compiled (as after a change to schemas/);
 *   - `npm test`'s parts (BENCH_TESTS=0 skips them);
 *   - the deploy tool against a real API server (test/cluster/harness/up.sh, when its binaries are in .cache/bin;
 *     BENCH_DEPLOY=0 skips it, BENCH_ONLY=deploy runs only it): a no-op deploy of dist/production and its --diff,
 *     paired with plain `kubectl apply --server-side -f dist/production/` and `kubectl diff --server-side` on the
 *     same cluster (a second table, ours/kubectl).
 * The Helm peer is .cache/bin/helm (tools/helm/go.mod, built here when Go is there); without Go it is skipped, loudly.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { omitServerDefaults } from '../lib/core/server-defaults';
import { copyProject } from './project-copy';
import { docsGenerationSeconds } from './bench-docs';

const root = path.join(__dirname, '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-'));
const baseEnv = { ...process.env, CDK8S_CHECK_UPGRADE: 'false' };

function time(cmd: string, args: string[], env: Record<string, string | undefined> = {}, cwd = root): number {
  const start = process.hrtime.bigint();
  const merged = Object.fromEntries(Object.entries({ ...baseEnv, ...env }).filter(([, v]) => v !== undefined));
  execFileSync(cmd, args, { cwd, stdio: 'pipe', env: merged, maxBuffer: 1 << 30 });
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** The same, for commands whose exit codes in `ok` are answers (kubectl diff: 1 when there are differences). */
function timeOk(cmd: string, args: string[], env: Record<string, string | undefined>, ok: number[]): number {
  const start = process.hrtime.bigint();
  const merged = Object.fromEntries(Object.entries({ ...baseEnv, ...env }).filter(([, v]) => v !== undefined)) as NodeJS.ProcessEnv;
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'pipe', env: merged, maxBuffer: 1 << 30 });
  if (r.status === null || !ok.includes(r.status)) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

type Run = () => number;
const repeat = (run: Run, runs = RUNS): number => median(Array.from({ length: runs }, run));

/** Ours and the peer alternately: medians of each, and the median of the per-pair ratios. */
function paired(ours: Run, peer: Run | undefined, runs = RUNS): { ours: number; peer?: number; ratio?: number } {
  ours(); peer?.(); // warm-up: bundle, code caches, page cache
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < runs; i++) {
    a.push(ours());
    if (peer) b.push(peer());
  }
  return peer ? { ours: median(a), peer: median(b), ratio: median(a.map((x, i) => x / b[i])) } : { ours: median(a) };
}

// --- ours -------------------------------------------------------------------------------------------------------
const node = process.execPath;
/** The everyday synth, promoting into a temporary root instead of the project's dist/. */
const everyday = (env: Record<string, string | undefined> = {}): number => time(node, ['synth/synth.js'], { SYNTH_TARGET_ROOT: path.join(tmp, 'small'), ...env });
/** A generated app, the way cdk8s synth and the launcher run it: empty staging folder, then the bundled app. */
function generated(services: number, variant?: () => string): Run {
  const staging = path.join(tmp, `gen-${services}`, 'staging');
  return () => {
    fs.rmSync(staging, { recursive: true, force: true });
    return time(node, ['synth/run-app.js', 'scripts/bench-app.ts'], {
      BENCH_SERVICES: String(services), BENCH_VARIANT: variant?.(), CDK8S_OUTDIR: staging, SYNTH_TARGET_ROOT: path.dirname(staging),
    });
  };
}
const generatedFile = (services: number) => path.join(tmp, `gen-${services}`, 'dist', 'bench', 'bench.k8s.yaml');

// --- the peer ---------------------------------------------------------------------------------------------------
function findHelm(): string | undefined {
  const helm = path.join(root, '.cache', 'bin', 'helm');
  if (fs.existsSync(helm)) return helm;
  if (process.env.BENCH_ONLY === 'deploy') return undefined;   // the deploy rows need no Helm
  if (spawnSync('go', ['version']).status !== 0) return undefined;
  console.log('building the Helm peer (tools/helm/go.mod) into .cache/bin/ ...');
  execFileSync('go', ['install', '-mod=readonly', '-trimpath', 'tool'], { cwd: path.join(root, 'tools', 'helm'), stdio: 'inherit', env: { ...process.env, GOBIN: path.dirname(helm) } });
  return helm;
}
const helm = findHelm();
const helmEnv = { HELM_CACHE_HOME: path.join(tmp, 'helm', 'cache'), HELM_CONFIG_HOME: path.join(tmp, 'helm', 'config'), HELM_DATA_HOME: path.join(tmp, 'helm', 'data') };
const helmTemplate = (chart: string): Run => () => time(helm!, ['template', 'bench', chart], helmEnv);

function chart(name: string, templates: Record<string, string>, values: unknown = {}): string {
  const dir = path.join(tmp, 'charts', name);
  fs.mkdirSync(path.join(dir, 'templates'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'Chart.yaml'), `apiVersion: v2\nname: ${name}\nversion: 0.1.0\n`);
  fs.writeFileSync(path.join(dir, 'values.yaml'), JSON.stringify(values));
  for (const [file, text] of Object.entries(templates)) fs.writeFileSync(path.join(dir, 'templates', file), text);
  return dir;
}

/** The committed dist/production manifests as the templates of a chart. */
function productionChart(): string {
  const dir = path.join(root, 'dist', 'production');
  return chart('production', Object.fromEntries(fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf-8')])));
}

/**
 * The generated app as Helm users write it: the Namespace, and one `range` over `.Values.services` whose body is
 * our svc-1's Service and Deployment with its name and peer arguments made values.
 */
function rangeChart(services: number): string {
  const text = fs.readFileSync(generatedFile(2), 'utf-8').split(/^---\n/m);
  const [namespace, ...rest] = text;
  const one = rest.filter((d) => /^  name: svc-1$/m.test(d));
  const body = one.map((d) => d.replace(/^(\s*- )args:\n(?:\s+- .*\n)+/m, '$1args: {{ toJson $s.args }}\n').replaceAll('svc-1', '{{ $s.name }}'));
  const values = { services: Array.from({ length: services }, (_, i) => ({ name: `svc-${i}`, args: i ? [`svc-${i - 1}.bench:8080`] : [] })) };
  return chart(`range-${services}`, { 'namespace.yaml': namespace, 'services.yaml': `{{- range $s := .Values.services }}\n---\n${body.join('---\n')}{{- end }}\n` }, values);
}

/**
 * Helm renders the same objects as ours (order-free)? Compared as the API server stores them: Helm's `toJson` of an
 * empty list writes `args: []`, which we leave out (lib/core/server-defaults.ts); both are the same object there.
 */
function sameObjects(helmChart: string, ours: string[]): string {
  const canon = (v: any): any => (Array.isArray(v) ? v.map(canon) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v);
  const set = (text: string) => parseAllDocuments(text).map((d) => d.toJSON()).filter(Boolean).map((o) => JSON.stringify(canon(omitServerDefaults(o)))).sort();
  const out = execFileSync(helm!, ['template', 'bench', helmChart], { env: { ...process.env, ...helmEnv }, maxBuffer: 1 << 30 }).toString();
  const a = set(out);
  const b = set(ours.map((f) => fs.readFileSync(f, 'utf-8')).join('---\n'));
  return JSON.stringify(a) === JSON.stringify(b) ? `same ${a.length} objects` : `DIFFERENT objects (${a.length} vs ${b.length}): the comparison is off`;
}

// --- report -----------------------------------------------------------------------------------------------------
const rows: string[][] = [];
const s = (x?: number) => (x === undefined ? '' : `${x.toFixed(3)} s`);
function row(what: string, r: { ours: number; peer?: number; ratio?: number }, note = ''): void {
  rows.push([what, s(r.ours), s(r.peer), r.ratio === undefined ? '' : `${r.ratio.toFixed(1)}x`, note]);
}

/** The deploy tool and kubectl on one real API server (no controller-manager: nothing but us writes). */
function deployBench(): string[][] {
  const bin = path.join(root, '.cache', 'bin');
  if (process.env.BENCH_DEPLOY === '0') return [];
  if (!['kube-apiserver', 'etcd', 'kubectl'].every((b) => fs.existsSync(path.join(bin, b)))) {
    console.log('\n*** deploy bench SKIPPED: no control plane in .cache/bin (test/cluster/harness/build.sh) ***\n');
    return [];
  }
  const env = { PATH: `${bin}:${process.env.PATH}` };
  const cluster = execFileSync(path.join(root, 'test', 'cluster', 'harness', 'up.sh'), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] }).toString().trim();
  try {
    const kenv = { ...env, KUBECONFIG: path.join(cluster, 'kubeconfig') };
    const kubectl = path.join(bin, 'kubectl');
    const uid = execFileSync(kubectl, ['get', 'namespace', 'kube-system', '-o', 'jsonpath={.metadata.uid}'], { env: { ...process.env, ...kenv } }).toString();
    fs.writeFileSync(path.join(tmp, 'targets.json'), JSON.stringify({ environments: { production: { cluster: { kubeSystemUid: uid } } } }));
    const denv = { ...kenv, SKIP_SYNTH: '1', ALLOW_DIRTY: '1', DEPLOY_TARGETS: path.join(tmp, 'targets.json'), DEPLOY_LOCK: path.join(tmp, 'deploy.lock') };
    // --push-all: production is reconciled by Flux, and the bench times the push pipeline on all of dist/production/.
    const deploy = (...args: string[]) => timeOk(node, ['deploy/run.js', 'production', '--push-all', ...args], denv, [0]);
    deploy();   // the first deploy: everything created
    const dist = path.join('dist', 'production');
    const apply = paired(() => deploy(), () => timeOk(kubectl, ['apply', '--server-side', '-f', dist], kenv, [0]));
    const diff = paired(() => deploy('--diff'), () => timeOk(kubectl, ['diff', '--server-side', '-f', dist], kenv, [0, 1]));
    const r = (x: { ours: number; peer?: number; ratio?: number }) => [s(x.ours), s(x.peer), x.ratio === undefined ? '' : `${x.ratio.toFixed(2)}x`];
    return [
      ['no-op deploy of dist/production', ...r(apply), 'node deploy/run.js production (npm run deploy minus npm) vs kubectl apply --server-side -f dist/production/'],
      ['--diff of dist/production, no changes', ...r(diff), 'node deploy/run.js production --diff vs kubectl diff --server-side -f dist/production/'],
    ];
  } finally {
    execFileSync(path.join(root, 'test', 'cluster', 'harness', 'down.sh'), [cluster], { env: { ...process.env, ...env }, stdio: 'ignore' });
  }
}

function table(head: string[], body: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (i > 0 && i < 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  return ['', line(head), `|${widths.map((w, i) => (i > 0 && i < 4 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`, ...body.map(line)].join('\n');
}

try {
  console.log(`node ${process.version}, ${os.cpus().length} cores, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, medians of ${RUNS}`);
  if (!helm) {
    if (process.env.BENCH_ONLY !== 'deploy') console.log('\n*** Helm peer SKIPPED: no Go on PATH to build tools/helm (npm run tools). Only our numbers follow. ***\n');
  } else console.log(`peer: ${execFileSync(helm, ['version', '--short'], { env: { ...process.env, ...helmEnv } }).toString().trim()} (tools/helm/go.mod)`);
  const deployRows = deployBench();
  if (deployRows.length) console.log(table(['deploy', 'ours', 'kubectl', 'ours/kubectl', 'notes'], deployRows));
  if (process.env.BENCH_ONLY === 'deploy') process.exit(0);

  const small = paired(everyday, helm ? helmTemplate(productionChart()) : undefined);
  row('small: everyday synth (node synth/synth.js)', small, 'both environments, 2 Kubernetes versions, atomic');
  if (helm) rows[rows.length - 1][4] += `; Helm: dist/production as a chart (${sameObjects(path.join(tmp, 'charts', 'production'), fs.readdirSync(path.join(root, 'dist', 'production')).map((f) => path.join(root, 'dist', 'production', f)))})`;
  // In a copy of the project: the first synth without .cache/, then edits (a comment appended to
  // environments/production.ts: our code is bundled again, the objects stay the same).
  const copy = copyProject(root, path.join(tmp, 'cold'));
  const synthInCopy = () => time(node, ['synth/synth.js'], { SYNTH_TARGET_ROOT: path.join(tmp, 'cold-out') }, copy);
  const coldSynth = () => {
    fs.rmSync(path.join(copy, '.cache'), { recursive: true, force: true });
    return synthInCopy();
  };
  const cold = repeat(coldSynth, Math.min(RUNS, 5));
  let edits = 0;
  const afterEdit = paired(() => {
    fs.appendFileSync(path.join(copy, 'environments', 'production.ts'), `// bench edit ${edits++}\n`);
    return synthInCopy();
  }, helm ? helmTemplate(path.join(tmp, 'charts', 'production')) : undefined);
  row('small: after an edit (node synth/synth.js)', afterEdit, 'an edited .ts file: our code is bundled again (esbuild), then the same synth');
  row('cold first synth (no .cache/)', { ours: cold }, 'node synth/synth.js in a fresh copy: esbuild twice, the committed validators loaded');
  // The same when the committed validators are stale (schemas or ajv changed): ajv compiles them on a worker thread.
  const committed = path.join(copy, 'schemas', 'compiled', 'validators.js');
  const saved = fs.readFileSync(committed);
  fs.rmSync(committed);
  const coldCompiling = repeat(coldSynth, Math.min(RUNS, 5));
  fs.writeFileSync(committed, saved);
  row('cold, validators compiled', { ours: coldCompiling }, 'as above without schemas/compiled/: ajv compiles them on a worker thread meanwhile');

  const cli = path.join(root, 'node_modules', 'cdk8s-cli', 'bin', 'cdk8s');
  const cliOut = path.join(tmp, 'cli');
  const plainCli = (env: Record<string, string> = {}): Run => () => time(node, [cli, 'synth', '--output', path.join(cliOut, 'staging')], { SYNTH_TARGET_ROOT: cliOut, ...env });
  // With v8-compile-cache preloaded, as npm run synth:cdk8s does: the CLI compiles ~1000 modules (~0.5 s) on every
  // start. Alternated with the plain runs, like ours and Helm.
  const compileCache = { NODE_OPTIONS: '--require=v8-compile-cache', V8_COMPILE_CACHE_CACHE_DIR: path.join(tmp, 'v8-compile-cache') };
  const cliRuns = paired(plainCli(), plainCli(compileCache), Math.min(RUNS, 5));
  row('small: plain cdk8s synth (CLI, plugin report)', { ours: cliRuns.ours }, 'node node_modules/cdk8s-cli/bin/cdk8s synth; npx adds its own start-up');
  row('small: cdk8s synth with a compile cache', { ours: cliRuns.peer! }, 'the same with v8-compile-cache, as npm run synth:cdk8s runs it (Node 20 has no NODE_COMPILE_CACHE)');

  // The floor: node's own start on this machine.
  row('node start (node -e 0)', { ours: repeat(() => time(node, ['-e', '0'])) }, process.env.NODE_EXTRA_CA_CERTS ? 'with NODE_EXTRA_CA_CERTS, as set on this machine' : '');
  if (process.env.NODE_EXTRA_CA_CERTS) {
    // Node reads and parses that CA bundle at every start, before any of our code runs.
    row('node start without NODE_EXTRA_CA_CERTS', { ours: repeat(() => time(node, ['-e', '0'], { NODE_EXTRA_CA_CERTS: undefined })) });
    row('small: everyday synth without NODE_EXTRA_CA_CERTS', { ours: repeat(() => everyday({ NODE_EXTRA_CA_CERTS: undefined })) },
      'what a machine without an extra CA bundle sees');
  }

  generated(2)(); // the svc-1 objects the range template is made of
  const peers: Record<number, Run | undefined> = {};
  for (const n of [100, 1000]) peers[n] = helm ? helmTemplate(rangeChart(n)) : undefined;
  const r100 = paired(generated(100), peers[100], Math.min(RUNS, 5));
  row('100 services (201 objects), model unchanged', r100);
  const r1000 = paired(generated(1000), peers[1000], Math.min(RUNS, 5));
  row('1000 services (2001 objects), model unchanged', r1000, helm ? `Helm: range template (${sameObjects(path.join(tmp, 'charts', 'range-1000'), [generatedFile(1000)])})` : '');
  let edit = 0;
  const e1000 = paired(generated(1000, () => `edit-${process.pid}-${edit++}`), peers[1000], Math.min(RUNS, 5));
  row('1000 services, after an edit (validators run)', e1000, 'every object changed');
  const perObject = (a: number, b: number) => ((b - a) / 1800) * 1e3;
  rows.push(['per added object (100 -> 1000 services)', `${perObject(r100.ours, r1000.ours).toFixed(2)} ms`,
    r100.peer !== undefined && r1000.peer !== undefined ? `${perObject(r100.peer, r1000.peer).toFixed(2)} ms` : '', '',
    `after an edit: ${perObject(r100.ours, e1000.ours).toFixed(2)} ms`]);

  if (process.env.BENCH_TESTS !== '0') {
    const docs = docsGenerationSeconds(RUNS * 4);
    row('docs/environments (synth/diagram.ts, in synth)', { ours: docs.first }, `first call, as synth pays it; then ${docs.median.toFixed(3)} s`);
    row('npm test: tsc -p . (type-check)', { ours: time(path.join(root, 'node_modules', '.bin', 'tsc'), ['-p', '.']) }, '1 run');
    row('npm test: jest (swc transform)', { ours: time(path.join(root, 'node_modules', '.bin', 'jest'), ['--silent']) }, '1 run');
  }

  console.log(table(['', 'ours', helm ? 'helm template' : 'helm (skipped)', 'ours/helm', 'notes'], rows));
  if (deployRows.length) console.log(table(['deploy', 'ours', 'kubectl', 'ours/kubectl', 'notes'], deployRows));
  console.log(`\nload after: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
