#!/usr/bin/env node
// `npm run deploy -- <env> ...`: runs deploy/deploy.ts as one esbuild bundle, .cache/deploy/deploy.js, made again only
// when a deploy/*.ts file or the installed packages changed (a stamp of their sizes and mtimes). Loading the bundle
// takes ~0.03 s where `node --import tsx deploy/deploy.ts` (which works the same) spends ~0.3 s compiling and
// resolving first; a no-op deploy is well under a second, so that start-up is a third of it.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const out = path.join(root, '.cache', 'deploy');
const bundle = path.join(out, 'deploy.js');
const inputs = [
  ...fs.readdirSync(__dirname).filter((f) => f.endsWith('.ts')).map((f) => path.join(__dirname, f)),
  path.join(root, 'package-lock.json'),
  path.join(root, 'node_modules', '.package-lock.json'),
];
const stamp = inputs.map((f) => { try { const s = fs.statSync(f); return `${f} ${s.size} ${s.mtimeMs}`; } catch { return `${f} -`; } }).join('\n');

let current = false;
try { current = fs.readFileSync(`${bundle}.stamp`, 'utf-8') === stamp && fs.existsSync(bundle); } catch { /* first run */ }
if (!current) {
  // Built to a file of this process, then renamed into place: two deploys starting together both get a whole bundle.
  fs.mkdirSync(out, { recursive: true });
  const tmp = `${bundle}.${process.pid}.tmp`;
  require('esbuild').buildSync({
    entryPoints: [path.join(__dirname, 'deploy.ts')], bundle: true, platform: 'node', target: 'node20', format: 'cjs',
    outfile: tmp, logLevel: 'warning', sourcemap: 'inline', sourcesContent: false,
  });
  fs.renameSync(tmp, bundle);
  fs.writeFileSync(`${bundle}.stamp.${process.pid}`, stamp);
  fs.renameSync(`${bundle}.stamp.${process.pid}`, `${bundle}.stamp`);
}
process.setSourceMapsEnabled(true);   // stack traces of an unexpected failure point at deploy/*.ts
require(bundle).cli(process.argv.slice(2), root);
