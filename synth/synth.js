#!/usr/bin/env node
// The everyday synth: `node synth/synth.js` (or `npm run synth`). What `cdk8s synth` does with this project,
// without loading cdk8s-cli (~1000 modules, ~1 s before it starts the app): run the app (synth/run-app.js:
// main.ts builds every environment in a private staging folder, validates every object against the schemas at
// both Kubernetes versions, and only then replaces each dist/<env>/ by rename). What it leaves out is the
// validation plugin's second look, which main.ts's stamp makes a no-op, and so the plugin's copy of the output in
// .cdk8s.out/ (CDK8S_OUTDIR is not set); `npx cdk8s synth` still runs the app the same way and prints the
// plugin's report.
'use strict';
const path = require('path');

const root = path.join(__dirname, '..');
process.chdir(root);
delete process.env.CDK8S_OUTDIR; // no validation plugin reads a copy
delete process.env.SYNTH_LOCK_TOKEN; // a synth of its own: it takes the lock (synth/lock.js)
process.argv.splice(2); // run-app.js reads its entry point from argv: always main.ts here
require('./run-app.js');
