import { ApiObject, JsonPatch } from 'cdk8s';
import { IConstruct } from 'constructs';
import { LocatedError } from '../lib/core/errors';
import { isArray, libraryInternal } from '../lib/core/library-internals';

/**
 * Escape hatches that do nothing are errors. `ApiObject.of(x).addJsonPatch(...)` is applied before the typed
 * `imports/` classes render the object, and their `toJson_*` functions rebuild it from the fields they know, so a
 * patch that adds a field they do not know (a typo, a field of a newer Kubernetes) silently disappears. Every
 * add/replace/copy/move patch must therefore leave its path in the rendered object; then the strict schema check
 * judges the value. `rendered`: the objects as synth wrote them, when it has (else each patched object is rendered).
 */
export function checkEscapeHatches(root: IConstruct, rendered: readonly any[] = []): void {
  // The objects synth already rendered, by identity: rendering a patched object again costs ~25 ms per synth.
  const byId = new Map<string, any>();
  const ambiguous = new Set<string>();
  for (const o of rendered) {
    const id = objectId(o?.apiVersion, o?.kind, o?.metadata?.namespace, o?.metadata?.name);
    if (byId.has(id)) ambiguous.add(id);
    byId.set(id, o);
  }
  for (const obj of root.node.findAll().filter((c): c is ApiObject => ApiObject.isApiObject(c))) {
    // cdk8s keeps an object's patches private (there is no getter): read them, loudly.
    const ops = libraryInternal(obj, obj, 'patches', 'cdk8s', isArray).map((p) => patchOperation(obj, p));
    const writes = ops.filter((o) => ['add', 'replace', 'copy', 'move'].includes(o.op));
    if (writes.length === 0) continue;
    const id = objectId(obj.apiVersion, obj.kind, obj.metadata.namespace, obj.name);
    const json = byId.has(id) && !ambiguous.has(id) ? byId.get(id) : obj.toJson();
    for (const o of writes) {
      if (!pointerExists(json, o.path)) {
        throw new LocatedError(obj.node.path,
          `invalid escape hatch ${o.op} ${JSON.stringify(o.path)} on ${obj.kind} ${obj.name}: the patch had no effect, because the typed ${obj.apiVersion} ${obj.kind} class does not know `
          + 'that field and drops it when rendering. Patch a field the Kubernetes API has (the schema check then judges its value), or file an issue to import a newer API.');
      }
    }
  }
}

/** A patch as RFC 6902 JSON (`JsonPatch._toJson`, internal to cdk8s), checked for shape. */
function patchOperation(obj: ApiObject, patch: unknown): { op: string; path: string } {
  const json = patch instanceof JsonPatch && typeof (patch as { _toJson?: unknown })._toJson === 'function' ? patch._toJson() : undefined;
  if (typeof json?.op !== 'string' || typeof json?.path !== 'string') {
    throw new LocatedError(obj.node.path, 'cdk8s no longer renders a JsonPatch with _toJson() as {op, path}: the escape-hatch check cannot run (see lib/core/library-internals.ts)');
  }
  return json;
}

const objectId = (apiVersion: unknown, kind: unknown, namespace: unknown, name: unknown) => JSON.stringify([apiVersion, kind, namespace ?? '', name]);

/** Whether a JSON pointer (RFC 6901) resolves in `doc`; `/-` (append to an array) asks whether the array exists. */
export function pointerExists(doc: unknown, pointer: string): boolean {
  if (pointer === '') return true;
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let cur: any = doc;
  for (const [i, key] of parts.entries()) {
    if (Array.isArray(cur)) {
      if (key === '-' && i === parts.length - 1) return true;
      const idx = Number(key);
      if (!Number.isInteger(idx) || idx < 0 || idx >= cur.length) return false;
      cur = cur[idx];
    } else if (cur && typeof cur === 'object') {
      if (!Object.prototype.hasOwnProperty.call(cur, key)) return false;
      cur = cur[key];
    } else {
      return false;
    }
  }
  return true;
}
