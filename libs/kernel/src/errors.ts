/**
 * A refusal by domain logic, with a stable machine code (e.g. `RUN.NOT_FOUND`). Mapped to an
 * HTTP status once, at the edge; on the bus it is permanent (terminate + dead-letter).
 * @example throw new DomainError('RUN.ALREADY_TERMINAL', 'run is already succeeded')
 */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

/** A field-level validation failure: path (dotted) + message. */
export interface FieldError {
  path: string;
  message: string;
}

/** Input that failed validation; carries every field error. */
export class ValidationError extends DomainError {
  constructor(readonly errors: FieldError[]) {
    super('VALIDATION.FAILED', errors.map((e) => `${e.path || '(root)'}: ${e.message}`).join('; '));
    this.name = 'ValidationError';
  }
}

/** A failure that may succeed on retry (connection lost, timeout). Naks, never dead-letters. */
export class TransientError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'TransientError';
  }
}
