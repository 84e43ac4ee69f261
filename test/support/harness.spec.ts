/**
 * Self-test of the test support harness: a real redis-server and the JWT helper.
 * Needs no build of src/.
 */
import { createHmac } from 'node:crypto';
import { cleanupAll } from './cleanup';
import { getFreePort, pingRedis, startRedis } from './redis-server';
import { decodeTokenPayload, signToken, TEST_JWT_SECRET } from './tokens';

jest.setTimeout(30_000);

afterAll(async () => {
  await cleanupAll();
});

describe('redis-server harness', () => {
  it('starts, answers PING, restarts on the same port, stops', async () => {
    const redis = await startRedis();
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(redis.running).toBe(true);
    expect(await pingRedis(redis.port)).toBe(true);

    const firstPid = redis.pid;
    await redis.restart();
    expect(redis.running).toBe(true);
    expect(redis.pid).not.toBe(firstPid);
    expect(await pingRedis(redis.port)).toBe(true);

    await redis.stop();
    expect(redis.running).toBe(false);
    expect(await pingRedis(redis.port)).toBe(false);

    // stop() is idempotent
    await redis.stop();
  });

  it('survives a crash (kill) followed by restart, with AOF on', async () => {
    const redis = await startRedis({ appendonly: true });
    redis.kill('SIGKILL');
    await redis.exited();
    expect(await pingRedis(redis.port)).toBe(false);
    await redis.restart();
    expect(await pingRedis(redis.port)).toBe(true);
  });

  it('picks free ports', async () => {
    const port = await getFreePort();
    expect(port).toBeGreaterThan(0);
    expect(port).toBeLessThan(65536);
  });
});

describe('signToken', () => {
  it('produces a 3-part HS256 JWT whose HMAC verifies', () => {
    const token = signToken('alice');
    const parts = token.split('.');
    expect(parts).toHaveLength(3);
    const [header, payload, signature] = parts as [string, string, string];

    expect(JSON.parse(Buffer.from(header, 'base64url').toString())).toEqual({
      alg: 'HS256',
      typ: 'JWT',
    });
    const expected = createHmac('sha256', TEST_JWT_SECRET).update(`${header}.${payload}`).digest('base64url');
    expect(signature).toBe(expected);
    const wrong = createHmac('sha256', 'another-secret').update(`${header}.${payload}`).digest('base64url');
    expect(signature).not.toBe(wrong);

    const claims = decodeTokenPayload(token);
    const now = Math.floor(Date.now() / 1000);
    expect(claims.sub).toBe('alice');
    expect(claims.iat).toBeGreaterThanOrEqual(now - 5);
    expect(claims.exp).toBeGreaterThanOrEqual(now + 3600 - 5);
    expect(claims.exp).toBeLessThanOrEqual(now + 3600 + 5);
  });

  it('honours expiresInSec, exp and a custom secret', () => {
    const now = Math.floor(Date.now() / 1000);
    expect(decodeTokenPayload(signToken('bob', undefined, { expiresInSec: -60 })).exp).toBeLessThan(now);
    expect(decodeTokenPayload(signToken('bob', undefined, { exp: 12345 })).exp).toBe(12345);

    const token = signToken('carol', 'custom-secret');
    const [h, p, s] = token.split('.') as [string, string, string];
    expect(s).toBe(createHmac('sha256', 'custom-secret').update(`${h}.${p}`).digest('base64url'));
  });
});
