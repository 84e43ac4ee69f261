/** openRedis's coalesced writes, on a real redis-server. */
import type { Socket } from 'node:net';
import { RedisServer, startRedis, stopAllRedis } from '../../test/support/redis-server';
import { openRedis } from './redis-connection';

describe('openRedis with coalesceWrites', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await stopAllRedis();
  });

  /** Counts the socket's writes to the kernel (one per write or writev call). */
  function countWrites(socket: Socket): () => number {
    let writes = 0;
    const internals = socket as unknown as Record<'_write' | '_writev', (...args: unknown[]) => void>;
    for (const name of ['_write', '_writev'] as const) {
      const original = internals[name].bind(socket);
      internals[name] = (...args: unknown[]) => {
        writes++;
        original(...args);
      };
    }
    return () => writes;
  }

  it('sends the commands of one tick in one write, in order, each with its own reply', async () => {
    const redis = openRedis({ url: server.url }, 'coalesce-test', {}, { coalesceWrites: true });
    await redis.ping();
    const writes = countWrites((redis as unknown as { stream: Socket }).stream);
    const replies = await Promise.all(Array.from({ length: 200 }, () => redis.incr('coalesce:n')));
    expect(replies).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(writes()).toBe(1);
    // Commands of later ticks go out in later writes.
    await redis.incr('coalesce:n');
    expect(await redis.get('coalesce:n')).toBe('201');
    expect(writes()).toBe(3);
    redis.disconnect();
  });

  it('without it, each command is its own write', async () => {
    const redis = openRedis({ url: server.url }, 'plain-test');
    await redis.ping();
    const writes = countWrites((redis as unknown as { stream: Socket }).stream);
    await Promise.all(Array.from({ length: 20 }, () => redis.incr('plain:n')));
    expect(writes()).toBe(20);
    redis.disconnect();
  });
});
