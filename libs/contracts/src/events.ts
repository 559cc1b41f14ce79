import { z } from 'zod';
import { Action, FieldError, JsonObject, Sha256, Timestamp, TraceId, Uuid } from './common';
import { Decision, Tier } from './decision';
import { RunResult } from './result';
import { Agent, TaskSubmissionFields } from './submission';
import { DirectoryEventSchemas } from './directory';
import { DeadLetterEventSchemas } from './dead-letters';
import { ExecutionEventSchemas } from './execution';

/** How a submission reached ingest (`mcp`: a tools/call through the MCP gateway). */
export const Channel = z.enum(['bus', 'http', 'webhook', 'mcp']);

/** A submission was valid and accepted: the run exists from here on. */
export const TaskReceivedData = z.object({
  submission: TaskSubmissionFields.extend({ run_id: Uuid }),
  channel: Channel,
  /** The broker message id or HTTP request id it came in under. */
  source_id: z.string().optional(),
  /** Who handed it in over HTTP: the API key (id, owner) or the webhook source (id = source name). */
  submitted_by: z
    .object({ kind: z.enum(['api_key', 'webhook']), id: z.string(), owner: z.string().optional() })
    .optional(),
});

/** A submission failed validation; nothing else happens. */
export const TaskRejectedData = z.object({
  errors: z.array(FieldError).min(1),
  channel: Channel,
  source_id: z.string().optional(),
  agent_id: z.string().optional(),
});

export const ApprovalRequestedData = z.object({
  approval_id: Uuid,
  tier: Tier,
  required_votes: z.number().int().positive(),
  expires_at: Timestamp,
  agent: Agent,
  session_id: z.string().optional(),
  action: Action,
  decision: Decision,
  /** `sha256:<hex>` of the canonical JSON of `action`: what the approval is bound to. */
  action_hash: Sha256.optional(),
  /** The decision's `constraints.expires_in_seconds` or the per-tier default that set `expires_at`. */
  ttl_seconds: z.number().int().positive().optional(),
});

/** Where a vote was cast. */
export const VoteChannel = z.enum(['rest', 'slack', 'dashboard', 'cli']);

export const ApprovalVoteData = z.object({
  approval_id: Uuid,
  operator: z.string(),
  vote: z.enum(['approve', 'reject']),
  comment: z.string().optional(),
  /** The operator's id (`operator` is the display name). */
  operator_id: z.string().optional(),
  channel: VoteChannel.optional(),
  /** "Approve and allow this pattern": asked for with the vote, granted with the approval. */
  standing: z.object({ scope: z.enum(['session', 'agent']), ttl_seconds: z.number().int().positive() }).optional(),
});

/** One vote a grant counts: the `approval_vote` event (by id) and who cast it. */
export const CountedVote = z.object({
  vote_id: Uuid,
  operator_id: z.string().min(1),
  /** The operator's display name at the time of the vote. */
  operator: z.string(),
});

export const ApprovalClosedData = z.object({
  approval_id: Uuid,
  /** Display names of the operators who decided (kept for readers of older events; see `votes`). */
  operators: z.array(z.string()).default([]),
  /**
   * On `approval_granted`: every approve vote the grant counts (on `approval_rejected`: the rejecting
   * vote). The orchestrator re-checks quorum,
   * distinct operators and no self-approval against the signed `approval_vote` events it has seen,
   * never against a count in the grant.
   */
  votes: z.array(CountedVote).optional(),
  reason: z.string().optional(),
  /** What the approval was bound to (set on `approval_granted`): the orchestrator re-checks both. */
  action_hash: Sha256.optional(),
  policy_digest: Sha256.optional(),
  tier: Tier.optional(),
  /** Where the closing vote came from (absent for expiry and policy voids). */
  channel: VoteChannel.optional(),
});

export const RunQueuedData = z.object({
  role: z.string(),
  subject: z.string(),
  action: Action,
});

export const RunStartedData = z.object({ worker_id: z.string(), attempt: z.number().int().positive() });
export const RunSucceededData = z.object({ result: RunResult });
export const RunFailedData = z.object({ result: RunResult });
export const RunDeniedData = z.object({
  reasons: z.array(z.string()),
  rule_ids: z.array(z.string()),
});
export const RunCancelledData = z.object({ by: z.string(), reason: z.string().optional() });
export const BudgetExceededData = z.object({
  /** Whose budget: the session's or the agent's. Absent in events from before agent budgets (= session). */
  scope: z.enum(['session', 'agent']).optional(),
  session_id: z.string().optional(),
  agent_id: z.string().optional(),
  budget: z.string(),
  used: z.number(),
  limit: z.number(),
});

