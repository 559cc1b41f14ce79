import type { z } from 'zod';
import { parseWith } from '@warden/contracts';
import { ValidationError } from '@warden/kernel';

/**
 * A request body (or query) parsed with a contract schema, or a {@link ValidationError} with every
 * `{path, message}` (the ProblemFilter answers 400). A missing body is parsed as `{}`.
 * @example const body = parseBody(CreateOperator, req.body)
 */
export function parseBody<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const r = parseWith(schema, value ?? {});
  if (!r.ok) throw new ValidationError(r.errors);
  return r.value;
}
