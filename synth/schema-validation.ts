import { createHash } from 'crypto';
import * as fs from 'fs';
import Module from 'module';
import * as path from 'path';
import * as vm from 'vm';
import type Ajv from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';

/**
 * Strict validation of synthesized objects against the official Kubernetes schemas (and CRD schemas), with the
 * committed standalone-strict JSON schemas under schemas/ (see scripts/gen-schemas.mjs): unknown fields, wrong
 * types and missing required fields are errors. Used by main.ts before dist/ is replaced, by the cdk8s
 * validation plugin (synth/validation-plugin/), and by `npm test` over the committed dist/.
 */

/** The API levels we validate against: cdk8s-plus-27's, and the newest release. */
export const KUBERNETES_VERSIONS = ['v1.27.0', 'v1.36.0'] as const;

export interface SchemaViolation {
  readonly file: string;
  readonly object: string;
  readonly kubernetesVersion: string;
  /** JSON pointer into the object, e.g. `/spec/template/spec/containers/0/imagePullPolicy`. */
  readonly pointer: string;
  readonly message: string;
}

export interface ManifestObject {
  readonly file: string;
  readonly object: any;
}

export class SchemaValidator {
  /** sha256 of every schema file used so far, by absolute path. */
  public readonly schemasUsed = new Map<string, string>();
  private ajvInstance?: Ajv;
  private readonly compiled = new Map<string, ValidateFunction | undefined>();
  private readonly schemaPaths = new Map<string, string>();
  private readonly schemaFiles = new Map<string, { text: string; hash: string } | undefined>();
  /** Scripts loaded from the cache without V8 code cache: their code cache is written after use. */
  private readonly uncached: { script: vm.Script; file: string }[] = [];

  /**
   * @param schemaRoot the folder with `kubernetes/` and `crds/` schemas
   * @param cacheDir where compiled validators are kept between runs (compiling the large standalone schemas
   *   takes ~1 s; loading the compiled code, a few ms), keyed by the schema's content
   */
  constructor(private readonly schemaRoot: string, private readonly cacheDir?: string) {}

  /** The schema file for an object at a Kubernetes version, in kubeconform's naming. */
  public schemaPath(kubernetesVersion: string, apiVersion: string, kind: string): string {
    const key = `${kubernetesVersion}\0${apiVersion}\0${kind}`;
    let found = this.schemaPaths.get(key);
    if (found === undefined) this.schemaPaths.set(key, found = this.findSchema(kubernetesVersion, apiVersion, kind));
    return found;
  }

  private findSchema(kubernetesVersion: string, apiVersion: string, kind: string): string {
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
    const suffix = group ? `-${group.split('.')[0]}-${version}` : `-${version}`;
    const file = `${kind.toLowerCase()}${suffix}.json`;
    const builtIn = path.join(this.schemaRoot, 'kubernetes', `${kubernetesVersion}-standalone-strict`, file);
    return fs.existsSync(builtIn) || !group.includes('.') || group.endsWith('.k8s.io') ? builtIn : path.join(this.schemaRoot, 'crds', file);
  }

  public validate(objects: readonly ManifestObject[], versions: readonly string[] = KUBERNETES_VERSIONS): SchemaViolation[] {
    // Validation is a pure function of the objects and the schemas: when these exact objects passed these exact
    // schemas before, the validators (5 MB of code, ~0.1 s to load) are not even loaded.
    const passed = this.passedMarker(objects, versions);
    if (passed && fs.existsSync(passed)) return [];
    const violations: SchemaViolation[] = [];
    for (const { file, object } of objects) {
      const id = `${object?.kind ?? '?'}/${object?.metadata?.namespace ? object.metadata.namespace + '/' : ''}${object?.metadata?.name ?? '?'}`;
      if (typeof object?.apiVersion !== 'string' || typeof object?.kind !== 'string') {
        for (const kubernetesVersion of versions) {
          violations.push({ file, object: id, kubernetesVersion, pointer: '', message: 'has no apiVersion or kind' });
        }
        continue;
      }
      for (const kubernetesVersion of versions) {
        const schema = this.schemaPath(kubernetesVersion, object.apiVersion, object.kind);
        const validate = this.load(schema);
        if (!validate) {
          violations.push({ file, object: id, kubernetesVersion, pointer: '', message: `no schema for ${object.apiVersion} ${object.kind} (${path.relative(this.schemaRoot, schema)}): regenerate schemas/ or fix apiVersion/kind` });
          continue;
        }
        if (!validate(object)) {
          for (const e of validate.errors ?? []) violations.push({ file, object: id, kubernetesVersion, pointer: e.instancePath, message: describe(e) });
        }
      }
    }
    this.saveCodeCache();
    if (passed && violations.length === 0) {
      fs.mkdirSync(path.dirname(passed), { recursive: true });
      fs.writeFileSync(passed, '');
    }
    return violations;
  }

