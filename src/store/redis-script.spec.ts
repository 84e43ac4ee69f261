import Redis from 'ioredis';
import { startRedis, stopAllRedis } from '../../test/support/redis-server';
import { RedisScript } from './redis-script';

describe('RedisScript', () => {
  const echo = new RedisScript({
    name: 'spec_echo',
    writes: false,
    keys: ['first', 'second'],
    args: ['alpha', 'beta', 'gamma'],
    body: `
local out = {first, second, alpha, beta, gamma}
for i = REST, #ARGV do out[#out + 1] = ARGV[i] end
return out`,
  });

  it('names each key and argument once: the Lua gets one local per name, in declared order', () => {
    expect(echo.lua).toContain('local second = KEYS[2]');
    expect(echo.lua).toContain('local gamma = ARGV[3]');
    expect(echo.lua).toContain('local REST = 4');
    // Callers pass objects: the order comes from the declaration, not from the call.
    expect(echo.argv({ second: 'k2', first: 'k1' }, { gamma: 3, alpha: 1, beta: 2 }, ['r1'])).toEqual([
      'k1',
      'k2',
      1,
      2,
      3,
      'r1',
    ]);
  });

  it('runs on a real Redis with every value where its name says', async () => {
    const redis = new Redis((await startRedis()).url);
    try {
      const call = echo.bind(redis);
      const result = await call({ second: 'k2', first: 'k1' }, { gamma: 'c', beta: 'b', alpha: 'a' }, ['x', 'y']);
      expect(result).toEqual(['k1', 'k2', 'a', 'b', 'c', 'x', 'y']);
    } finally {
      redis.disconnect();
      await stopAllRedis();
    }
  });

  it('declares itself reading or writing to Redis 7 (script flags)', () => {
    expect(echo.lua.startsWith('#!lua flags=no-writes\nlocal first = KEYS[1]')).toBe(true);
  });
});
