// Compiles every JSON schema under schemas/ (both Kubernetes versions, every kind, the CRDs) into ONE validator
// module. The module for the committed schemas is committed too (schemas/compiled/validators.js, like imports/), so
// a fresh clone does not compile at all; after a change to the schemas (or ajv), the module is compiled into
// .cache/schema-validators/, on a worker thread that synth/run-app.js starts before it bundles the app, so the
// compile runs on the second core while the first bundles and builds. synth/schema-validation.ts loads and runs it.
// `node synth/compile-validators.js` (npm run schemas:validators) rewrites the committed module.
//
// Why one module with shared definitions: the committed schemas are "standalone" (every $ref inlined, the layout
// kubeconform reads), so a PodSpec is spelled out in Pod, Deployment, StatefulSet, Job... at both versions, and a
// Probe three times in every container. Compiled one file at a time, ajv generated ~6 MB of code in ~3.7 s. Here
// every schema node that sets `properties` or `items` (and is not tiny) is hoisted, by content, into one shared
// `definitions` schema and compiled once as its own function (`inlineRefs: false`): ~2.2 MB, ~1 s, the same
// verdicts and errors (test/schema-validation.test.ts compares both ways on 5,659 mutated objects).
//
// Plain CommonJS on purpose: a worker thread runs this file as is, with no TypeScript loader.
'use strict';
const { createHash } = require('crypto');
const fs = require('fs');
const path = require('path');

/** Bump when the compiled form changes, so cached modules are rebuilt. */
const FORMAT = 'shared-definitions-1';
const AJV_OPTIONS = {
  strict: false,
  allErrors: true,
  validateFormats: false,
  validateSchema: false,
  inlineRefs: false, // a shared definition is one function, called from every place that uses it
  code: { source: true, optimize: false }, // ajv's optimizer costs ~20 % of compile time and saves little here
};
let salt;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const SALT = () => (salt ??= `${FORMAT} ajv@${require('ajv/package.json').version} ${JSON.stringify(AJV_OPTIONS)}\0`);
const BASE = 'https://schemas.k8s-infra.invalid/';
const SHARED = `${BASE}_shared.json`;
/** Hoisting a node smaller than this costs more in calls than it saves in code. */
const MIN_NODES = 4;

const sha256 = (data) => createHash('sha256').update(data).digest('hex');

/**
 * Every schema file under the root, as `{ rel, file, hash }`, sorted: `kubernetes/<version>/*.json`, `crds/*.json`.
 * `rel` (with forward slashes) is the validator's name in the module. With `cacheDir`, a file whose size and mtime
 * are those recorded in `<cacheDir>/tree.json` is not read again (hashing the 2.3 MB tree costs ~15 ms per synth).
 */
