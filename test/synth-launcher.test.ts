import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { snapshot, withProjectCopy } from './project-copy';

// The everyday launcher (synth/synth.js, `npm run synth`) runs the app without cdk8s-cli: it must keep cdk8s
// synth's guarantees. A broken model leaves dist/ exactly as it was; a stale staging folder is never promoted.

const synth = (dir: string) => spawnSync(process.execPath, [path.join(dir, 'synth', 'synth.js')], { cwd: os.tmpdir(), encoding: 'utf-8', timeout: 60_000 });

test.each([
  ['a construct error', 'environments/local.ts', "image: 'cjimti/go-ok:v1'", "image: 'cjimti/go-ok:latest'", /synth failed: .*go-ok\/GoOk\/Workload: invalid container "go-ok" image/],
  ['a schema violation', 'charts/hashgenerator.ts', '    if (platform.networkPolicies) {',
    "    require('cdk8s').ApiObject.of(worker.deployment).addJsonPatch(require('cdk8s').JsonPatch.replace('/spec/replicas', 'two'));\n    if (platform.networkPolicies) {",
    /schema violation\(s\) in environment "local":\n  dist\/local\/hashgenerator.k8s.yaml: .*at \/spec\/replicas: must be integer \(Kubernetes v1.27.0, v1.36.0\)/],
])('%s: exit 1, the message, dist/ untouched', (_name, file, from, to, message) => {
  withProjectCopy('launcher-', (dir) => {
    const before = snapshot(path.join(dir, 'dist'));
    const text = fs.readFileSync(path.join(dir, file), 'utf-8');
    expect(text).toContain(from);
    fs.writeFileSync(path.join(dir, file), text.replace(from, to));
    const run = synth(dir);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(message);
    expect(snapshot(path.join(dir, 'dist'))).toEqual(before);
  });
}, 90_000);

test('a stale chart in the CLI\'s staging folder (.cdk8s.out/) is never promoted', () => {
  withProjectCopy('launcher-', (dir) => {
    fs.mkdirSync(path.join(dir, '.cdk8s.out', 'local'), { recursive: true });
    fs.writeFileSync(path.join(dir, '.cdk8s.out', 'local', 'stale.k8s.yaml'), 'kind: Stale\n');
    const before = snapshot(path.join(dir, 'dist'));
    const run = synth(dir);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(snapshot(path.join(dir, 'dist'))).toEqual(before);
  });
}, 90_000);

// synth/run-app.js: our code and the packages are two bundles; an edit re-bundles only ours.
test('after an edit to a .ts file only our bundle is rebuilt; the packages bundle is reused; dist/ is the same', () => {
  withProjectCopy('launcher-', (dir) => {
    const app = path.join(dir, '.cache', 'app');
    const mtime = (f: string) => fs.statSync(path.join(app, f)).mtimeMs;
    const before = snapshot(path.join(dir, 'dist'));
    expect(synth(dir).status).toBe(0);
    const [appBundle, vendorBundle] = [mtime('main.js'), mtime('main.vendor.js')];
    expect(fs.readFileSync(path.join(app, 'main.js'), 'utf-8')).not.toMatch(/node_modules\/cdk8s-plus-27/); // packages live in the other bundle
    fs.appendFileSync(path.join(dir, 'environments', 'production.ts'), '// an edit\n');
    const run = synth(dir);
    expect([run.status, run.stderr]).toEqual([0, '']);
    expect(mtime('main.js')).toBeGreaterThan(appBundle);
    expect(mtime('main.vendor.js')).toBe(vendorBundle);
    expect(snapshot(path.join(dir, 'dist'))).toEqual(before);
  });
}, 90_000);

// synth/compile-validators.js: when the committed validators are stale (here: missing), a worker thread compiles
// them into .cache/ while the synth builds, and the synth uses them.
test('without current committed validators, they are compiled into .cache/ and the synth gives the same dist/', () => {
  withProjectCopy('launcher-', (dir) => {
    fs.rmSync(path.join(dir, '.cache'), { recursive: true, force: true }); // not the checkout's shared cache
    fs.rmSync(path.join(dir, 'schemas', 'compiled'), { recursive: true });
    const before = snapshot(path.join(dir, 'dist'));
    const run = synth(dir);
    expect([run.status, run.stderr]).toEqual([0, '']);
    expect(fs.readdirSync(path.join(dir, '.cache', 'schema-validators')).filter((f) => /^validators-[0-9a-f]{32}\.js$/.test(f))).toHaveLength(1);
    expect(fs.existsSync(path.join(dir, 'schemas', 'compiled'))).toBe(false); // the synth never writes committed files
    expect(snapshot(path.join(dir, 'dist'))).toEqual(before);
  });
}, 90_000);
