import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/**
 * One synth at a time per checkout. Two at once would interleave their staging folders and their promotion of
 * dist/; the second one stops at once and names the first.
 *
 * The lock is `.cache/synth.lock`, holding its holder's pid (with the process's start time, so a recycled pid is not
 * mistaken for the holder) and command:
 * - **taken atomically:** written complete under a private name and linked into place (link(2) fails when the lock
 *   exists), so no one ever reads a half-written lock and takes it for stale;
 * - **taken over atomically** when its holder is gone (SIGKILL): the one liveness check is made once, under a
 *   second exclusive file (`synth.lock.takeover`, held for a few system calls), which re-reads the lock and replaces
 *   it only while it is still the dead holder's; a synth that loses that race stops like any second synth;
 * - **released** when the process exits, and on SIGINT, SIGTERM and SIGHUP: the synth runs synchronously, so a
 *   signal is handled when it ends (its `finally` has removed its staging folder), not in the middle of a rename;
 * - **held for the whole `cdk8s synth`** when the CLI runs the app: cdk8s-cli reads .cdk8s.out/ after the app
 *   exits, so the lock names the CLI's process, and the validation plugin (which runs last, in the CLI's process)
 *   releases it; the app releases it itself when it fails or when the CLI is gone (Ctrl-C).
 * Staging folders (`.cache/synth-*`) left by a killed synth are removed by the next one that holds the lock.
 */
export function acquireSynthLock(root: string, lockFile = path.join(root, '.cache', 'synth.lock')): () => void {
  fs.mkdirSync(path.dirname(lockFile), { recursive: true });
  // Handlers first, so a signal from here on waits for the synth to end (and release) instead of killing it midway.
  let atExit = (_code: number) => {};
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      atExit(1);
      process.exit(128 + os.constants.signals[signal]);
    });
  }
  const holderPid = process.env.CDK8S_OUTDIR ? cdk8sCliAncestor() ?? process.pid : process.pid;
  const me: Holder = { pid: holderPid, start: startTime(holderPid), since: new Date().toISOString(), command: process.argv.slice(1).join(' ') };
  const mine = `${lockFile}.${process.pid}.new`;
  fs.writeFileSync(mine, JSON.stringify(me));
  try {
    if (!tryLink(mine, lockFile)) takeOver(root, lockFile, mine);
  } finally {
    fs.rmSync(mine, { force: true });
  }
  trace(holderPid, 'acquire');
  for (const f of fs.readdirSync(path.dirname(lockFile))) {
    // What a killed synth left: its staging folder, its half-taken lock (`synth.lock.<pid>.new`, while it is gone).
    const pid = /^synth\.lock\.(\d+)\.new$/.exec(f)?.[1];
    if (f.startsWith('synth-') || (pid && !alive({ pid: Number(pid), since: '', command: '' }))) {
      fs.rmSync(path.join(path.dirname(lockFile), f), { recursive: true, force: true });
    }
  }
  const release = () => releaseSynthLock(lockFile, holderPid);
  // Under the CLI the lock outlives the app (the CLI still reads .cdk8s.out/): released here only when the synth
  // failed (the CLI stops too) or the CLI is already gone.
  atExit = (code: number) => {
    if (holderPid === process.pid || code !== 0 || !alive(me)) release();
  };
  process.once('exit', atExit);
  return holderPid === process.pid ? release : () => undefined;
}

/** Removes the lock if `pid` holds it (the validation plugin does the same for the CLI: synth/validation-plugin). */
export function releaseSynthLock(lockFile: string, pid: number): void {
  const holder = readHolder(lockFile);
  if (holder?.pid !== pid) return;
  fs.rmSync(lockFile, { force: true });
  trace(pid, 'release');
}

interface Holder { pid: number; start?: string; since: string; command: string }

function tryLink(from: string, to: string): boolean {
  try {
    fs.linkSync(from, to);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return false;
  }
}

/** The lock exists: stop if its holder runs; else replace it, once, under the takeover file. */
function takeOver(root: string, lockFile: string, mine: string): void {
  const busy = (holder: Holder | undefined) => new Error(`another synth is running in this checkout (pid ${holder?.pid ?? '?'} since ${holder?.since ?? '?'}: `
    + `${holder?.command ?? '?'}); wait for it to finish (${path.relative(root, lockFile)} goes away when it ends)`);
  // Complete when read (every lock is linked into place whole), but it may be gone already: its holder released it,
  // or a takeover removed it, between our failed link and this read. Then the lock is free: link again (bounded).
  let seen: string | undefined;
  for (let attempt = 0; seen === undefined; attempt++) {
    try {
      seen = fs.readFileSync(lockFile, 'utf-8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 20) throw e;
      if (tryLink(mine, lockFile)) return;
    }
  }
  const holder = parse(seen);
  if (holder && alive(holder)) throw busy(holder);
  const breaker = `${lockFile}.takeover`;
  if (!tryLink(mine, breaker)) {
    const breakerHolder = readHolder(breaker);
    if (breakerHolder && !alive(breakerHolder)) {
      throw new Error(`a synth was killed while it took over ${path.relative(root, lockFile)}: remove ${path.relative(root, breaker)} and run the synth again`);
    }
    throw busy(breakerHolder); // another synth is taking the stale lock over right now: it wins
  }
  try {
    let now: string | undefined;
    try { now = fs.readFileSync(lockFile, 'utf-8'); } catch { /* released meanwhile */ }
    if (now !== undefined && now !== seen) throw busy(parse(now)); // someone took it over first
    fs.rmSync(lockFile, { force: true });
    if (holder) trace(holder.pid, 'release'); // (it ended when its holder did)
    if (!tryLink(mine, lockFile)) throw busy(readHolder(lockFile)); // a new synth was faster
  } finally {
    fs.rmSync(breaker, { force: true });
  }
}

function parse(text: string): Holder | undefined {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function readHolder(file: string): Holder | undefined {
  try {
    return parse(fs.readFileSync(file, 'utf-8'));
  } catch {
    return undefined;
  }
}

/** The process's start time (clock ticks since boot, /proc/<pid>/stat field 22), where /proc has it. */
function startTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf-8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function alive(holder: Holder): boolean {
  try {
    process.kill(holder.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const start = holder.start === undefined ? undefined : startTime(holder.pid);
  return start === undefined || start === holder.start; // another process with a recycled pid is not the holder
}

/** The cdk8s-cli process that started this app (through `sh -c`), where /proc tells. */
function cdk8sCliAncestor(): number | undefined {
  for (let pid = process.ppid, depth = 0; pid > 1 && depth < 3; depth++) {
    try {
      if (/cdk8s-cli|bin\/cdk8s\0/.test(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf-8'))) return pid;
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf-8');
      pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** SYNTH_LOCK_TRACE=<file>: one line per acquire and release, for the concurrency test. */
function trace(pid: number, what: string): void {
  if (process.env.SYNTH_LOCK_TRACE) fs.appendFileSync(process.env.SYNTH_LOCK_TRACE, `${pid} ${what} ${performance.timeOrigin + performance.now()}\n`);
}
