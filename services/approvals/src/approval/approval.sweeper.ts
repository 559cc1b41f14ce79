import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { Subjects } from '@warden/contracts';
import type { Logger } from '@warden/observability';
import type { Redis } from '@warden/persistence';
import { CONFIG, DATA_SOURCE, LOGGER, REDIS, SUBJECTS } from '@warden/runtime';
import type { ApprovalsConfig } from '../config';
import { ApprovalRepository } from './approval.repository';
import { ApprovalService } from './approval.service';
import { approvalMetrics } from './approval.metrics';

// take the lease if free, renew it if ours
const LEASE_LUA = `local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;
const RELEASE_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * The timer duties: expire approvals past `expires_at`, notify the escalation chain at the configured
 * fraction of the wait, and finish grants whose policy re-check did not get an answer. One replica does
 * them at a time (a Redis lease); if Redis is unreachable every replica does them, which is still safe:
 * closures take the approval's row lock and every emitted event has a deterministic id.
 */
@Injectable()
export class ApprovalSweeper implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private readonly holder = randomUUID();
  private readonly leaseKey: string;

  constructor(
    private readonly approvals: ApprovalService,
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(SUBJECTS) subjects: Subjects,
    @Inject(CONFIG) private readonly config: ApprovalsConfig,
    @Inject(LOGGER) private readonly log: Logger,
  ) {
    this.leaseKey = `${subjects.prefix}:approvals:sweeper-lease`;
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => this.tick(), this.config.APPROVAL_SWEEP_MS);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    await this.redis.eval(RELEASE_LUA, 1, this.leaseKey, this.holder).catch(() => undefined);
  }

  private tick(): void {
    if (this.running) return;
    this.running = this.sweep()
      .catch((err: unknown) => this.log.warn('approval sweep failed; retrying next tick', { error: err as Error }))
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
    if (!(await this.lease())) return;
    // first: an approval of a run that already ended must not be granted by a late re-check
    for (const e of await repo.pendingOfEndedRuns()) await this.approvals.closeForEndedRun(e.id, e.status, e.reason);
    for (const id of await repo.dueForExpiry(now)) await this.approvals.expire(id, now);
    for (const a of await repo.dueForEscalation(now, this.config.APPROVAL_ESCALATION_FRACTION))
      await this.approvals.escalate(a, now);
    for (const id of await repo.quorumWithoutClosure(now)) await this.approvals.finalizeGrant(id, 1);
  }

  private async lease(): Promise<boolean> {
    try {
      const ttl = Math.max(3 * this.config.APPROVAL_SWEEP_MS, 1000);
      return (await this.redis.eval(LEASE_LUA, 1, this.leaseKey, this.holder, String(ttl))) === 1;
    } catch (err) {
      this.log.warn('sweeper lease unavailable; sweeping anyway (closures stay exactly-once)', {
        error: err as Error,
      });
      return true;
    }
  }
}
