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

describe('the shared-definition validator module (synth/compile-validators.js)', () => {
  /** The reference: ajv compiling one committed standalone schema at a time, as kubeconform reads them. */
  const reference = new Map<string, any>();
  const referenceCheck = (object: any) => KUBERNETES_VERSIONS.flatMap((version) => {
    const file = validator.schemaPath(version, object.apiVersion, object.kind);
    if (!reference.has(file)) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const Ajv = require('ajv').default;
      const schema = JSON.parse(fs.readFileSync(file, 'utf-8'));
      delete schema.$schema;
      reference.set(file, new Ajv({ strict: false, allErrors: true, validateFormats: false, validateSchema: false }).compile(schema));
    }
    const validate = reference.get(file);
    return validate(object) ? [] : validate.errors.map((e: any) => `${version} ${e.instancePath} ${e.keyword} ${JSON.stringify(e.params)}`);
  });
  const uncached = new SchemaValidator(path.join(root, 'schemas')); // no cache: no passed-marker per mutant
  const moduleCheck = (object: any) => uncached.validate([{ file: 'm.yaml', object }]).map((v) => `${v.kubernetesVersion} ${v.pointer} ${v.message}`);

  /** Every object of both environments, and per object node: an unknown field, every field deleted, every scalar given the wrong type. */
  function* mutants(): Generator<[string, any]> {
    for (const env of ['production', 'local']) {
      for (const { object } of readManifests(path.join(root, 'dist', env))) {
        yield [`${env} ${object.kind}/${object.metadata.name}`, object];
        const nodes: { at: string; node: any }[] = [];
        const walk = (node: any, at: string) => {
          if (node && typeof node === 'object') {
            nodes.push({ at, node });
            for (const [k, v] of Object.entries(node)) walk(v, `${at}/${k}`);
          }
        };
        walk(object, '');
        for (const { at, node } of nodes) {
          const copy = (mutate: (n: any) => void) => {
            const o = structuredClone(object);
            mutate(at.split('/').slice(1).reduce((n, k) => n[k], o));
            return o;
          };
          if (!Array.isArray(node)) yield [`${env} ${object.kind} ${at} +unknown`, copy((n) => { n.zzUnknown = 1; })];
          for (const k of Object.keys(node)) {
            if (at === '' && (k === 'apiVersion' || k === 'kind')) continue; // picks the schema: tested above
            if (!Array.isArray(node)) yield [`${env} ${object.kind} ${at}/${k} deleted`, copy((n) => { delete n[k]; })];
            if (typeof node[k] !== 'object') yield [`${env} ${object.kind} ${at}/${k} wrong type`, copy((n) => { n[k] = typeof n[k] === 'string' ? 12 : 'x'; })];
          }
        }
      }
    }
  }

  test('the committed module (schemas/compiled/validators.js) is the one the committed schemas compile to', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const compiler = require('../synth/compile-validators.js');
    const tree = compiler.schemaTree(path.join(root, 'schemas'));
    const committed = fs.readFileSync(path.join(root, 'schemas', 'compiled', 'validators.js'), 'utf-8');
    // Stale after a change to schemas/, ajv or the compiler: run `npm run schemas:validators` and commit the result.
    expect(committed === compiler.keyLine(compiler.treeKey(tree)) + compiler.compileModule(tree)).toBe(true);
  });

  test('gives the same verdicts and the same errors as the standalone schemas, on every object and thousands of mutants', () => {
    let count = 0;
    let invalid = 0;
    const mismatches: unknown[] = []; // one expect at the end: jest's expect costs more than validating
    const places = (errors: string[]) => errors.map((e) => e.split(' ').slice(0, 2).join(' ')).sort().join('; ');
    for (const [what, object] of mutants()) {
      const expected = referenceCheck(object);
      const got = moduleCheck(object);
      // The same errors: the same count, at the same (version, place) pairs.
      if (got.length !== expected.length || places(got) !== places(expected)) mismatches.push({ what, got, expected });
      count++;
      if (expected.length) invalid++;
    }
    expect(mismatches).toEqual([]);
    expect(count).toBeGreaterThan(3000);
    expect(invalid).toBeGreaterThan(count / 2);
  });
});
