import 'reflect-metadata';
import { parentPort, workerData } from 'node:worker_threads';
import { Clarifier } from '../agents/clarifier';
import { ThrottledErrorLog, setErrorSink } from '../common/error-log';
import { AppConfig } from '../config/config';
import { createRootLogger } from '../logging/root-logger';
import { EventLog, eventLogOptions } from '../events/event-log';
import { createModelProvider } from '../llm/create-model-provider';
import { redisUsageMeter } from '../ops/redis-usage-meter';
import { RunStore } from '../store/run-store';
import { StoreWrites } from '../store/store-writes';
import { ClarifierProcessor } from './processors/clarifier.processor';
import { openRedis } from '../store/redis-connection';
import type { ClarifierThreadMessage } from './clarifier-thread';

/**
 * Runs inside the worker process's clarifier thread (see ClarifierThread): the clarifier
 * queue's BullMQ worker with its own event loop and Redis connections, so answers never wait
 * behind the runs' work on the main thread.
 */
async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('clarifier-thread-entry runs only as a worker thread');
  // The main thread validated the environment; this is that validated config, cloned.
  const config = Object.assign(new AppConfig(), (workerData as { config: AppConfig }).config);
  // Its own logger: the thread's lines carry the thread's log context (its jobs), not the host's.
  const logger = createRootLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT, role: 'worker' }).child({
    thread: 'clarifier',
  });
  setErrorSink((context, message, level) => logger[level === 'log' ? 'info' : level]({ context }, message));
  const warn = (message: string): void => logger.warn({ context: 'Clarifier' }, message);
  const redis = openRedis(config.redis, 'clarifier');
  const log = new EventLog(redis, eventLogOptions(config));
  const model = createModelProvider(config, redisUsageMeter(config.redis), warn);
  const writes = new StoreWrites(redis, 'Redis');
  const clarifier = new Clarifier(log, new RunStore(redis), model, config.MODEL_TIMEOUT_MS, writes);
  const processor = new ClarifierProcessor(clarifier, log, writes, {
    redis: config.redis,
    concurrency: config.CLARIFIER_CONCURRENCY,
    lockMs: config.WORKER_LOCK_MS,
    stalledIntervalMs: config.WORKER_STALLED_INTERVAL_MS,
    warn,
  });
  port.on('message', (message: ClarifierThreadMessage) => {
    if (message.type !== 'stop') return;
    // Answers being written are finished first; the host terminates the thread afterwards.
    void processor
      .stop()
      .then(() => model.close?.())
      .then(() => writes.close())
      .then(() => redis.quit())
      .catch(new ThrottledErrorLog('ClarifierThread', 'stopping the clarifier thread').report)
      .then(() => port.postMessage({ type: 'stopped' } satisfies ClarifierThreadMessage));
  });
  await processor.start();
  port.postMessage({ type: 'ready' } satisfies ClarifierThreadMessage);
}

main().catch((err: unknown) => {
  // Thrown from the thread's top level, this reaches the host's 'error' listener.
  throw err instanceof Error ? err : new Error(String(err));
});
