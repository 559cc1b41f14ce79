import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from '@warden/persistence';
import { Logger } from '@warden/observability';
import { CONFIG, LOGGER, REDIS } from '@warden/runtime';
import type { IngestConfig } from '../config';
import { ingestMetrics } from '../submission/submission.metrics';

/**
 * Token bucket, atomically in Redis (time from Redis, so replicas with skewed clocks share one bucket).
 * KEYS[1] = bucket hash {tokens, ts(ms)}; ARGV = rate per second, burst, cost.
 * Returns {allowed (0|1), retry_after_ms, tokens left (floored)}.
 */
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local allowed = 0
local retry = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, retry, math.floor(tokens)}
`;

type WithTake = Redis & { ingestTakeToken(key: string, rate: number, burst: number, cost: number): Promise<number[]> };

/** What the bucket said. */
export type RateDecision = { allowed: true; remaining: number } | { allowed: false; retryAfterSeconds: number };

/** Per-API-key token buckets in Redis (`<prefix>:ingest:rate:<key id>`). */
@Injectable()
export class RateLimiter {
  private readonly redis: WithTake;
  private readonly prefix: string;
  private readonly log: Logger;

  constructor(
    @Inject(REDIS) redis: Redis,
    @Inject(CONFIG) private readonly config: IngestConfig,
    @Inject(LOGGER) logger: Logger,
  ) {
    if (!('ingestTakeToken' in redis)) redis.defineCommand('ingestTakeToken', { numberOfKeys: 1, lua: TAKE });
    this.redis = redis as WithTake;
    this.prefix = `${config.WARDEN_SUBJECT_PREFIX}:ingest:rate:`;
    this.log = logger.child('rate-limit');
  }

  /**
   * Takes one token from `keyId`'s bucket. Fails open when Redis does not answer (logged and
   * counted): an outage of the limiter must not stop intake.
   */
  async take(keyId: string): Promise<RateDecision> {
    try {
      const [allowed, retryMs, remaining] = await this.redis.ingestTakeToken(
        this.prefix + keyId,
        this.config.INGEST_RATE_LIMIT_PER_SEC,
        this.config.INGEST_RATE_LIMIT_BURST,
        1,
      );
      if (allowed === 1) return { allowed: true, remaining: remaining ?? 0 };
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((retryMs ?? 1000) / 1000)) };
    } catch (err) {
      ingestMetrics.rateLimiterErrors.inc();
      this.log.warn('rate limiter unavailable; request let through', { error: err as Error });
      return { allowed: true, remaining: 0 };
    }
  }
}
