import type { EventType } from './events';

/** The services that produce events; each signs with its own Ed25519 key (docs/security.md, "Authentic events"). */
export const PRODUCERS = ['ingest', 'policy', 'orchestrator', 'approvals', 'workers'] as const;
export type Producer = (typeof PRODUCERS)[number];

/**
 * The one service allowed to emit each event type. Every consumer refuses an event whose `producer`
 * is not this one, or whose `sig` does not verify against that producer's public key(s): a forged,
 * unsigned or wrong-producer event changes nothing anywhere. One table, read by every verifier and
 * printed in the docs (`docs/event-producers.md`).
 * @example EVENT_PRODUCERS.approval_granted === 'approvals'
 */
export const EVENT_PRODUCERS: Readonly<Record<EventType, Producer>> = {
  task_received: 'ingest',
  task_rejected: 'ingest',
  decision_made: 'policy',
  budget_exceeded: 'policy',
  approval_requested: 'orchestrator',
  run_queued: 'orchestrator',
  run_denied: 'orchestrator',
  run_cancelled: 'orchestrator',
  review_requested: 'orchestrator',
  approval_vote: 'approvals',
  approval_granted: 'approvals',
  approval_rejected: 'approvals',
  approval_expired: 'approvals',
  approval_escalated: 'approvals',
  review_resolved: 'approvals',
  run_started: 'workers',
  run_succeeded: 'workers',
  run_failed: 'workers',
  command_refused: 'workers',
  operator_created: 'approvals',
  operator_revoked: 'approvals',
  standing_approval_granted: 'approvals',
  standing_approval_revoked: 'approvals',
  api_key_created: 'ingest',
  api_key_revoked: 'ingest',
  dead_letter_redriven: 'orchestrator',
  dead_letter_discarded: 'orchestrator',
  execution_granted: 'orchestrator',
  execution_reported: 'ingest',
  execution_succeeded: 'orchestrator',
  execution_failed: 'orchestrator',
};

/** Whether `name` is one of the {@link PRODUCERS}. */
export function isProducer(name: string): name is Producer {
  return (PRODUCERS as readonly string[]).includes(name);
}
