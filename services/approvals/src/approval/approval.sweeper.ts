import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { Logger } from '@warden/observability';
import { FencedLease, FencedOutError } from '@warden/persistence';
import { CONFIG, DATA_SOURCE, LOGGER } from '@warden/runtime';
import type { ApprovalsConfig } from '../config';
import { ApprovalRepository } from './projections/approval.repository';
import { ApprovalService, type WriteFence } from './approval.service';
import { approvalMetrics } from './approval.metrics';

/** The duty's name in `approvals.duty_leases` and in the `warden_duty_*` metrics. */
export const SWEEPER_DUTY = 'approval-sweeper';

/**
 * The timer duties: expire approvals past `expires_at`, notify the escalation chain at the configured
 * fraction of the wait, and finish grants whose policy re-check did not get an answer. One replica does
 * them at a time: it holds the duty's lease in Postgres ({@link FencedLease}, 3 sweep intervals long)
 * and each of its writes checks, in its own transaction, that its fencing token is still current; a
 * sweeper paused past its lease and resumed after another took over has its late writes refused
 * (`LEASE.FENCED_OUT`, counted in `warden_duty_fenced_writes_total`). Closures also take the
 * approval's row lock and every emitted event has a deterministic id.
 */
@Injectable()
export class ApprovalSweeper implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  readonly lease: FencedLease;

  constructor(
    private readonly approvals: ApprovalService,
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
    @Inject(CONFIG) private readonly config: ApprovalsConfig,
    @Inject(LOGGER) private readonly log: Logger,
  ) {
    this.lease = new FencedLease(ds, {
      table: 'approvals.duty_leases',
      duty: SWEEPER_DUTY,
      ttlMs: Math.max(3 * config.APPROVAL_SWEEP_MS, 1000),
      // who holds it, for people reading approvals.duty_leases (a restart is a new holder)
      holder: `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
    });
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => this.tick(), this.config.APPROVAL_SWEEP_MS);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    await this.lease.release().catch(() => undefined);
  }

  private tick(): void {
    if (this.running) return;
    this.running = this.sweep()
      .catch((err: unknown) => {
        if (err instanceof FencedOutError)
          this.log.warn('deposed sweeper: its write was refused (stale fencing token)', { error: err });
        else this.log.warn('approval sweep failed; retrying next tick', { error: err as Error });
      })
      .finally(() => {
        this.running = undefined;
      });
  }

  /** One pass of every timer duty (exposed for tests). */
  async sweep(now = new Date()): Promise<void> {
    const repo = new ApprovalRepository(this.ds.manager);
    const pending = await repo.pendingByTier();
    for (const tier of [1, 2, 3])
      approvalMetrics.pending.set({ tier: String(tier) }, pending.find((p) => p.tier === tier)?.n ?? 0);
    const token = await this.lease.acquire();
    if (!token) return;
    // every write of this pass is refused once another replica holds a newer token
    const fence: WriteFence = (em) => this.lease.check(em, token);
    try {
      // first: an approval of a run that already ended must not be granted by a late re-check
      for (const e of await repo.pendingOfEndedRuns())
        await this.approvals.closeForEndedRun(e.id, e.status, e.reason, fence);
      for (const id of await repo.dueForExpiry(now)) await this.approvals.expire(id, now, fence);
      for (const a of await repo.dueForEscalation(now, this.config.APPROVAL_ESCALATION_FRACTION))
        await this.approvals.escalate(a, now, fence);
      for (const id of await repo.quorumWithoutClosure(now)) await this.approvals.finalizeGrant(id, 1, fence);
    } catch (err) {
      // a write cut off because this sweeper stalled past its lease is a refused write too
      throw await this.lease.classify(err, token);
    }
  }
}
