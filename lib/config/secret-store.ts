import * as fs from 'fs';
import * as path from 'path';
import * as YAML from 'yaml';
import { ValidationError } from '../core/errors';
import { SealingCertificate, SealingScope, hybridEncrypt, isSealedValue, parseSealingCertificate, strictLabel } from './sealing';

// Where secrets live in the repository, and the committed sealed-file format. Only `npm run seal` sees plaintext
// (and `local-plain`'s git-ignored folder); synth reads the sealed files.

/** A Secret as the cluster names it. */
export interface SecretId {
  readonly name: string;
  readonly namespace: string;
  /** Kubernetes Secret type, e.g. `Opaque`. */
  readonly type: string;
}

/** `secrets/<env>/<name>.yaml` (cert and key in the ciphertext are bound to the Secret's namespace and name). */
export function sealedFilePath(environment: string, name: string): string {
  return `secrets/${environment}/${name}.yaml`;
}

/** `sealing/<env>.pem`: the public certificate of the environment's sealed-secrets controller. */
export function certificatePath(environment: string): string {
  return `sealing/${environment}.pem`;
}

/** The command that (re)creates a sealed file. */
export function sealCommand(environment: string, name: string): string {
  return `npm run seal -- ${environment} ${name} <files or folder>`;
}

/** The committed file: ciphertext only, plus what it was sealed for. */
export interface SealedFile {
  readonly name: string;
  readonly namespace: string;
  readonly scope: SealingScope;
  readonly type: string;
  /** The certificate it was sealed with (informational: the controller keeps old keys, so older seals stay valid). */
  readonly certificate: { readonly file: string; readonly sha256: string };
  /** Data key to kubeseal ciphertext (base64). */
  readonly encryptedData: Readonly<Record<string, string>>;
}

const SEALED_FILE_KEYS = ['name', 'namespace', 'scope', 'type', 'certificate', 'encryptedData'];
/** Secret data keys, as the API server allows them (IsConfigMapKey). */
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

export function isSecretKey(key: string): boolean {
  return key.length <= 253 && SECRET_KEY.test(key) && key !== '.' && key !== '..';
}

/** `secret default/tls-certs`, for messages. */
export function secretRef(secret: { readonly namespace: string; readonly name: string }): string {
  return `Secret ${secret.namespace}/${secret.name}`;
}

/** A path for messages: relative to the project when inside it. */
export function shown(baseDir: string, file: string): string {
  const rel = path.relative(baseDir, path.resolve(baseDir, file));
  return rel.startsWith('..') || path.isAbsolute(rel) ? path.resolve(baseDir, file) : rel.split(path.sep).join('/');
}

/** A `--from-file` source split into its optional key and its path: `key=path` or `path`. */
export function parseFileSource(source: string): { key?: string; path: string } {
  const eq = source.indexOf('=');
  return eq > 0 ? { key: source.slice(0, eq), path: source.slice(eq + 1) } : { path: source };
}

/**
 * Plaintext values from local files, as `kubectl create secret --from-file`: a folder gives one key per regular
 * file (the file name), a file gives a key named after it, and `key=path` names the key. `where` and `field` start
 * every error (a construct path, or the command).
 */
export function readPlainFiles(where: string, field: string, baseDir: string, sources: readonly string[], foldersOnly = false): Record<string, Buffer> {
  const fail = (value: string, allowed: string) => new ValidationError(where, field, value, allowed);
  const data: Record<string, Buffer> = {};
  const add = (key: string, file: string) => {
    if (!isSecretKey(key)) throw fail(shown(baseDir, file), `gives the key "${key}", which is not a Secret data key (letters, digits, "-", "_", "."; name the key with key=path)`);
    if (data[key]) throw fail(shown(baseDir, file), `gives the key "${key}" a second time`);
    let value: Buffer;
    try {
      value = fs.readFileSync(file);
    } catch (e) {
      throw fail(shown(baseDir, file), `must be a readable file (${(e as NodeJS.ErrnoException).code ?? e})`);
    }
    if (value.length === 0) throw fail(shown(baseDir, file), 'is empty; a secret value must not be empty');
    data[key] = value;
  };
  if (sources.length === 0) throw fail('', 'needs at least one file or folder');
  for (const source of sources) {
    const { key, path: rel } = parseFileSource(source);
    const file = path.resolve(baseDir, rel);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch (e) {
      throw fail(shown(baseDir, file), `must be a readable file or folder (${(e as NodeJS.ErrnoException).code ?? e})`);
    }
    if (foldersOnly && !stat.isDirectory()) throw fail(shown(baseDir, file), 'must be a folder with one file per key');
    if (stat.isDirectory() && key === undefined) {
      let names: string[];
      try {
        names = fs.readdirSync(file).sort();
      } catch (e) {
        throw fail(shown(baseDir, file), `must be a readable folder (${(e as NodeJS.ErrnoException).code ?? e})`);
      }
      const files = names.filter((n) => { try { return fs.statSync(path.join(file, n)).isFile(); } catch { return false; } });
      if (files.length === 0) throw fail(shown(baseDir, file), 'has no files; put one file per key in it');
      for (const n of files) add(n, path.join(file, n));
    } else if (stat.isFile()) {
      add(key ?? path.basename(file), file);
    } else {
      throw fail(shown(baseDir, file), key === undefined ? 'must be a regular file or a folder' : 'must be a regular file');
    }
  }
  return data;
}

