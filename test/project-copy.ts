import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { copyProject } from '../scripts/project-copy';

// Tests that run the real synth do it in a copy of the project (as git sees it), so the checkout's dist/ is never
// touched: a copy, then a byte-for-byte picture of a folder to compare before and after.
const root = path.join(__dirname, '..');

/** Every file below `dir`, by relative path, with its content. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out[path.relative(dir, path.join(e.parentPath, e.name))] = fs.readFileSync(path.join(e.parentPath, e.name), 'utf-8');
  }
  return out;
}

/** A temporary copy of the project (scripts/project-copy.ts), sharing the checkout's schema-validator cache. */
export function projectCopy(prefix = 'project-'): string {
  const tmp = copyProject(root, fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  // Cached validators and passed-markers are keyed by content, so sharing them is safe and spares each copy
  // validating the same objects again.
  const validators = path.join(root, '.cache', 'schema-validators');
  if (fs.existsSync(validators)) {
    fs.mkdirSync(path.join(tmp, '.cache'));
    fs.symlinkSync(validators, path.join(tmp, '.cache', 'schema-validators'));
  }
  return tmp;
}

/** Runs `f` in a fresh project copy, and removes the copy afterwards. */
export function withProjectCopy(prefix: string, f: (dir: string) => void): void {
  const dir = projectCopy(prefix);
  try {
    f(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
