import { z } from 'zod';
import { Action, JsonObject, Uuid } from './common';

/** Largest accepted submission, in bytes of JSON. */
export const MAX_SUBMISSION_BYTES = 256 * 1024;

/** The agent making a proposal. */
export const Agent = z.strictObject({
  id: z.string().min(1).max(200),
  role: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[a-z][a-z0-9_-]*$/, 'must be a lowercase role name, e.g. dev'),
});
export type Agent = z.infer<typeof Agent>;

/** Token and money spent by the agent to produce this proposal. */
export const Usage = z.strictObject({
  tokens: z.number().int().nonnegative().optional(),
  cost_usd: z.number().nonnegative().optional(),
});

/** The submission's fields, without the NUL check (for schemas that extend it). */
export const TaskSubmissionFields = z.strictObject({
  run_id: Uuid.optional(),
  idempotency_key: z.string().min(1).max(200).optional(),
  agent: Agent,
  session_id: z.string().min(1).max(200).optional(),
  action: Action,
  intent: z.string().max(4000).optional(),
  usage: Usage.optional(),
  metadata: JsonObject.optional(),
});

/** Paths of every string (key or value) in `value` that contains NUL (U+0000). */
function nulPaths(value: unknown, path: (string | number)[], out: (string | number)[][]): void {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) out.push(path);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => nulPaths(v, [...path, i], out));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k.includes('\u0000')) out.push([...path, k]);
      nulPaths(v, [...path, k], out);
    }
  }
}

/**
 * A proposed action, as integrators publish it to `warden.ingest.tasks` or POST it to `/v1/tasks`.
 * Unknown top-level fields are refused so that a typo (`idempotencyKey`) fails loudly, and no string
 * may contain NUL: no store downstream (Postgres text or jsonb) can hold it.
 */
export const TaskSubmission = TaskSubmissionFields.superRefine((value, ctx) => {
  const paths: (string | number)[][] = [];
  nulPaths(value, [], paths);
  for (const path of paths) ctx.addIssue({ code: 'custom', path, message: 'must not contain NUL (U+0000) characters' });
});
export type TaskSubmission = z.infer<typeof TaskSubmission>;
