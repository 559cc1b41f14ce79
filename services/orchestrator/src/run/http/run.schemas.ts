import { z } from 'zod';
import { Action, Agent, Decision, RunResult, RunStatus, Uuid } from '@warden/contracts';

/** A run as `GET /v1/runs` and `GET /v1/runs/:id` show it (`RunView` of the runs read model). */
export const RunResponse = z.object({
  run_id: Uuid,
  status: RunStatus,
  agent: Agent.pick({ id: true, role: true }),
  session_id: z.string().nullable(),
  action: Action,
  decision: Decision.nullable().describe('the Decision (CONTRACT §4)'),
  approval: z
    .object({ id: Uuid, status: z.enum(['pending', 'granted', 'rejected', 'expired']), tier: z.number().int() })
    .loose()
    .nullable()
    .describe('id, status, tier, operators'),
  result: RunResult.nullable().describe('{output, output_hash, error?, outcome_unknown?, truncated?} (CONTRACT §5)'),
  executor: z.literal('client').optional().describe('present when the agent executes the run itself'),
  grant: z.object({ id: z.string(), expires_at: z.string(), reported: z.boolean() }).optional(),
  trace_id: z.string().regex(/^[0-9a-f]{32}$/),
  created_at: z.iso.datetime({ offset: true }),
  updated_at: z.iso.datetime({ offset: true }),
});

export const RunPage = z.object({ runs: z.array(RunResponse), next_cursor: z.string().nullable() });

export const RunDetailResponse = RunResponse.extend({
  events: z.array(z.object({}).loose().describe('event envelope (CONTRACT §2)')),
  ignored_events: z
    .array(z.object({}).loose())
    .optional()
    .describe('events recorded in the timeline but not acted on, with the reason'),
});

export const CancelResponse = z.object({ run_id: Uuid, status: z.literal('cancel_requested') });