/** A worker refused an execute command (unsigned, forged, replayed, wrong role, action mismatch...). */
export const CommandRefusedData = z.object({
  command_id: z.string().optional(),
  role: z.string(),
  worker_id: z.string(),
  /** Machine-readable reason, e.g. COMMAND.BAD_SIGNATURE. */
  code: z.string(),
  reason: z.string(),
});

/** The escalation chain was notified: an approval has waited `fraction` of its time. */
export const ApprovalEscalatedData = z.object({
  approval_id: Uuid,
  fraction: z.number().positive().max(1),
  notified: z.array(z.string()),
});

/** Act now, review later: a run allowed with `review: true` finished and waits for a reviewer. */
export const ReviewRequestedData = z.object({
  review_id: Uuid,
  action: Action,
  result: RunResult,
  /** Who acted, so a compensating run can be proposed as the same role. */
  agent: Agent.optional(),
  session_id: z.string().optional(),
  outcome: z.enum(['succeeded', 'failed']).optional(),
  rule_ids: z.array(z.string()).optional(),
});

/** A reviewer marked a review item fine or flagged it (flagging may start a compensating run). */
export const ReviewResolvedData = z.object({
  review_id: Uuid,
  verdict: z.enum(['fine', 'flagged']),
  operator: z.string(),
  comment: z.string().optional(),
  compensation_run_id: Uuid.optional(),
  compensation_action: Action.optional(),
});

/** Every event type and the schema of its `data`. One definition for producers and consumers. */
export const EventDataSchemas = {
  task_received: TaskReceivedData,
  task_rejected: TaskRejectedData,
  decision_made: Decision,
  approval_requested: ApprovalRequestedData,
  approval_vote: ApprovalVoteData,
  approval_granted: ApprovalClosedData,
  approval_rejected: ApprovalClosedData,
  approval_expired: ApprovalClosedData,
  run_queued: RunQueuedData,
  run_started: RunStartedData,
  run_succeeded: RunSucceededData,
  run_failed: RunFailedData,
  run_denied: RunDeniedData,
  run_cancelled: RunCancelledData,
  budget_exceeded: BudgetExceededData,
  command_refused: CommandRefusedData,
  approval_escalated: ApprovalEscalatedData,
  review_requested: ReviewRequestedData,
  review_resolved: ReviewResolvedData,
  ...DirectoryEventSchemas,
  ...DeadLetterEventSchemas,
  ...ExecutionEventSchemas,
} as const;

export type EventType = keyof typeof EventDataSchemas;
export const EVENT_TYPES = Object.keys(EventDataSchemas) as EventType[];
export type EventData<T extends EventType> = z.infer<(typeof EventDataSchemas)[T]>;

/** The envelope around every event (CONTRACT §2). */
export const EnvelopeBase = z.object({
  id: Uuid,
  type: z.string(),
  version: z.number().int().positive(),
  run_id: Uuid.nullable(),
  occurred_at: Timestamp,
  producer: z.string().min(1),
  correlation_id: z.string().min(1),
  causation_id: z.string().nullable(),
  trace_id: TraceId,
  data: JsonObject,
  /**
   * `ed25519:<base64>`: the producer's signature over the canonical JSON (RFC 8785) of the envelope
   * without `sig`. Verified against `EVENT_PRODUCERS[type]`'s public keys by every consumer.
   * A batch signature (`ed25519-mt:<sig>:<i>/<n>:<path>`) carries one 44-char hash per tree level:
   * 2048 leaves room for batches far beyond a consumer's 256 messages.
   */
  sig: z.string().max(2048).optional(),
});

export interface Envelope<T extends EventType = EventType> {
  id: string;
  type: T;
  version: number;
  run_id: string | null;
  occurred_at: string;
  producer: string;
  correlation_id: string;
  causation_id: string | null;
  trace_id: string;
  data: EventData<T>;
  /** The producer's signature (see {@link EnvelopeBase}); set when published. */
  sig?: string;
}

/** A union of every typed envelope; narrow with `switch (e.type)`. */
export type AnyEnvelope = { [K in EventType]: Envelope<K> }[EventType];

export { JsonObject };
