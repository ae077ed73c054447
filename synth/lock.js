// One synth at a time per checkout. Two at once would interleave their staging folders, their promotion of dist/
// and (under cdk8s-cli) their use of .cdk8s.out/; the second one stops at once and names the first.
//
// Plain JavaScript (types in lock.d.ts): the app (main.ts, bundled) and cdk8s-cli's synth command (patched, see
// synth/patches/cdk8s-cli+*.patch) both load it, and the CLI has no TypeScript loader.
//
// The lock is `.cache/synth.lock`, holding its holder's pid (with the process's start time, so a recycled pid is not
// mistaken for the holder) and command:
// - **taken atomically:** written complete under a private name and linked into place (link(2) fails when the lock
//   exists), so no one ever reads a half-written lock and takes it for stale;
// - **taken over atomically** when its holder is gone (SIGKILL): the one liveness check is made once, under a
//   second exclusive file (`synth.lock.takeover`, held for a few system calls), which re-reads the lock and replaces
//   it only while it is still the dead holder's; a synth that loses that race stops like any second synth;
// - **released** when the process exits, and on SIGINT, SIGTERM and SIGHUP: the synth runs synchronously, so a
//   signal is handled when it ends (its `finally` has removed its staging folder), not in the middle of a rename;
// - **held for the whole `cdk8s synth`** (underSynthLock): cdk8s-cli empties .cdk8s.out/ before it starts the app
//   and reads it after the app exits, so its synth command takes the lock first, in its own name with a random
//   token, and passes the token to the app as SYNTH_LOCK_TOKEN; the app runs under that lock only after checking
//   that the lock file names a live holder with that very token (else it stops). The CLI handles a signal when
//   its synth ends (the app, which gets Ctrl-C too, has ended), then releases.
// Staging folders (`.cache/synth-*`) left by a killed synth are removed by the next one that holds the lock.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

const TOKEN_ENV = 'SYNTH_LOCK_TOKEN';
const lockFileOf = (root) => path.join(root, '.cache', 'synth.lock');

/**
 * Takes the lock for this process, or stops with "another synth is running" (an Error, thrown). Returns the
 * release function (also called at exit). Started by a `cdk8s synth` that holds the lock (SYNTH_LOCK_TOKEN), it
 * takes nothing: it checks the lock is that CLI's, and returns a no-op.
 */
function acquireSynthLock(root, lockFile = lockFileOf(root)) {
  const token = process.env[TOKEN_ENV];
  if (token !== undefined) {
    const holder = readHolder(lockFile);
    if (!holder || holder.token !== token || !alive(holder)) {
      throw new Error(`this app was started for a synth that holds ${path.relative(root, lockFile)} (${TOKEN_ENV}), but `
        + `${holder ? `the lock is pid ${holder.pid}'s (${holder.command}), with another token or gone` : 'there is no lock'}`);
    }
    onSignals(() => undefined); // still: a signal waits for the synchronous synth to end
    return () => undefined;
  }
  if (process.env.CDK8S_OUTDIR && cdk8sCliAncestor() !== undefined) {
    // cdk8s-cli without our patch (npm ci --ignore-scripts, or another install of the CLI): it empties and reads
    // .cdk8s.out/ outside the lock, which is the race this lock is for.
    throw new Error('cdk8s-cli started this app without taking the synth lock: its patch (synth/patches/cdk8s-cli+*.patch) '
      + 'is not applied; run `npm ci` (or `npm run postinstall`) and use the project\'s `npx cdk8s synth`, or `npm run synth`');
  }
  let atExit = () => undefined;
  onSignals(() => atExit()); // first, so a signal from here on waits for the synth to end (and release)
  const release = take(root, lockFile, undefined);
  atExit = release;
  process.once('exit', atExit);
  return release;
}

/**
 * cdk8s-cli's synth command, whole (synth/patches/cdk8s-cli+*.patch): runs `synth` while this process holds the
 * lock, its app told so through SYNTH_LOCK_TOKEN. A synth already at work: prints why and exits 1 (the CLI has touched
 * nothing). A signal is handled when `synth` has settled (the app, which gets Ctrl-C too, has ended): released, then
 * exits 128 + signal.
 */
async function underSynthLock(root, synth) {
  let interrupted;
  let settled = false;
  const exitOn = (signal) => process.exit(128 + os.constants.signals[signal]);
  onSignals((signal) => {
    if (settled) exitOn(signal);
    interrupted = interrupted ?? signal;
  }, false);
  const token = crypto.randomBytes(16).toString('hex');
  let release;
  try {
    release = take(root, lockFileOf(root), token);
  } catch (e) {
    if (!e.forPeople) throw e; // (a bug: with its stack)
    console.error(`\nsynth failed: ${e.message}\n\ndist/ was left unchanged.`);
    process.exitCode = 1;
    settled = true;
    return;
  }
  process.once('exit', release); // the CLI exits itself when a validation fails
  process.env[TOKEN_ENV] = token;
  try {
    return await synth();
  } finally {
    delete process.env[TOKEN_ENV];
    release();
    settled = true;
    if (interrupted) exitOn(interrupted);
  }
}

/**
 * SIGINT, SIGTERM, SIGHUP: `then(signal)`, and (unless `exit` is false) exit 128 + signal. Once each: a second
 * signal of a kind ends the process at once, lock or not (a lock left so is taken over by the next synth).
 */
function onSignals(then, exit = true) {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      then(signal);
      if (exit) process.exit(128 + os.constants.signals[signal]);
    });
  }
}

