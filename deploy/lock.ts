// One deploy at a time per checkout. The lock file is created whole, already naming its holder (written to a private
// file, then hard-linked into place: link() fails when the lock exists), so a refused run can always say who holds
// it. The holder removes it when it exits, however it exits short of SIGKILL; a lock whose holder process is gone
// (same host, pid not alive) is stale and taken over, saying so.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export type LockResult = { ok: true; stale?: string } | { ok: false; holder: string };

function holderAlive(text: string): boolean {
  const m = /^pid (\d+) .*host ([^,)\s]+)/.exec(text);
  if (!m) return false;                     // unreadable (e.g. an empty file of the old deploy.sh): stale
  if (m[2] !== os.hostname()) return true;  // another machine's: cannot tell, so it holds
  try { process.kill(Number(m[1]), 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

export function acquireLock(file: string, description: string): LockResult {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const mine = `${file}.${process.pid}.new`;
  const text = `pid ${process.pid} (${description}, host ${os.hostname()}, since ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')})\n`;
  fs.writeFileSync(mine, text);
  let stale: string | undefined;
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        fs.linkSync(mine, file);
        process.on('exit', () => { try { if (fs.readFileSync(file, 'utf-8') === text) fs.unlinkSync(file); } catch { /* gone */ } });
        return { ok: true, stale };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      let holder = '';
      try { holder = fs.readFileSync(file, 'utf-8').trim(); } catch { continue; }   // released meanwhile: try again
      if (holderAlive(holder)) return { ok: false, holder };
      // Stale: move it aside under a name of our own, and remove it only if it is still the stale one.
      const aside = `${file}.${process.pid}.stale`;
      try { fs.renameSync(file, aside); } catch { continue; }
      const moved = fs.readFileSync(aside, 'utf-8').trim();
      if (moved !== holder) { try { fs.linkSync(aside, file); } catch { /* someone holds it now */ } fs.unlinkSync(aside); continue; }
      fs.unlinkSync(aside);
      stale = holder || '(an empty lock file)';
    }
    return { ok: false, holder: `(the lock changed hands 5 times while this run tried to take it; last: ${fs.existsSync(file) ? fs.readFileSync(file, 'utf-8').trim() : 'none'})` };
  } finally {
    fs.rmSync(mine, { force: true });
  }
}
