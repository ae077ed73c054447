import { IConstruct } from 'constructs';
import { ValidationError } from './errors';

// Rules as the API server applies them (k8s.io/apimachinery/pkg/util/validation), so a bad value fails at synth
// time with our message instead of at `kubectl apply` time with the server's.

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const C_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
// docker/distribution reference grammar, simplified: [registry[:port]/]path[:tag][@sha256:hex]
const IMAGE_REF = /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::([\w][\w.-]{0,127}))?(?:@(sha256:[a-f0-9]{64}))?$/;

export function dnsLabel(scope: IConstruct, field: string, value: string): string {
  if (typeof value !== 'string' || value.length > 63 || !DNS1123_LABEL.test(value)) {
    throw ValidationError.of(scope, field, value,
      'must be a DNS-1123 label: at most 63 characters, lowercase letters, digits and "-", starting and ending with a letter or digit');
  }
  return value;
}

export function dnsSubdomain(scope: IConstruct, field: string, value: string): string {
  if (typeof value !== 'string' || value.length > 253 || !DNS1123_SUBDOMAIN.test(value)) {
    throw ValidationError.of(scope, field, value,
      'must be a DNS-1123 subdomain: at most 253 characters of lowercase letters, digits, "-" and ".", each part starting and ending with a letter or digit');
  }
  return value;
}

/** A DNS name for an Ingress host: a subdomain of at least two labels, each a DNS-1123 label; `*.` allowed first. */
export function hostname(scope: IConstruct, field: string, value: string): string {
  const bare = typeof value === 'string' && value.startsWith('*.') ? value.slice(2) : value;
  if (typeof bare !== 'string' || bare.length > 253 || !bare.includes('.') || !bare.split('.').every((l) => l.length <= 63 && DNS1123_LABEL.test(l))) {
    throw ValidationError.of(scope, field, value, 'must be a fully qualified DNS name such as "app.example.com" (lowercase, no port, no scheme)');
  }
  return value;
}

/** A label or annotation key: `[prefix/]name`, prefix a DNS subdomain, name at most 63 characters. */
function qualifiedName(scope: IConstruct, field: string, k: string): void {
  const slash = typeof k === 'string' ? k.indexOf('/') : -1;
  const [prefix, name] = slash >= 0 ? [k.slice(0, slash), k.slice(slash + 1)] : [undefined, k];
  if (prefix !== undefined) dnsSubdomain(scope, `${field} key prefix`, prefix);
  if (typeof name !== 'string' || !name || name.length > 63 || !LABEL_NAME.test(name)) {
    throw ValidationError.of(scope, `${field} key`, k, 'must be a qualified name: at most 63 characters of letters, digits, "-", "_" and ".", optionally prefixed by a DNS subdomain and "/"');
  }
}

export function labels(scope: IConstruct, field: string, value: Record<string, string>): Record<string, string> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw ValidationError.of(scope, field, value, 'must be a map of label names to values');
  for (const [k, v] of Object.entries(value)) {
    qualifiedName(scope, field, k);
    if (typeof v !== 'string' || v.length > 63 || !LABEL_VALUE.test(v)) {
      throw ValidationError.of(scope, `${field}["${k}"]`, v, 'must be a label value: at most 63 characters of letters, digits, "-", "_" and ".", starting and ending with a letter or digit');
    }
  }
  return value;
}

export function port(scope: IConstruct, field: string, value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw ValidationError.of(scope, field, value, 'must be an integer port from 1 to 65535');
  }
  return value;
}

export function nodePort(scope: IConstruct, field: string, value: number): number {
  if (!Number.isInteger(value) || value < 30000 || value > 32767) {
    throw ValidationError.of(scope, field, value, 'must be an integer in the default NodePort range 30000-32767');
  }
  return value;
}

export function portName(scope: IConstruct, field: string, value: string): string {
  if (typeof value !== 'string' || value.length > 15 || !IANA_SVC_NAME.test(value) || !/[a-z]/.test(value) || value.includes('--')) {
    throw ValidationError.of(scope, field, value,
      'must be an IANA_SVC_NAME: at most 15 characters, lowercase letters, digits and "-", at least one letter, no "--"');
  }
  return value;
}

export function replicas(scope: IConstruct, field: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) {
    throw ValidationError.of(scope, field, value, 'must be a whole number >= 0');
  }
  return value;
}

