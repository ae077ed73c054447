import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.join(__dirname, '..');

function listFiles(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

// The committed dist/ must be exactly what the model synthesizes: a stale dist/ would deploy old objects.
test('synthesizing into a temporary folder gives exactly the committed dist/', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-'));
  try {
    execFileSync(process.execPath, ['synth/run-app.js'], {
      cwd: root, env: { ...process.env, CDK8S_OUTDIR: path.join(tmp, 'staging'), SYNTH_TARGET_ROOT: tmp }, stdio: 'pipe',
    });
    const fresh = path.join(tmp, 'dist');
    const committed = path.join(root, 'dist');
    expect(listFiles(fresh)).toEqual(listFiles(committed));
    for (const f of listFiles(fresh)) {
      expect([f, fs.readFileSync(path.join(fresh, f), 'utf-8')]).toEqual([f, fs.readFileSync(path.join(committed, f), 'utf-8')]);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
