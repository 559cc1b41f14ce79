import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { DeliverPolicy } from '@nats-io/jetstream';
import type { Subjects } from '@warden/contracts';
import { decodeEnvelope, makeEnvelope, type BusConnection, type Publisher } from '@warden/bus';
import { Logger } from '@warden/observability';
import { BUS, CONFIG, DATA_SOURCE, LOGGER, PUBLISHER, SUBJECTS } from '@warden/runtime';
import type { OrchestratorConfig } from '../config';
import { grantExpiry } from './domain/execution';
import { expiredGrants } from './projections/run.repository';

/** A report accepted by ingest just before the deadline has this long to be in the log. */
export const GRANT_GRACE_MS = 2000;

/**
 * Ends client-executed runs whose grant passed its deadline unreported: `execution_failed` with
 * `outcome_unknown` (the client may or may not have run the tool; Warden cannot know). Every replica
 * sweeps; the event's id is derived from the grant, so the broker and the projection keep one. The
 * read model may trail the log, so before it ends a run the sweeper looks in the log itself for an
 * authentic report on the grant (ingest takes none after the deadline): a report in time always wins.
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
    @Inject(BUS) private readonly bus: BusConnection,
    @Inject(SUBJECTS) private readonly subjects: Subjects,
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
    let ended = 0;
    for (const r of expired) {
      if (await this.reportedInLog(r.run_id, r.grant.id)) continue;
      ended++;
      const expiry = grantExpiry(r.grant);
      await this.publisher.publishEvent(
        makeEnvelope({
          id: expiry.id,
          type: 'execution_failed',
          runId: r.run_id,
          producer: 'orchestrator',
          traceId: r.trace_id,
          correlationId: r.run_id,
          data: expiry.data,
        }),
      );
    }
    return ended;
  }

  /** Whether the events stream holds an authentic `execution_reported` for this grant (forgeries do not count). */
  private async reportedInLog(runId: string, grantId: string): Promise<boolean> {
    const consumer = await this.bus.js.consumers.get(this.subjects.streams.events, {
      filter_subjects: this.subjects.event(runId, 'execution_reported'),
      deliver_policy: DeliverPolicy.All,
    });
    if ((await consumer.info(true)).num_pending === 0) return false;
    const iter = await consumer.consume({ max_messages: 100 });
    try {
      for await (const m of iter) {
        try {
          const env = decodeEnvelope(m.json(), true);
          if (env.type === 'execution_reported' && env.data.grant_id === grantId) return true;
        } catch {
          // forged or malformed: not a report
        }
        if (m.info.pending === 0) return false;
      }
    } finally {
      await iter.close().catch(() => undefined);
    }
    return false;
  }
}
