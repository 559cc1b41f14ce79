import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from '@warden/persistence';
import { TransientError } from '@warden/kernel';
import { CONFIG, REDIS } from '@warden/runtime';
import type { PolicyConfig } from '../config';
import { parseSnapshot, type StoredState, type UsageRecord } from './domain/usage.snapshot';
import type { StateRequest } from './domain/usage.request';

/** What the judge script answers when the counters are incomplete (no snapshot is ever this). */
export const EPOCH_MISSING = '!epoch-missing';

/** The counters in Redis are incomplete (their epoch key is missing): rebuild them, then retry. */
export class CountersMissingError extends TransientError {}

/**
 * Everything a decision reads from Redis, read and updated in one atomic script per run:
 * session counters (calls, tokens, micro-USD) and history (tools proposed, hosts fetched), the
 * agent's counters, the failures and earlier proposals of this very call in the session (loop detection) and the
 * per agent+tool token bucket. The state before the run is stored as the run's snapshot, and a run
 * seen before gets its snapshot back: redelivery neither double-counts nor changes what the run was
 * judged on (its input_hash). Reads all come before writes, so a failing read leaves nothing half done.
 *
 * With ARGV 13 set, the script first checks that the counters are complete (KEYS 7, the epoch key a
 * rebuild writes last; see DurablePolicyStateStore) and, if not, returns {@link EPOCH_MISSING} having
 * read and changed nothing — so the check costs no round trip of its own.
 *
 * KEYS: 1 run snapshot, 2 session counters, 3 session history, 4 session failures, 5 agent counters, 6 bucket,
 *       7 epoch
 * ARGV: 1 session ttl, 2 agent ttl, 3 tokens, 4 micro-USD, 5 tool, 6 host, 7 action fingerprint,
 *       8 bucket capacity (0 = no limit), 9 bucket refill ms, 10 dry run (1 = read only), 11 has session,
 *       12 count the agent (only when the bundle has an agent budget), 13 require the epoch key
 */
const JUDGE_STATE = `
if ARGV[13] == '1' and redis.call('EXISTS', KEYS[7]) == 0 then return '${EPOCH_MISSING}' end
local dry = ARGV[10] == '1'
if not dry then
  local snap = redis.call('GET', KEYS[1])
  if snap then return snap end
end
local hasSession = ARGV[11] == '1'
local s = false
local hist = {}
if hasSession then
  local v = redis.call('HMGET', KEYS[2], 'c', 't', 'm')
  hist = redis.call('HGETALL', KEYS[3])
  local f = tonumber(redis.call('HGET', KEYS[4], ARGV[7])) or 0
  local rp = tonumber(redis.call('HGET', KEYS[4], 'r:' .. ARGV[7])) or 0
  s = { c = tonumber(v[1]) or 0, t = tonumber(v[2]) or 0, m = tonumber(v[3]) or 0, h = hist, f = f, r = rp }
end
local hasAgent = ARGV[12] == '1'
local a = false
if hasAgent then
  local av = redis.call('HMGET', KEYS[5], 'c', 't', 'm')
  a = { c = tonumber(av[1]) or 0, t = tonumber(av[2]) or 0, m = tonumber(av[3]) or 0 }
end
local cap = tonumber(ARGV[8])
local rate = 0
local tk, nowms
if cap > 0 then
  local now = redis.call('TIME')
  nowms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  local b = redis.call('HMGET', KEYS[6], 'tk', 'ts')
  tk = tonumber(b[1]) or cap
  local ts = tonumber(b[2]) or nowms
  tk = math.min(cap, tk + math.max(0, nowms - ts) * cap / tonumber(ARGV[9]))
  if tk >= 1 then rate = 1; tk = tk - 1 else rate = 2 end
end
local snap = { s = s, a = a, r = rate }
if hasSession then snap.l = { KEYS[4], ARGV[7] } end
local out = cjson.encode(snap)
if dry then return out end
if cap > 0 then
  redis.call('HSET', KEYS[6], 'tk', tostring(tk), 'ts', nowms)
  redis.call('PEXPIRE', KEYS[6], math.ceil(tonumber(ARGV[9]) * 2))
end
if hasSession then
  redis.call('HINCRBY', KEYS[2], 'c', 1)
  redis.call('HINCRBY', KEYS[2], 't', ARGV[3])
  redis.call('HINCRBY', KEYS[2], 'm', ARGV[4])
  local n = #hist / 2
  local tf = 't:' .. ARGV[5]
  if n < 512 or redis.call('HEXISTS', KEYS[3], tf) == 1 then redis.call('HINCRBY', KEYS[3], tf, 1); n = n + 1 end
  if ARGV[6] ~= '' and n < 512 then redis.call('HSET', KEYS[3], 'h:' .. ARGV[6], 1) end
  -- loop detection counts every proposal of the same call (bounded: 4096 distinct calls a session)
  if s.r > 0 or redis.call('HLEN', KEYS[4]) < 4096 then
    redis.call('HINCRBY', KEYS[4], 'r:' .. ARGV[7], 1)
    redis.call('EXPIRE', KEYS[4], ARGV[1])
  end
  redis.call('EXPIRE', KEYS[2], ARGV[1])
  redis.call('EXPIRE', KEYS[3], ARGV[1])
end
if hasAgent then
  redis.call('HINCRBY', KEYS[5], 'c', 1)
  redis.call('HINCRBY', KEYS[5], 't', ARGV[3])
  redis.call('HINCRBY', KEYS[5], 'm', ARGV[4])
  redis.call('EXPIRE', KEYS[5], ARGV[2])
end
redis.call('SET', KEYS[1], out, 'EX', math.max(tonumber(ARGV[1]), tonumber(ARGV[2])))
return out
`;

