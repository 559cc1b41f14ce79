import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { TransientError } from '@warden/kernel';
import type { Logger } from '@warden/observability';
import type { Redis } from '@warden/persistence';
import { CONFIG, DATA_SOURCE, LOGGER, REDIS } from '@warden/runtime';
import type { PolicyConfig } from '../config';
import { usageRow, type UsageRecord } from './domain/usage.snapshot';
import { CountersMissingError, PolicyStateStore, type StateRequest, type StoredState } from './policy-state.store';

const REBUILD_LOCK = 'rebuild-lock';
const REBUILD_LOCK_MS = 60_000;

/** One `policy.usage` row as the rebuild reads it. */
interface UsageRow {
  run_id: string;
  session_id: string | null;
  agent_id: string;
  tool: string;
  tokens: string;
  micro_usd: string;
  host: string;
  fingerprint: string;
  failed: boolean;
  snapshot: unknown;
  /** Seconds left of the chain's window (its last row + ttl − now). */
  left: number;
}

/**
 * The policy's Redis state (session and agent budgets, loop failures, session history, run
 * snapshots, rate buckets) made durable: every run it counts is also written to `policy.usage`
 * ({@link durableUsage}: in the batch's one statement with its decision inputs, before any decision
 * is published), and when Redis comes back
 * without its epoch key (a restart with no persistence, a flush, a failover to an empty replica) the
 * counters are rebuilt from those rows before the next decision — one replica rebuilds under a Redis
 * lock while the others' decisions wait (a transient error: the bus redelivers). A session counts
 * what it counted before the loss; a run judged before it keeps its snapshot, so a redelivery is not
 * counted twice.
 *
 * Windows follow Redis's: a session's (agent's) counters live while its runs come less than its ttl
 * apart, so the rebuild sums the runs since the last such gap. Rate buckets are rebuilt as full
 * minus the runs of the last refill period (an approximation of the continuous refill).
 */
@Injectable()
export class DurablePolicyStateStore extends PolicyStateStore {
  private readonly redisClient: Redis;
  private readonly keyPrefix: string;
  private epochSeen = false;

  constructor(
    @Inject(REDIS) redis: Redis,
    @Inject(CONFIG) config: Pick<PolicyConfig, 'WARDEN_SUBJECT_PREFIX'>,
    @Inject(DATA_SOURCE) private readonly ds: DataSource,
    @Inject(LOGGER) private readonly log: Logger,
  ) {
    super(redis, config);
    this.redisClient = redis;
    this.keyPrefix = `${config.WARDEN_SUBJECT_PREFIX}:policy:`;
    this.requireEpoch = true;
  }

  /**
   * Counts the batch; the judge script itself checks the epoch (no round trip of its own). If Redis
   * lost the counters, they are rebuilt from `policy.usage` and the batch is judged again — a run the
   * first pass already counted gets its stored snapshot back, so nothing is counted twice.
   */
  override async recordAll(requests: readonly StateRequest[]): Promise<(StoredState | TransientError)[]> {
    if (!requests.length) return [];
    const first = await super.recordAll(requests);
    if (!first.some((r) => r instanceof CountersMissingError)) return first;
    try {
      await this.ensureCounters();
    } catch (err) {
      const e =
        err instanceof TransientError ? err : new TransientError(`policy state: ${(err as Error).message}`, err);
      return requests.map(() => e);
    }
    return super.recordAll(requests);
  }

  /** Every counted run's row; the decision service writes them with the batch's inputs, in one statement. */
  override durableUsage(
    requests: readonly StateRequest[],
    states: readonly (StoredState | TransientError)[],
  ): UsageRecord[] {
    return requests.flatMap((r, i) => {
      const s = states[i];
      return s instanceof TransientError || !s ? [] : [usageRow(r, s, this.sessionKey(r.sessionId ?? ''))];
    });
  }

  override async peek(request: StateRequest): Promise<StoredState> {
    await this.ensureCounters();
    return super.peek(request);
  }

  override async recordFailure(runId: string, ttlSeconds: number): Promise<boolean> {
    await this.ensureCounters();
    await this.ds.query('UPDATE "policy".usage SET failed = true WHERE run_id = $1', [runId]);
    return super.recordFailure(runId, ttlSeconds);
  }

  /**
   * Makes sure Redis holds the counters: if its epoch key is missing, rebuilds them from
   * `policy.usage` (or waits, as a transient error, while another replica does).
   */
  async ensureCounters(): Promise<void> {
    const epoch = await this.redisClient.get(this.epochKey());
    if (epoch) {
      this.epochSeen = true;
      return;
    }
    const token = randomUUID();
    const locked = await this.redisClient.set(this.keyPrefix + REBUILD_LOCK, token, 'PX', REBUILD_LOCK_MS, 'NX');
    if (locked !== 'OK') throw new TransientError('policy counters are being rebuilt from Postgres by another replica');
    try {
      const started = Date.now();
      const n = await this.rebuild();
      await this.redisClient.set(this.epochKey(), new Date().toISOString());
      (this.epochSeen ? this.log.warn : this.log.info).call(
        this.log,
        this.epochSeen
          ? 'Redis lost the policy counters; rebuilt them from policy.usage'
          : 'policy counters checked against policy.usage',
        { runs: n, ms: Date.now() - started },
      );
      this.epochSeen = true;
    } finally {
      await this.redisClient
        .eval(
          `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`,
          1,
          this.keyPrefix + REBUILD_LOCK,
          token,
        )
        .catch(() => undefined);
    }
  }

