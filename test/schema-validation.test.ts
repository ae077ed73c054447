import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { KUBERNETES_VERSIONS, SchemaValidator } from '../synth/schema-validation';
import { readManifests } from '../synth/synth-output';

const root = path.join(__dirname, '..');
const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'schema-cache-'));
afterAll(() => fs.rmSync(cache, { recursive: true, force: true }));
const validator = new SchemaValidator(path.join(root, 'schemas'), cache);

const deployment = () => readManifests(path.join(root, 'dist', 'local')).find((m) => m.object.kind === 'Deployment')!.object;
const check = (object: any) => validator.validate([{ file: 'test.yaml', object }]);

describe('schema validation (official Kubernetes schemas, strict)', () => {
  test.each(fs.readdirSync(path.join(root, 'dist')).map((env) => [env]))('the committed dist/%s/ is valid for every version', (env) => {
    const objects = readManifests(path.join(root, 'dist', env));
    expect(objects.length).toBeGreaterThan(10);
    expect(validator.validate(objects)).toEqual([]);
  });

  test('a misspelled field is an error, for every version', () => {
    const d = deployment();
    d.spec.template.spec.containers[0].imagePullPolicyy = 'Always';
    expect(check(d).map((v) => [v.kubernetesVersion, v.pointer, v.message])).toEqual(KUBERNETES_VERSIONS.map((k) => [k, '/spec/template/spec/containers/0', 'unknown field "imagePullPolicyy"']));
  });

  test('a wrong type is an error', () => {
    const d = deployment();
    d.spec.replicas = 'two';
    expect(check(d)).toEqual(expect.arrayContaining([expect.objectContaining({ pointer: '/spec/replicas', message: 'must be integer' })]));
  });

  test('a missing required field is an error', () => {
    const d = deployment();
    delete d.spec.template.spec.containers[0].name;
    expect(check(d)).toEqual(expect.arrayContaining([expect.objectContaining({ pointer: '/spec/template/spec/containers/0', message: 'missing required field "name"' })]));
  });

  test('an unknown kind or CRD version has no schema, which is an error', () => {
    expect(check({ apiVersion: 'bitnami.com/v1beta9', kind: 'SealedSecret', metadata: { name: 'x' } })[0].message).toMatch(/no schema for bitnami.com\/v1beta9 SealedSecret/);
  });

  test('CRD-backed objects validate against the CRD schema', () => {
    const sealed = readManifests(path.join(root, 'dist', 'local')).find((m) => m.object.kind === 'SealedSecret')!.object;
    expect(check(sealed)).toEqual([]);
    expect(check({ ...sealed, spec: { ...sealed.spec, encryptedDta: {} } }).map((v) => v.message)).toContain('unknown field "encryptedDta"');
  });

  test('compiled validators are cached and give the same answers', () => {
    const again = new SchemaValidator(path.join(root, 'schemas'), cache);
    const d = deployment();
    d.spec.replicas = 'two';
    expect(again.validate([{ file: 'test.yaml', object: d }])).toEqual(check(d));
    expect(fs.readdirSync(cache).some((f) => f.endsWith('.js.v8'))).toBe(true);
  });
});
