import { z } from 'zod';
import { Action, VoteChannel } from '@warden/contracts';

const Sha256 = z.string().regex(/^sha256:[0-9a-f]{64}$/);

/** An approval as the API shows it (`ApprovalView`). */
export const ApprovalResponse = z.object({
  id: z.uuid(),
  run_id: z.uuid(),
  tier: z.number().int().min(1).max(3),
  status: z.enum(['pending', 'granted', 'rejected', 'expired']),
  required_votes: z.number().int(),
  votes: z.array(
    z.object({
      operator: z.string(),
      operator_id: z.string().optional(),
      vote: z.enum(['approve', 'reject']),
      comment: z.string().optional(),
      at: z.iso.datetime(),
      channel: VoteChannel,
    }),
  ),
  expires_at: z.iso.datetime(),
  created_at: z.iso.datetime(),
  closed_at: z.iso.datetime().optional(),
  closed_reason: z.string().optional(),
  voided: z.literal(true).optional().describe('granted, then refused by the orchestrator (shown as rejected)'),
  agent: z.object({ id: z.string(), role: z.string() }),
  session_id: z.string().optional(),
  action: Action,
  decision: z.object({}).loose().describe('the Decision (CONTRACT §4)'),
  reasons: z.array(z.string()).optional(),
  action_hash: Sha256.optional(),
  policy_digest: Sha256.optional(),
  trace_id: z.string().optional(),
});

export const ApprovalPage = z.object({
  items: z.array(ApprovalResponse),
  next_cursor: z.string().optional().describe('absent on the last page'),
});

/** A review item (act now, review later). */
export const ReviewResponse = z.object({
  id: z.uuid(),
  run_id: z.uuid(),
  status: z.enum(['pending', 'fine', 'flagged']),
  action: z.object({}).loose(),
  result: z.object({}).loose(),
  output_hash: z.string(),
  compensation_action: z.object({}).loose().nullable(),
  resolution: z.object({}).loose().nullable(),
});

export const CreatedOperatorResponse = z.object({
  id: z.uuid(),
  token: z.string().describe('wop_… shown once; only its hash is stored'),
});
