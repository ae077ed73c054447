// The `app` command of cdk8s.yaml, and the engine of the everyday launcher scripts/synth.js.
// Bundles main.ts with esbuild into one file, our modules and the packages (cdk8s, cdk8s-plus-27, constructs, yaml)
// alike (ajv stays external: it is loaded only to compile a schema that is not cached yet), and runs its main().
// ~0.3 s to bundle, against ~0.2 s for tsx's loader hooks and ~3 s for the stock `ts-node main.ts`, which
// type-checks imports/k8s.ts on every synth. When no input file changed since the last bundle (same size and
// mtime for every file esbuild read), the bundle is reused without starting esbuild at all; it is then loaded
// with V8's code cache (written after the first run of a new bundle), so node neither resolves ~300 modules nor
// compiles ~6 MB of JavaScript again. Type-checking stays in `npm test` and `npm run build`.
//
// `node scripts/run-app.js [entry.ts]` runs another entry point the same way (scripts/bench-app.ts: the bench
// measures exactly this path); the bundle is .cache/app/<entry name>.js.
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const Module = require('module');
const path = require('path');
const vm = require('vm');

const root = path.join(__dirname, '..');
const entry = process.argv[2] ?? 'main.ts';
const outfile = path.join(root, '.cache', 'app', `${path.basename(entry, path.extname(entry))}.js`);
const inputsFile = `${outfile}.inputs.json`;
const codeCacheFile = `${outfile}.v8`;

function fingerprint(file) {
  const st = fs.statSync(path.join(root, file), { throwIfNoEntry: false });
  return st ? `${st.size}:${st.mtimeMs}` : 'missing';
}

function upToDate() {
  if (!fs.existsSync(outfile) || !fs.existsSync(inputsFile)) return false;
  const inputs = JSON.parse(fs.readFileSync(inputsFile, 'utf-8'));
  return Object.entries(inputs).every(([file, fp]) => fingerprint(file) === fp);
}

function bundle() {
  fs.rmSync(codeCacheFile, { force: true });
  // esbuild's command line rather than its JS API: buildSync starts a worker thread and a service process, ~0.1 s
  // more on this machine. The same options; node_modules/esbuild/bin/esbuild is the native binary (or its JS shim).
  const metafile = `${outfile}.meta.json`;
  const args = [entry, '--bundle', `--outfile=${outfile}`, '--platform=node', '--format=cjs', '--target=node20',
    '--external:ajv', '--external:ajv/*', '--external:esbuild', '--log-level=warning', `--metafile=${metafile}`];
  execFileSync(path.join(root, 'node_modules', 'esbuild', 'bin', 'esbuild'), args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  // Every input, packages included: `npm ci` of another version changes their size or mtime.
  const inputs = Object.fromEntries(Object.keys(JSON.parse(fs.readFileSync(metafile, 'utf-8')).inputs).map((f) => [f, fingerprint(f)]));
  fs.rmSync(metafile);
  fs.writeFileSync(inputsFile, JSON.stringify(inputs));
}

/** Runs the bundle as a CommonJS module, with V8's code cache when there is one; returns how to save it. */
function load() {
  const cachedData = fs.existsSync(codeCacheFile) ? fs.readFileSync(codeCacheFile) : undefined;
  const script = new vm.Script(Module.wrap(fs.readFileSync(outfile, 'utf-8')), { filename: outfile, cachedData });
  const mod = { exports: {}, id: outfile, filename: outfile, loaded: false };
  script.runInThisContext()(mod.exports, Module.createRequire(outfile), mod, outfile, path.dirname(outfile));
  const save = () => {
    if (cachedData && !script.cachedDataRejected) return;
    // After the run, so the cache holds the functions V8 compiled lazily; renamed into place, never half-written.
    const tmp = `${codeCacheFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, script.createCachedData());
    fs.renameSync(tmp, codeCacheFile);
  };
  return { exports: mod.exports, save };
}

try {
  if (!upToDate()) {
    // The slow path (first synth, or an edit): while esbuild bundles and the app runs on this thread, a worker
    // compiles the schema validators if the schemas changed or were never compiled (a cold synth: ~1 s of ajv).
    require('../synth/compile-validators.js').compileAhead(path.join(root, 'schemas'), path.join(root, '.cache', 'schema-validators'));
    bundle();
  }
  const app = load();
  if (typeof app.exports.main === 'function') app.exports.main();
  app.save();
} catch (err) {
  // Construct and validation errors are meant for people: print the message, not a stack trace.
  console.error(`\nsynth failed: ${err && err.message ? err.message : err}\n\ndist/ was left unchanged.`);
  process.exit(1);
}
