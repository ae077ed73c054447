#!/usr/bin/env node
// Generates the committed, offline JSON schemas used by kubeconform (scripts/lint-k8s.sh) and by the ajv
// validator (synth/schema-validation.ts):
//
//   schemas/kubernetes/<v>-standalone-strict/<kind>-<group>-<version>.json   (kubeconform's directory layout)
//   schemas/crds/<kind>-<group>-<version>.json                              (one per CRD version, from crds/)
//
// Source: the official OpenAPI v2 spec, api/openapi-spec/swagger.json, of the Go module k8s.io/kubernetes at each
// release, fetched with `go mod download` (module proxy, verified against the Go checksum database). It is the
// upstream of the cdk8s `_definitions.json` files and carries the same definitions.
//
// The output follows yannh/kubernetes-json-schema's "standalone-strict" flavour (kubeconform's
// openapi2jsonschema.py), adapted so ajv 8 compiles it without extra keywords or formats:
//   - every $ref is inlined. A self-recursive type (only JSONSchemaProps, inside CustomResourceDefinition) cannot
//     be inlined, so it is kept once under the file's own `definitions` and referenced as `#/definitions/...`.
//   - `additionalProperties: false` on every object schema that has `properties` and no `additionalProperties`,
//     except where a CRD says `x-kubernetes-preserve-unknown-fields: true`.
//   - IntOrString accepts an integer or a string; Quantity accepts a number or a string in Kubernetes' quantity
//     syntax (the pattern apiextensions uses for resource.Quantity).
//   - `format` is translated, then dropped: int32 becomes minimum/maximum, byte becomes a base64 pattern; int64,
//     double and date-time are dropped (ajv knows no formats without ajv-formats).
//   - OpenAPI-only keywords are translated or dropped: `nullable: true` becomes a `"null"` type, `x-kubernetes-*`
//     and field descriptions are dropped (the root description stays).
//   - apiVersion and kind get an `enum` of the one value the schema is for.
// Output is plain draft-07 (`$schema`, `$comment`, description, type, properties, additionalProperties, required,
// items, enum, oneOf, minimum, maximum, pattern, definitions, $ref to #/definitions only).
//
// Usage: node scripts/gen-schemas.mjs        (needs `go` on PATH and the module proxy; the `yaml` npm package)
// Deterministic: the same inputs give the same bytes. Stale files in the output folders are removed.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Kubernetes releases to generate for: cdk8s-plus-27's API level, and the newest release. */
const KUBERNETES_VERSIONS = ['v1.27.0', 'v1.36.0'];

/** The only kinds generated (every group/version the release serves them at). Keep the repo small. */
const KINDS = [
  'Namespace', 'ConfigMap', 'Secret', 'Service', 'ServiceAccount', 'Pod',
  'Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob',
  'Ingress', 'IngressClass', 'NetworkPolicy', 'PodDisruptionBudget', 'HorizontalPodAutoscaler',
  'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding',
  'CustomResourceDefinition', 'LimitRange', 'ResourceQuota', 'PriorityClass',
];

/** CRD files (repo-relative) whose schemas are generated into schemas/crds/. */
const CRD_FILES = [
  'crds/bitnami.com_sealedsecrets.yaml',
  // Flux's, copied from the pinned modules (tools/flux/go.mod) config/crd/bases/.
  'crds/source.toolkit.fluxcd.io_gitrepositories.yaml',
  'crds/kustomize.toolkit.fluxcd.io_kustomizations.yaml',
];

const SCHEMA_DRAFT = 'http://json-schema.org/draft-07/schema#';

// k8s.io/apiextensions-apiserver's pattern for resource.Quantity (what controller-gen emits for CRDs).
const QUANTITY_PATTERN =
  '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';
// Standard, padded base64: what encoding/json's []byte decoding (format: byte) accepts.
const BASE64_PATTERN = '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$';

const INT_OR_STRING = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';
const QUANTITY = 'io.k8s.apimachinery.pkg.api.resource.Quantity';
const OBJECT_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';

const REF_PREFIX = '#/definitions/';
const refName = (ref) => {
  if (!ref.startsWith(REF_PREFIX)) throw new Error(`unsupported $ref ${ref}`);
  return ref.slice(REF_PREFIX.length);
};

/**
 * Converts one OpenAPI schema node (and its subschemas, but not through $ref) into the strict JSON-schema form.
 * Key order follows the source, with added keywords after it, so output is stable.
 */
