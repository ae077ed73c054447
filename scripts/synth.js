#!/usr/bin/env node
// The everyday synth: `node scripts/synth.js` (or `npm run synth`). Exactly what `cdk8s synth` does with this
// project, without loading cdk8s-cli (~1000 modules, ~1 s before it starts the app): empty the staging folder
// .cdk8s.out/, then run the app (scripts/run-app.js: main.ts builds every environment, validates every object
// against the schemas at both Kubernetes versions, and only then replaces each dist/<env>/ by rename). What it
// leaves out is the validation plugin's second look, which main.ts's stamp makes a no-op; `npx cdk8s synth` still
// runs the app the same way and prints the plugin's report.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
process.chdir(root);
// cdk8s.yaml `output:`; cdk8s synth deletes it before it runs the app, and so do we: a chart that left the model
// must not be promoted from a previous run's staging folder.
const staging = path.join(root, '.cdk8s.out');
fs.rmSync(staging, { recursive: true, force: true });
process.env.CDK8S_OUTDIR = staging;
process.argv.splice(2); // run-app.js reads its entry point from argv: always main.ts here
require('./run-app.js');
