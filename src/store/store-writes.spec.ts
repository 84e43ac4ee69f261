import Redis from 'ioredis';
import { RedisServer, getFreePort, startRedis, stopAllRedis } from '../../test/support/redis-server';
import { setErrorSink, type LineLevel } from '../common/error-log';
import { StoreWrites } from './store-writes';
import { writeRefusalOf } from './write-refusal';

describe('StoreWrites on a real Redis that refuses writes', () => {
  let server: RedisServer;
  let redis: Redis;
  let admin: Redis;
  let lines: { level: LineLevel; message: string }[];

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
    admin = new Redis(server.url);
  });
  beforeEach(() => {
    lines = [];
    setErrorSink((_context, message, level) => lines.push({ level, message }));
  });
  afterEach(async () => {
    await admin.config('SET', 'maxmemory', '0');
    await admin.replicaof('NO', 'ONE');
  });
  afterAll(async () => {
    redis.disconnect();
    admin.disconnect();
    await stopAllRedis();
  });

  it('holds a write refused for lack of memory until Redis has room, then runs it once; two log lines', async () => {
    const writes = new StoreWrites(redis, 'Test', Date.now, 50);
    await admin.config('SET', 'maxmemory', '1');
    let tries = 0;
    let waits = 0;
    const done = writes.write(
      () => {
        tries++;
        return redis.incr('counter');
      },
      { onWait: () => waits++ },
    );
    await new Promise((r) => setTimeout(r, 500));
    expect(writes.refusal).toBe('OOM');
    expect(waits).toBe(1);
    expect(await admin.get('counter')).toBeNull();
    await admin.config('SET', 'maxmemory', '0');
    expect(await done).toBe(1);
    expect(tries).toBe(2);
    expect(writes.refusal).toBeNull();
    expect(await admin.get('counter')).toBe('1');
    await new Promise((r) => setTimeout(r, 100));
    expect(lines.map((l) => l.level)).toEqual(['warn', 'log']);
    expect(lines[0].message).toMatch(/Redis refuses writes: Redis is out of memory/);
    expect(lines[1].message).toMatch(/Redis takes writes again after \d+\.\d s \(OOM\)/);
    expect(writes.conditions).toBe(1);
    writes.close();
  });

  it('many waiting writes make one condition: one pair of lines, every write done once', async () => {
    const writes = new StoreWrites(redis, 'Test', Date.now, 50);
    await admin.config('SET', 'maxmemory', '1');
    const all = Promise.all(Array.from({ length: 20 }, (_, i) => writes.write(() => redis.sadd('members', String(i)))));
    await new Promise((r) => setTimeout(r, 300));
    await admin.config('SET', 'maxmemory', '0');
    await all;
    expect((await admin.smembers('members')).length).toBe(20);
    await new Promise((r) => setTimeout(r, 100));
    expect(lines).toHaveLength(2);
    writes.close();
  });

  it('a refusal again soon after writes were taken continues the condition: still one pair of lines', async () => {
    const writes = new StoreWrites(redis, 'Test', Date.now, 400);
    await admin.config('SET', 'maxmemory', '1');
    expect(await writes.probe()).toBe('OOM');
    await admin.config('SET', 'maxmemory', '0');
    expect(await writes.probe()).toBeNull();
    await admin.config('SET', 'maxmemory', '1');
    expect(await writes.probe()).toBe('OOM');
    await admin.config('SET', 'maxmemory', '0');
    expect(await writes.probe()).toBeNull();
    await new Promise((r) => setTimeout(r, 600));
    expect(lines.map((l) => l.level)).toEqual(['warn', 'log']);
    expect(lines[1].message).toMatch(/\(OOM, refused again 1 time\(s\) meanwhile\)/);
    expect(writes.conditions).toBe(1);
    writes.close();
  });

  it('tells a read-only replica (READONLY) and a refused MULTI (EXECABORT) apart from other errors', async () => {
    const writes = new StoreWrites(redis, 'Test', Date.now, 50);
    // A replica of a loopback port nobody listens on: read-only, never synced.
    await admin.replicaof('127.0.0.1', String(await getFreePort()));
    expect(await writes.probe()).toBe('READONLY');
    await admin.replicaof('NO', 'ONE');
    expect(await writes.probe()).toBeNull();
    await admin.config('SET', 'maxmemory', '1');
    const multi = await redis
      .multi()
      .set('a', '1')
      .exec()
      .catch((err: unknown) => err);
    expect(writeRefusalOf(multi)).toBe('OOM');
    expect(writeRefusalOf(new Error('ERR wrong number of arguments'))).toBeUndefined();
    await expect(writes.write(() => redis.call('NOSUCHCOMMAND'))).rejects.toThrow(/unknown command/);
    writes.close();
  });

  it('a waiting write gives up when its signal aborts, with the signal reason', async () => {
    const writes = new StoreWrites(redis, 'Test', Date.now, 50);
    await admin.config('SET', 'maxmemory', '1');
    const stop = new AbortController();
    const waiting = writes.write(() => redis.set('x', '1'), { signal: stop.signal });
    await new Promise((r) => setTimeout(r, 200));
    stop.abort(new Error('cancelled'));
    await expect(waiting).rejects.toThrow('cancelled');
    expect(await admin.get('x')).toBeNull();
    writes.close();
  });
});