/**
 * A run failed: count one failure of its action in its session, once per run.
 * KEYS: 1 run snapshot, 2 failed marker. ARGV: 1 ttl.
 */
const RECORD_FAILURE = `
local snap = redis.call('GET', KEYS[1])
if not snap then return 0 end
local d = cjson.decode(snap)
if type(d.l) ~= 'table' then return 0 end
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('HINCRBY', d.l[1], d.l[2], 1)
redis.call('EXPIRE', d.l[1], ARGV[1])
return 1
`;

type WithScripts = Redis & {
  policyJudgeState(...args: (string | number)[]): Promise<string>;
  policyRecordFailure(run: string, marker: string, ttl: number): Promise<number>;
};

export type { StateRequest, StoredState };

/** Session, agent, loop and rate-limit state in Redis, keyed under the subject prefix. */
@Injectable()
export class PolicyStateStore {
  private readonly redis: WithScripts;
  private readonly prefix: string;
  /** Set by a store that keeps the counters complete (DurablePolicyStateStore): each judgement checks the epoch. */
  protected requireEpoch = false;

  constructor(@Inject(REDIS) redis: Redis, @Inject(CONFIG) config: Pick<PolicyConfig, 'WARDEN_SUBJECT_PREFIX'>) {
    if (!('policyJudgeState' in redis)) {
      redis.defineCommand('policyJudgeState', { numberOfKeys: 7, lua: JUDGE_STATE });
      redis.defineCommand('policyRecordFailure', { numberOfKeys: 2, lua: RECORD_FAILURE });
    }
    this.redis = redis as WithScripts;
    this.prefix = `${config.WARDEN_SUBJECT_PREFIX}:policy:`;
  }

  /** The Redis key of a session's counters (hash: c calls, t tokens, m micro-USD). */
  sessionKey(sessionId: string): string {
    return `${this.prefix}session:${sessionId}`;
  }

  agentKey(agentId: string): string {
    return `${this.prefix}agent:${agentId}`;
  }

  /** Written last by a rebuild; missing means Redis lost the counters (restart, flush, failover). */
  epochKey(): string {
    return `${this.prefix}epoch`;
  }

  private args(r: StateRequest, dry: boolean): (string | number)[] {
    const session = r.sessionId ?? '';
    const sk = this.sessionKey(session);
    return [
      `${this.prefix}run:${r.runId}`,
      sk,
      `${sk}:hist`,
      `${sk}:fail`,
      this.agentKey(r.agentId),
      r.rate ? `${this.prefix}rate:${r.rate.id}:${r.agentId}:${r.tool}` : `${this.prefix}rate:none`,
      this.epochKey(),
      r.sessionTtl,
      r.agentTtl,
      Math.max(0, Math.trunc(r.tokens)),
      Math.max(0, Math.round(r.costUsd * 1e6)),
      r.tool,
      r.host,
      r.fingerprint,
      r.rate?.capacity ?? 0,
      (r.rate?.per ?? 1) * 1000,
      dry ? 1 : 0,
      r.sessionId ? 1 : 0,
      r.trackAgent ? 1 : 0,
      this.requireEpoch ? 1 : 0,
    ];
  }

  /**
   * Counts each run (once, ever) and returns, per request in order, the state before it or a
   * {@link TransientError} if Redis refused it. One pipelined round trip for the whole batch; runs
   * are applied in the order given.
   * @example const [state] = await store.recordAll([request])
   */
  async recordAll(requests: readonly StateRequest[]): Promise<(StoredState | TransientError)[]> {
    if (!requests.length) return [];
    const pipe = this.redis.pipeline() as unknown as {
      policyJudgeState(...args: (string | number)[]): void;
      exec(): Promise<[Error | null, unknown][] | null>;
    };
    for (const r of requests) pipe.policyJudgeState(...this.args(r, false));
    let results: [Error | null, unknown][] | null;
    try {
      results = await pipe.exec();
    } catch (err) {
      const e = new TransientError(`recording policy state failed: ${(err as Error).message}`, err);
      return requests.map(() => e);
    }
    return requests.map((r, i) => {
      const [err, value] = results?.[i] ?? [new Error('no reply'), null];
      if (err) return new TransientError(`recording policy state failed: ${err.message}`, err);
      if (value === EPOCH_MISSING) return new CountersMissingError('the policy counters in Redis are incomplete');
      try {
        return parseSnapshot(String(value), r);
      } catch (e) {
        return new TransientError(`unreadable policy state: ${(e as Error).message}`, e);
      }
    });
  }

  /**
   * The `policy.usage` rows a batch's counted runs leave, written with its decision inputs (before any
   * decision is published). This Redis-only store keeps none; {@link DurablePolicyStateStore} does.
   */
  durableUsage(_requests: readonly StateRequest[], _states: readonly (StoredState | TransientError)[]): UsageRecord[] {
    return [];
  }

  /** The state a run would be judged on now, changing nothing (dry runs). */
  async peek(request: StateRequest): Promise<StoredState> {
    const value = await this.redis.policyJudgeState(...this.args(request, true));
    if (value === EPOCH_MISSING) throw new CountersMissingError('the policy counters in Redis are incomplete');
    return parseSnapshot(value, request);
  }

  /** Counts a failure of the run's action in its session (once per run). False if the run is unknown or counted. */
  async recordFailure(runId: string, ttlSeconds: number): Promise<boolean> {
    const n = await this.redis.policyRecordFailure(
      `${this.prefix}run:${runId}`,
      `${this.prefix}failed:${runId}`,
      ttlSeconds,
    );
    return n === 1;
  }
}
