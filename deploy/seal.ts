// npm run seal -- <environment> <secret-name> <files or folder>...
//
// Seals local plaintext files for a Secret the model declares, with the environment's public sealing certificate
// (sealing/<environment>.pem), into the committed secrets/<environment>/<secret-name>.yaml. The namespace, type
// and required keys come from the model, so they cannot be typed wrong. Sources are as in
// `kubectl create secret --from-file`: a folder (one key per file), a file (key = its name), or key=path.
// Sealing is random (a fresh session key per value), so every run rewrites the file; synth only reads it.
import { execFileSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import { ENVIRONMENTS, EnvironmentConfig } from '../environments';
import { AppSecret } from '../lib/config/app-secret';
import { ValidationError } from '../lib/core/errors';
import { projectRoot } from '../lib/core/project-root';
import {
  certificatePath, missingKeys, parseFileSource, readCertificate, readPlainFiles, sealValues, sealedFilePath, secretRef, writeSealedFile,
} from '../lib/config/secret-store';
import { buildApp } from '../environments/app';

const USAGE = 'usage: npm run seal -- <environment> <secret-name> <folder | file | key=file>...';
const WHERE = 'npm run seal';

export interface SealOptions {
  /**
   * Project root: certificates are read from and sealed files written under it.
   * @default the folder holding cdk8s.yaml
   */
  readonly root?: string;
  /**
   * Folder the plaintext paths are relative to.
   * @default where `npm run` was started (INIT_CWD), else the current folder
   */
  readonly cwd?: string;
  /**
   * The environments to look the Secret up in.
   * @default ENVIRONMENTS
   */
  readonly environments?: readonly EnvironmentConfig[];
  /**
   * Progress output.
   * @default console.log
   */
  readonly log?: (line: string) => void;
}

/** Seals the files and returns the sealed file written, relative to the root. */
export function seal(args: readonly string[], options: SealOptions = {}): string {
  const root = options.root ?? projectRoot();
  const cwd = options.cwd ?? process.env.INIT_CWD ?? process.cwd();
  const log = options.log ?? console.log;
  const environments = options.environments ?? ENVIRONMENTS;
  const [envName, secretName, ...sources] = args;
  if (!envName || !secretName || sources.length === 0) throw new Error(USAGE);

  const env = environments.find((e) => e.name === envName);
  if (!env) throw new ValidationError(WHERE, 'environment', envName, `must be one of: ${environments.map((e) => e.name).join(', ')}`);
  // Building the model reads no secret file (AppSecret reads its source at synth), so this works before the first seal.
  const declared = buildApp(env, os.tmpdir()).node.findAll().filter((c): c is AppSecret => c instanceof AppSecret);
  const matching = declared.filter((s) => s.name === secretName);
  if (matching.length === 0) {
    throw new ValidationError(WHERE, `Secret name for environment "${env.name}"`, secretName,
      `must be a Secret the environment declares: ${declared.map((s) => s.name).join(', ') || '(none)'}`);
  }
  if (matching.length > 1) {
    throw new ValidationError(WHERE, `Secret name for environment "${env.name}"`, secretName,
      `is declared in several namespaces (${matching.map(secretRef).join(', ')}); sealed files are named after the Secret only, so names must be unique per environment`);
  }
  const secret = matching[0];
  if (secret.source.kind !== 'sealed') {
    throw new ValidationError(WHERE, `source of ${secretRef(secret)} in environment "${env.name}"`, secret.source.dir,
      'is plain files, read as they are at synth: there is nothing to seal (seal for an environment with a sealed source, e.g. local)');
  }

  const values = readPlainFiles(WHERE, `files for ${secretRef(secret)}`, cwd, sources);
  const missing = missingKeys(secret.requiredKeys, Object.keys(values));
  if (missing.length) {
    throw new ValidationError(WHERE, `files for ${secretRef(secret)}`, sources.join(' '),
      `must give the keys ${secret.requiredKeys.join(', ')}; missing: ${missing.join(', ')} (a folder gives one key per file name; key=file names one)`);
  }
  for (const file of plaintextInRepository(root, cwd, sources)) {
    log(`warning: ${file} is in the repository and not git-ignored; move it under secrets/<env>/plain/ or delete it`);
  }

  const certFile = certificatePath(secret.source.environment);
  const cert = readCertificate(WHERE, root, secret.source.environment, secret);
  const sealed = sealValues(secret, cert, certFile, values);
  const out = sealedFilePath(secret.source.environment, secret.name);
  writeSealedFile(path.join(root, out), sealed);
  log(`sealed ${Object.keys(sealed.encryptedData).join(', ')} for ${secretRef(secret)} (type ${secret.type}, strict scope) `
    + `with ${certFile} (SHA-256 ${cert.fingerprint}) into ${out}`);
  return out;
}

/** Plaintext sources inside the repository that git would pick up. */
function plaintextInRepository(root: string, cwd: string, sources: readonly string[]): string[] {
  const files = sources.map((s) => path.resolve(cwd, parseFileSource(s).path))
    .filter((f) => !path.relative(root, f).startsWith('..'));
  return files.filter((f) => {
    try {
      execFileSync('git', ['check-ignore', '-q', f], { cwd: root, stdio: 'ignore' });
      return false; // ignored
    } catch (e) {
      return (e as { status?: number }).status === 1; // 1: not ignored; anything else: no git, say nothing
    }
  }).map((f) => path.relative(root, f));
}

if (require.main === module) {
  try {
    seal(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}
