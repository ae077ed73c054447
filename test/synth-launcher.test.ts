import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { projectCopy, snapshot } from './project-copy';

// The everyday launcher (scripts/synth.js, `npm run synth`) runs the app without cdk8s-cli: it must keep cdk8s
// synth's guarantees. A broken model leaves dist/ exactly as it was; a stale staging folder is never promoted.

const synth = (dir: string) => spawnSync(process.execPath, [path.join(dir, 'scripts', 'synth.js')], { cwd: os.tmpdir(), encoding: 'utf-8', timeout: 60_000 });

test.each([
  ['a construct error', 'environments/local.ts', "image: 'cjimti/go-ok:v1'", "image: 'cjimti/go-ok:latest'", /synth failed: .*go-ok\/GoOk\/Workload: invalid container "go-ok" image/],
  ['a schema violation', 'charts/hashgenerator.ts', '    if (platform.networkPolicies) {',
    "    require('cdk8s').ApiObject.of(worker.deployment).addJsonPatch(require('cdk8s').JsonPatch.replace('/spec/replicas', 'two'));\n    if (platform.networkPolicies) {",
    /schema violation\(s\) in environment "local":\n.*at \/spec\/replicas: must be integer \(Kubernetes v1.27.0\)/],
])('%s: exit 1, the message, dist/ untouched', (_name, file, from, to, message) => {
  const dir = projectCopy('launcher-');
  try {
    const before = snapshot(path.join(dir, 'dist'));
    const text = fs.readFileSync(path.join(dir, file), 'utf-8');
    expect(text).toContain(from);
    fs.writeFileSync(path.join(dir, file), text.replace(from, to));
    const run = synth(dir);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(message);
    expect(snapshot(path.join(dir, 'dist'))).toEqual(before);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 90_000);

test('a stale chart in the CLI\'s staging folder (.cdk8s.out/) is never promoted', () => {
  const dir = projectCopy('launcher-');
  try {
    fs.mkdirSync(path.join(dir, '.cdk8s.out', 'local'), { recursive: true });
    fs.writeFileSync(path.join(dir, '.cdk8s.out', 'local', 'stale.k8s.yaml'), 'kind: Stale\n');
    const before = snapshot(path.join(dir, 'dist'));
    const run = synth(dir);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(snapshot(path.join(dir, 'dist'))).toEqual(before);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 90_000);
