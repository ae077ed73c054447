import { IConstruct } from 'constructs';
import { LocatedError } from './errors';

/**
 * The few checks that need what a library keeps to itself, because it offers no public way to ask: the options a
 * cdk8s-plus Probe was made with (workloads/probes.ts) and the JSON patches on a cdk8s ApiObject
 * (synth/escape-hatches.ts). Each read goes through here and is checked for shape: if a library version renames or
 * drops the field, the synth fails loudly, naming it, instead of the check it feeds silently checking nothing.
 * test/library-internals.test.ts fails first, on the version bump that changes one.
 */
export function libraryInternal<T>(scope: IConstruct, owner: object, field: string, library: string, isShape: (value: unknown) => value is T): T {
  const value = (owner as Record<string, unknown>)[field];
  if (!isShape(value)) {
    throw new LocatedError(scope.node.path || '(app)',
      `${library} no longer keeps "${field}" on ${owner.constructor.name} as this project expects (found ${value === undefined ? 'nothing' : typeof value}): `
      + `a check that reads it cannot run. The installed ${library} differs from the one this project was written for; see lib/core/library-internals.ts.`);
  }
  return value;
}

export const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
export const isArray = (value: unknown): value is unknown[] => Array.isArray(value);
