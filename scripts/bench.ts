/**
 * `npm run bench`: prints how long the things people run all day take. Numbers, never assertions.
 *   - `cdk8s synth` of this app (median of N), and the same app run the stock way (`ts-node main.ts`, which
 *     type-checks the 1.1 MB imports/k8s.ts on every run), and their ratio;
 *   - synth of generated apps of 100 and 1000 services;
 *   - `npm test`'s parts: tsc (type-check) and jest.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { docsGenerationSeconds } from './bench-docs';

const root = path.join(__dirname, '..');
const cdk8s = path.join(root, 'node_modules', '.bin', 'cdk8s');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

function time(cmd: string, args: string[], env: Record<string, string> = {}): number {
  const start = process.hrtime.bigint();
  execFileSync(cmd, args, { cwd: root, stdio: 'pipe', env: { ...process.env, CDK8S_CHECK_UPGRADE: 'false', ...env } });
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function synth(app: string, runs: number, env: Record<string, string> = {}): number {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-'));
  try {
    const times: number[] = [];
    for (let i = 0; i < runs; i++) times.push(time(cdk8s, ['synth', '--app', app, '--output', out], env));
    return median(times);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

const row = (label: string, seconds: number, extra = '') => console.log(`${label.padEnd(44)} ${seconds.toFixed(3).padStart(8)} s ${extra}`);

console.log(`node ${process.version}, ${os.cpus().length} cores, median of ${RUNS} runs where noted\n`);
const fast = synth('node scripts/run-app.js', RUNS);
row('cdk8s synth (this app, as cdk8s.yaml runs it)', fast, `median of ${RUNS}`);
const stock = synth('npx ts-node main.ts', Math.min(RUNS, 3));
row('cdk8s synth (stock: npx ts-node main.ts)', stock, `median of ${Math.min(RUNS, 3)}`);
console.log(`${'speed-up'.padEnd(44)} ${(stock / fast).toFixed(1).padStart(8)} x`);
for (const n of [100, 1000]) {
  row(`cdk8s synth (generated app, ${n} services)`, synth('node --import tsx scripts/bench-app.ts', n === 1000 ? 1 : 3, { BENCH_SERVICES: String(n) }),
    n === 1000 ? '1 run' : 'median of 3');
}
const docs = docsGenerationSeconds(RUNS * 4);
row('docs/environments (synth/diagram.ts, in synth)', docs.first, `first call, as synth pays it; then ${docs.median.toFixed(3)} s`);
row('npm test: tsc -p . (type-check)', time(path.join(root, 'node_modules', '.bin', 'tsc'), ['-p', '.']));
row('npm test: jest (swc transform)', time(path.join(root, 'node_modules', '.bin', 'jest'), ['--silent']));
