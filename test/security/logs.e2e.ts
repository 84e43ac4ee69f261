/**
 * Security e2e: nothing secret in logs (issue 4, "tokens and credentials are redacted").
 *
 * A process at LOG_LEVEL=debug is sent good, bad and expired tokens (query and Bearer header),
 * bad Authorization headers on HTTP routes, dev-token requests, and auth.refresh frames with
 * tokens in them; processes with failing configurations are given a REDIS_URL with a
 * password (and other secrets). None of the tokens, passwords or keys may appear anywhere in
 * the processes' output, not even a JWT's signature on its own.
 */
import { randomBytes } from 'node:crypto';
import { basicAuth, httpJson } from '../support/http';
import { runMawsOnce, startMaws, type MawsProcess } from '../support/maws-process';
import { getFreePort, startRedis, type RedisServer } from '../support/redis-server';
import { connect, upgradeStatus } from '../support/session';
import { setUpSuite } from '../support/suite';
import { sleep } from '../support/timing';
import { signToken } from '../support/tokens';

jest.setTimeout(60_000);

const rnd = (): string => randomBytes(9).toString('base64url');
const JWT_SECRET = `log-test-jwt-secret-${rnd()}`;
const ADMIN_PASSWORD = `AdminPw-${rnd()}`;
const REDIS_PASSWORD = `RedisPw-${rnd()}`;
const API_KEY = `sk-test-${rnd()}`;

let redis: RedisServer;
let gw: MawsProcess;
/** Every secret this file hands to a process; none may be printed. */
const secrets = new Set<string>([JWT_SECRET, ADMIN_PASSWORD, REDIS_PASSWORD, API_KEY]);

/** Registers a secret (a JWT also by its signature alone) and returns it. */
function secret<T extends string>(value: T): T {
  secrets.add(value);
  const parts = value.split('.');
  if (parts.length === 3 && parts[2].length >= 16) secrets.add(parts[2]);
  return value;
}

function expectNoSecrets(output: string, where: string): void {
  const leaked = [...secrets].filter((s) => output.includes(s));
  if (leaked.length > 0) {
    throw new Error(
      `${where}: ${leaked.length} secret(s) printed: ${leaked.map((s) => JSON.stringify(s.slice(0, 12) + '…')).join(', ')}\n` +
        `output:\n${output.slice(-4000)}`,
    );
  }
}

setUpSuite(async () => {
  redis = await startRedis();
  gw = await startMaws('all', {
    REDIS_URL: redis.url,
    LOG_LEVEL: 'debug',
    JWT_SECRET,
    AUTH_DEV_TOKENS: 'true',
    ADMIN_USER: 'ops',
    ADMIN_PASSWORD,
  });
});

function tryConnect(token: string, opts: { headerToken?: boolean; sessionId?: string } = {}): Promise<number> {
  return upgradeStatus(gw, opts.sessionId ?? 'logs', token, { headerToken: opts.headerToken });
}

