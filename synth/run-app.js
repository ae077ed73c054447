// The `app` command of cdk8s.yaml, and the engine of the everyday launcher synth/synth.js.
// Runs main.ts from two esbuild bundles, loaded with V8's code cache:
//   .cache/app/main.js         our code (main.ts, lib/, charts/, environments/, synth/, the parts of imports/ used),
//                              ~170 KB, re-bundled in ~0.07 s after an edit;
//   .cache/app/main.vendor.js  the packages it imports (cdk8s, cdk8s-plus-27, constructs, yaml), ~1.4 MB, re-bundled
//                              only when a package changes (npm ci) or the code starts importing another one.
// One bundle for both cost ~0.3 s of esbuild and ~0.1 s of compiling 1.5 MB without code cache after every edit.
// A bundle is reused without starting esbuild when every file esbuild read for it has the same size and mtime.
// ajv is left to node (loaded only to compile the schema validators), and so is everything node has built in.
// Against ~0.2 s for tsx's loader hooks and ~3 s for the stock `ts-node main.ts` (it type-checks imports/k8s.ts on
// every synth); type-checking stays in `npm test` and `npm run build`.
//
// `node synth/run-app.js [entry.ts]` runs another entry point the same way (scripts/bench-app.ts: the bench
// measures exactly this path); the bundles are .cache/app/<entry name>.js and .vendor.js.
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const Module = require('module');
const path = require('path');
const vm = require('vm');

const root = path.join(__dirname, '..');
const entry = process.argv[2] ?? 'main.ts';
const name = path.basename(entry, path.extname(entry));
const appFile = path.join(root, '.cache', 'app', `${name}.js`);
const vendorFile = path.join(root, '.cache', 'app', `${name}.vendor.js`);
const stateFile = path.join(root, '.cache', 'app', `${name}.inputs.json`);
/** synth/compile-validators.js, loaded only on the slow path (a bundle to make), where it may start a worker. */
let compiler;
/** Packages node loads itself: ajv only when validators are compiled, esbuild only to bundle. */
const LEFT_TO_NODE = /^(ajv|esbuild)(\/|$)/;

function fingerprint(file) {
  const st = fs.statSync(path.join(root, file), { throwIfNoEntry: false });
  return st ? `${st.size}:${st.mtimeMs}` : 'missing';
}

const unchanged = (inputs) => inputs !== undefined && Object.entries(inputs).every(([file, fp]) => fingerprint(file) === fp);

/**
 * esbuild's native binary from its platform package, which npm installs whether or not install scripts run; else
 * esbuild's own bin (the binary itself once its install script ran, or a JS shim that starts it).
 */
function esbuildBinary() {
  try {
    return require.resolve(`@esbuild/${process.platform}-${process.arch}/bin/esbuild`, { paths: [root] });
  } catch {
    return path.join(root, 'node_modules', 'esbuild', 'bin', 'esbuild');
  }
}

