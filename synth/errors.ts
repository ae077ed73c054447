import { IConstruct } from 'constructs';
import { LocatedError, ValidationError, describeError } from '../lib/core/errors';

/**
 * Errors as people read them: every failure of a synth names the environment, and the construct path where it
 * happened. Our constructs throw ValidationErrors that already name construct, field and value; anything else (a
 * wrong-typed value through a cast, a cdk8s Duration or Size error, a Lazy that throws) is located here.
 */

const located = (e: unknown) => e instanceof ValidationError || e instanceof LocatedError;

/**
 * Runs `build` (constructing charts under `root`); an unlocated error is given the path of the construct that was
 * being built when it was thrown: the last one added to the tree (a construct joins the tree in its constructor's
 * first line, so the one whose constructor failed is the newest).
 */
export function whileBuilding(root: IConstruct, build: () => void): void {
  try {
    build();
  } catch (e) {
    if (located(e)) throw e;
    const all = root.node.findAll();
    const newest = all[all.length - 1];
    throw new LocatedError(newest.node.path || '(app)', `${describeError(e)} (while building this construct: check the values given to it)`, e);
  }
}

/** Prefixes the environment: the same construct path exists in every environment. */
export function inEnvironment(env: string, e: unknown): Error {
  const err = new Error(`[${env}] ${e instanceof Error ? e.message : String(e)}`);
  err.name = e instanceof Error ? e.name : 'Error';
  return err;
}

/** Runs `f`; an error it throws is rethrown with the environment prefixed ({@link inEnvironment}). */
export function withinEnvironment<T>(env: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw inEnvironment(env, e);
  }
}
