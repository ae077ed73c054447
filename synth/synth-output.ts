import * as fs from 'fs';
import * as path from 'path';
import { ApiObject, App, Yaml } from 'cdk8s';
import { Document, parseAllDocuments } from 'yaml';

/**
 * Replaces `target` with `staged` so that a reader sees either the old folder or the new one, never a half-written
 * or missing one: the new content is copied next to the target, then swapped in with two renames. A crash between
 * the renames leaves `<target>.old`, which the next run restores before anything else. With `move`, the staged
 * folder itself becomes the target (no copy; it must be on the same file system, else it is copied after all).
 */
export function replaceFolder(staged: string, target: string, { move = false } = {}): void {
  const parent = path.dirname(target);
  const base = path.basename(target);
  const next = path.join(parent, `.${base}.next`);
  const old = path.join(parent, `.${base}.old`);
  recoverFolder(target);
  fs.mkdirSync(parent, { recursive: true });
  fs.rmSync(next, { recursive: true, force: true });
  // Manifests only: cdk8s also leaves construct-metadata.json for validation reports, which is not for the cluster.
  const manifestsOnly = (src: string) => fs.statSync(src).isDirectory() || src.endsWith('.yaml');
  if (move) {
    for (const f of fs.readdirSync(staged)) if (!manifestsOnly(path.join(staged, f))) fs.rmSync(path.join(staged, f));
    try {
      fs.renameSync(staged, next);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
      fs.cpSync(staged, next, { recursive: true });
    }
  } else {
    fs.cpSync(staged, next, { recursive: true, filter: manifestsOnly });
  }
  if (fs.existsSync(target)) fs.renameSync(target, old);
  fs.renameSync(next, target);
  fs.rmSync(old, { recursive: true, force: true });
}

/** Undoes an interrupted replaceFolder: puts `.<name>.old` back if the target is missing. */
export function recoverFolder(target: string): void {
  const old = path.join(path.dirname(target), `.${path.basename(target)}.old`);
  if (fs.existsSync(old)) {
    if (fs.existsSync(target)) fs.rmSync(old, { recursive: true, force: true });
    else fs.renameSync(old, target);
  }
}

/** Every object in the YAML files of a folder, with the file it came from. */
export function readManifests(dir: string): { file: string; object: any }[] {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().flatMap((f) => {
    const file = path.join(dir, f);
    // (cdk8s's Yaml.load spawns a process per file to support URLs: ~0.2 s each.)
    return parseAllDocuments(fs.readFileSync(file, 'utf-8')).map((d) => d.toJSON()).filter((o: unknown) => o).map((object: any) => ({ file, object }));
  });
}

/**
 * Committed folders must never hold secret values: a `Secret` with `data` or `stringData` there is an error.
 * (SealedSecrets hold only ciphertext.)
 */
export function assertNoPlaintextSecrets(objects: readonly { file: string; object: any }[], targetName: string): void {
  for (const { file, object } of objects) {
    if (object.kind === 'Secret' && (object.data || object.stringData)) {
      throw new Error(`${path.basename(file)}: Secret "${object.metadata?.name}" carries plaintext data, and ${targetName} is committed to git. `
        + 'Use a SealedSecret (npm run seal) for committed environments; plain Secrets may only go to the git-ignored dist-local/.');
    }
  }
}

/** One file synth wrote: its path, and the objects in it (what was stringified, to validate from memory). */
export interface WrittenManifest {
  readonly file: string;
  readonly objects: any[];
}

/**
 * `app.synth()`, with cdk8s's YAML writer replaced by {@link stringifyManifest} (byte-identical, ~10x faster) for
 * the duration of the call. Returns what was written, so the objects are not resolved (`chart.toJson()`) twice.
 * What it returns is what synth validates, so it must be everything: if cdk8s ever writes a manifest without
 * `Yaml.save`, or renders objects we did not see, this fails rather than let the validation pass on less.
 */
export function synthApp(app: App): WrittenManifest[] {
  const written: WrittenManifest[] = [];
  const yaml = Yaml as unknown as { save(file: string, docs: any[]): void };
  const original = yaml.save;
  yaml.save = (file, docs) => {
    fs.writeFileSync(file, stringifyManifest(docs));
    written.push({ file, objects: docs });
  };
  try {
    app.synth();
  } finally {
    yaml.save = original;
  }
  assertAllSeen(app, written);
  return written;
}

/** Every manifest file in the output folder and every ApiObject of every chart went through our writer. */
function assertAllSeen(app: App, written: readonly WrittenManifest[]): void {
  const seen = new Set(written.map((w) => path.resolve(w.file)));
  const onDisk = fs.readdirSync(app.outdir).filter((f) => f.endsWith('.yaml')).map((f) => path.resolve(app.outdir, f));
  const unseen = onDisk.filter((f) => !seen.has(f));
  const objects = written.reduce((n, w) => n + w.objects.filter((o) => o !== undefined).length, 0);
  const expected = app.node.findAll().filter((c) => ApiObject.isApiObject(c)).length;
  if (unseen.length > 0 || objects !== expected) {
    throw new Error(`cdk8s wrote ${onDisk.length} manifest file(s) with ${expected} object(s), but the synth saw ${seen.size} file(s) with ${objects} `
      + `object(s)${unseen.length ? ` (not seen: ${unseen.map((f) => path.basename(f)).join(', ')})` : ''}: the schema validation would check less than `
      + 'is written. cdk8s no longer writes manifests through Yaml.save as synth/synth-output.ts expects; nothing was promoted.');
  }
}

