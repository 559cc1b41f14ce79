import { z } from 'zod';
import { Action, JsonObject, Uuid } from './common';
import { jsonIssues } from './json';

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

/**
 * Who executes a run's action once it may run: Warden's workers (`worker`, the default) or the
 * client that proposed it (`client`, "bring your own executor": the client receives a single-use
 * signed {@link ExecutionGrant}, runs the tool in its own process and reports the outcome).
 * @example Executor.parse('client')
 */
export const Executor = z.enum(['worker', 'client']);
export type Executor = z.infer<typeof Executor>;

/** The submission's fields, without the input rule (for schemas that extend it). */
export const TaskSubmissionFields = z.strictObject({
  run_id: Uuid.optional(),
  idempotency_key: z.string().min(1).max(200).optional(),
  agent: Agent,
  session_id: z.string().min(1).max(200).optional(),
  action: Action,
  intent: z.string().max(4000).optional(),
  usage: Usage.optional(),
  metadata: JsonObject.optional(),
  /** Who runs the action once it may run (default `worker`); `client`: see {@link Executor}. */
  executor: Executor.optional(),
});

/**
 * A proposed action, as integrators publish it to `warden.ingest.tasks` or POST it to `/v1/tasks`.
 * Unknown top-level fields are refused so that a typo (`idempotencyKey`) fails loudly, and the whole
 * value must meet the input rule ({@link jsonIssues}): no string or key with NUL or a lone surrogate,
 * no non-finite or unsafe number, at most 64 levels of nesting — what every store downstream can hold.
 */
export const TaskSubmission = TaskSubmissionFields.superRefine((value, ctx) => {
  for (const { path, message } of jsonIssues(value)) ctx.addIssue({ code: 'custom', path, message });
});
export type TaskSubmission = z.infer<typeof TaskSubmission>;