/** Bundles `entryFile` into `outfile` with esbuild's command line; returns the metafile. */
function esbuild(entryFile, outfile, extraArgs) {
  // The command line rather than the JS API: buildSync starts a worker thread and a service process, ~0.1 s more
  // here.
  // Written under a private name and renamed into place: a synth starting meanwhile never loads half a bundle.
  const tmp = `${outfile}.${process.pid}.tmp.js`;
  const metafile = `${tmp}.meta.json`;
  const args = [entryFile, '--bundle', `--outfile=${tmp}`, '--platform=node', '--format=cjs', '--target=node20',
    '--log-level=warning', `--metafile=${metafile}`, ...extraArgs];
  execFileSync(esbuildBinary(), args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  const meta = JSON.parse(fs.readFileSync(metafile, 'utf-8'));
  fs.rmSync(metafile);
  fs.rmSync(`${outfile}.v8`, { force: true });
  fs.renameSync(tmp, outfile);
  return meta;
}

/** Fingerprints of every input esbuild read, packages included: `npm ci` of another version changes them. */
const inputsOf = (meta) => Object.fromEntries(Object.keys(meta.inputs).map((f) => [f, fingerprint(f)]));

/** Brings both bundles up to date; returns the packages the vendor bundle exports. */
function bundle() {
  let state = fs.existsSync(stateFile) ? JSON.parse(fs.readFileSync(stateFile, 'utf-8')) : {};
  const appCurrent = fs.existsSync(appFile) && unchanged(state.app);
  const vendorCurrent = fs.existsSync(vendorFile) && unchanged(state.vendor);
  if (appCurrent && vendorCurrent) return state.packages;
  if (!appCurrent) {
    // The slow path (first synth, or an edit): while esbuild bundles and the app runs on this thread, a worker
    // compiles the schema validators if the schemas changed or were never compiled (a cold synth: ~1 s of ajv).
    compiler = require('./compile-validators.js');
    compiler.compileAhead(path.join(root, 'schemas'), path.join(root, '.cache', 'schema-validators'));
    const meta = esbuild(entry, appFile, ['--packages=external']);
    const imported = Object.values(meta.inputs).flatMap((i) => i.imports.filter((im) => im.external).map((im) => im.path));
    // (esbuild also lists type-only relative imports as external: only bare package names count.)
    const packages = [...new Set(imported)].filter((p) => !/^[./]/.test(p) && !Module.isBuiltin(p) && !LEFT_TO_NODE.test(p)).sort();
    state = { ...state, app: inputsOf(meta), vendorWanted: packages };
  }
  if (!vendorCurrent || JSON.stringify(state.packages) !== JSON.stringify(state.vendorWanted)) {
    const vendorEntry = `${vendorFile}.${process.pid}.entry.js`;
    // Getters: a package is evaluated when the app first requires it, as it would be unbundled.
    fs.writeFileSync(vendorEntry, state.vendorWanted.map((p) => `Object.defineProperty(exports, ${JSON.stringify(p)}, { enumerable: true, get: () => require(${JSON.stringify(p)}) });\n`).join(''));
    const meta = esbuild(vendorEntry, vendorFile, ['--external:ajv', '--external:ajv/*', '--external:esbuild']);
    fs.rmSync(vendorEntry);
    const inputs = inputsOf(meta);
    delete inputs[path.relative(root, vendorEntry)];
    state = { ...state, vendor: inputs, packages: state.vendorWanted };
  }
  fs.writeFileSync(`${stateFile}.${process.pid}.tmp`, JSON.stringify(state));
  fs.renameSync(`${stateFile}.${process.pid}.tmp`, stateFile);
  return state.packages;
}

/** Runs a bundle as a CommonJS module, with V8's code cache when there is one; returns its exports and how to save the cache. */
function load(file, requireFn) {
  const codeCacheFile = `${file}.v8`;
  const cachedData = fs.existsSync(codeCacheFile) ? fs.readFileSync(codeCacheFile) : undefined;
  const script = new vm.Script(Module.wrap(fs.readFileSync(file, 'utf-8')), { filename: file, cachedData });
  const mod = { exports: {}, id: file, filename: file, loaded: false };
  script.runInThisContext()(mod.exports, requireFn, mod, file, path.dirname(file));
  let saved = cachedData && !script.cachedDataRejected;
  const save = () => {
    if (saved) return;
    saved = true;
    // After the run, so the cache holds the functions V8 compiled lazily; renamed into place, never half-written.
    const tmp = `${codeCacheFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, script.createCachedData());
    fs.renameSync(tmp, codeCacheFile);
  };
  return { exports: mod.exports, save };
}

try {
  const packages = new Set(bundle());
  const nodeRequire = Module.createRequire(appFile);
  const vendor = load(vendorFile, nodeRequire);
  // The app's `require('cdk8s')` gets the vendor bundle's cdk8s: one copy of every package, shared with cdk8s-plus-27.
  const appRequire = Object.assign((id) => (packages.has(id) ? vendor.exports[id] : nodeRequire(id)), nodeRequire);
  const app = load(appFile, appRequire);
  // A cold synth waits for the validators' worker: write the code caches then, not after it.
  compiler?.whileWaiting(() => { vendor.save(); app.save(); });
  if (typeof app.exports.main === 'function') app.exports.main();
  vendor.save();
  app.save();
} catch (err) {
  // Construct and validation errors are meant for people: print the message, not a stack trace.
  console.error(`\nsynth failed: ${err && err.message ? err.message : err}\n\ndist/ was left unchanged.`);
  process.exit(1);
}
