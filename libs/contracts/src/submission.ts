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

/** Most items one plan may hold. */
export const MAX_PLAN_ITEMS = 50;

/**
 * Where a submission sits in a plan (`POST /v1/plans`): the plan's id, this item's index (0-based) and
 * the plan's size. Everything else judges the item as an ordinary run; the approvals service shows the
 * plan's escalated items as one approval.
 */
export const PlanRef = z
  .strictObject({
    id: Uuid,
    index: z
      .number()
      .int()
      .min(0)
      .max(MAX_PLAN_ITEMS - 1),
    count: z.number().int().min(1).max(MAX_PLAN_ITEMS),
  })
  .refine((p) => p.index < p.count, { path: ['index'], message: 'must be less than count' });
export type PlanRef = z.infer<typeof PlanRef>;

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
  /** Set on each item of a plan (`POST /v1/plans`). */
  plan: PlanRef.optional(),
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

/** One item of a plan: an action, with its own intent and usage when the agent has them. */
export const PlanItem = z.strictObject({
  tool: Action.shape.tool,
  args: Action.shape.args,
  intent: z.string().max(4000).optional(),
  usage: Usage.optional(),
});

/**
 * A plan, as an agent POSTs it to ingest's `/v1/plans`: an ordered list of actions proposed together.
 * Each item becomes an ordinary run whose submission carries `plan: {id, index, count}`; `plan_id` (a
 * UUID the client may choose) makes a retry name the same runs.
 */
export const PlanSubmission = z
  .strictObject({
    plan_id: Uuid.optional(),
    agent: Agent,
    session_id: z.string().min(1).max(200).optional(),
    intent: z.string().max(4000).optional(),
    metadata: JsonObject.optional(),
    items: z.array(PlanItem).min(1).max(MAX_PLAN_ITEMS),
  })
  .superRefine((value, ctx) => {
    for (const { path, message } of jsonIssues(value)) ctx.addIssue({ code: 'custom', path, message });
  });
export type PlanSubmission = z.infer<typeof PlanSubmission>;
