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

// The OCI image reference grammar (github.com/distribution/reference): [host[:port]/]path[:tag][@digest]. The first
// component is a registry host only when it has a "." or ":" or is "localhost" (how docker and the kubelet's
// runtimes split it); else it is the first component of the repository path, and every path component is lowercase.
const HOST_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6_HOST = /^\[[0-9a-fA-F:.]+\]$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const KNOWN_DIGESTS: Record<string, RegExp> = { sha256: /^[a-f0-9]{64}$/, sha512: /^[a-f0-9]{128}$/ };

/** The parts of an image reference, as the OCI reference grammar splits it. */
export interface ImageReference {
  /** Registry host (with its port), when the reference names one. */
  readonly registry?: string;
  /** Repository path, e.g. `cjimti/go-ok`. */
  readonly repository: string;
  readonly tag?: string;
  /** `<algorithm>:<hex>`, e.g. `sha256:...`. */
  readonly digest?: string;
  /** The reference without its digest: how images.lock.json keys it. */
  readonly withoutDigest: string;
}

/** Splits an image reference; returns what is wrong with it instead when it breaks the grammar. */
export function parseImageReference(value: string): ImageReference | string {
  if (typeof value !== 'string' || value === '') return 'must be a non-empty string';
  let rest = value;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    const [algorithm] = digest.split(':');
    if (!DIGEST_GRAMMAR.test(digest)) return `digest "${digest}" must be <algorithm>:<hex>, such as sha256:<64 lowercase hex>`;
    const known = KNOWN_DIGESTS[algorithm];
    if (!known) return `digest algorithm "${algorithm}" must be sha256 or sha512`;
    if (!known.test(digest.slice(algorithm.length + 1))) return `digest "${digest}" must be ${algorithm}:<${algorithm === 'sha256' ? 64 : 128} lowercase hex>`;
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) return `tag "${tag}" must be 1-128 letters, digits, "_", "." and "-", not starting with "." or "-"`;
  }
  if (rest.length > 255) return 'name must be at most 255 characters';
  const components = rest.split('/');
  let registry: string | undefined;
  const first = components[0];
  if (components.length > 1 && (/[.:]/.test(first) || first === 'localhost')) {
    registry = components.shift()!;
    const [host, port, extra] = IPV6_HOST.test(registry) ? [registry] : registry.startsWith('[')
      ? [registry.slice(0, registry.indexOf(']') + 1), registry.slice(registry.indexOf(']') + 2)] : registry.split(':');
    const hostOk = IPV6_HOST.test(host) || (host !== '' && host.split('.').every((c) => HOST_COMPONENT.test(c)));
    if (!hostOk || extra !== undefined || (port !== undefined && !/^[0-9]+$/.test(port))) {
      return `registry "${registry}" must be a host name (letters, digits, "-" and "."), optionally with :<port>`;
    }
  }
  for (const c of components) {
    if (!PATH_COMPONENT.test(c)) {
      return `repository path component "${c}" must be lowercase letters and digits, joined by ".", "_", "__" or "-"`
        + (c.toLowerCase() !== c && c === components[0] && !registry ? ' (a first component without "." or ":" is a path, not a registry host)' : '');
    }
  }
  return { registry, repository: components.join('/'), tag, digest, withoutDigest: at >= 0 ? value.slice(0, at) : value };
}

/** An image reference pinned to a tag other than `latest`, or to a digest. */
export function pinnedImage(scope: IConstruct, field: string, value: string): string {
  const ref = parseImageReference(value);
  if (typeof ref === 'string') {
    throw ValidationError.of(scope, field, value, `must be a valid image reference such as "registry/repo:tag" or "repo@sha256:<64 hex>": ${ref}`);
  }
  if (!ref.digest && (!ref.tag || ref.tag === 'latest')) {
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
