import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from '@warden/persistence';
import { TransientError } from '@warden/kernel';
import { CONFIG, REDIS } from '@warden/runtime';
import type { PolicyConfig } from '../config';
import type { SessionUsage } from './domain/evaluate';

/**
 * Records runs in one session, in the given order, each once, and answers the session's usage before
 * each run. A run seen before gets its stored snapshot back, so redelivery neither double-counts nor
 * changes what the run was judged on (its input_hash). Several runs of a session go in one call, so
 * their order cannot depend on how commands are pipelined or retried.
 * KEYS[1] = session hash: fields c (calls), t (tokens), r:<run_id> = "calls,tokens" before the run.
 * ARGV = ttl seconds, then run_id, tokens for each run.
 */
const RECORD_USAGE = `
local out = {}
local counted = false
for i = 2, #ARGV, 2 do
  local field = 'r:' .. ARGV[i]
  local snap = redis.call('HGET', KEYS[1], field)
  if not snap then
    local c = redis.call('HGET', KEYS[1], 'c') or '0'
    local t = redis.call('HGET', KEYS[1], 't') or '0'
    snap = c .. ',' .. t
    redis.call('HSET', KEYS[1], field, snap)
    redis.call('HINCRBY', KEYS[1], 'c', 1)
    redis.call('HINCRBY', KEYS[1], 't', ARGV[i + 1])
    counted = true
  end
  out[#out + 1] = snap
end
if counted then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return out
`;

type WithRecordUsage = Redis & {
  policyRecordUsage(key: string, ttlSeconds: number, ...runAndTokens: (string | number)[]): Promise<string[]>;
};

/** One run to count in its session. */
export interface UsageEntry {
  sessionId: string;
  runId: string;
  tokens: number;
}

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
   * Counts each run (once, ever) and returns, per entry in order, the session's usage before that run
   * or a {@link TransientError} if its session could not be recorded. Runs of one session are counted
   * in the order given; sessions are recorded concurrently (one pipelined write).
   * @example const [before] = await store.recordAll([{ sessionId: 'sess-42', runId, tokens: 512 }], 86400)
   */
  async recordAll(entries: readonly UsageEntry[], ttlSeconds: number): Promise<(SessionUsage | TransientError)[]> {
    const bySession = new Map<string, number[]>();
    entries.forEach((e, i) => {
      const at = bySession.get(e.sessionId);
      if (at) at.push(i);
      else bySession.set(e.sessionId, [i]);
    });
    const out = new Array<SessionUsage | TransientError>(entries.length);
    await Promise.all(
      [...bySession].map(async ([sessionId, indexes]) => {
        const argv: (string | number)[] = [];
        for (const i of indexes) argv.push(entries[i]!.runId, Math.max(0, Math.trunc(entries[i]!.tokens)));
        try {
          const snaps = await this.redis.policyRecordUsage(this.key(sessionId), ttlSeconds, ...argv);
          if (snaps.length !== indexes.length)
            throw new Error(`expected ${indexes.length} snapshots, got ${snaps.length}`);
          indexes.forEach((i, k) => (out[i] = parseSnapshot(snaps[k]!)));
        } catch (err) {
          const error = new TransientError(`recording session usage failed: ${(err as Error).message}`, err);
          for (const i of indexes) out[i] = error;
        }
      }),
    );
    return out;
  }
}

function parseSnapshot(snap: string): SessionUsage {
  const [calls, used] = snap.split(',').map(Number);
  return { calls: calls ?? 0, tokens: used ?? 0 };
}
