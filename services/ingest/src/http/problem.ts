import type { Response } from 'express';
import type { FieldError } from '@warden/contracts';

/** Writes an RFC 9457 problem (what the global ProblemFilter writes for thrown errors) from a handler that owns `res`. */
export function sendProblem(
  res: Response,
  status: number,
  code: string,
  detail: string,
  opts: { errors?: FieldError[]; retryAfterSeconds?: number } = {},
): void {
  if (opts.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(opts.retryAfterSeconds));
  res
    .status(status)
    .type('application/problem+json')
    .send(
      JSON.stringify({
        type: `urn:warden:error:${code}`,
        title: code,
        status,
        detail,
        ...(opts.errors ? { errors: opts.errors } : {}),
      }),
    );
}
