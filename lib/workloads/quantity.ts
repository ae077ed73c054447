import { IConstruct } from 'constructs';
import { ValidationError } from '../core/errors';

const SUFFIX: Record<string, number> = {
  '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4,
};
const QUANTITY = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/;

/** Parses a Kubernetes resource quantity ("250m", "64Mi", "1") into its value in base units. */
export function parseQuantity(scope: IConstruct, field: string, value: string): number {
  const m = typeof value === 'string' ? QUANTITY.exec(value) : null;
  if (!m) {
    throw ValidationError.of(scope, field, value, 'must be a Kubernetes quantity such as "100m", "0.5", "64Mi" or "1Gi"');
  }
  return Number(m[1]) * SUFFIX[m[2] ?? ''];
}

export interface RequestAndLimit {
  /** What the scheduler reserves. */
  readonly request: string;
  /** The hard cap. Must be >= request. */
  readonly limit: string;
}

/** Requests and limits for a container, as Kubernetes quantities. */
export interface Resources {
  readonly cpu: RequestAndLimit;
  readonly memory: RequestAndLimit;
  readonly ephemeralStorage: RequestAndLimit;
}

/** Validates every quantity and that no request exceeds its limit; returns the container `resources` object. */
export function renderResources(scope: IConstruct, field: string, r: Resources): { requests: Record<string, string>; limits: Record<string, string> } {
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  for (const [key, apiName] of [['cpu', 'cpu'], ['memory', 'memory'], ['ephemeralStorage', 'ephemeral-storage']] as const) {
    const q = r[key];
    if (!q) throw ValidationError.of(scope, `${field}.${key}`, q, 'must give a request and a limit');
    const req = parseQuantity(scope, `${field}.${key}.request`, q.request);
    const lim = parseQuantity(scope, `${field}.${key}.limit`, q.limit);
    if (req > lim) {
      throw ValidationError.of(scope, `${field}.${key}.request`, q.request, `must not exceed the limit ${q.limit}`);
    }
    requests[apiName] = q.request;
    limits[apiName] = q.limit;
  }
  return { requests, limits };
}
