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
 * being built when it was thrown: the newest construct whose constructor is still on the error's stack. That is not
 * simply the last one added to the tree: a value that throws while the props of a construct are evaluated (a
 * negative `Duration.seconds(-1)`, `config.section.field` of a missing section) throws before that construct
 * exists, inside the constructor of its parent, after the parent's earlier children were complete. When no
 * constructor of the tree is on the stack (the error came from the function that builds the charts), it is the
 * app's.
 */
export function whileBuilding(root: IConstruct, build: () => void): void {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = Math.max(limit, 200); // deep enough to see every constructor in construction
  try {
    build();
  } catch (e) {
    if (located(e)) throw e;
    const at = constructBeingBuilt(root, e);
    throw new LocatedError(at?.node.path || '(app)', `${describeError(e)}${fromCdk8sValue(e)} (while building this construct: check the values given to it)`, e);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** The newest construct of the tree whose class has a constructor frame (`new <Class>`) on the error's stack. */
function constructBeingBuilt(root: IConstruct, e: unknown): IConstruct | undefined {
  const building = new Set(constructorFrames(e));
  if (building.size === 0) return undefined;
  const all = root.node.findAll();
  // Constructs in construction form a chain from the root: the newest one is an ancestor of (or is) the newest
  // construct in the tree.
  for (let c: IConstruct | undefined = all[all.length - 1]; c; c = c.node.scope) {
    if (building.has(c.constructor.name)) return c;
  }
  return undefined;
}

/**
 * The classes whose constructors are on the error's stack, read from V8's call sites (the names the code has, not
 * the ones a source map would print), or from the stack text when it was formatted already.
 */
function constructorFrames(e: unknown): string[] {
  if (!(e instanceof Error)) return [];
  const prepare = Error.prepareStackTrace;
  let frames: unknown;
  try {
    Error.prepareStackTrace = (_err, callSites) => callSites;
    frames = e.stack;
  } finally {
    Error.prepareStackTrace = prepare;
  }
  if (!Array.isArray(frames)) return [...String(frames ?? '').matchAll(/^\s*at new ([\w$]+) /gm)].map((m) => m[1]);
  const callSites = frames as NodeJS.CallSite[];
  // Give the error its text back, as node would have printed it.
  e.stack = `${e.name}: ${e.message}${callSites.map((f) => `\n    at ${f}`).join('')}`;
  return callSites.filter((f) => f.isConstructor()).map((f) => f.getFunctionName() ?? '').filter(Boolean);
}

/** Names the cdk8s value class an error came from (Duration, Size): their messages do not say. */
function fromCdk8sValue(e: unknown): string {
  // (A bundler may rename a class: esbuild makes `_Duration` of a class that refers to itself.)
  const cls = constructorFrames(e).map((name) => /^_*(Duration|Size)\d*$/.exec(name)?.[1]).find(Boolean);
  return cls ? ` (from a cdk8s ${cls} value)` : '';
}
