import type { RedisOptions as BullRedisOptions } from 'bullmq';
import Redis, { RedisOptions } from 'ioredis';

/** One place that opens Redis connections, so every role connects the same way. */
export function openRedis(url: string, purpose: string, extra: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    connectionName: `maws:${purpose}`,
    // Commands wait for a reconnect instead of failing at once while Redis restarts.
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (times) => Math.min(50 * times, 2000),
    ...extra,
  });
  // An 'error' listener keeps a dropped connection from crashing the process; ioredis reconnects.
  redis.on('error', () => undefined);
  return redis;
}

/** BullMQ wants connection options it can duplicate for its blocking connections. */
export function bullConnection(url: string): BullRedisOptions {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null,
  };
}
