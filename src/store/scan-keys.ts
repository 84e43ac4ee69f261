import type { Redis } from 'ioredis';
import { isCluster, type RedisClient } from './redis-connection';

/** Every key matching `pattern` (SCAN, so Redis is never blocked for long); on a cluster, on every master. */
export async function scanKeys(redis: RedisClient, pattern: string): Promise<string[]> {
  const nodes = isCluster(redis) ? redis.nodes('master') : [redis];
  const found = await Promise.all(nodes.map((node) => scanNode(node, pattern)));
  return found.flat();
}

async function scanNode(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}
