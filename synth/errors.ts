/**
 * Errors as people read them: every failure of a synth names the environment (here), and the construct path where
 * it happened (lib/core/errors.ts: ValidationError, LocatedError, whileBuilding).
 */

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
