import type { AppConfig } from '../config/config';
import { openRedis } from './redis-connection';

/** The oldest Redis MAWS runs on: sharded pub/sub (SPUBLISH, SSUBSCRIBE) came in 7.0. */
export const MIN_REDIS_MAJOR = 7;

/** What is wrong with the Redis whose `INFO server` reply this is, or undefined. */
export function redisVersionProblem(info: string): string | undefined {
  const version = /^redis_version:(\S+)/m.exec(info)?.[1];
  if (!version) return undefined; // Not told (a proxy, a managed service): let commands decide.
  const major = Number(version.split('.')[0]);
  if (Number.isFinite(major) && major >= MIN_REDIS_MAJOR) return undefined;
  return (
    `Redis ${version} is too old: MAWS needs Redis ${MIN_REDIS_MAJOR} or newer (sharded pub/sub). ` +
    'Debian 12 and Ubuntu 24.04 ship it; elsewhere use the redis.io packages or point REDIS_URL at a newer server'
  );
}

/**
 * What keeps MAWS from running on the configured Redis, asked once at start-up on a
 * connection of its own (it waits for Redis to answer).
 */
export async function redisProblemAt(config: AppConfig): Promise<string | undefined> {
  const redis = openRedis(config.redis, 'version-check');
  try {
    return redisVersionProblem(await redis.info('server'));
  } finally {
    redis.disconnect();
  }
}
