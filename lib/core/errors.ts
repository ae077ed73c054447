import { IConstruct } from 'constructs';

/**
 * A construct was given a value Kubernetes (or the app) would reject. The message names the construct path,
 * the field, the bad value and what is allowed, so the user can fix it without reading our code.
 */
export class ValidationError extends Error {
  constructor(
    public readonly path: string,
    public readonly field: string,
    public readonly value: unknown,
    public readonly allowed: string,
  ) {
    super(`${path}: invalid ${field} ${JSON.stringify(value)}: ${allowed}`);
    this.name = 'ValidationError';
  }

  static of(scope: IConstruct, field: string, value: unknown, allowed: string): ValidationError {
    return new ValidationError(scope.node.path || '(app)', field, value, allowed);
  }
}

/** An error that is not about one field, located at the construct path where it happened. */
export class LocatedError extends Error {
  constructor(public readonly path: string, message: string, public readonly cause?: unknown) {
    super(`${path}: ${message}`);
    this.name = 'LocatedError';
  }
}

/** "TypeError: ..." for a built-in error, the plain message for ours. */
export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  return e.name === 'Error' ? e.message : `${e.name}: ${e.message}`;
}

/*
 * Our constructs throw ValidationErrors that already name construct, field and value; anything else (a wrong-typed
 * value through a cast, a cdk8s Duration or Size error, a Lazy that throws) is located by whileBuilding.
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
