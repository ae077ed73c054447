import * as fs from 'fs';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';

/**
 * Replaces `target` with `staged` so that a reader sees either the old folder or the new one, never a half-written
 * or missing one: the new content is copied next to the target, then swapped in with two renames. A crash between
 * the renames leaves `<target>.old`, which the next run restores before anything else.
 */
export function replaceFolder(staged: string, target: string): void {
  const parent = path.dirname(target);
  const base = path.basename(target);
  const next = path.join(parent, `.${base}.next`);
  const old = path.join(parent, `.${base}.old`);
  recoverFolder(target);
  fs.mkdirSync(parent, { recursive: true });
  fs.rmSync(next, { recursive: true, force: true });
  // Manifests only: cdk8s also leaves construct-metadata.json for validation reports, which is not for the cluster.
  fs.cpSync(staged, next, { recursive: true, filter: (src) => fs.statSync(src).isDirectory() || src.endsWith('.yaml') });
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
