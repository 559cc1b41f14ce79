import type { Action, Agent, Decision, RunResult, RunStatus, Usage } from '@warden/contracts';
import type { z } from 'zod';

/**
 * A run as the orchestrator shows it (`GET /v1/runs/:id`, the `run` and `end` events of its stream).
 * @example if (snapshot.status === 'awaiting_approval') console.log(snapshot.approval?.id)
 */
export interface RunSnapshot {
  run_id: string;
  status: RunStatus;
  agent: Agent;
  session_id: string | null;
  action: Action;
  decision: Decision | null;
  approval: {
    id: string;
    status: 'pending' | 'granted' | 'rejected' | 'expired';
    tier: number;
    required_votes: number;
    expires_at: string;
    operators: string[];
  } | null;
  result: RunResult | null;
  trace_id: string;
  created_at: string;
  updated_at: string;
}

/**
 * What {@link WardenClient.propose} takes: the action and its context. The agent comes from the client's
 * options (the API key's agent).
 * @example { tool: 'fs.write_file', args: { path: 'notes/a.md', content: 'hi' }, session: 'sess-1', intent: 'take notes' }
 */
export interface Proposal {
  tool: string;
  args?: Record<string, unknown>;
  /** The Warden session id (budgets, loop and sequence rules apply per session). */
  session?: string;
  intent?: string;
  usage?: z.infer<typeof Usage>;
  /**
   * Same agent + same key = same run, never a second. Generated (a UUID) when absent, and reused by every
   * retry of this call, so a retried request never creates a second run.
   */
  idempotencyKey?: string;
  /** Who executes the action once it may: Warden's workers (default) or this client (see {@link Run.grant}). */
  executor?: 'worker' | 'client';
  metadata?: Record<string, unknown>;
  /** A client-chosen run id (UUID). */
  runId?: string;
}