/** Keys of `required` missing from `present`. */
export function missingKeys(required: readonly string[], present: readonly string[]): string[] {
  return required.filter((k) => !present.includes(k));
}

/** Reads and checks `sealing/<env>.pem`, to seal `secret` with. */
export function readCertificate(where: string, baseDir: string, environment: string, secret: SecretId): SealingCertificate {
  const rel = certificatePath(environment);
  const fail = (allowed: string) => new ValidationError(where, `sealing certificate for ${secretRef(secret)}`, rel, allowed);
  let pem: string;
  try {
    pem = fs.readFileSync(path.join(baseDir, rel), 'utf-8');
  } catch (e) {
    throw fail(`must be a readable file (${(e as NodeJS.ErrnoException).code ?? e}); fetch it with \`kubeseal --fetch-cert > ${rel}\``);
  }
  const cert = parseSealingCertificate(pem);
  if (typeof cert === 'string') throw fail(cert);
  return cert;
}

/** Seals each value for `secret` (strict scope) with the certificate. */
export function sealValues(secret: SecretId, cert: SealingCertificate, certFile: string, values: Readonly<Record<string, Uint8Array>>): SealedFile {
  const label = strictLabel(secret.namespace, secret.name);
  const encryptedData: Record<string, string> = {};
  for (const key of Object.keys(values).sort()) encryptedData[key] = hybridEncrypt(cert.publicKey, values[key], label).toString('base64');
  return {
    name: secret.name,
    namespace: secret.namespace,
    scope: 'strict',
    type: secret.type,
    certificate: { file: certFile, sha256: cert.fingerprint },
    encryptedData,
  };
}

