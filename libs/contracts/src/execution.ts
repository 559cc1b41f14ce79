import { z } from 'zod';
import { Action, Sha256, Timestamp, TraceId, Uuid } from './common';
import { RunResult } from './result';
import { Agent } from './submission';

/**
 * What the orchestrator hands a client executor: permission to run exactly `action` (bound by
 * `action_hash`, the SHA-256 of its canonical JSON) for run `run_id`, once, before `expires_at`.
 * Signed by the orchestrator's own key (`execution_granted.data.signature`, over the canonical JSON
 * of this object); ingest verifies the signature before it accepts a report.
 * @example const grant: ExecutionGrant = granted.data.grant
 */
export const ExecutionGrant = z.strictObject({
  grant_id: Uuid,
  run_id: Uuid,
  /** The agent the grant speaks to: only an API key bound to this agent may report on it. */
  agent: Agent,
  action: Action,
  action_hash: Sha256,
  /** The digest of the policy whose decision allowed it, and the approval that granted it, when any. */
  policy_digest: Sha256,
  approval_id: Uuid.optional(),
  issued_at: Timestamp,
  expires_at: Timestamp,
  /** The run's trace: the report continues it. */
  trace_id: TraceId.optional(),
});
export type ExecutionGrant = z.infer<typeof ExecutionGrant>;

/** The run may execute in the client: the signed grant (producer: orchestrator). */
export const ExecutionGrantedData = z.object({
  grant: ExecutionGrant,
  /** `ed25519:<base64>` by the orchestrator over the canonical JSON of `grant`. */
  signature: z.string().min(1).max(2048),
});

/** What a client executor reports about the one execution a grant allowed. */
export const ExecutionOutcome = z.strictObject({
  /** The tool's JSON result (optional: a client may keep it to itself and report only its hash). */
  output: z.unknown().optional(),
  /** `sha256:<hex>` of the canonical JSON of `output` (of `null` when there was none). */
  output_hash: Sha256,
  /** Set when the tool failed: the run ends `failed`. */
  error: z.strictObject({ code: z.string().min(1).max(200), message: z.string().max(4000) }).optional(),
  truncated: z.boolean().optional(),
});
export type ExecutionOutcome = z.infer<typeof ExecutionOutcome>;

/**
 * Body of `POST /v1/runs/:run_id/execution` (ingest): the grant as received, its signature, the
 * action hash the client executed, and the outcome.
 * @example ExecutionReportRequest.parse({ grant, signature, action_hash: grant.action_hash, outcome: { output: 1, output_hash } })
 */
export const ExecutionReportRequest = z.strictObject({
  grant: ExecutionGrant,
  signature: z.string().min(1).max(2048),
  action_hash: Sha256,
  outcome: ExecutionOutcome,
});
export type ExecutionReportRequest = z.infer<typeof ExecutionReportRequest>;

/**
 * A client reported the outcome of a granted execution (producer: ingest, which checked the API key
 * belongs to the grant's agent and the grant's signature). It changes no status by itself: the
 * orchestrator settles the run once, with `execution_succeeded` or `execution_failed`.
 */
export const ExecutionReportedData = z.object({
  grant_id: Uuid,
  action_hash: Sha256,
  outcome: ExecutionOutcome,
  /** The API key that reported. */
  reported_by: z.object({ kind: z.literal('api_key'), id: z.string().min(1), owner: z.string().optional() }),
});

/**
 * The orchestrator settled a client-executed run (producer: orchestrator): `execution_succeeded` from a
 * report without error, `execution_failed` from a report with one or from a grant whose deadline passed
 * unreported (`reason: "expired"`, `result.outcome_unknown: true`).
 */
export const ExecutionSettledData = z.object({
  grant_id: Uuid,
  result: RunResult,
  reason: z.enum(['reported', 'expired']),
  /** The `execution_reported` event it settles (absent on expiry). */
  report_id: Uuid.optional(),
});

export const ExecutionEventSchemas = {
  execution_granted: ExecutionGrantedData,
  execution_reported: ExecutionReportedData,
  execution_succeeded: ExecutionSettledData,
  execution_failed: ExecutionSettledData,
} as const;

/**
 * What the orchestrator's grant signature covers: the grant itself, under a domain tag so that it can
 * never be mistaken for another signed object.
 * @example signCanonical(keys, grantSigningPayload(grant))
 */
export function grantSigningPayload(grant: ExecutionGrant): {
  kind: 'warden.execution_grant.v1';
  grant: ExecutionGrant;
} {
  return { kind: 'warden.execution_grant.v1', grant };
}
