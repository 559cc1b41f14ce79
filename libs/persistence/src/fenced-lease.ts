import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { Counter, Gauge } from 'prom-client';
import { DomainError } from '@warden/kernel';
import { registry } from '@warden/observability';

function metric<T>(name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/** Singleton-duty metrics; `duty` is one of a handful of fixed names. */
export const dutyMetrics = {
  leader: metric(
    'warden_duty_leader',
    () =>
      new Gauge({
        name: 'warden_duty_leader',
        help: '1 while this process holds the lease of a singleton duty',
        labelNames: ['duty'],
        registers: [registry],
      }),
  ),
  token: metric(
    'warden_duty_fencing_token',
    () =>
      new Gauge({
        name: 'warden_duty_fencing_token',
        help: 'The fencing token this process last held for a singleton duty',
        labelNames: ['duty'],
        registers: [registry],
      }),
  ),
  fenced: metric(
    'warden_duty_fenced_writes_total',
    () =>
      new Counter({
        name: 'warden_duty_fenced_writes_total',
        help: 'Writes of a singleton duty refused because this process had been deposed (stale fencing token)',
        labelNames: ['duty'],
        registers: [registry],
      }),
  ),
};

/** Raised at a write whose fencing token is no longer the duty's current one: a deposed leader's late write. */
export class FencedOutError extends DomainError {
  constructor(duty: string, token: string, current: string | undefined) {
    super(
      'LEASE.FENCED_OUT',
      `${duty}: fencing token ${token} is stale (current ${current ?? 'none'}); write refused`,
      {
        duty,
        token,
        current: current ?? null,
      },
    );
  }
}

/** Where a {@link FencedLease} keeps its rows: a table created by {@link fencedLeaseTableSql}. */
export interface FencedLeaseOptions {
  /** Schema-qualified table, e.g. `"approvals".duty_leases`. */
  table: string;
  /** The duty this lease elects a leader for, e.g. `approval-sweeper`. */
  duty: string;
  /** How long a lease lasts without renewal; a holder renews well within it. */
  ttlMs: number;
  /** This process; defaults to a random id (a restart is a new holder). */
  holder?: string;
}

/**
 * The DDL of a lease table (one row per duty): the holder, until when, and the fencing token, which
 * only ever grows: every change of holder adds one.
 * @example await q.query(fencedLeaseTableSql('"approvals".duty_leases'))
 */
export function fencedLeaseTableSql(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${table} (
    duty text PRIMARY KEY,
    token bigint NOT NULL,
    holder text NOT NULL,
    expires_at timestamptz NOT NULL,
    acquired_at timestamptz NOT NULL DEFAULT now()
  )`;
}

/**
 * Leader election for a singleton duty, with a fencing token, in Postgres (the database the duty
 * writes to, so the token is checked in the very transaction of each write).
 *
 * - {@link acquire} takes the lease if it is free or expired (the token grows by one) or renews it if
 *   this holder has it (same token); it answers the token held, or null.
 * - {@link check} runs inside the duty's write transaction: it share-locks the duty's row and throws
 *   {@link FencedOutError} unless the token is still current. A new holder's acquisition must update
 *   that row, so it waits for a write in progress to commit, and every write after it sees the new
 *   token: a leader paused past its lease (GC, SIGSTOP, a slow disk) cannot write once resumed. A
 *   holder that stalls inside such a transaction is cut off by Postgres after the lease's ttl
 *   (`idle_in_transaction_session_timeout`), so it cannot keep a successor waiting either.
 *
 * Redis is not involved: its loss (or a restart that resets a counter) cannot move a token backwards.
 * @example
 * const lease = new FencedLease(ds, { table: '"approvals".duty_leases', duty: 'approval-sweeper', ttlMs: 3000 });
 * const token = await lease.acquire();
 * if (token) await ds.transaction(async (em) => { await lease.check(em, token); ...write... });
 */
export class FencedLease {
  readonly holder: string;

  constructor(
    private readonly ds: DataSource,
    private readonly opts: FencedLeaseOptions,
  ) {
    this.holder = opts.holder ?? randomUUID();
  }

  get duty(): string {
    return this.opts.duty;
  }

  /** Takes or renews the lease: the fencing token now held, or null while another holder's lease runs. */
  async acquire(): Promise<string | null> {
    const t = this.opts.table;
    const rows: { token: string }[] = await this.ds.query(
      `INSERT INTO ${t} AS l (duty, token, holder, expires_at) VALUES ($1, 1, $2, now() + $3 * interval '1 millisecond')
       ON CONFLICT (duty) DO UPDATE SET
         token = CASE WHEN l.holder = EXCLUDED.holder THEN l.token ELSE l.token + 1 END,
         acquired_at = CASE WHEN l.holder = EXCLUDED.holder THEN l.acquired_at ELSE now() END,
         holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
       WHERE l.holder = EXCLUDED.holder OR l.expires_at <= now()
       RETURNING token::text AS token`,
      [this.opts.duty, this.holder, this.opts.ttlMs],
    );
    const token = rows[0]?.token ?? null;
    dutyMetrics.leader.set({ duty: this.opts.duty }, token ? 1 : 0);
    if (token) dutyMetrics.token.set({ duty: this.opts.duty }, Number(token));
    return token;
  }

  /**
   * The fence, inside the write's transaction: returns if `token` is the duty's current token (and
   * keeps a successor's acquisition waiting until this transaction ends), else throws {@link FencedOutError}.
   */
  async check(em: EntityManager, token: string): Promise<void> {
    // a holder stopped mid-transaction must not hold its successor off for longer than a lease
    await em.query(`SELECT set_config('idle_in_transaction_session_timeout', $1, true)`, [
      String(Math.max(1000, this.opts.ttlMs)),
    ]);
    const rows: { token: string }[] = await em.query(
      `SELECT token::text AS token FROM ${this.opts.table} WHERE duty = $1 FOR SHARE`,
      [this.opts.duty],
    );
    const current = rows[0]?.token;
    if (current !== token) {
      dutyMetrics.fenced.inc({ duty: this.opts.duty });
      dutyMetrics.leader.set({ duty: this.opts.duty }, 0);
      throw new FencedOutError(this.opts.duty, token, current);
    }
  }

  /**
   * After a write of the duty failed some other way (e.g. Postgres cut off a transaction that stalled
   * past the lease): a {@link FencedOutError} (counted as a refused write) if `token` is no longer
   * current — the write was a deposed leader's, and it did not happen — else `err` unchanged.
   */
  async classify(err: unknown, token: string): Promise<unknown> {
    if (err instanceof FencedOutError) return err;
    const rows: { token: string }[] | undefined = await this.ds
      .query(`SELECT token::text AS token FROM ${this.opts.table} WHERE duty = $1`, [this.opts.duty])
      .catch(() => undefined);
    if (!rows || rows[0]?.token === token) return err;
    dutyMetrics.fenced.inc({ duty: this.opts.duty });
    dutyMetrics.leader.set({ duty: this.opts.duty }, 0);
    const fenced = new FencedOutError(this.opts.duty, token, rows[0]?.token);
    fenced.cause = err;
    return fenced;
  }

  /** Gives the lease up (shutdown), so a successor need not wait for it to expire. */
  async release(): Promise<void> {
    await this.ds.query(`UPDATE ${this.opts.table} SET expires_at = now() WHERE duty = $1 AND holder = $2`, [
      this.opts.duty,
      this.holder,
    ]);
    dutyMetrics.leader.set({ duty: this.opts.duty }, 0);
  }
}