/** Writes a sealed file (to a temporary name first, so a failed run never leaves half a file). */
export function writeSealedFile(file: string, sealed: SealedFile): void {
  const text = '# Sealed by `npm run seal`: ciphertext only, safe to commit. Re-seal to change it; never edit by hand.\n'
    + YAML.stringify(sealed, { lineWidth: 0 });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/**
 * Reads a sealed file and checks its shape. `hint` says how to create it when it is missing. Whether it belongs to
 * the Secret at hand is the caller's check (see checkSealedFor).
 */
export function readSealedFile(where: string, field: string, baseDir: string, rel: string, hint: string): SealedFile {
  const fail = (allowed: string) => new ValidationError(where, field, rel, allowed);
  let text: string;
  try {
    text = fs.readFileSync(path.resolve(baseDir, rel), 'utf-8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw fail(code === 'ENOENT' ? `does not exist; seal the values with \`${hint}\`` : `must be a readable file (${code ?? e})`);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    throw fail(`is not valid YAML (${(e as Error).message.split('\n')[0]}); re-seal with \`${hint}\``);
  }
  const o = doc as Record<string, unknown>;
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw fail(`must be a mapping with ${SEALED_FILE_KEYS.join(', ')}; re-seal with \`${hint}\``);
  const unknown = Object.keys(o).filter((k) => !SEALED_FILE_KEYS.includes(k));
  const missing = SEALED_FILE_KEYS.filter((k) => o[k] === undefined);
  if (unknown.length || missing.length) {
    throw fail(`must have exactly the fields ${SEALED_FILE_KEYS.join(', ')}${missing.length ? `; missing: ${missing.join(', ')}` : ''}${unknown.length ? `; unknown: ${unknown.join(', ')}` : ''}`);
  }
  for (const k of ['name', 'namespace', 'type']) if (typeof o[k] !== 'string') throw fail(`field "${k}" must be a string`);
  if (o.scope !== 'strict') throw fail(`has scope ${JSON.stringify(o.scope)}; only "strict" (bound to namespace and name) is supported`);
  const data = o.encryptedData as Record<string, unknown>;
  if (!data || typeof data !== 'object' || Array.isArray(data) || Object.keys(data).length === 0) {
    throw fail('field "encryptedData" must map at least one key to its ciphertext');
  }
  for (const [k, value] of Object.entries(data)) {
    if (!isSecretKey(k)) throw fail(`has the key "${k}", which is not a Secret data key`);
    if (!isSealedValue(value)) throw fail(`has a value for "${k}" that is not kubeseal ciphertext (truncated or edited?); re-seal with \`${hint}\``);
  }
  return o as unknown as SealedFile;
}

/**
 * Errors unless the sealed file was made for exactly this Secret: strict scope binds every value to the namespace
 * and name, so a file sealed for another would be refused by the controller at deploy time.
 */
export function checkSealedFor(where: string, field: string, rel: string, sealed: SealedFile, secret: SecretId, hint: string): void {
  if (sealed.name !== secret.name || sealed.namespace !== secret.namespace) {
    throw new ValidationError(where, field, rel, `was sealed for ${secretRef(sealed)}, not ${secretRef(secret)}: strict scope binds each value to its `
      + `namespace and name, so the controller would refuse to unseal it; re-seal with \`${hint}\``);
  }
  if (sealed.type !== secret.type) {
    throw new ValidationError(where, field, rel, `was sealed with type "${sealed.type}", but the Secret has type "${secret.type}"; re-seal with \`${hint}\``);
  }
}

/** `sealing/<env>.previous/`: certificates the environment's controller had before, whose keys it still holds. */
export function previousCertificatesDir(environment: string): string {
  return `sealing/${environment}.previous`;
}

/**
 * The fingerprints a sealed file of the environment may carry: the current `sealing/<env>.pem` (which must be a
 * usable RSA certificate) and each certificate in `sealing/<env>.previous/` (a controller keeps its old keys after
 * a rotation, so values sealed before it still open).
 */
export function knownCertificates(where: string, field: string, baseDir: string, environment: string): { current: string; previous: ReadonlyMap<string, string> } {
  const rel = certificatePath(environment);
  let pem: string;
  try {
    pem = fs.readFileSync(path.join(baseDir, rel), 'utf-8');
  } catch (e) {
    throw new ValidationError(where, field, rel, `must be a readable file (${(e as NodeJS.ErrnoException).code ?? e}); fetch it with \`kubeseal --fetch-cert > ${rel}\``);
  }
  // Expiry only matters for sealing new values (kubeseal refuses then); what was sealed before still opens.
  const cert = parseSealingCertificate(pem, new Date(0));
  if (typeof cert === 'string') throw new ValidationError(where, field, rel, cert);
  const previous = new Map<string, string>();
  const dir = previousCertificatesDir(environment);
  const files = fs.existsSync(path.join(baseDir, dir)) ? fs.readdirSync(path.join(baseDir, dir)).filter((f) => f.endsWith('.pem')).sort() : [];
  for (const f of files) {
    const old = parseSealingCertificate(fs.readFileSync(path.join(baseDir, dir, f), 'utf-8'), new Date(0));
    if (typeof old === 'string') throw new ValidationError(where, `previous ${field}`, `${dir}/${f}`, old);
    previous.set(old.fingerprint, `${dir}/${f}`);
  }
  return { current: cert.fingerprint, previous };
}

/**
 * Errors unless the file was sealed with a certificate the environment's controller can open: the current one or
 * a listed previous one. Catches a file left sealed with an old certificate after `sealing/<env>.pem` changed,
 * before deploy rather than as an unsealing failure in the cluster.
 */
export function checkSealedWithKnownCertificate(where: string, field: string, rel: string, sealed: SealedFile,
  known: { current: string; previous: ReadonlyMap<string, string> }, environment: string, hint: string): void {
  const fp = sealed.certificate?.sha256;
  if (fp === known.current || known.previous.has(fp)) return;
  throw new ValidationError(where, field, rel, `was sealed with the certificate ${fp}, which is neither ${certificatePath(environment)} (${known.current}) `
    + `nor one kept in ${previousCertificatesDir(environment)}/: the controller would not open it; re-seal with \`${hint}\` `
    + `(or, if the controller still holds that key, put its certificate in ${previousCertificatesDir(environment)}/)`);
}
