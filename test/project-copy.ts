import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

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

/** A temporary copy of the project: tracked and untracked-not-ignored files, node_modules linked. */
export function projectCopy(prefix = 'project-'): string {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const files = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf-8' }).stdout.split('\0').filter(Boolean);
  for (const f of files) {
    if (!fs.existsSync(path.join(root, f))) continue;
    fs.mkdirSync(path.dirname(path.join(tmp, f)), { recursive: true });
    fs.copyFileSync(path.join(root, f), path.join(tmp, f));
  }
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(tmp, 'node_modules'));
  // Compiled schema validators are keyed by content, so sharing them is safe and saves ~1 s per synth.
  const validators = path.join(root, '.cache', 'schema-validators');
  if (fs.existsSync(validators)) {
    fs.mkdirSync(path.join(tmp, '.cache'));
    fs.symlinkSync(validators, path.join(tmp, '.cache', 'schema-validators'));
  }
  return tmp;
}