/** An image reference pinned to a tag other than `latest`, or to a digest. */
export function pinnedImage(scope: IConstruct, field: string, value: string): string {
  const m = typeof value === 'string' ? IMAGE_REF.exec(value) : null;
  if (!m) {
    throw ValidationError.of(scope, field, value, 'must be a valid image reference such as "registry/repo:tag" or "repo@sha256:<64 hex>"');
  }
  const [, tag, digest] = m;
  if (!digest && (!tag || tag === 'latest')) {
    throw ValidationError.of(scope, field, value, 'must be pinned to a tag other than "latest" or to a digest, so every rollout runs the same code');
  }
  return value;
}

export function envName(scope: IConstruct, field: string, value: string): string {
  if (typeof value !== 'string' || !C_IDENTIFIER.test(value)) {
    throw ValidationError.of(scope, field, value, 'must be a C identifier (letters, digits and "_", not starting with a digit) so that shells and programs can read it');
  }
  return value;
}

export function unique<T>(scope: IConstruct, field: string, values: readonly T[]): readonly T[] {
  const seen = new Set<T>();
  for (const v of values) {
    if (seen.has(v)) throw ValidationError.of(scope, field, v, 'must be unique, but appears more than once');
    seen.add(v);
  }
  return values;
}

export function httpPath(scope: IConstruct, field: string, value: string): string {
  if (typeof value !== 'string' || !value.startsWith('/') || /\s/.test(value)) {
    throw ValidationError.of(scope, field, value, 'must be an absolute HTTP path starting with "/" and without spaces');
  }
  return value;
}

/**
 * Rejects keys a typed config does not know, so a typo in a config built from JSON or spreads is an error rather
 * than a silently ignored setting.
 */
/**
 * Every key of `T`, for {@link knownKeys}: written once as `{ key: true, ... }` and checked by the compiler both
 * ways, so the list cannot drift from the interface (a key it lacks, or one `T` does not have, is a type error).
 */
export function keysOf<T extends object>(keys: { readonly [K in keyof Required<T>]: true }): readonly (keyof T & string)[] {
  return Object.keys(keys) as (keyof T & string)[];
}

export function knownKeys<T extends object>(scope: IConstruct, field: string, value: T, allowed: readonly (keyof T & string)[]): void {
  for (const k of Object.keys(value)) {
    if (!(allowed as readonly string[]).includes(k)) {
      throw ValidationError.of(scope, `${field}.${k}`, (value as Record<string, unknown>)[k], `is not a known setting; known: ${allowed.join(', ')}`);
    }
  }
}

/** Peers must be constructs of the same app: an address into another model would point at nothing deployed. */
export function samePeerModel(scope: IConstruct, field: string, peers: readonly IConstruct[]): void {
  for (const p of peers) {
    if (p.node.root !== scope.node.root) {
      throw ValidationError.of(scope, field, p.node.path, 'must be a service of this app; it belongs to another construct tree');
    }
  }
}

/** A non-empty, non-blank string (a reason, a description written on an object). */
export function nonEmpty(scope: IConstruct, field: string, value: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw ValidationError.of(scope, field, value, 'must be a non-empty string that says why');
  }
  return value;
}

/** Annotations: qualified-name keys, string values, under the API server's 256 KiB total. */
export function annotations(scope: IConstruct, field: string, value: Readonly<Record<string, string>> | undefined): Readonly<Record<string, string>> | undefined {
  if (value === undefined) return value;
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw ValidationError.of(scope, field, value, 'must be a map of annotation keys to string values');
  let total = 0;
  for (const [k, v] of Object.entries(value)) {
    qualifiedName(scope, field, k);
    if (typeof v !== 'string') throw ValidationError.of(scope, `${field}["${k}"]`, v, 'must be a string');
    total += k.length + v.length;
  }
  if (total > 256 * 1024) throw ValidationError.of(scope, field, `${total} bytes`, 'must total at most 256 KiB');
  return value;
}

/** One of a fixed set of values. */
export function oneOf<T extends string>(scope: IConstruct, field: string, value: T, allowed: readonly T[]): T {
  if (!allowed.includes(value)) throw ValidationError.of(scope, field, value, `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
  return value;
}

/** A whole number in [min, max]. */
export function integer(scope: IConstruct, field: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER, why = ''): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `from ${min} to ${max}`;
    throw ValidationError.of(scope, field, value, `must be a whole number ${range}${why ? `: ${why}` : ''}`);
  }
  return value;
}
