import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { projectCopy, snapshot } from './project-copy';

// Synths that collide (synth/lock.js): two synths started up to 0.1 s apart in one checkout, round after round,
// with and without a lock left by a process that is gone, for both launchers: `node synth/synth.js` (`npm run
// synth`) and `npx cdk8s synth` (the CLI empties .cdk8s.out/ before it starts the app, and reads it after: our patch
// of it, synth/patches/cdk8s-cli+*.patch, runs all of that under the lock). For the CLI, one round in four starts
// the second as the first's app ends: it empties .cdk8s.out/ just when the first CLI is about to read it
// (SYNTH_TEST_EMPTY_LATE below), the race of issue #25 made certain (without the patch, every such round failed).
// In every round: each synth either succeeds or stops with "another synth is running"; never a raw
// EEXIST/ENOENT/ENOTEMPTY; at least one succeeds; the two never hold the lock at once (SYNTH_LOCK_TRACE); nothing is
// left behind (no lock, no .cache/synth-* staging, no dist/.<env>.next/); dist/ is byte-identical.
// SYNTH_CONCURRENCY_ROUNDS sets the rounds per case (`npm run test:concurrency`: 10; `npm test`: 2);
// SYNTH_CONCURRENCY_LAUNCHERS which launchers (`npm test`: `npm run synth`; `npm run test:concurrency`, in CI: both;
// `npm run test:concurrency:cli`: `npx cdk8s synth`).
const ROUNDS = Number(process.env.SYNTH_CONCURRENCY_ROUNDS ?? 2);
const RAW = /EEXIST|ENOENT|ENOTEMPTY|app expected to create|TypeError|Unhandled|at .*\(.*:\d+:\d+\)/;
/** cdk8s-cli's own report of a failed app (with its stack), which a clean "another synth is running" gets too. */
const CLI_WRAPPER = /Error: command .* returned a non-zero exit code \d+(\n\s+at [^\n]*)*/g;
/**
 * How far apart the two start, round after round: at once, 0.1 s (as the issue found), 10 ms; for the CLI also 'late':
 * 0.1 s, and the second empties .cdk8s.out/ only once the first's app has written its output there.
 */
const DELAYS: Record<keyof typeof LAUNCHERS, (number | 'late')[]> = { 'npm run synth': [0, 100, 10], 'npx cdk8s synth': [0, 100, 10, 'late'] };
/**
 * Test machinery (NODE_OPTIONS=--require): holds a process until SYNTH_TEST_START_AT (epoch ms), so the two reach
 * the race that far apart to the millisecond, not give or take node's start-up (tens of ms on a loaded machine).
 * The CLI is held when it starts (it loads ~1000 modules before it takes the lock and empties .cdk8s.out/: its
 * start-up is part of its race); `node synth/synth.js` at its first touch of the lock file (its race is over the
 * lock).
 */
const START_AT = `const at = Number(process.env.SYNTH_TEST_START_AT);
const wait = () => { const ms = at - Date.now(); if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); };
if (at && /cdk8s$/.test(process.argv[1] || '')) wait();
// 'late' rounds: the second CLI's emptying of .cdk8s.out/ (cdk8s-cli's fs.rmSync) waits for main.ts's stamp, the
// last file the other app writes there (the test removes .cdk8s.out/ before the round), unless this CLI holds the
// lock itself (it won the race: no other app runs). Bounded: 10 s.
if (at && process.env.SYNTH_TEST_EMPTY_LATE && /cdk8s$/.test(process.argv[1] || '')) {
  const fs = require('fs');
  const rmSync = fs.rmSync;
  const mine = () => { try { return JSON.parse(fs.readFileSync('.cache/synth.lock', 'utf-8')).pid === process.pid; } catch { return false; } };
  fs.rmSync = function (file, ...rest) {
    if (/\.cdk8s\.out$/.test(String(file))) {
      for (const until = Date.now() + 10000; Date.now() < until && !fs.existsSync(file + '/.schema-validated.json') && !mine();) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
      }
    }
    return rmSync.call(this, file, ...rest);
  };
}
if (at && /synth\\.js$/.test(process.argv[1] || '')) {
  const fs = require('fs');
  for (const name of ['writeFileSync', 'linkSync', 'openSync', 'readFileSync']) {
    const original = fs[name];
    fs[name] = function (file, ...rest) {
      if (String(file).includes('synth.lock')) wait();
      return original.call(this, file, ...rest);
    };
  }
}
`;
const LAUNCHERS = {
  'npm run synth': ['node', ['synth/synth.js']],
  'npx cdk8s synth': ['npx', ['cdk8s', 'synth']],
} as const;

interface Run { code: number | null; out: string }