describe('a running process at LOG_LEVEL=debug', () => {
  it('prints none of the tokens and credentials it was sent', async () => {
    const good = secret(signToken('log-alice', JWT_SECRET));
    const forged = secret(signToken('log-alice', `not-the-secret-${rnd()}`));
    const expired = secret(signToken('log-alice', JWT_SECRET, { expiresInSec: -30 }));
    const opaque = secret(`opaque-token-${rnd()}`);

    expect(await tryConnect(good)).toBe(101);
    expect(await tryConnect(good, { headerToken: true })).toBe(101);
    for (const token of [forged, expired, opaque]) {
      expect(await tryConnect(token)).toBe(401);
      expect(await tryConnect(token, { headerToken: true })).toBe(401);
      // A bad sessionId with the token in the URL: 400, and the URL is not logged either.
      expect(await tryConnect(token, { sessionId: 'bad.session' })).toBe(400);
    }

    // Bad Authorization headers on HTTP routes.
    const wrongAdmin = secret(`WrongPw-${rnd()}`);
    for (const authorization of [
      basicAuth('ops', wrongAdmin),
      `Bearer ${forged}`,
      `Bearer ${opaque}`,
      `Basic ${secret(`${rnd()}${rnd()}`)}`,
      basicAuth('ops', ADMIN_PASSWORD),
    ]) {
      await httpJson('GET', `${gw.url}/admin/queues`, undefined, { authorization });
      await httpJson('GET', `${gw.url}/metrics`, undefined, { authorization });
      await httpJson('GET', `${gw.url}/no-such-route?token=${encodeURIComponent(opaque)}`, undefined, {
        authorization,
      });
    }

    // Dev tokens: what is handed out is a secret too; bad bodies carry secrets as well.
    const dev = await httpJson('POST', `${gw.url}/auth/dev-token`, { user: 'log-dev' });
    expect(dev.status).toBe(200);
    const devToken = secret((dev.body as { token: string }).token);
    const bodySecret = secret(`BodyPw-${rnd()}`);
    await httpJson('POST', `${gw.url}/auth/dev-token`, { user: 'log dev!', password: bodySecret });
    await httpJson('POST', `${gw.url}/auth/dev-token`, `{"user": "${bodySecret}`, {
      'content-type': 'application/json',
    });
    await httpJson(
      'POST',
      `${gw.url}/auth/dev-token?token=${encodeURIComponent(opaque)}`,
      { user: 'log-dev' },
      {
        authorization: `Bearer ${devToken}`,
      },
    );

    // Tokens inside frames: auth.refresh with a forged one, another user's, a valid one.
    const { client: c } = await connect(gw, 'logs-frames', devToken);
    const otherUser = secret(signToken('log-mallory', JWT_SECRET));
    for (const token of [forged, expired, opaque, otherUser, secret(signToken('log-dev', JWT_SECRET))]) {
      await c.request('auth.refresh', { token });
    }
    // Tokens where they do not belong: unknown events, bad data.
    await c.requestUnchecked('no.such.event', { token: opaque });
    await c.requestUnchecked('chat.send', { text: '', token: forged });
    c.sendRaw(`{"event":"ping","data":{"token":"${opaque}"`);
    await c.flush();
    await c.close();

    // Let the logs drain.
    await sleep(500);
    expect(gw.running).toBe(true);
    expectNoSecrets(gw.output(), 'the running gateway');
  });
});

describe('failing configurations', () => {
  it('a REDIS_URL with a password, next to a bad variable: the message names the variable, not the password', async () => {
    const url = `redis://maws:${REDIS_PASSWORD}@127.0.0.1:${redis.port}/0`;
    const res = await runMawsOnce(['all'], { REDIS_URL: url, PORT: 'not-a-port', LOG_LEVEL: 'debug' });
    expect(res.code).not.toBe(0);
    expect(res.stdout + res.stderr).toMatch(/PORT/);
    expectNoSecrets(res.stdout + res.stderr, 'PORT=not-a-port');
  });

  it('a REDIS_URL that is itself invalid and holds a password: named, with the password masked', async () => {
    const pw = secret(`RedisPw-${rnd()}`);
    const res = await runMawsOnce(['gateway'], { REDIS_URL: `http://maws:${pw}@127.0.0.1:6379`, LOG_LEVEL: 'debug' });
    expect(res.code).not.toBe(0);
    expect(res.stdout + res.stderr).toMatch(/REDIS_URL/);
    expectNoSecrets(res.stdout + res.stderr, 'REDIS_URL=http://…');
  });

  it('a too-short JWT_SECRET, a lone ADMIN_PASSWORD and an LLM key in a failing config are not printed', async () => {
    const short = secret(`Sh0rt${rnd().slice(0, 6)}`);
    const res = await runMawsOnce(['all'], {
      REDIS_URL: `redis://:${REDIS_PASSWORD}@127.0.0.1:${redis.port}`,
      JWT_SECRET: short,
      ADMIN_USER: undefined,
      ADMIN_PASSWORD,
      LLM_PROVIDER: 'openai-compatible',
      LLM_API_KEY: API_KEY,
      LOG_LEVEL: 'debug',
    });
    expect(res.code).not.toBe(0);
    const out = res.stdout + res.stderr;
    expect(out).toMatch(/JWT_SECRET/);
    expect(out).toMatch(/ADMIN_/);
    expectNoSecrets(out, 'short JWT_SECRET');
  });

  it('a REDIS_URL with a password that cannot be reached: whatever is printed holds no password', async () => {
    const deadPort = await getFreePort();
    const proc = await startMaws(
      'gateway',
      { REDIS_URL: `redis://maws:${REDIS_PASSWORD}@127.0.0.1:${deadPort}`, LOG_LEVEL: 'debug' },
      { waitReady: false },
    );
    await Promise.race([proc.exited, sleep(4_000)]);
    await proc.stop('SIGKILL', 2_000);
    expectNoSecrets(proc.output(), 'unreachable Redis');
  });
});