function schemaTree(schemaRoot, cacheDir) {
  const recordFile = cacheDir && path.join(cacheDir, 'tree.json');
  // One record per cache folder, for one schema root (project copies may share the folder: the last one wins).
  let record = {};
  try {
    if (recordFile) {
      const saved = JSON.parse(fs.readFileSync(recordFile, 'utf-8'));
      if (saved.root === schemaRoot) record = saved.files;
    }
  } catch {
    // no record yet, or a broken one: hash everything
  }
  const out = [];
  let changed = false;
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith('.json')) {
        const st = fs.statSync(file);
        const stamp = `${st.size}:${st.mtimeMs}`;
        const rel = path.relative(schemaRoot, file).split(path.sep).join('/');
        let hash = record[rel]?.stamp === stamp ? record[rel].hash : undefined;
        if (!hash) {
          hash = sha256(fs.readFileSync(file));
          record[rel] = { stamp, hash };
          changed = true;
        }
        out.push({ rel, file, hash });
      }
    }
  };
  if (fs.existsSync(schemaRoot)) walk(schemaRoot);
  if (recordFile && changed) {
    fs.mkdirSync(cacheDir, { recursive: true });
    const tmp = `${recordFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ root: schemaRoot, files: record }));
    fs.renameSync(tmp, recordFile);
  }
  return out;
}

/** The cache key of a tree: the compiler's salt, and every file's name and content. */
function treeKey(tree) {
  const h = createHash('sha256').update(SALT());
  for (const { rel, hash } of tree) h.update(`${rel}\0${hash}\0`);
  return h.digest('hex').slice(0, 32);
}

const modulePath = (cacheDir, key) => path.join(cacheDir, `validators-${key}.js`);

/**
 * The committed module, generated from the committed schemas like imports/ (`npm run schemas:validators`): a
 * fresh clone's first synth loads it instead of compiling (~1 s of ajv). Its first line names the key it was
 * compiled for; a stale one (schemas, ajv or this compiler changed) is ignored, and test/schema-validation.test.ts
 * fails until it is regenerated.
 */
const committedPath = (schemaRoot) => path.join(schemaRoot, 'compiled', 'validators.js');
const keyLine = (key) => `// Generated by synth/compile-validators.js (npm run schemas:validators) from schemas/. Do not edit. key: ${key}\n`;

/** The committed module's path when it was compiled for this key, else undefined. */
function committedModule(schemaRoot, key) {
  const file = committedPath(schemaRoot);
  let fd;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const expected = keyLine(key);
    const head = Buffer.alloc(Buffer.byteLength(expected));
    fs.readSync(fd, head, 0, head.length, 0);
    return head.toString() === expected ? file : undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Rewrites the schemas so that every repeated (or large) subschema is a `$ref` into one shared definitions schema.
 * Schema-aware: only schema positions are visited (`properties` and `definitions` are maps of schemas, `enum` and
 * `required` are data), and a subtree that holds a `$ref` stays where it is (its `#/definitions/...` is local).
 */
function hoist(schemas) {
  // Structural identity by interning: a node's signature is its keys with its children's ids, so equal subtrees get
  // equal ids in one pass over the tree (no hashing of whole subtrees).
  const ids = new Map(); // signature -> id
  const intern = (signature) => {
    let id = ids.get(signature);
    if (id === undefined) ids.set(signature, id = ids.size);
    return id;
  };
  const info = new Map(); // object node -> { id, size, hasRef }
  const leaf = (v) => JSON.stringify(v); // escaped: no two different leaves (or signatures) read the same
  const measure = (node) => {
    if (node === null || typeof node !== 'object') return { id: intern(leaf(node)), size: 0, hasRef: false };
    if (Array.isArray(node)) {
      let signature = '[';
      let size = 0;
      let hasRef = false;
      for (const n of node) {
        const p = measure(n);
        signature += `${p.id},`;
        size += p.size;
        hasRef ||= p.hasRef;
      }
      return { id: intern(signature), size, hasRef };
    }
    let signature = '{';
    let size = 1;
    let hasRef = false;
    for (const k in node) {
      const v = node[k];
      if (k === 'properties' || k === 'definitions') {
        signature += `"${k}":{`;
        for (const name in v) {
          const p = measure(v[name]);
          signature += `${JSON.stringify(name)}:${p.id},`;
          size += p.size;
          hasRef ||= p.hasRef;
        }
        signature += '},';
      } else if (k === 'additionalProperties' || k === 'items' || k === 'oneOf' || k === 'anyOf' || k === 'allOf' || k === 'not') {
        const p = measure(v);
        signature += `"${k}":${p.id},`;
        size += p.size;
        hasRef ||= p.hasRef;
      } else {
        signature += `${JSON.stringify(k)}:${leaf(v)},`;
        hasRef ||= k === '$ref';
      }
    }
    const result = { id: intern(signature), size, hasRef };
    info.set(node, result);
    return result;
  };
  for (const s of schemas) measure(s);

  const definitions = {};
  const rewrite = (node, top) => {
    if (node === null || typeof node !== 'object') return node;
    if (Array.isArray(node)) return node.map((n) => rewrite(n, false));
    const i = info.get(node);
    if (!top && i && !i.hasRef && i.size >= MIN_NODES && (node.properties || node.items)) {
      const name = `d${i.id}`; // ids follow the walk's order: the same schemas give the same names
      if (!(name in definitions)) definitions[name] = rewriteChildren(node);
      return { $ref: `${SHARED}#/definitions/${name}` };
    }
    return rewriteChildren(node);
  };
  const rewriteChildren = (node) => {
    const out = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === 'properties' || k === 'definitions') out[k] = Object.fromEntries(Object.entries(v).map(([name, s]) => [name, rewrite(s, false)]));
      else if (k === 'additionalProperties' || k === 'items' || k === 'oneOf' || k === 'anyOf' || k === 'allOf' || k === 'not') out[k] = rewrite(v, false);
      else out[k] = v;
    }
    return out;
  };
  return { schemas: schemas.map((s) => rewrite(s, true)), definitions };
}

/** The standalone validator module for (part of) a tree: `module.exports[rel]` validates against schema `rel`. */
function compileModule(tree) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Ajv = require('ajv').default;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const standaloneCode = require('ajv/dist/standalone').default;
  const parsed = tree.map(({ file }) => {
    const s = JSON.parse(fs.readFileSync(file, 'utf-8'));
    delete s.$schema; // draft-07 is ajv's default; the meta-schema is not loaded (validateSchema: false)
    return s;
  });
  const { schemas, definitions } = hoist(parsed);
  const ajv = new Ajv(AJV_OPTIONS);
  ajv.addSchema({ $id: SHARED, definitions });
  const exportsByName = {};
  tree.forEach(({ rel }, i) => {
    const id = `${BASE}${rel}`;
    ajv.addSchema({ ...schemas[i], $id: id });
    exportsByName[rel] = id;
  });
  for (const id of Object.values(exportsByName)) ajv.getSchema(id); // compile
  return standaloneCode(ajv, exportsByName);
}

