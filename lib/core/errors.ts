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
