import * as fs from 'fs';
import * as path from 'path';
import Ajv, { ErrorObject, ValidateFunction } from 'ajv';

/**
 * Strict validation of synthesized objects against the official Kubernetes schemas (and CRD schemas), with the
 * committed standalone-strict JSON schemas under schemas/ (see scripts/gen-schemas.mjs): unknown fields, wrong
 * types and missing required fields are errors. Used by main.ts before dist/ is replaced, by the cdk8s
 * validation plugin (validation/), and by `npm test` over the committed dist/.
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
  private readonly ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false, validateSchema: false });
  private readonly compiled = new Map<string, ValidateFunction | undefined>();

  constructor(private readonly schemaRoot: string) {}

  /** The schema file for an object at a Kubernetes version, in kubeconform's naming. */
  public schemaPath(kubernetesVersion: string, apiVersion: string, kind: string): string {
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
    const suffix = group ? `-${group.split('.')[0]}-${version}` : `-${version}`;
    const file = `${kind.toLowerCase()}${suffix}.json`;
    const builtIn = path.join(this.schemaRoot, 'kubernetes', `${kubernetesVersion}-standalone-strict`, file);
    return fs.existsSync(builtIn) || !group.includes('.') || group.endsWith('.k8s.io') ? builtIn : path.join(this.schemaRoot, 'crds', file);
  }

  public validate(objects: readonly ManifestObject[], versions: readonly string[] = KUBERNETES_VERSIONS): SchemaViolation[] {
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
    return violations;
  }

  private load(file: string): ValidateFunction | undefined {
    if (!this.compiled.has(file)) {
      if (!fs.existsSync(file)) {
        this.compiled.set(file, undefined);
      } else {
        const schema = JSON.parse(fs.readFileSync(file, 'utf-8'));
        delete schema.$schema; // draft-04 style id; the keywords used are the same in ajv's default draft
        this.compiled.set(file, this.ajv.compile(schema));
      }
    }
    return this.compiled.get(file);
  }
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
