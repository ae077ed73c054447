import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { projectCopy, snapshot } from './project-copy';

// One synth at a time per checkout (synth/lock.js): a second synth while one runs stops at once, names the first,
// and leaves dist/ alone; a lock left by a process that is gone does not block the next synth.
describe('synth lock', () => {
  let dir: string;
  beforeAll(() => { dir = projectCopy('lock-'); });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const lockFile = () => path.join(dir, '.cache', 'synth.lock');
  const synth = () => spawnSync(process.execPath, [path.join(dir, 'synth', 'synth.js')], { cwd: dir, encoding: 'utf-8', timeout: 60_000 });

  test('a synth while another holds the lock stops, naming it; dist/ is untouched', () => {
    const before = snapshot(path.join(dir, 'dist'));
    fs.mkdirSync(path.dirname(lockFile()), { recursive: true });
    // This jest worker plays the running synth: a live pid.
    fs.writeFileSync(lockFile(), JSON.stringify({ pid: process.pid, since: '2026-11-26T20:00:00.000Z', command: 'synth/synth.js' }));
    const run = synth();
    expect(run.status).not.toBe(0);
    expect(run.stderr + run.stdout).toContain(`another synth is running in this checkout (pid ${process.pid} since 2026-11-26T20:00:00.000Z: synth/synth.js)`);
    expect(snapshot(path.join(dir, 'dist'))).toEqual(before);
    expect(fs.existsSync(lockFile())).toBe(true); // not ours to remove
  }, 90_000);

  test('a lock left by a process that is gone is taken over, and released at the end', () => {
    const gone = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf-8' });
    fs.writeFileSync(lockFile(), JSON.stringify({ pid: Number(gone.stdout.trim()), since: 'earlier', command: 'killed' }));
    const run = synth();
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(fs.existsSync(lockFile())).toBe(false);
  }, 90_000);

  test('an app started for a cdk8s synth that holds the lock runs under it, only if the lock names that holder and token', () => {
    const app = (token: string) => spawnSync(process.execPath, [path.join(dir, 'synth', 'run-app.js')], {
      cwd: dir, encoding: 'utf-8', timeout: 60_000, env: { ...process.env, SYNTH_LOCK_TOKEN: token, CDK8S_OUTDIR: '' },
    });
    // This jest worker plays the CLI that holds the lock.
    fs.writeFileSync(lockFile(), JSON.stringify({ pid: process.pid, since: 'now', command: 'cdk8s synth', token: 'a1b2' }));
    try {
      const held = app('a1b2');
      expect(held.stderr).toBe('');
      expect(held.status).toBe(0);
      expect(fs.existsSync(lockFile())).toBe(true); // the CLI's to release
      const other = app('c3d4');
      expect(other.status).not.toBe(0);
      expect(other.stderr).toContain('this app was started for a synth that holds .cache/synth.lock (SYNTH_LOCK_TOKEN), but the lock is pid');
    } finally {
      fs.rmSync(lockFile(), { force: true });
    }
  }, 90_000);

  test('npx cdk8s synth while another synth holds the lock stops before it touches .cdk8s.out/, naming it', () => {
    fs.writeFileSync(lockFile(), JSON.stringify({ pid: process.pid, since: 'now', command: 'synth/synth.js' }));
    fs.mkdirSync(path.join(dir, '.cdk8s.out'), { recursive: true });
    fs.writeFileSync(path.join(dir, '.cdk8s.out', 'marker'), '');
    try {
      const run = spawnSync('npx', ['cdk8s', 'synth'], { cwd: dir, encoding: 'utf-8', timeout: 60_000, env: { ...process.env, CDK8S_CHECK_UPGRADE: 'false' } });
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(`synth failed: another synth is running in this checkout (pid ${process.pid} since now: synth/synth.js)`);
      expect(run.stderr).not.toMatch(/\n\s+at /); // a message for people, no stack
      expect(fs.existsSync(path.join(dir, '.cdk8s.out', 'marker'))).toBe(true);
    } finally {
      fs.rmSync(lockFile(), { force: true });
      fs.rmSync(path.join(dir, '.cdk8s.out'), { recursive: true, force: true });
    }
  }, 90_000);

  /** Starts a synth, sends `signal` once it holds the lock, and waits for it to end. */
  async function interrupt(signal: NodeJS.Signals): Promise<void> {
    const child = spawn(process.execPath, [path.join(dir, 'synth', 'synth.js')], { cwd: dir, stdio: 'ignore' });
    const ended = new Promise((resolve) => child.on('close', resolve));
    for (let i = 0; i < 2000 && !fs.existsSync(lockFile()); i++) await new Promise((r) => setTimeout(r, 2));
    expect(fs.existsSync(lockFile())).toBe(true);
    child.kill(signal);
    await ended;
  }
  const leftovers = () => fs.readdirSync(path.join(dir, '.cache')).filter((f) => f.startsWith('synth')).sort();

  test.each(['SIGINT', 'SIGTERM'] as const)('a synth interrupted by %s leaves no lock and no staging folder; dist/ is whole', async (signal) => {
    const before = snapshot(path.join(dir, 'dist'));
    await interrupt(signal);
    expect(leftovers()).toEqual([]);
    expect(snapshot(path.join(dir, 'dist'))).toEqual(before);
    expect(fs.readdirSync(path.join(dir, 'dist')).filter((f) => f.startsWith('.'))).toEqual([]);
  }, 90_000);

  test('what a synth killed with SIGKILL leaves (its lock, its staging folder) the next synth takes over and removes', async () => {
    await interrupt('SIGKILL');
    expect(leftovers()).toContain('synth.lock');
    fs.mkdirSync(path.join(dir, '.cache', 'synth-killed'), { recursive: true }); // as if it died before its finally
    const run = synth();
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(leftovers()).toEqual([]);
  }, 90_000);
});
