import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DOCS_DIR, readmeMarkers } from '../synth/diagram';

const root = path.join(__dirname, '..');

// The committed docs/environments/ must be exactly what synth generates from the model (like dist/, drift.test.ts):
// a stale picture would show a cluster that is not the one deployed.
test('synthesizing into a temporary folder gives exactly the committed docs/environments/', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-docs-'));
  try {
    execFileSync(process.execPath, ['synth/run-app.js'], {
      cwd: root, env: { ...process.env, CDK8S_OUTDIR: path.join(tmp, 'staging'), SYNTH_TARGET_ROOT: tmp }, stdio: 'pipe',
    });
    const fresh = path.join(tmp, DOCS_DIR);
    const committed = path.join(root, DOCS_DIR);
    const list = (dir: string) => fs.readdirSync(dir).sort();
    expect(list(fresh)).toEqual(list(committed));
    for (const f of list(fresh)) {
      expect([f, fs.readFileSync(path.join(fresh, f), 'utf-8')]).toEqual([f, fs.readFileSync(path.join(committed, f), 'utf-8')]);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('the README shows the current diagram of production', () => {
  const block = (markdown: string) => markdown.split('\n```mermaid\n')[1]?.split('\n```\n')[0];
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf-8');
  const [begin, end] = readmeMarkers('production');
  const section = readme.split(begin)[1]?.split(end)[0] ?? '';
  expect(block(`\n${section}`)).toBe(block(fs.readFileSync(path.join(root, DOCS_DIR, 'production.md'), 'utf-8')));
});
