import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { makeEnvelope, type Publisher } from '@warden/bus';
import { deriveId, sha256Canonical } from '@warden/kernel';
import { Logger } from '@warden/observability';
import { CONFIG, DATA_SOURCE, LOGGER, PUBLISHER } from '@warden/runtime';
import type { OrchestratorConfig } from '../config';
import { expiredGrants } from './projections/run.repository';

/** A report accepted by ingest just before the deadline has this long to reach the runs projection. */
export const GRANT_GRACE_MS = 2000;

/**
 * Ends client-executed runs whose grant passed its deadline unreported: `execution_failed` with
 * `outcome_unknown` (the client may or may not have run the tool; Warden cannot know). Every replica
 * sweeps; the event's id is derived from the grant, so the broker and the projection keep one.
 */
@Injectable()
export class GrantSweeper implements OnModuleInit, OnModuleDestroy {
  private readonly log: Logger;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
    @Inject(PUBLISHER) private readonly publisher: Publisher,
    @Inject(CONFIG) private readonly config: OrchestratorConfig,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('grant-sweeper');
  }

  onModuleInit(): void {
    this.timer = setInterval(() => {
      this.running ??= this.sweep()
        .then(() => undefined)
        .catch((err: unknown) => this.log.warn('grant sweep failed; retrying', { error: err as Error }))
        .finally(() => (this.running = undefined));
    }, this.config.CLIENT_GRANT_SWEEP_MS);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass: publishes the ending of every run whose grant expired. */
  async sweep(now = new Date()): Promise<number> {
    const expired = await expiredGrants(this.ds.manager, now, GRANT_GRACE_MS, 100);
    for (const r of expired) {
      const message = `the execution grant expired at ${r.grant.expiresAt} without a report`;
      await this.publisher.publishEvent(
        makeEnvelope({
          id: deriveId(r.grant.id, 'expired'),
          type: 'execution_failed',
          runId: r.run_id,
          producer: 'orchestrator',
          traceId: r.trace_id,
          correlationId: r.run_id,
          data: {
            grant_id: r.grant.id,
            reason: 'expired',
            result: {
              output: null,
              output_hash: sha256Canonical(null),
              error: { code: 'GRANT.EXPIRED', message },
              outcome_unknown: true,
            },
          },
        }),
      );
    }
    return expired.length;
  }
}
