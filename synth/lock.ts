import * as fs from 'fs';
import * as path from 'path';

/**
 * One synth at a time per checkout. Two at once would interleave their staging folders and their promotion of
 * dist/; the second one now stops at once and names the first. The lock is a file created exclusively
 * (`.cache/synth.lock`, holding the holder's pid and command) and removed when the process exits; one left by a
 * process that no longer runs (killed with SIGKILL) is taken over.
 */
export function acquireSynthLock(root: string, lockFile = path.join(root, '.cache', 'synth.lock')): () => void {
  fs.mkdirSync(path.dirname(lockFile), { recursive: true });
  const me = JSON.stringify({ pid: process.pid, since: new Date().toISOString(), command: process.argv.slice(1).join(' ') });
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(lockFile, me, { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw e;
      const holder = readHolder(lockFile);
      if (holder && alive(holder.pid)) {
        throw new Error(`another synth is running in this checkout (pid ${holder.pid} since ${holder.since}: ${holder.command}); `
          + `wait for it to finish (${path.relative(root, lockFile)} goes away when it ends)`);
      }
      fs.rmSync(lockFile, { force: true }); // left by a process that is gone
    }
  }
  const release = () => {
    const holder = readHolder(lockFile);
    if (holder?.pid === process.pid) fs.rmSync(lockFile, { force: true });
  };
  process.once('exit', release);
  return release;
}

function readHolder(file: string): { pid: number; since: string; command: string } | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf-8'));
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
