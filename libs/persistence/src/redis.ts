import Redis from 'ioredis';

/**
 * A Redis client that fails fast while disconnected (so readiness reports it) and reconnects forever.
 * @example const redis = createRedis(process.env.REDIS_URL!)
 */
export function createRedis(url: string, name = 'warden'): Redis {
  return new Redis(url, {
    connectionName: name,
    lazyConnect: false,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    // commands issued in the same tick leave in one write
    enableAutoPipelining: true,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
}

export { Redis };