function convert(node) {
  if (Array.isArray(node)) return node.map(convert);
  if (node === null || typeof node !== 'object') return node;
  const preserveUnknown = node['x-kubernetes-preserve-unknown-fields'] === true;
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith('x-kubernetes-') || key === 'description' || key === 'nullable' || key === 'format') continue;
    if (key === 'properties' || key === 'definitions' || key === 'patternProperties') {
      out[key] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, convert(sub)]));
    } else if (['items', 'additionalProperties', 'not', 'additionalItems'].includes(key)) {
      out[key] = typeof value === 'object' ? convert(value) : value;
    } else if (['oneOf', 'anyOf', 'allOf'].includes(key)) {
      out[key] = value.map((sub) => convert(sub));
    } else {
      out[key] = value;
    }
  }
  switch (node.format) {
    case 'int32':
      if (!('minimum' in out)) out.minimum = -2147483648;
      if (!('maximum' in out)) out.maximum = 2147483647;
      break;
    case 'byte':
      if (!('pattern' in out)) out.pattern = BASE64_PATTERN;
      break;
    default: // int64 (beyond JS's safe integers), double, date-time, ...: no check
  }
  if (node['x-kubernetes-int-or-string'] === true && !out.oneOf && !out.anyOf) {
    delete out.type;
    out.oneOf = [{ type: 'integer' }, { type: 'string' }];
  }
  if (node.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  if (out.properties && !('additionalProperties' in out) && !preserveUnknown) out.additionalProperties = false;
  return out;
}

/** Converted definitions of one swagger spec, with IntOrString and Quantity given their real JSON shapes. */
function convertDefinitions(definitions) {
  const defs = {};
  for (const [name, def] of Object.entries(definitions)) defs[name] = convert(def);
  // swagger.json declares both as `type: string` (plus format int-or-string); JSON carries either shape.
  defs[INT_OR_STRING] = { oneOf: [{ type: 'integer' }, { type: 'string' }] };
  defs[QUANTITY] = { oneOf: [{ type: 'string', pattern: QUANTITY_PATTERN }, { type: 'number' }] };
  return defs;
}

/** Names of definitions that can reach themselves through $refs (they cannot be inlined). */
function recursiveDefinitions(defs) {
  const refsOf = new Map();
  const collect = (node, acc) => {
    if (Array.isArray(node)) node.forEach((n) => collect(n, acc));
    else if (node && typeof node === 'object') {
      if (typeof node.$ref === 'string') acc.add(refName(node.$ref));
      for (const v of Object.values(node)) collect(v, acc);
    }
    return acc;
  };
  for (const [name, def] of Object.entries(defs)) refsOf.set(name, collect(def, new Set()));
  const recursive = new Set();
  for (const start of refsOf.keys()) {
    const seen = new Set();
    const stack = [...refsOf.get(start)];
    while (stack.length) {
      const n = stack.pop();
      if (n === start) { recursive.add(start); break; }
      if (seen.has(n)) continue;
      seen.add(n);
      stack.push(...(refsOf.get(n) ?? []));
    }
  }
  return recursive;
}

/**
 * Inlines every $ref of `node`. Recursive definitions stay as internal refs and are collected into `keep` (the
 * root's `definitions`).
 */
function inline(node, defs, recursive, keep) {
  if (Array.isArray(node)) return node.map((n) => inline(n, defs, recursive, keep));
  if (node === null || typeof node !== 'object') return node;
  if (typeof node.$ref === 'string') {
    const name = refName(node.$ref);
    if (!defs[name]) throw new Error(`dangling $ref ${node.$ref}`);
    if (recursive.has(name)) {
      keep.add(name);
      return { $ref: node.$ref };
    }
    return inline(defs[name], defs, recursive, keep);
  }
  const out = {};
  for (const [k, v] of Object.entries(node)) out[k] = inline(v, defs, recursive, keep);
  return out;
}

/** A standalone schema: the root inlined, plus `definitions` for recursive types it uses. */
function standalone(root, defs, recursive) {
  const keep = new Set();
  const body = inline(root, defs, recursive, keep);
  const definitions = {};
  // Inlining a kept definition may reference further recursive definitions: repeat until closed.
  for (let added = true; added;) {
    added = false;
    for (const name of [...keep].sort()) {
      if (!(name in definitions)) {
        definitions[name] = inline(defs[name], defs, recursive, keep);
        added = true;
      }
    }
  }
  if (Object.keys(definitions).length) {
    body.definitions = Object.fromEntries(Object.keys(definitions).sort().map((k) => [k, definitions[k]]));
  }
  return body;
}

/** Schema file name in kubeconform's convention: lowercase kind, `-<first group segment>` unless core, `-<version>`. */
function fileName(group, version, kind) {
  const suffix = group ? `-${group.split('.')[0].toLowerCase()}-${version}` : `-${version}`;
  return `${kind.toLowerCase()}${suffix}.json`;
}

