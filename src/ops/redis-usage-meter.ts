import type { RedisClient, RedisTarget } from '../store/redis-connection';
import { openRedis } from '../store/redis-connection';
import { writeRefusalOf } from '../store/write-refusal';
import { recordModelUsage, type ModelUsageRecord } from './cluster-metrics';
import { CountBatcher } from './count-batcher';

/** How long usage counts wait to be written together (see CountBatcher). */
const USAGE_FLUSH_MS = 250;

/**
 * Model usage counted into the deployment's figures in Redis, on a connection of its own
 * opened at the first write: the gateway builds a provider too but never calls it, so it
 * never connects. Counting is best-effort and never holds up or fails a run; /metrics shows
 * a call's tokens within USAGE_FLUSH_MS.
 */
export function redisUsageMeter(target: RedisTarget): {
  add: (record: ModelUsageRecord) => void;
  flush(): Promise<void>;
} {
  let redis: RedisClient | undefined;
  const batcher = new CountBatcher<ModelUsageRecord>(
    async (records) => {
      redis ??= openRedis(target, 'metrics', { lazyConnect: true, maxRetriesPerRequest: 1 });
      await recordModelUsage(redis, records);
    },
    USAGE_FLUSH_MS,
    (err) => writeRefusalOf(err) !== undefined,
  );
  return { add: batcher.add, flush: () => batcher.flush() };
}
