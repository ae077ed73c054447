import * as fs from 'fs';
import * as path from 'path';
import { ApiObject } from 'cdk8s';
import { IConstruct } from 'constructs';
import { ValidationError } from '../core/errors';
import { parseImageReference } from '../core/validation';

/** One resolved image: what `npm run images:lock` / `images:build` record in images.lock.json. */
export interface ImageLockEntry {
  /** The manifest digest (the multi-arch index digest when the tag has one), `sha256:<64 hex>`. */
  readonly digest: string;
  /** Media type of what the digest names (OCI index, Docker manifest list, or one manifest). */
  readonly mediaType?: string;
  /** Platforms the digest serves, e.g. `linux/amd64`. */
  readonly platforms?: readonly string[];
  /** When it was resolved (ISO-8601). */
  readonly resolvedAt: string;
  /** From where, and how. */
  readonly resolvedFrom: string;
}

/** The committed file: image reference as written in the model -> its digest. */
export interface ImageLockFile {
  readonly comment?: string;
  readonly images: Readonly<Record<string, ImageLockEntry>>;
}

export const IMAGE_LOCK_FILE = 'images.lock.json';
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const CONTEXT_KEY = 'k8s-infra/image-pinning';

/** What an environment that pins images hands to every pod it builds. */
export interface ImagePinning {
  /** The lock's entries. */
  readonly lock: ImageLockFile;
  /** Where the lock came from, for messages. */
  readonly lockPath: string;
  /** Images allowed to stay on their tag, each with the reason (written on the workload for scanners). */
  readonly exceptions: Readonly<Record<string, string>>;
}

/** How a lock file is named in messages: relative to where the command runs (`images.lock.json` for the synth). */
const shown = (file: string) => path.relative(process.cwd(), file) || file;

/**
 * Reads and checks images.lock.json; a malformed file or entry is an error located at the file (not at a construct:
 * the lock is no construct's value). The synth checks it on every run, whether or not an environment pins images,
 * and images:lock / images:build read it through {@link checkImageLock} too.
 */
export function readImageLock(file: string): ImageLockFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf-8'));
  } catch (e) {
    throw new ValidationError(shown(file), 'image lock', file, `must be a readable JSON file (${(e as Error).message}); create it with npm run images:lock`);
  }
  return checkImageLock(parsed, shown(file));
}

/** Checks a parsed lock (`file` names it in messages): an object "images" of reference -> entry with a digest. */
export function checkImageLock(parsed: unknown, file: string): ImageLockFile {
  const lock = parsed as ImageLockFile;
  if (!lock || typeof lock !== 'object' || typeof lock.images !== 'object' || lock.images === null || Array.isArray(lock.images)) {
    throw new ValidationError(file, 'image lock', lock, 'must hold an object "images": { "<ref>": { "digest": "sha256:...", ... } }');
  }
  for (const [ref, entry] of Object.entries<any>(lock.images)) {
    if (!entry || typeof entry !== 'object' || !DIGEST.test(entry.digest)) {
      throw new ValidationError(file, `image lock entry "${ref}" digest`, entry?.digest, 'must be sha256:<64 lowercase hex>');
    }
    if (ref.includes('@')) throw new ValidationError(file, 'image lock entry', ref, 'must be a reference without a digest (the digest is the value)');
    const parsedRef = parseImageReference(ref);
    if (typeof parsedRef === 'string') throw new ValidationError(file, 'image lock entry', ref, `must be a valid image reference: ${parsedRef}`);
    if (entry.platforms !== undefined && (!Array.isArray(entry.platforms) || !entry.platforms.every((p: unknown) => typeof p === 'string'))) {
      throw new ValidationError(file, `image lock entry "${ref}" platforms`, entry.platforms, 'must be a list of platforms such as "linux/amd64"');
    }
  }
  return lock;
}

/** Makes every pod built under `root` (an App) run its images by digest from the lock. */
export function pinImages(root: IConstruct, pinning: ImagePinning): void {
  root.node.setContext(CONTEXT_KEY, pinning);
}

/**
 * The image a container runs: unchanged where the environment does not pin images; else `ref@digest` from the
 * lock, a documented exception (which marks the workload for scanners), or an error that says how to add it.
 */
export function resolveImage(scope: IConstruct, podObject: ApiObject, field: string, ref: string): string {
  const pinning = scope.node.tryGetContext(CONTEXT_KEY) as ImagePinning | undefined;
  if (!pinning) return ref;
  const at = ref.indexOf('@');
  if (at >= 0) {
    // A digest written in the model: the lock stays the single source, so the two must agree.
    const locked = pinning.lock.images[ref.slice(0, at)];
    if (locked && locked.digest !== ref.slice(at + 1)) {
      throw ValidationError.of(scope, field, ref, `has digest ${ref.slice(at + 1)} but ${pinning.lockPath} locks ${ref.slice(0, at)} to ${locked.digest}: `
        + `drop the digest from the model (the lock pins it) or run npm run images:lock -- ${ref.slice(0, at)}`);
    }
    return ref;
  }
  const entry = pinning.lock.images[ref];
  if (entry) return `${ref}@${entry.digest}`;
  const reason = pinning.exceptions[ref];
  if (reason !== undefined) {
    // Checkov's suppression annotation: CKV_K8S_43 is "image should use digest".
    podObject.metadata.addAnnotation('checkov.io/skip1', `CKV_K8S_43=${reason}`);
    return ref;
  }
  throw ValidationError.of(scope, field, ref,
    `must have a digest in ${pinning.lockPath} (this environment runs images by digest): run npm run images:lock -- ${ref}`);
}

/**
 * An environment's `platform.imagePinning`, applied to its App: reads `<projectRoot>/images.lock.json` and pins
 * every pod built below `app`. Nothing happens for an environment that does not ask.
 */
export function applyImagePinning(app: IConstruct, config: { readonly exceptions?: Readonly<Record<string, string>> } | undefined, root: string): void {
  if (!config) return;
  const exceptions = config.exceptions ?? {};
  for (const [ref, reason] of Object.entries(exceptions)) {
    if (typeof reason !== 'string' || reason.trim() === '') {
      throw ValidationError.of(app, `platform.imagePinning.exceptions["${ref}"]`, reason, 'must be a non-empty reason (it is written on the workload)');
    }
  }
  const lockPath = path.join(root, IMAGE_LOCK_FILE);
  pinImages(app, { lock: readImageLock(lockPath), lockPath: IMAGE_LOCK_FILE, exceptions });
}
