import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { projectCopy, snapshot, withProjectCopy } from './project-copy';
import { recoverFolder, replaceFolder } from '../synth/synth-output';

// A failed synth must leave dist/ exactly as it was. Each case copies the project (as git tracks it) into a temporary
// folder, breaks it in one way, runs the real `cdk8s synth` there and compares dist/ byte for byte.

function edit(dir: string, file: string, from: string, to: string): void {
  const p = path.join(dir, file);
  const text = fs.readFileSync(p, 'utf-8');
  if (!text.includes(from)) throw new Error(`test setup: "${from}" not in ${file}`);
  fs.writeFileSync(p, text.replace(from, to));
}

const cases: [string, (dir: string) => void, RegExp][] = [
  ['a construct error', (d) => edit(d, 'environments/local.ts', "image: 'cjimti/go-ok:v1'", "image: 'cjimti/go-ok:latest'"),
    /synth failed: \[local\] go-ok\/GoOk\/Workload: invalid container "go-ok" image "cjimti\/go-ok:latest"/],
  ['a schema violation', (d) => edit(d, 'charts/hashgenerator.ts', "    if (platform.networkPolicies) {",
    // An escape-hatch patch that bypasses the typed props, as users write them.
    "    require('cdk8s').ApiObject.of(worker.deployment).addJsonPatch(require('cdk8s').JsonPatch.replace('/spec/replicas', 'two'));\n    if (platform.networkPolicies) {"),
    /schema violation\(s\) in environment "local":\n  dist\/local\/hashgenerator.k8s.yaml: Deployment\/default\/hashgenerator-dep at \/spec\/replicas: must be integer \(Kubernetes v1.27.0, v1.36.0\)/],
  ['a failure in the second environment after the first synthesized', (d) => edit(d, 'environments/production.ts', "replicas: 2,\n    serviceType", "replicas: -2,\n    serviceType"),
    /invalid replicas -2: must be a whole number >= 0/],
  ['a crash of the program', (d) => edit(d, 'main.ts', 'const validator =', "if (process.env.CDK8S_OUTDIR) process.kill(process.pid, 'SIGKILL');\n  const validator ="), /./],
];

describe('a failed synth leaves dist/ exactly as it was', () => {
  test.each(cases)('%s', (_name, breakIt, message) => {
    withProjectCopy('atomic-', (dir) => {
      const before = snapshot(path.join(dir, 'dist'));
      // Make a successful synth visible: if the failure were not caught, this stray file would be gone.
      fs.writeFileSync(path.join(dir, 'dist', 'local', 'canary.txt'), 'left alone');
      breakIt(dir);
      const run = spawnSync(path.join(dir, 'node_modules', '.bin', 'cdk8s'), ['synth'], {
        cwd: dir, encoding: 'utf-8', env: { ...process.env, CDK8S_CHECK_UPGRADE: 'false' }, timeout: 60_000,
      });
      expect(run.status).not.toBe(0);
      expect(run.stdout + run.stderr).toMatch(message);
      const after = snapshot(path.join(dir, 'dist'));
      expect(after['local/canary.txt']).toBe('left alone');
      delete after['local/canary.txt'];
      expect(after).toEqual(before);
    });
  }, 90_000);
});

// Bad inputs a user writes in environments/*.ts, each caught by a rule of the constructs (not a test over dist/):
// the real `cdk8s synth` exits non-zero, names the environment, the construct and the field, and dist/ is untouched.
const badEnvironmentEdits: [string, string, string, RegExp][] = [
  ['a NodePort in production', "serviceType: kplus.ServiceType.CLUSTER_IP,\n    ingress: { host: 'go-ok", "serviceType: kplus.ServiceType.NODE_PORT,\n    ingress: { host: 'go-ok",
    /\[production\] go-ok: invalid config.serviceType "NodePort"/],
  ['an Ingress controller namespace with capitals', "namespace: 'ingress-nginx'", "namespace: 'Ingress-Nginx'",
    /\[production\] \(app\): invalid platform.networkPolicies.ingressController.namespace "Ingress-Nginx"/],
  ['one replica of go-ok under highAvailability', "replicas: 2,\n    serviceType", "replicas: 1,\n    serviceType",
    /\[production\] go-ok\/GoOk\/Workload: invalid replicas 1: must be at least 2/],
  ['an Ingress without TLS', "className: 'nginx', tlsSecretName: 'tls-certs' }", "className: 'nginx' }",
    /\[production\] go-ok\/Ingress: invalid tlsSecretName "none"/],
  ['a namespace below restricted', "namespace: 'go-ok',\n    podSecurity: 'restricted'", "namespace: 'go-ok',\n    podSecurity: 'baseline'",
    /\[production\] go-ok\/Namespace: invalid podSecurity "baseline"/],
  ['a label value with a space', "{ 'app.kubernetes.io/name': 'ingress-nginx' }", "{ 'app.kubernetes.io/name': 'ingress nginx' }",
    /\[production\] \(app\): invalid platform.networkPolicies.ingressController.podLabels\["app.kubernetes.io\/name"\] "ingress nginx"/],
];

describe('bad inputs in environments/production.ts stop the real synth', () => {
  let dir: string;
  let before: Record<string, string>;
  let original: string;
  beforeAll(() => {
    dir = projectCopy('atomic-');
    before = snapshot(path.join(dir, 'dist'));
    original = fs.readFileSync(path.join(dir, 'environments/production.ts'), 'utf-8');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test.each(badEnvironmentEdits)('%s', (_name, from, to, message) => {
    fs.writeFileSync(path.join(dir, 'environments/production.ts'), original);
    edit(dir, 'environments/production.ts', from, to);
    const run = spawnSync(path.join(dir, 'node_modules', '.bin', 'cdk8s'), ['synth'], {
      cwd: dir, encoding: 'utf-8', env: { ...process.env, CDK8S_CHECK_UPGRADE: 'false' }, timeout: 60_000,
    });
    expect(run.status).not.toBe(0);
    expect(run.stdout + run.stderr).toMatch(message);
    expect(snapshot(path.join(dir, 'dist'))).toEqual(before);
  }, 90_000);
});

describe('replaceFolder', () => {
  test('recovers the previous folder after a crash between its two renames', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'replace-'));
    try {
      fs.mkdirSync(path.join(dir, '.local.old'));
      fs.writeFileSync(path.join(dir, '.local.old', 'a.yaml'), 'old');
      recoverFolder(path.join(dir, 'local'));
      expect(fs.readFileSync(path.join(dir, 'local', 'a.yaml'), 'utf-8')).toBe('old');
      fs.mkdirSync(path.join(dir, 'staged'));
      fs.writeFileSync(path.join(dir, 'staged', 'a.yaml'), 'new');
      fs.writeFileSync(path.join(dir, 'staged', 'construct-metadata.json'), '{}');
      replaceFolder(path.join(dir, 'staged'), path.join(dir, 'local'));
      expect(fs.readdirSync(path.join(dir, 'local'))).toEqual(['a.yaml']);
      expect(fs.readFileSync(path.join(dir, 'local', 'a.yaml'), 'utf-8')).toBe('new');
      expect(fs.readdirSync(dir).sort()).toEqual(['local', 'staged']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
