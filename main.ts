import * as fs from 'fs';
import * as path from 'path';
import { App } from 'cdk8s';
import { GoOkChart } from './charts/go-ok';
import { HashGeneratorChart } from './charts/hashgenerator';
import { PlatformChart } from './charts/platform';
import { ShopChart } from './charts/shop';
import { ENVIRONMENTS, ENVIRONMENT_KEYS, EnvironmentConfig } from './environments';
import { PLATFORM_KEYS } from './lib/core/platform';
import { usePlatform } from './lib/core/platform-rules';
import { projectRoot } from './lib/core/project-root';
import * as v from './lib/core/validation';
import { applyImagePinning } from './lib/workloads/image-lock';
import { environmentDoc, writeEnvironmentDocs } from './synth/diagram';
import { whileBuilding, withinEnvironment } from './synth/errors';
import { checkEscapeHatches } from './synth/escape-hatches';
import { acquireSynthLock } from './synth/lock';
import { ManifestObject, SchemaValidator, assertSchemaValid, writeValidationStamp } from './synth/schema-validation';
import { assertNoPlaintextSecrets, replaceFolder, synthApp } from './synth/synth-output';

/** Builds one environment's charts into an App writing to `outdir`. */
export function buildApp(env: EnvironmentConfig, outdir: string): App {
  const app = new App({ outdir, outputFileExtension: '.k8s.yaml' });
  v.knownKeys(app, `environment "${env.name}"`, env, ENVIRONMENT_KEYS);
  v.dnsLabel(app, 'environment name', env.name);
  const platform = env.platform ?? {};
  v.knownKeys(app, `environment "${env.name}".platform`, platform, PLATFORM_KEYS);
  whileBuilding(app, () => {
    usePlatform(app, platform);
    applyImagePinning(app, platform.imagePinning, projectRoot());
    new GoOkChart(app, 'go-ok', env.goOk, platform);
    new HashGeneratorChart(app, 'hashgenerator', env.hashgenerator, platform);
    new ShopChart(app, 'shop', env.shop, platform);
    if (env.sealedSecretsController?.deployedBy === 'this-repository') new PlatformChart(app, 'platform', env.sealedSecretsController);
  });
  return app;
}

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

/** The environments to synthesize: `SYNTH_ENVIRONMENTS=a,b`, or every one that is synthesized by default. */
export function selectEnvironments(spec = process.env.SYNTH_ENVIRONMENTS): readonly EnvironmentConfig[] {
  if (!spec) return ENVIRONMENTS.filter((e) => e.synthByDefault ?? true);
  return spec.split(',').map((name) => {
    const env = ENVIRONMENTS.find((e) => e.name === name.trim());
    if (!env) throw new Error(`SYNTH_ENVIRONMENTS: unknown environment "${name}"; known: ${ENVIRONMENTS.map((e) => e.name).join(', ')}`);
    return env;
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
  // cdk8s-cli empties its output folder before it starts the app, even while another synth is at work: build in a
  // private folder, and hand the CLI its copy (for the validation plugin) only at the end. The CLI sets
  // CDK8S_OUTDIR; scripts/synth.js runs no plugin and does not, so nothing is copied there.
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
  const validator = new SchemaValidator(path.join(project, 'schemas'), path.join(project, '.cache', 'schema-validators'));
  const files: string[] = [];
  const docs: ReturnType<typeof environmentDoc>[] = []; // docs/environments/<env>.md, for the committed environments
  // Every environment is built and written first, and validated after: on a cold synth the validators are still
  // being compiled on a worker thread (scripts/run-app.js) while this thread builds.
  const built = envs.map((env) => withinEnvironment(env.name, () => synthEnvironment(env)));
  for (const [i, env] of envs.entries()) {
    withinEnvironment(env.name, () => assertSchemaValid(validator, built[i], `environment "${env.name}"`));
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