function run(dir: string, launcher: keyof typeof LAUNCHERS, trace: string, startAt = 0, late = false): Promise<Run> {
  const [cmd, args] = LAUNCHERS[launcher];
  return new Promise((resolve) => {
    const child = spawn(cmd, [...args], {
      cwd: dir,
      env: {
        ...process.env, CDK8S_CHECK_UPGRADE: 'false', SYNTH_LOCK_TRACE: trace, npm_config_update_notifier: 'false',
        NODE_OPTIONS: `--require=${path.join(dir, 'start-at.js')}`, SYNTH_TEST_START_AT: String(startAt),
        ...(late ? { SYNTH_TEST_EMPTY_LATE: '1' } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, out: out.replace(CLI_WRAPPER, '') }); });
  });
}

/** The lock's hold intervals from the trace (`<pid> acquire|release <ms>` lines): true when two overlap. */
function overlapping(trace: string): boolean {
  if (!fs.existsSync(trace)) return false;
  const held: [number, number][] = [];
  const open = new Map<string, number>();
  for (const line of fs.readFileSync(trace, 'utf-8').split('\n').filter(Boolean)) {
    const [pid, what, ms] = line.split(' ');
    if (what === 'acquire') open.set(pid, Number(ms));
    else if (open.has(pid)) { held.push([open.get(pid)!, Number(ms)]); open.delete(pid); }
  }
  for (const start of open.values()) held.push([start, Infinity]);
  held.sort((a, b) => a[0] - b[0]);
  return held.some(([, end], i) => i + 1 < held.length && held[i + 1][0] < end);
}

/** A pid that no process has now. */
function deadPid(): number {
  for (let pid = 4_000_000; ; pid--) {
    try { process.kill(pid, 0); } catch (e) { if ((e as NodeJS.ErrnoException).code === 'ESRCH') return pid; }
  }
}

/** Leftovers a synth must never leave: the lock, staging folders, half-promoted dist/ folders. */
function leftovers(dir: string): string[] {
  const found: string[] = [];
  if (fs.existsSync(path.join(dir, '.cache', 'synth.lock'))) found.push('.cache/synth.lock');
  found.push(...fs.readdirSync(path.join(dir, '.cache')).filter((f) => f.startsWith('synth-') || f.startsWith('synth.lock.')).map((f) => `.cache/${f}`));
  found.push(...fs.readdirSync(path.join(dir, 'dist')).filter((f) => f.startsWith('.')).map((f) => `dist/${f}`));
  return found;
}

const launchers = (process.env.SYNTH_CONCURRENCY_LAUNCHERS ?? 'npm run synth').split(',') as (keyof typeof LAUNCHERS)[];
describe.each(launchers)('two %s started up to 0.1 s apart', (launcher) => {
  let dir: string;
  let before: Record<string, string>;
  beforeAll(async () => {
    dir = projectCopy('concurrency-');
    fs.writeFileSync(path.join(dir, 'start-at.js'), START_AT);
    const first = await run(dir, launcher, path.join(dir, 'warm.trace')); // bundles, validators: the everyday state
    expect(first.out).not.toMatch(RAW);
    expect(first.code).toBe(0);
    before = snapshot(path.join(dir, 'dist'));
  }, 120_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test.each([['without a stale lock', false], ['with a stale lock', true]])('%s', async (_name, stale) => {
    const failures: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const trace = path.join(dir, `round-${round}.trace`);
      if (stale) {
        fs.writeFileSync(path.join(dir, '.cache', 'synth.lock'), JSON.stringify({ pid: deadPid(), since: 'earlier', command: 'killed' }));
      }
      const delay = DELAYS[launcher][(round - 1) % DELAYS[launcher].length];
      if (delay === 'late') fs.rmSync(path.join(dir, '.cdk8s.out'), { recursive: true, force: true }); // (its stamp is the signal)
      const at = Date.now() + (launcher === 'npm run synth' ? 600 : 1500); // both processes are up by then
      const runs = await Promise.all([
        run(dir, launcher, trace, at),
        run(dir, launcher, trace, at + (delay === 'late' ? 100 : delay), delay === 'late'),
      ]);
      const problems = [
        ...runs.filter((r) => r.code !== 0 && !/another synth is running/.test(r.out)).map((r) => `failed without naming the other synth: ${r.out.trim().slice(-300)}`),
        ...runs.filter((r) => RAW.test(r.out)).map((r) => `raw error: ${r.out.match(RAW)![0]} in ${r.out.trim().slice(-300)}`),
        ...(runs.every((r) => r.code !== 0) ? ['neither synth succeeded'] : []),
        ...(overlapping(trace) ? ['both held the lock at once'] : []),
        ...leftovers(dir).map((f) => `left behind: ${f}`),
        ...(JSON.stringify(snapshot(path.join(dir, 'dist'))) === JSON.stringify(before) ? [] : ['dist/ changed']),
      ];
      if (problems.length) failures.push(`round ${round} (${delay === 'late' ? 'late' : `${delay} ms`}): ${problems.join('; ')}`);
      // Start the next round clean, so one failure is counted once.
      for (const f of leftovers(dir)) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
    }
    expect(failures).toEqual([]);
  }, ROUNDS * 40_000);
});