  /** Rewrites every live session's, agent's and rate bucket's state in Redis from `policy.usage`. */
  async rebuild(): Promise<number> {
    // the current chain of each session with a run within its ttl: runs since the last gap longer than the ttl
    const sessions: UsageRow[] = await this.ds.query(chainSql('session_id', 'session_ttl'));
    const agents: UsageRow[] = await this.ds.query(chainSql('agent_id', 'agent_ttl', 'AND track_agent'));
    const rates: { rate_key: string; rate_capacity: number; rate_per_ms: number; n: string; last_ms: string }[] =
      await this.ds.query(
        `SELECT rate_key, rate_capacity, rate_per_ms, count(*) AS n,
                (extract(epoch FROM max(recorded_at)) * 1000)::bigint AS last_ms
         FROM "policy".usage
         WHERE rate_key IS NOT NULL AND recorded_at > now() - rate_per_ms * interval '1 millisecond'
         GROUP BY rate_key, rate_capacity, rate_per_ms`,
      );
    const pipe = this.redisClient.multi();
    const bySession = groupBy(sessions, (r) => r.session_id!);
    for (const [session, runs] of bySession) {
      const key = this.sessionKey(session);
      const left = Math.max(1, Math.ceil(runs[0]!.left));
      let c = 0;
      let t = 0;
      let m = 0;
      const tools = new Map<string, number>();
      const hosts = new Set<string>();
      const fails = new Map<string, number>();
      // loop detection's repeats: every counted run of the same call (`r:<fingerprint>` in the loop hash)
      for (const r of runs) fails.set(`r:${r.fingerprint}`, (fails.get(`r:${r.fingerprint}`) ?? 0) + 1);
      for (const r of runs) {
        c += 1;
        t += Number(r.tokens);
        m += Number(r.micro_usd);
        tools.set(r.tool, (tools.get(r.tool) ?? 0) + 1);
        if (r.host) hosts.add(r.host);
        if (r.failed) fails.set(r.fingerprint, (fails.get(r.fingerprint) ?? 0) + 1);
        pipe.set(`${this.keyPrefix}run:${r.run_id}`, JSON.stringify(r.snapshot), 'EX', left);
        if (r.failed) pipe.set(`${this.keyPrefix}failed:${r.run_id}`, '1', 'EX', left);
      }
      pipe.del(key, `${key}:hist`, `${key}:fail`);
      pipe.hset(key, 'c', c, 't', t, 'm', m);
      const hist: (string | number)[] = [];
      // the Lua script keeps at most 512 history fields
      for (const [tool, n] of [...tools].slice(0, 512)) hist.push(`t:${tool}`, n);
      for (const h of [...hosts].slice(0, Math.max(0, 512 - tools.size))) hist.push(`h:${h}`, 1);
      if (hist.length) pipe.hset(`${key}:hist`, ...hist);
      if (fails.size) pipe.hset(`${key}:fail`, ...[...fails].flat());
      pipe.expire(key, left);
      if (hist.length) pipe.expire(`${key}:hist`, left);
      if (fails.size) pipe.expire(`${key}:fail`, left);
    }
    for (const [agent, runs] of groupBy(agents, (r) => r.agent_id)) {
      const key = this.agentKey(agent);
      const left = Math.max(1, Math.ceil(runs[0]!.left));
      const sum = runs.reduce((a, r) => ({ t: a.t + Number(r.tokens), m: a.m + Number(r.micro_usd) }), { t: 0, m: 0 });
      pipe.del(key);
      pipe.hset(key, 'c', runs.length, 't', sum.t, 'm', sum.m);
      pipe.expire(key, left);
    }
    for (const r of rates) {
      const key = `${this.keyPrefix}rate:${r.rate_key}`;
      pipe.hset(key, 'tk', String(Math.max(0, r.rate_capacity - Number(r.n))), 'ts', String(r.last_ms));
      pipe.pexpire(key, r.rate_per_ms * 2);
    }
    await pipe.exec();
    return sessions.length;
  }
}

/** The rows of each group's current chain (runs less than its ttl apart, the last within the ttl), in order. */
function chainSql(col: 'session_id' | 'agent_id', ttl: 'session_ttl' | 'agent_ttl', extra = ''): string {
  return `
    WITH live AS (
      SELECT DISTINCT ${col} AS g FROM "policy".usage
      WHERE ${col} IS NOT NULL ${extra} AND recorded_at > now() - ${ttl} * interval '1 second'
    ), o AS (
      SELECT u.*, CASE WHEN lag(u.recorded_at) OVER w IS NULL
                         OR u.recorded_at - lag(u.recorded_at) OVER w > u.${ttl} * interval '1 second'
                       THEN 1 ELSE 0 END AS brk
      FROM "policy".usage u JOIN live ON live.g = u.${col}
      WHERE true ${extra.replace('track_agent', 'u.track_agent')}
      WINDOW w AS (PARTITION BY u.${col} ORDER BY u.recorded_at, u.run_id)
    ), c AS (
      SELECT o.*, sum(brk) OVER (PARTITION BY ${col} ORDER BY recorded_at, run_id) AS chain,
             max(recorded_at) OVER (PARTITION BY ${col}) AS last_at
      FROM o
    )
    SELECT run_id, session_id, agent_id, tool, tokens, micro_usd, host, fingerprint, failed, snapshot,
           extract(epoch FROM (last_at + ${ttl} * interval '1 second' - now()))::float8 AS "left"
    FROM c
    WHERE chain = (SELECT max(c2.chain) FROM c c2 WHERE c2.${col} = c.${col})
    ORDER BY ${col}, recorded_at, run_id`;
}

function groupBy<T>(rows: readonly T[], key: (r: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const r of rows) out.set(key(r), [...(out.get(key(r)) ?? []), r]);
  return out;
}
