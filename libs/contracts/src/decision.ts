import { z } from 'zod';
import { Action, JsonObject, Sha256, Timestamp, TraceId } from './common';

export const Outcome = z.enum(['allow', 'deny', 'escalate', 'compute']);
export type Outcome = z.infer<typeof Outcome>;
export const Tier = z.union([z.literal(1), z.literal(2), z.literal(3)]);
export type Tier = z.infer<typeof Tier>;

/**
 * The keys the policy puts in `Decision.constraints`; `CONSTRAINTS` (tools.ts) says who enforces
 * each, and a bundle naming any other is refused. Escalations: `required_votes` (votes needed),
 * `expires_in_seconds` (how long the approval request stays open, when the rule says).
 * Allow/compute: limits the workers enforce (`timeout_seconds`, `max_output_bytes`, `env_allow`,
 * `allowed_hosts`/`http_hosts`, `http_allow_private`).
 */
export const DecisionConstraints = z
  .object({
    required_votes: z.number().int().positive(),
    expires_in_seconds: z.number().int().positive(),
    timeout_seconds: z.number().int().positive(),
    max_output_bytes: z.number().int().positive(),
    allowed_hosts: z.array(z.string()),
    env_allow: z.array(z.string()),
    /** Normalised path argument → the real workspace path it was judged as (symlinks resolved). */
    resolved_paths: z.record(z.string(), z.string()),
  })
  .partial()
  .catchall(z.unknown());
export type DecisionConstraints = z.infer<typeof DecisionConstraints>;

/** The policy's verdict on one proposal (CONTRACT §4). */
export const Decision = z.object({
  outcome: Outcome,
  tier: Tier,
  mode: z.enum(['enforce', 'observe']),
  rule_ids: z.array(z.string()),
  reasons: z.array(z.string()),
  constraints: JsonObject,
  rewritten_action: Action.optional(),
  review: z.boolean().optional(),
  policy_version: z.string(),
  policy_digest: Sha256,
  input_hash: Sha256,
  trace_id: TraceId,
  evaluated_at: z.iso.datetime({ offset: true }),
  /** Ed25519 signature by the policy key over {run_id, action, decision sans signature}. */
  signature: z.string().optional(),
});
export type Decision = z.infer<typeof Decision>;
export { Timestamp };
