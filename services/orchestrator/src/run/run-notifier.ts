import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { PoolClient } from 'pg';
import { Logger } from '@warden/observability';
import { DATA_SOURCE, LOGGER } from '@warden/runtime';

/** The Postgres channel the runs projection notifies (payload: a run id) when a batch that touched the run commits. */
export const RUN_CHANGED_CHANNEL = 'warden_orchestrator_run_changed';

/**
 * Wakes the run streams of this process when any replica's runs projection commits a change to their
 * run: one `LISTEN` connection per process, fed by `pg_notify` inside the projection's transaction
 * (delivered on commit, so a woken reader always sees the change). Readers also wake on a timer, so a
 * dropped listener connection costs latency, never an answer.
 * @example const stop = notifier.onChange(runId, () => wake()); … stop()
 */
@Injectable()
export class RunNotifier implements OnModuleDestroy {
  private readonly log: Logger;
  private readonly waiters = new Map<string, Set<() => void>>();
  private client?: Promise<PoolClient | undefined>;
  private closed = false;

  constructor(
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('run-notifier');
  }

  /** Calls `fn` whenever the run changes, until the returned function is called. */
  onChange(runId: string, fn: () => void): () => void {
    void this.listen();
    const set = this.waiters.get(runId) ?? new Set();
    set.add(fn);
    this.waiters.set(runId, set);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.waiters.delete(runId);
    };
  }

  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    const client = await this.client;
    client?.release(true);
  }

  private listen(): Promise<PoolClient | undefined> {
    if (this.client || this.closed) return this.client ?? Promise.resolve(undefined);
    const pool = (this.ds.driver as unknown as { master: { connect(): Promise<PoolClient> } }).master;
    this.client = (async () => {
      try {
        const client = await pool.connect();
        client.on('notification', (n) => {
          for (const fn of [...(this.waiters.get(n.payload ?? '') ?? [])]) fn();
        });
        client.on('error', (err) => {
          this.log.warn('run change listener lost; reconnecting on the next stream', { error: err });
          this.client = undefined;
          client.release(true);
        });
        await client.query(`LISTEN ${RUN_CHANGED_CHANNEL}`);
        return client;
      } catch (err) {
        this.log.warn('run change listener unavailable; streams fall back to their timer', { error: err as Error });
        this.client = undefined;
        return undefined;
      }
    })();
    return this.client;
  }
}