  /**
   * `<cacheDir>/passed/<sha256>`: the hash of the validator (ajv version and options), the versions, and for every
   * object its schemas' content and its JSON. Undefined (validate for real) without a cache, or when an object has
   * no apiVersion, kind or schema. Hashing also records the schemas in `schemasUsed`, for the stamp.
   */
  private passedMarker(objects: readonly ManifestObject[], versions: readonly string[]): string | undefined {
    if (!this.cacheDir) return undefined;
    const h = createHash('sha256').update(CACHE_SALT).update(JSON.stringify(versions));
    for (const { object } of objects) {
      if (typeof object?.apiVersion !== 'string' || typeof object?.kind !== 'string') return undefined;
      for (const kubernetesVersion of versions) {
        const hash = this.schemaFile(this.schemaPath(kubernetesVersion, object.apiVersion, object.kind))?.hash;
        if (!hash) return undefined;
        h.update(hash);
      }
      h.update(JSON.stringify(object)).update('\0');
    }
    return path.join(this.cacheDir, 'passed', h.digest('hex'));
  }

  /** A schema file's text and sha256 (undefined when it does not exist), read once. */
  private schemaFile(file: string): { text: string; hash: string } | undefined {
    if (!this.schemaFiles.has(file)) {
      const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf-8') : undefined;
      const entry = text === undefined ? undefined : { text, hash: sha256(text) };
      if (entry) this.schemasUsed.set(file, entry.hash);
      this.schemaFiles.set(file, entry);
    }
    return this.schemaFiles.get(file);
  }

  /**
   * V8's code cache for the compiled validators, written after they ran (so it holds the functions V8 compiled
   * lazily): loading 5 MB of generated code then takes ~80 ms instead of ~350 ms.
   */
  private saveCodeCache(): void {
    for (const { script, file } of this.uncached.splice(0)) {
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, script.createCachedData());
      fs.renameSync(tmp, file);
    }
  }

  private loadCompiled(file: string): ValidateFunction {
    const codeCacheFile = `${file}.v8`;
    const cachedData = fs.existsSync(codeCacheFile) ? fs.readFileSync(codeCacheFile) : undefined;
    const script = new vm.Script(Module.wrap(fs.readFileSync(file, 'utf-8')), { filename: file, cachedData });
    if (!cachedData || script.cachedDataRejected) this.uncached.push({ script, file: codeCacheFile });
    const mod = { exports: {} as any };
    script.runInThisContext()(mod.exports, Module.createRequire(file), mod, file, path.dirname(file));
    return mod.exports.default ?? mod.exports;
  }

  private load(file: string): ValidateFunction | undefined {
    if (!this.compiled.has(file)) {
      const schema = this.schemaFile(file);
      this.compiled.set(file, schema && this.compile(schema.text, schema.hash));
    }
    return this.compiled.get(file);
  }

  private compile(text: string, hash: string): ValidateFunction {
    const cached = this.cacheDir && path.join(this.cacheDir, `${sha256(CACHE_SALT + hash).slice(0, 32)}.js`);
    if (cached && fs.existsSync(cached)) return this.loadCompiled(cached);
    // ajv itself is loaded only on a cache miss: synth with a warm cache does not pay for it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const AjvClass: typeof Ajv = require('ajv').default;
    this.ajvInstance ??= new AjvClass({ strict: false, allErrors: true, validateFormats: false, validateSchema: false, code: { source: true } });
    const schema = JSON.parse(text);
    delete schema.$schema;
    const validate = this.ajvInstance.compile(schema);
    if (cached) {
      fs.mkdirSync(this.cacheDir!, { recursive: true });
      const tmp = `${cached}.${process.pid}.tmp`;
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const standaloneCode: (ajv: Ajv, fn: ValidateFunction) => string = require('ajv/dist/standalone').default;
      fs.writeFileSync(tmp, standaloneCode(this.ajvInstance, validate));
      fs.renameSync(tmp, cached); // never leave a half-written validator for the next run
    }
    return validate;
  }
}

// Invalidates cached validators when ajv or its options change.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const CACHE_SALT = `ajv@${require('ajv/package.json').version} allErrors strict=false formats=false\0`;

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * The proof, left in the staging folder, that main.ts validated these exact manifests with these exact schemas
 * before promoting them: the cdk8s validation plugin (synth/validation-plugin/index.js) re-hashes the files and skips a second
 * validation when nothing differs. Format: `{ "files": { "<absolute path>": "<sha256>" } }`.
 */
export const VALIDATION_STAMP = '.schema-validated.json';

export function writeValidationStamp(stagingDir: string, manifestFiles: readonly string[], validator: SchemaValidator): void {
  const files: Record<string, string> = {};
  for (const f of manifestFiles) files[path.resolve(f)] = sha256(fs.readFileSync(f));
  for (const [f, hash] of validator.schemasUsed) files[f] = hash;
  fs.writeFileSync(path.join(stagingDir, VALIDATION_STAMP), JSON.stringify({ files }, null, 1));
}

function describe(e: ErrorObject): string {
  switch (e.keyword) {
    case 'additionalProperties': return `unknown field "${(e.params as { additionalProperty: string }).additionalProperty}"`;
    case 'required': return `missing required field "${(e.params as { missingProperty: string }).missingProperty}"`;
    case 'type': return `must be ${(e.params as { type: string }).type}`;
    case 'enum': return `must be one of ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`;
    default: return e.message ?? e.keyword;
  }
}

/** A readable report: one line per violation, grouped by file and object. */
export function formatViolations(violations: readonly SchemaViolation[], relativeTo = process.cwd()): string {
  return violations
    .map((v) => `  ${path.relative(relativeTo, v.file)}: ${v.object}${v.pointer ? ` at ${v.pointer}` : ''}: ${v.message} (Kubernetes ${v.kubernetesVersion})`)
    .join('\n');
}