/**
 * Exactly cdk8s's `Yaml.stringify(...docs)` (the `yaml` library, YAML 1.1, `lineWidth: 0`, `keepUndefined`), for
 * the plain JSON that Kubernetes objects are, without building a YAML document tree per object. Every string is
 * written plain or quoted by the same rules the `yaml` library applies (its plainString test and its YAML 1.1
 * schema tags), quoted ones by the library itself; a document with anything else (a multi-line or very long string,
 * a document marker, undefined, a non-plain object, an object reached twice, which the library would alias)
 * is written by cdk8s's `Yaml.stringify` itself. test/yaml-writer.test.ts compares the two on every committed
 * object, a generated 1000-service app and a corpus of awkward strings.
 */
export function stringifyManifest(docs: readonly unknown[]): string {
  return docs.map((doc) => {
    if (doc === undefined) return '\n';
    try {
      return stringifyDocument(doc);
    } catch (e) {
      if (!(e instanceof Unsupported)) throw e;
      return Yaml.stringify(doc);
    }
  }).join('---\n');
}

class Unsupported extends Error {}
const UNSUPPORTED = new Unsupported('not written by the fast path');

// yaml 2.x stringifyString.js: plainString()'s test for strings that cannot be plain, and the characters that force
// double quotes.
const NOT_PLAIN = /^[\n\t ,[\]{}#&*!|>'"%@`]|^[?-]$|^[?-][ \t]|[\n:][ \t]|[ \t]\n|[\n\t ]#|[\n\t :]$/;
const FORCE_DOUBLE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u{D800}-\u{DFFF}]/u;
const DOCUMENT_MARKER = /^(%|---|\.\.\.)/m;
let schemaTests: RegExp[] | undefined;
const scalarText = new Map<string, string>();

/** A string as the `yaml` library writes it in block context (value or implicit key), when it is one line. */
function stringText(value: string): string {
  let text = scalarText.get(value);
  if (text !== undefined) return text;
  if (value.includes('\n') || value.includes('\r') || value.length > 1000 || DOCUMENT_MARKER.test(value)) throw UNSUPPORTED;
  // Plain unless it would read back as something other than a string (YAML 1.1: yes, on, 0777, 1:30, ~, <<, ...).
  schemaTests ??= new Document(null, { version: '1.1' }).schema.tags
    .filter((t: any) => t.default && t.tag !== 'tag:yaml.org,2002:str' && t.test).map((t: any) => t.test as RegExp);
  if (!FORCE_DOUBLE.test(value) && !NOT_PLAIN.test(value) && !schemaTests.some((t) => t.test(value))) {
    text = value;
  } else {
    text = Yaml.stringify(value).slice(0, -1); // quoted by the library: '...' or "..."
    if (text.includes('\n')) throw UNSUPPORTED;
  }
  scalarText.set(value, text);
  return text;
}

function stringifyDocument(doc: unknown): string {
  const seen = new Set<object>();
  const scalar = (v: unknown): string | undefined => {
    switch (typeof v) {
      case 'string': return stringText(v);
      case 'boolean': return v ? 'true' : 'false';
      case 'number':
        if (Number.isSafeInteger(v) && !Object.is(v, -0)) return String(v);
        throw UNSUPPORTED;
      case 'object': {
        if (v === null) return 'null';
        if (seen.has(v)) throw UNSUPPORTED; // the library would write an anchor and an alias
        seen.add(v);
        if (Array.isArray(v)) return v.length === 0 ? '[]' : undefined;
        const proto = Object.getPrototypeOf(v);
        if (proto !== Object.prototype && proto !== null) throw UNSUPPORTED;
        for (const _ in v) return undefined;
        return '{}';
      }
      default: throw UNSUPPORTED; // undefined, bigint, function, symbol
    }
  };
  let out = '';
  // A non-empty collection, every line starting with `indent`, but the first with `first` (`- ` of a parent list:
  // a nested collection starts on the dash's line, `- key: v` / `- - v`).
  const collection = (v: object, indent: string, first: string): void => {
    let prefix = first;
    if (Array.isArray(v)) {
      const inner = `${indent}  `;
      for (let i = 0; i < v.length; i++) {
        if (!(i in v)) throw UNSUPPORTED;
        const item = v[i];
        const s = scalar(item);
        if (s !== undefined) out += `${prefix}- ${s}\n`;
        else collection(item, inner, `${prefix}- `);
        prefix = indent;
      }
    } else {
      let inner: string | undefined;
      for (const key in v) {
        const value = (v as Record<string, unknown>)[key];
        const k = stringText(key);
        const s = scalar(value);
        if (s !== undefined) {
          out += `${prefix}${k}: ${s}\n`;
        } else {
          // Block sequences under a key are indented (the library's indentSeq: true), like maps.
          out += `${prefix}${k}:\n`;
          inner ??= `${indent}  `;
          collection(value as object, inner, inner);
        }
        prefix = indent;
      }
    }
  };
  const top = scalar(doc);
  if (top === undefined) {
    collection(doc as object, '', '');
    return out;
  }
  if (top === '{}' || top === '[]') return `${top}\n`;
  throw UNSUPPORTED; // a scalar document: the library's business
}