/** Links the lock into place in this process's name (or takes it over from a dead holder); returns its release. */
function take(root, lockFile, token) {
  fs.mkdirSync(path.dirname(lockFile), { recursive: true });
  const me = { pid: process.pid, start: startTime(process.pid), since: new Date().toISOString(), command: process.argv.slice(1).join(' '), token };
  const mine = `${lockFile}.${process.pid}.new`;
  fs.writeFileSync(mine, JSON.stringify(me));
  try {
    if (!tryLink(mine, lockFile)) takeOver(root, lockFile, mine);
  } finally {
    fs.rmSync(mine, { force: true });
  }
  trace(process.pid, 'acquire');
  for (const f of fs.readdirSync(path.dirname(lockFile))) {
    // What a killed synth left: its staging folder, its half-taken lock (`synth.lock.<pid>.new`, while it is gone).
    const pid = /^synth\.lock\.(\d+)\.new$/.exec(f)?.[1];
    if (f.startsWith('synth-') || (pid && !alive({ pid: Number(pid) }))) {
      fs.rmSync(path.join(path.dirname(lockFile), f), { recursive: true, force: true });
    }
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    releaseSynthLock(lockFile, me);
  };
}

/** Removes the lock if `me` (pid and token) holds it. */
function releaseSynthLock(lockFile, me) {
  const holder = readHolder(lockFile);
  if (holder?.pid !== me.pid || holder?.token !== me.token) return;
  fs.rmSync(lockFile, { force: true });
  trace(me.pid, 'release');
}

function tryLink(from, to) {
  try {
    fs.linkSync(from, to);
    return true;
  } catch (e) {
    if (e.code !== 'EEXIST') throw e;
    return false;
  }
}

/** The lock exists: stop if its holder runs; else replace it, once, under the takeover file. */
function takeOver(root, lockFile, mine) {
  const busy = (holder) => Object.assign(new Error(`another synth is running in this checkout (pid ${holder?.pid ?? '?'} since ${holder?.since ?? '?'}: `
    + `${holder?.command ?? '?'}); wait for it to finish (${path.relative(root, lockFile)} goes away when it ends)`), { forPeople: true });
  // Complete when read (every lock is linked into place whole), but it may be gone already: its holder released it,
  // or a takeover removed it, between our failed link and this read. Then the lock is free: link again (bounded).
  let seen;
  for (let attempt = 0; seen === undefined; attempt++) {
    try {
      seen = fs.readFileSync(lockFile, 'utf-8');
    } catch (e) {
      if (e.code !== 'ENOENT' || attempt >= 20) throw e;
      if (tryLink(mine, lockFile)) return;
    }
  }
  const holder = parse(seen);
  if (holder && alive(holder)) throw busy(holder);
  const breaker = `${lockFile}.takeover`;
  if (!tryLink(mine, breaker)) {
    const breakerHolder = readHolder(breaker);
    if (breakerHolder && !alive(breakerHolder)) {
      throw Object.assign(new Error(`a synth was killed while it took over ${path.relative(root, lockFile)}: remove ${path.relative(root, breaker)} and run the synth again`), { forPeople: true });
    }
    throw busy(breakerHolder); // another synth is taking the stale lock over right now: it wins
  }
  try {
    let now;
    try { now = fs.readFileSync(lockFile, 'utf-8'); } catch { /* released meanwhile */ }
    if (now !== undefined && now !== seen) throw busy(parse(now)); // someone took it over first
    fs.rmSync(lockFile, { force: true });
    if (holder) trace(holder.pid, 'release'); // (it ended when its holder did)
    if (!tryLink(mine, lockFile)) throw busy(readHolder(lockFile)); // a new synth was faster
  } finally {
    fs.rmSync(breaker, { force: true });
  }
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function readHolder(file) {
  try {
    return parse(fs.readFileSync(file, 'utf-8'));
  } catch {
    return undefined;
  }
}

/** The process's start time (clock ticks since boot, /proc/<pid>/stat field 22), where /proc has it. */
function startTime(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf-8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function alive(holder) {
  try {
    process.kill(holder.pid, 0);
  } catch (e) {
    if (e.code !== 'EPERM') return false;
  }
  const start = holder.start === undefined ? undefined : startTime(holder.pid);
  return start === undefined || start === holder.start; // another process with a recycled pid is not the holder
}

/** The cdk8s-cli process that started this app (through `sh -c`), where /proc tells. */
function cdk8sCliAncestor() {
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
function trace(pid, what) {
  if (process.env.SYNTH_LOCK_TRACE) fs.appendFileSync(process.env.SYNTH_LOCK_TRACE, `${pid} ${what} ${performance.timeOrigin + performance.now()}\n`);
}

module.exports = { acquireSynthLock, underSynthLock };
