import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { projectCopy, snapshot } from './project-copy';

// The kinds of bad input of issue 25 ("Synth round 3"), each written where a user would write it, in a copy of the
// project: the real synth (`node synth/synth.js`, what `npm run synth` runs) rejects it with a message that names
// where and what, and leaves dist/ byte-identical. test/synth-rules.test.ts has the rules, row by row.
const edits: [string, string, string, string, RegExp, Record<string, string>?][] = [
  ['an uppercase image repository', 'environments/local.ts', "image: 'cjimti/go-ok:v1'", "image: 'Cjimti/go-ok:v1'",
    /synth failed: \[local\] go-ok\/GoOk\/Workload: invalid container "go-ok" image "Cjimti\/go-ok:v1": .*repository path component "Cjimti" must be lowercase/],
  ['a digest in the model the lock disagrees with', 'environments/production.ts', "image: 'node:6-alpine'", `image: 'node:6-alpine@sha256:${'b'.repeat(64)}'`,
    /synth failed: \[production\] shop\/[\w/-]+: invalid .*"node:6-alpine@sha256:b{64}": has digest sha256:b{64} but images.lock.json locks node:6-alpine to sha256:[a-f0-9]{64}/],
  ['a malformed lock entry, synthesizing only an environment that does not pin images', 'images.lock.json', '"digest": "sha256:', '"digest": "sha256:X',
    /synth failed: images.lock.json: invalid image lock entry "[^"]+" digest "sha256:X/, { SYNTH_ENVIRONMENTS: 'local' }],
  ['a stray string through a cast', 'environments/local.ts', "replicas: { 'api-gateway': 1,", "replicas: { 'api-gateway': '1' as any,",
    /synth failed: \[local\] shop\/api-gateway[\w/-]*: invalid replicas "1": must be/],
  ['a negative Duration', 'charts/shop.ts', "'download-at-start' ? 5 : 1", "'download-at-start' ? -5 : 1",
    /synth failed: \[local\] shop[\w/-]*: Duration amounts cannot be negative. Received: -5 \(from a cdk8s Duration value\) \(while building this construct/],
  ['a schema violation', 'charts/hashgenerator.ts', '    if (platform.networkPolicies) {',
    "    require('cdk8s').ApiObject.of(worker.deployment).addJsonPatch(require('cdk8s').JsonPatch.replace('/spec/replicas', 'two'));\n    if (platform.networkPolicies) {",
    /synth failed: \[local\] 1 schema violation\(s\) in environment "local":\n {2}dist\/local\/hashgenerator\.k8s\.yaml: Deployment\/default\/hashgenerator-dep at \/spec\/replicas: must be integer \(Kubernetes v1\.27\.0, v1\.36\.0\)\n/],
  ['two ports of one Service asking for one nodePort', 'environments/local.ts', 'nodePorts: { http: 31000, https: 31443 }', 'nodePorts: { http: 31000, https: 31000 }',
    /synth failed: \[local\] [\w/-]+: invalid ports\["https"\]\.nodePort 31000: is already claimed by [\w/-]+ ports\["http"\]/],
];

describe('each kind of bad input stops the real synth, dist/ byte-identical', () => {
  let dir: string;
  let before: Record<string, string>;
  beforeAll(() => {
    dir = projectCopy('rejects-');
    before = snapshot(path.join(dir, 'dist'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test.each(edits)('%s', (_name, file, from, to, message, env = {}) => {
    const original = fs.readFileSync(path.join(dir, file), 'utf-8');
    if (!original.includes(from)) throw new Error(`test setup: "${from}" not in ${file}`);
    try {
      fs.writeFileSync(path.join(dir, file), original.replace(from, to));
      const run = spawnSync(process.execPath, ['synth/synth.js'], { cwd: dir, encoding: 'utf-8', env: { ...process.env, ...env }, timeout: 60_000 });
      expect(run.stderr).toMatch(message);
      expect(run.stderr.match(/schema violation/g)?.length ?? 0).toBeLessThanOrEqual(1);
      expect(run.status).toBe(1);
      expect(snapshot(path.join(dir, 'dist'))).toEqual(before);
      expect(fs.readdirSync(path.join(dir, '.cache')).filter((f) => f.startsWith('synth'))).toEqual([]); // no lock, no staging
    } finally {
      fs.writeFileSync(path.join(dir, file), original);
    }
  }, 90_000);
});
