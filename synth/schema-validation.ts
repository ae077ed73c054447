import { createHash } from 'crypto';
import * as fs from 'fs';
import Module from 'module';
import * as path from 'path';
import * as vm from 'vm';
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
  private readonly schemaPaths = new Map<string, string>();
  private tree?: { key: string; files: Map<string, SchemaFile> };
  private validators?: Record<string, ValidateFunction>;
  /** The module's script when it was loaded without V8 code cache: its code cache is written after use. */
  private uncached?: { script: vm.Script; file: string };

  /**
   * @param schemaRoot the folder with `kubernetes/` and `crds/` schemas
   * @param cacheDir where the compiled validator module is kept between runs, keyed by the content of every schema
   *   (compiling takes ~1 s; loading the compiled code, a few ms)
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
    return this.schemaFile(builtIn) || !group.includes('.') || group.endsWith('.k8s.io') ? builtIn : path.join(this.schemaRoot, 'crds', file);
  }

  public validate(objects: readonly ManifestObject[], versions: readonly string[] = KUBERNETES_VERSIONS): SchemaViolation[] {
    // Validation is a pure function of the objects and the schemas: when these exact objects passed these exact
    // schemas before, the validators (2 MB of code, ~40 ms to load) are not even loaded.
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
        const entry = this.schemaFile(schema);
        const validate = entry && this.loadValidators()[entry.rel];
        if (!validate) {
          violations.push({ file, object: id, kubernetesVersion, pointer: '', message: `no schema for ${object.apiVersion} ${object.kind} (${path.relative(this.schemaRoot, schema)}): regenerate schemas/ or fix apiVersion/kind` });
          continue;
        }
        this.schemasUsed.set(schema, entry.hash);
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
   * `<cacheDir>/passed/<sha256>`: the hash of the compiled module's key (compiler, ajv version and options, every
   * schema's content), the versions, and every object's JSON. Undefined (validate for real) without a cache, or
   * when an object has no apiVersion, kind or schema. Hashing also records the schemas in `schemasUsed`, for the
   * stamp.
   */
  private passedMarker(objects: readonly ManifestObject[], versions: readonly string[]): string | undefined {
    if (!this.cacheDir) return undefined;
    const h = createHash('sha256').update(this.schemaTree().key).update(JSON.stringify(versions));
    for (const { object } of objects) {
      if (typeof object?.apiVersion !== 'string' || typeof object?.kind !== 'string') return undefined;
      for (const kubernetesVersion of versions) {
        const schema = this.schemaPath(kubernetesVersion, object.apiVersion, object.kind);
        const hash = this.schemaFile(schema)?.hash;
        if (!hash) return undefined;
        this.schemasUsed.set(schema, hash);
      }
      h.update(JSON.stringify(object)).update('\0');
    }
    return path.join(this.cacheDir, 'passed', h.digest('hex'));
  }

  /** Every schema file under the root, read and hashed once per validator. */
  private schemaTree(): { key: string; files: Map<string, SchemaFile> } {
    if (!this.tree) {
      const files = compiler.schemaTree(this.schemaRoot, this.cacheDir);
      this.tree = { key: compiler.treeKey(files), files: new Map(files.map((f) => [path.resolve(f.file), f])) };
    }
    return this.tree;
  }

  private schemaFile(file: string): SchemaFile | undefined {
    return this.schemaTree().files.get(path.resolve(file));
  }

  /** The validator module: every schema's validate function, by its path under the root. */
  private loadValidators(): Record<string, ValidateFunction> {
    if (this.validators) return this.validators;
    const { key, files } = this.schemaTree();
    const mod = { exports: {} as Record<string, ValidateFunction> };
    if (!this.cacheDir) {
      // No cache: compile, and load the module from memory.
      new vm.Script(Module.wrap(compiler.compileModule([...files.values()]))).runInThisContext()(mod.exports, require, mod);
      return this.validators = mod.exports;
    }
    const cached = compiler.modulePath(this.cacheDir, key);
    // The committed module when it is current (a fresh clone); else the cached one, compiled by a worker thread of
    // synth/run-app.js (wait for it) or here.
    const file = fs.existsSync(cached) ? cached : compiler.committedModule(this.schemaRoot, key) ?? cached;
    if (file === cached && !fs.existsSync(cached) && !compiler.awaitAhead(key)) compiler.writeModule([...files.values()], this.cacheDir);
    const codeCacheFile = `${cached}.v8`;
    const cachedData = fs.existsSync(codeCacheFile) ? fs.readFileSync(codeCacheFile) : undefined;
    const script = new vm.Script(Module.wrap(fs.readFileSync(file, 'utf-8')), { filename: file, cachedData });
    if (!cachedData || script.cachedDataRejected) this.uncached = { script, file: codeCacheFile };
    script.runInThisContext()(mod.exports, Module.createRequire(file), mod, file, path.dirname(file));
    return this.validators = mod.exports;
  }

  /**
   * V8's code cache for the validator module, written after it ran (so it holds the functions V8 compiled lazily):
   * loading the generated code then takes a few ms instead of tens.
   */
  private saveCodeCache(): void {
    if (!this.uncached) return;
    const { script, file } = this.uncached;
    this.uncached = undefined;
    const tmp = `${file}.${process.pid}.tmp`;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(tmp, script.createCachedData());
    fs.renameSync(tmp, file);
  }
}

interface SchemaFile {
  /** The path under the schema root, with forward slashes: the validator's name in the compiled module. */
  readonly rel: string;
  readonly file: string;
  readonly hash: string;
}

// The compiler is plain JavaScript, so that a worker thread can run it without a TypeScript loader.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const compiler: {
  schemaTree(root: string, cacheDir?: string): SchemaFile[];
  treeKey(tree: readonly SchemaFile[]): string;
  modulePath(cacheDir: string, key: string): string;
  committedModule(schemaRoot: string, key: string): string | undefined;
  keyLine(key: string): string;
  compileModule(tree: readonly SchemaFile[]): string;
  writeModule(tree: readonly SchemaFile[], cacheDir: string): string;
  awaitAhead(key: string, timeoutMs?: number): boolean;
} = require('./compile-validators.js');

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

/** Validates `objects`, and throws the readable report when any violates its schema; `where` names them. */
export function assertSchemaValid(validator: SchemaValidator, objects: readonly ManifestObject[], where: string, shownAs?: (file: string) => string): void {
  const violations = validator.validate(objects);
  if (violations.length === 0) return;
  const lines = formatViolations(shownAs ? violations.map((v) => ({ ...v, file: shownAs(v.file) })) : violations);
  throw new Error(`${lines.split('\n').length} schema violation(s) in ${where}:\n${lines}`);
}

/**
 * A readable report: one line per violation, grouped by file and object; a violation that several Kubernetes
 * versions reject is one line naming them all.
 */
export function formatViolations(violations: readonly SchemaViolation[], relativeTo = process.cwd()): string {
  const lines = new Map<string, string[]>();
  for (const v of violations) {
    const line = `  ${path.isAbsolute(v.file) ? path.relative(relativeTo, v.file) : v.file}: ${v.object}${v.pointer ? ` at ${v.pointer}` : ''}: ${v.message}`;
    lines.set(line, [...(lines.get(line) ?? []), v.kubernetesVersion]);
  }
  return [...lines].map(([line, versions]) => `${line} (Kubernetes ${versions.join(', ')})`).join('\n');
}
