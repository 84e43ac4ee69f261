/**
 * Security e2e: dev tokens (issue 4, "Dev tokens").
 *
 * - Off by default: POST /auth/dev-token → 404.
 * - The process refuses to start with AUTH_DEV_TOKENS=true and NODE_ENV=production, with a
 *   message naming AUTH_DEV_TOKENS.
 * - The endpoint is rate-limited per client address: after DEV_TOKENS_PER_MINUTE tokens in a
 *   minute, 429 (and a forged X-Forwarded-For does not reset the count).
 */
import { httpJson } from '../support/http';
import { runMawsOnce, startMaws, type MawsProcess } from '../support/maws-process';
import { startRedis, type RedisServer } from '../support/redis-server';
import { connect } from '../support/session';
import { setUpSuite } from '../support/suite';
import { sleep } from '../support/timing';

jest.setTimeout(60_000);

const LIMIT = 3;

let redis: RedisServer;
let off: MawsProcess;
let on: MawsProcess;

setUpSuite(async () => {
  redis = await startRedis();
  [off, on] = await Promise.all([
    startMaws('gateway', { REDIS_URL: redis.url, AUTH_DEV_TOKENS: undefined }),
    startMaws('gateway', {
      REDIS_URL: redis.url,
      AUTH_DEV_TOKENS: 'true',
      JWT_SECRET: undefined,
      DEV_TOKENS_PER_MINUTE: String(LIMIT),
    }),
  ]);
});

describe('dev tokens', () => {
  it('are off by default: POST /auth/dev-token → 404, no token', async () => {
    const res = await httpJson('POST', `${off.url}/auth/dev-token`, { user: 'alice' });
    expect(res.status).toBe(404);
    expect(res.text).not.toMatch(/eyJ/);
  });

  it.each([
    ['true', 'production'],
    ['1', 'production'],
    ['yes', 'production'],
  ])('AUTH_DEV_TOKENS=%s with NODE_ENV=%s: the process refuses to start, naming AUTH_DEV_TOKENS', async (flag, env) => {
    for (const role of ['all', 'gateway']) {
      const res = await runMawsOnce([role], { REDIS_URL: redis.url, AUTH_DEV_TOKENS: flag, NODE_ENV: env });
      expect(res.code).not.toBe(0);
      expect(res.stdout).not.toMatch(/MAWS ready/);
      expect(`${res.stdout}${res.stderr}`).toMatch(/AUTH_DEV_TOKENS/);
    }
  });

  it(`are rate-limited: after ${LIMIT} a minute from one address → 429`, async () => {
    // Stay clear of a minute boundary, where the per-minute count starts again.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 55_000) await sleep(60_000 - intoMinute + 200);
    const statuses: number[] = [];
    let token = '';
    for (let i = 0; i < LIMIT; i++) {
      const res = await httpJson('POST', `${on.url}/auth/dev-token`, { user: `dev-${i}` });
      statuses.push(res.status);
      if (res.status === 200) token = (res.body as { token: string }).token;
    }
    expect(statuses).toEqual(Array(LIMIT).fill(200));
    // Over the limit, however the request dresses itself up.
    const over = await httpJson('POST', `${on.url}/auth/dev-token`, { user: 'dev-over' });
    expect(over.status).toBe(429);
    expect(over.text).not.toMatch(/eyJ/);
    const spoofed = await httpJson(
      'POST',
      `${on.url}/auth/dev-token`,
      { user: 'dev-spoof' },
      { 'x-forwarded-for': '203.0.113.7', 'x-real-ip': '203.0.113.8', forwarded: 'for=203.0.113.9' },
    );
    expect(spoofed.status).toBe(429);
    // The tokens handed out before the limit work.
    const { client } = await connect(on, 'dev-session', token);
    await client.close();
  });
});