/** Pins apiVersion and kind to the one value the schema is for, and puts the header keywords first. */
function finish(schema, { group, version, kind, comment, description }) {
  const apiVersion = group ? `${group}/${version}` : version;
  const props = schema.properties ?? {};
  if (props.apiVersion) props.apiVersion = { ...props.apiVersion, enum: [apiVersion] };
  if (props.kind) props.kind = { ...props.kind, enum: [kind] };
  const head = { $schema: SCHEMA_DRAFT, $comment: comment };
  if (description) head.description = description;
  return { ...head, ...schema };
}

function writeJson(file, value, written) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(value, null, 1)}\n`);
  written.add(path.resolve(file));
}

/** Removes files in `dir` that this run did not write (a kind dropped from KINDS, a renamed CRD). */
function pruneStale(dir, written) {
  if (!fs.existsSync(dir)) return;
  for (const f of fs.readdirSync(dir)) {
    const p = path.resolve(dir, f);
    if (f.endsWith('.json') && !written.has(p)) fs.rmSync(p);
  }
}

/** swagger.json of k8s.io/kubernetes@version, via the Go module cache (downloaded through the module proxy). */
function kubernetesSwagger(version) {
  const out = execFileSync('go', ['mod', 'download', '-json', `k8s.io/kubernetes@${version}`], {
    cwd: os.tmpdir(), // outside any go.mod, so no module's requirements get involved
    encoding: 'utf-8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const info = JSON.parse(out);
  if (info.Error) throw new Error(`go mod download k8s.io/kubernetes@${version}: ${info.Error}`);
  const file = path.join(info.Dir, 'api', 'openapi-spec', 'swagger.json');
  return { spec: JSON.parse(fs.readFileSync(file, 'utf-8')), sum: info.Sum };
}

function main() {
  const written = new Set();
  let objectMeta; // from the oldest release, for CRD objects' metadata
  for (const k8sVersion of KUBERNETES_VERSIONS) {
    const { spec, sum } = kubernetesSwagger(k8sVersion);
    const defs = convertDefinitions(spec.definitions);
    const recursive = recursiveDefinitions(defs);
    objectMeta ??= standalone(defs[OBJECT_META], defs, recursive);
    const outDir = path.join(ROOT, 'schemas', 'kubernetes', `${k8sVersion}-standalone-strict`);
    const found = new Set();
    for (const name of Object.keys(spec.definitions).sort()) {
      for (const gvk of spec.definitions[name]['x-kubernetes-group-version-kind'] ?? []) {
        if (!KINDS.includes(gvk.kind)) continue;
        // List types (DeploymentList) are separate kinds and not in KINDS; only the object itself is matched.
        const schema = finish(standalone(defs[name], defs, recursive), {
          ...gvk,
          comment: `Generated by scripts/gen-schemas.mjs from k8s.io/kubernetes@${k8sVersion} (${sum}) api/openapi-spec/swagger.json, definition ${name}. Do not edit.`,
          description: spec.definitions[name].description,
        });
        writeJson(path.join(outDir, fileName(gvk.group, gvk.version, gvk.kind)), schema, written);
        found.add(gvk.kind);
      }
    }
    const missing = KINDS.filter((k) => !found.has(k));
    if (missing.length) throw new Error(`Kubernetes ${k8sVersion} has no definition for: ${missing.join(', ')}`);
    pruneStale(outDir, written);
  }

  const crdDir = path.join(ROOT, 'schemas', 'crds');
  for (const rel of CRD_FILES) {
    const crd = parseYaml(fs.readFileSync(path.join(ROOT, rel), 'utf-8'));
    const { group, names } = crd.spec;
    for (const v of crd.spec.versions) {
      const openapi = v.schema?.openAPIV3Schema;
      if (!openapi) throw new Error(`${rel}: version ${v.name} has no schema.openAPIV3Schema`);
      const schema = convert(openapi);
      // The API server validates a custom object's metadata as ObjectMeta; the CRD only says `type: object`.
      const meta = schema.properties?.metadata;
      if (meta && !meta.properties && !meta.additionalProperties && meta.type === 'object') {
        schema.properties.metadata = objectMeta;
      }
      const out = finish(schema, {
        group,
        version: v.name,
        kind: names.kind,
        comment: `Generated by scripts/gen-schemas.mjs from ${rel}, version ${v.name} (metadata: ObjectMeta of Kubernetes ${KUBERNETES_VERSIONS[0]}). Do not edit.`,
        description: openapi.description,
      });
      writeJson(path.join(crdDir, fileName(group, v.name, names.kind)), out, written);
    }
  }
  pruneStale(crdDir, written);

  console.log(`gen-schemas: wrote ${written.size} schema files under ${path.relative(process.cwd(), path.join(ROOT, 'schemas')) || 'schemas'}/`);
  // The validators compiled from them, committed too (synth/compile-validators.js).
  execFileSync(process.execPath, [path.join(ROOT, 'synth', 'compile-validators.js')], { stdio: 'inherit' });
}

main();
