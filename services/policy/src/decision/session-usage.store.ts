import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from '@warden/persistence';
import { TransientError } from '@warden/kernel';
import { CONFIG, REDIS } from '@warden/runtime';
import type { PolicyConfig } from '../config';
import type { SessionUsage } from './domain/evaluate';

/**
 * Records a run's usage in its session once and answers the session's usage before that run. A run
 * seen before gets its stored snapshot back, so redelivery neither double-counts nor changes what
 * the run was judged on (its input_hash).
 * KEYS[1] = session hash: fields c (calls), t (tokens), r:<run_id> = "calls,tokens" before the run.
 * ARGV = run_id, tokens, ttl seconds.
 */
const RECORD_USAGE = `
local field = 'r:' .. ARGV[1]
local snap = redis.call('HGET', KEYS[1], field)
if snap then return snap end
local c = redis.call('HGET', KEYS[1], 'c') or '0'
local t = redis.call('HGET', KEYS[1], 't') or '0'
snap = c .. ',' .. t
redis.call('HSET', KEYS[1], field, snap)
redis.call('HINCRBY', KEYS[1], 'c', 1)
redis.call('HINCRBY', KEYS[1], 't', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return snap
`;

type WithRecordUsage = Redis & {
  policyRecordUsage(key: string, runId: string, tokens: number, ttlSeconds: number): Promise<string>;
};

/** Per-session call and token counters in Redis, keyed under the subject prefix. */
@Injectable()
export class SessionUsageStore {
  private readonly redis: WithRecordUsage;
  private readonly prefix: string;

  constructor(@Inject(REDIS) redis: Redis, @Inject(CONFIG) config: Pick<PolicyConfig, 'WARDEN_SUBJECT_PREFIX'>) {
    if (!('policyRecordUsage' in redis))
      redis.defineCommand('policyRecordUsage', { numberOfKeys: 1, lua: RECORD_USAGE });
    this.redis = redis as WithRecordUsage;
    this.prefix = `${config.WARDEN_SUBJECT_PREFIX}:policy:session:`;
  }

  /** The Redis key of a session's counters. */
  key(sessionId: string): string {
    return this.prefix + sessionId;
  }

  /**
   * Counts the run (once, ever) and returns the session's usage before it.
   * @example const before = await store.record('sess-42', runId, 512, 86400)
   */
  async record(sessionId: string, runId: string, tokens: number, ttlSeconds: number): Promise<SessionUsage> {
    let snap: string;
    try {
      snap = await this.redis.policyRecordUsage(
        this.key(sessionId),
        runId,
        Math.max(0, Math.trunc(tokens)),
        ttlSeconds,
      );
    } catch (err) {
      throw new TransientError(`recording session usage failed: ${(err as Error).message}`, err);
    }
    const [calls, used] = snap.split(',').map(Number);
    return { calls: calls ?? 0, tokens: used ?? 0 };
  }
}
