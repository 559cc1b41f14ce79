import { Inject, Injectable } from '@nestjs/common';
import { Logger } from '@warden/observability';
import { CONFIG, LOGGER } from '@warden/runtime';
import type { IngestConfig } from '../config';

/** Statuses in which nothing has started executing yet: only these are cancelled for an MCP client. */
const NOT_STARTED = new Set(['received', 'awaiting_approval', 'queued']);

export type CancelOutcome = 'cancelled' | 'started' | 'terminal' | 'unknown_run' | 'no_credential' | 'unavailable';

/**
 * Cancels runs for the MCP gateway (`notifications/cancelled`) through the orchestrator's public REST
 * API (`POST /v1/runs/:id/cancel`, contract §3), with a service operator token.
 *
 * Why HTTP and not the bus: `run_cancelled` has exactly one producer, the orchestrator (every consumer
 * verifies its signature), and its cancel route is the one place that decides whether a run may still
 * be cancelled. Calling it keeps that single state machine and needs no new internal subject, handler
 * or NATS permission; ingest imports nothing of the orchestrator. The token is an operator credential
 * (`MCP_SERVICE_TOKEN`, role approver; in development the bootstrap admin token), so the cancellation
 * is recorded as by that operator.
 */
@Injectable()
export class RunCanceller {
  private readonly log: Logger;
  private readonly token: string | undefined;

  constructor(
    @Inject(CONFIG) private readonly config: IngestConfig,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('mcp-cancel');
    this.token = config.MCP_SERVICE_TOKEN ?? config.WARDEN_BOOTSTRAP_ADMIN_TOKEN;
  }

  /** Cancels `runId` if it has not started. Never throws. */
  async cancelIfNotStarted(runId: string): Promise<CancelOutcome> {
    if (!this.token) {
      this.log.warn('MCP cancellation ignored: set MCP_SERVICE_TOKEN (an approver operator token)', { run_id: runId });
      return 'no_credential';
    }
    const base = this.config.ORCHESTRATOR_URL.replace(/\/+$/, '');
    const headers = { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' };
    try {
      const got = await fetch(`${base}/v1/runs/${runId}`, { headers, signal: AbortSignal.timeout(5000) });
      if (got.status === 404) return 'unknown_run';
      if (!got.ok) throw new Error(`GET run answered ${got.status}`);
      const run = (await got.json()) as { status: string };
      if (!NOT_STARTED.has(run.status)) return run.status === 'running' ? 'started' : 'terminal';
      const r = await fetch(`${base}/v1/runs/${runId}/cancel`, {
        method: 'POST',
        headers,
        body: '{}',
        signal: AbortSignal.timeout(5000),
      });
      if (r.status === 202) return 'cancelled';
      if (r.status === 409 || r.status === 422) return 'terminal';
      throw new Error(`cancel answered ${r.status}`);
    } catch (err) {
      this.log.warn('MCP cancellation failed', { run_id: runId, error: err as Error });
      return 'unavailable';
    }
  }
}
