import * as fs from 'fs';
import * as path from 'path';
import { App } from 'cdk8s';
import { EnvironmentConfig, STANDIN_SWAP } from './environments';
import { buildApp, selectEnvironments } from './environments/app';
import { projectRoot } from './lib/core/project-root';
import { environmentDoc, writeEnvironmentDocs } from './synth/diagram';
import { IMAGE_LOCK_FILE, readImageLock } from './lib/workloads/image-lock';
import { withinEnvironment } from './synth/errors';
import { checkEscapeHatches } from './synth/escape-hatches';
import { acquireSynthLock } from './synth/lock';
import { ManifestObject, SchemaValidator, assertSchemaValid, writeValidationStamp } from './synth/schema-validation';
import { assertNoPlaintextSecrets, replaceFolder, synthApp } from './synth/synth-output';

// The synth: the model (environments/app.ts) built for every selected environment, then checked, staged and
// promoted into dist/<env>/ (synth/). Run by synth/run-app.js, as cdk8s.yaml's app and by `npm run synth`.

/**
 * One environment built and rendered in memory with every synth-time check but the schema (for tests and tools);
 * an error names the environment, like a real synth's.
 */
export function checkEnvironment(env: EnvironmentConfig): App {
  return withinEnvironment(env.name, () => {
    const app = buildApp(env, path.join(projectRoot(), '.cdk8s.check'));
    checkEscapeHatches(app, app.charts.flatMap((chart) => chart.toJson())); // rendered once, as synth does
    return app;
  });
}

function outputRoot(env: EnvironmentConfig): 'dist' | 'dist-local' {
  return env.outputRoot ?? 'dist';
}

/**
 * Synthesizes into a private staging folder, checks everything, and only then
 * replaces `<outputRoot>/<env>/` of each environment. A construct error, a failed check or a crash leaves the
 * committed dist/ exactly as it was (cdk8s synth itself only ever deletes the staging folder).
 */
export function main(): void {
  const project = projectRoot();
  const release = acquireSynthLock(project);
  // Under the lock (taken by the app, or by cdk8s-cli for its whole synth: synth/lock.js). Built in a private
  // folder, and the CLI's copy (for the validation plugin) handed over only at the end. The CLI sets
  // CDK8S_OUTDIR; synth/synth.js runs no plugin and does not, so nothing is copied there.
  const outdir = process.env.CDK8S_OUTDIR ? path.resolve(process.env.CDK8S_OUTDIR) : undefined;
  const staging = fs.mkdtempSync(path.join(project, '.cache', 'synth-'));
  try {
    synthAll(project, staging, outdir);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
    release();
  }
}

function synthAll(project: string, staging: string, outdir: string | undefined): void {
  // Where the promoted folders go; tests point it elsewhere.
  const targetRoot = path.resolve(process.env.SYNTH_TARGET_ROOT ?? project);
  const envs = selectEnvironments();
  // The node tests' image swap (environments/index.ts) is never silent: dist/local/ then holds stand-ins.
  if (STANDIN_SWAP && envs.some((e) => e.name === 'local')) console.error(`synth: WARNING ${STANDIN_SWAP}`);
  // images.lock.json is checked on every synth, not only where an environment pins images.
  if (fs.existsSync(path.join(project, IMAGE_LOCK_FILE))) readImageLock(path.join(project, IMAGE_LOCK_FILE));
  const validator = new SchemaValidator(path.join(project, 'schemas'), path.join(project, '.cache', 'schema-validators'));
  const files: string[] = [];
  const docs: ReturnType<typeof environmentDoc>[] = []; // docs/environments/<env>.md, for the committed environments
  // Every environment is built and written first, and validated after: on a cold synth the validators are still
  // being compiled on a worker thread (synth/run-app.js) while this thread builds.
  const built = envs.map((env) => withinEnvironment(env.name, () => synthEnvironment(env)));
  for (const [i, env] of envs.entries()) {
    // Named as the user will find them, dist/<env>/<chart>.k8s.yaml, not by the staging folder (gone by then).
    const shownAs = (file: string) => path.join(outputRoot(env), env.name, path.basename(file));
    withinEnvironment(env.name, () => assertSchemaValid(validator, built[i], `environment "${env.name}"`, shownAs));
  }
  function synthEnvironment(env: EnvironmentConfig): ManifestObject[] {
    const dir = path.join(staging, env.name);
    const app = buildApp(env, dir);
    // Writes every chart's YAML (into the private staging folder) and returns its objects: check and validate what
    // was just written, from memory (parsing the YAML back would cost more than validating).
    const manifests = synthApp(app);
    const objects = manifests.flatMap((m) => m.objects.map((object) => ({ file: m.file, object })));
    checkEscapeHatches(app, objects.map((o) => o.object));
    files.push(...manifests.map((m) => m.file));
    if (outputRoot(env) === 'dist') assertNoPlaintextSecrets(objects, `dist/${env.name}/`);
    if (outputRoot(env) === 'dist') docs.push(environmentDoc(env.name, app, env.platform));
    return objects;
  }
  if (outdir) {
    for (const env of envs) {
      fs.rmSync(path.join(outdir, env.name), { recursive: true, force: true });
      fs.cpSync(path.join(staging, env.name), path.join(outdir, env.name), { recursive: true });
    }
    writeValidationStamp(outdir, files.map((f) => path.join(outdir, path.relative(staging, f))), validator);
  }
  for (const env of envs) {
    const root = outputRoot(env);
    replaceFolder(path.join(staging, env.name), path.join(targetRoot, root, env.name), { move: true }); // staging is ours
    console.log(`${root}/${env.name}/ updated`);
  }
  writeEnvironmentDocs(targetRoot, docs);
}

if (require.main === module) main();