/** Compiles (part of) a tree and writes its module to `<cacheDir>/validators-<key>.js` by rename: never half-written. */
function writeModule(tree, cacheDir) {
  const file = modulePath(cacheDir, treeKey(tree));
  fs.mkdirSync(cacheDir, { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  fs.writeFileSync(tmp, compileModule(tree));
  fs.renameSync(tmp, file);
  // Modules of earlier schemas (and the per-schema files of the previous cache format) are dead weight: ~2.6 MB each.
  for (const f of fs.readdirSync(cacheDir)) {
    if (/^(validators-[0-9a-f]{32}|[0-9a-f]{32})\.js(\.v8)?$/.test(f) && !f.startsWith(path.basename(file))) fs.rmSync(path.join(cacheDir, f), { force: true });
  }
  return file;
}

// --- compiling ahead, on a worker thread --------------------------------------------------------------------------
// One process-wide slot: synth/run-app.js starts the worker, the bundled SchemaValidator (same process, another
// module graph) waits for it. Flag values: 0 compiling, 1 written, 2 failed (the validator then compiles itself,
// and reports any error). One worker for the whole tree, so the two Kubernetes versions share their common
// definitions; on 2 cores the main thread is busy meanwhile anyway.
const SLOT = Symbol.for('k8s-infra.compile-validators');

/**
 * Starts compiling the module for `schemaRoot` into `cacheDir` on a worker thread, unless it is cached already.
 * The worker does not keep the process alive: a synth that fails first exits without waiting for it.
 */
function compileAhead(schemaRoot, cacheDir) {
  const tree = schemaTree(schemaRoot, cacheDir);
  const key = treeKey(tree);
  if (globalThis[SLOT]?.key === key || fs.existsSync(modulePath(cacheDir, key)) || committedModule(schemaRoot, key)) return;
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { Worker } = require('worker_threads'); // loaded only here: ~4 ms that a warm synth does not need
  const worker = new Worker(__filename, { workerData: { tree, cacheDir, flag } });
  worker.unref();
  worker.on('error', () => Atomics.store(flag, 0, 2));
  globalThis[SLOT] = { key, flag, idle: [] };
}

/**
 * Work for the main thread while it would otherwise wait for the worker (synth/run-app.js: writing the bundles'
 * V8 code caches), run once, by the first awaitAhead that finds the worker still busy.
 */
function whileWaiting(task) {
  if (globalThis[SLOT]) globalThis[SLOT].idle.push(task);
}

/** Waits (blocking, at most `timeoutMs`) for the worker compiling the module with this key; true when it wrote it. */
function awaitAhead(key, timeoutMs = 60_000) {
  const slot = globalThis[SLOT];
  if (slot?.key !== key) return false;
  if (Atomics.load(slot.flag, 0) === 0) for (const task of slot.idle.splice(0)) task();
  const deadline = Date.now() + timeoutMs;
  while (Atomics.load(slot.flag, 0) === 0 && Date.now() < deadline) Atomics.wait(slot.flag, 0, 0, deadline - Date.now());
  return Atomics.load(slot.flag, 0) === 1;
}

/** `node synth/compile-validators.js [schemaRoot]`: (re)writes the committed module. */
function writeCommitted(schemaRoot) {
  const tree = schemaTree(schemaRoot);
  const file = committedPath(schemaRoot);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, keyLine(treeKey(tree)) + compileModule(tree));
  return file;
}

// Run as a program: either compileAhead's worker thread (which is its thread's main module too), or the command line.
if (require.main === module) {
  const { isMainThread, workerData } = require('worker_threads');
  if (!isMainThread) {
    const { tree, cacheDir, flag } = workerData;
    try {
      writeModule(tree, cacheDir);
      Atomics.store(flag, 0, 1);
    } catch {
      Atomics.store(flag, 0, 2);
    }
    Atomics.notify(flag, 0);
  } else {
    const file = writeCommitted(path.resolve(process.argv[2] ?? path.join(__dirname, '..', 'schemas')));
    console.log(`wrote ${path.relative(process.cwd(), file)} (${fs.statSync(file).size} bytes)`);
  }
}

module.exports = { schemaTree, treeKey, modulePath, committedModule, keyLine, compileModule, writeModule, compileAhead, whileWaiting, awaitAhead, hoist };
