/**
 * Security e2e: cross-site WebSocket hijacking (issue 4, "Origins").
 *
 * A browser always sends Origin; a page on another site must not be able to open a socket
 * with the user's token. With ALLOWED_ORIGINS unset only the gateway's own origin is allowed;
 * with a list, exactly the listed ones; `*` allows any. No Origin (not a browser) is allowed
 * with a valid token, and never without one. A refused origin is HTTP 403 at the upgrade.
 */
import { startMaws, type MawsProcess } from '../support/maws-process';
import { startRedis } from '../support/redis-server';
import { upgradeStatus } from '../support/session';
import { setUpSuite } from '../support/suite';
import { signToken } from '../support/tokens';

jest.setTimeout(60_000);

/** ALLOWED_ORIGINS unset. */
let own: MawsProcess;
/** ALLOWED_ORIGINS=http://app.example,https://admin.example:8443 */
let listed: MawsProcess;
/** ALLOWED_ORIGINS=* */
let any: MawsProcess;

setUpSuite(async () => {
  const redis = await startRedis();
  [own, listed, any] = await Promise.all([
    startMaws('gateway', { REDIS_URL: redis.url }),
    startMaws('gateway', { REDIS_URL: redis.url, ALLOWED_ORIGINS: 'http://app.example, https://admin.example:8443' }),
    startMaws('gateway', { REDIS_URL: redis.url, ALLOWED_ORIGINS: '*' }),
  ]);
});

const token = signToken('origin-user');

/** The upgrade's status: 101 when the socket opened (and served a snapshot), else the HTTP status. */
async function statusWith(
  gw: MawsProcess,
  origin: string | undefined,
  tok: string | null = token,
  headerToken = false,
): Promise<number> {
  const headers: Record<string, string> = origin === undefined ? {} : { Origin: origin };
  return upgradeStatus(gw, 'origin-session', tok, { headers, headerToken });
}

describe('ALLOWED_ORIGINS unset: the gateway’s own origin only', () => {
  it('no Origin header with a valid token → open (token in the query or in a Bearer header)', async () => {
    expect(await statusWith(own, undefined)).toBe(101);
    expect(await statusWith(own, undefined, token, true)).toBe(101);
  });

  it('no Origin header and no (or a bad) token → 401', async () => {
    expect(await statusWith(own, undefined, null)).toBe(401);
    expect(await statusWith(own, undefined, signToken('origin-user', 'wrong-secret-0123456789abcdef'))).toBe(401);
  });

  it('Origin equal to the gateway’s own → open', async () => {
    expect(await statusWith(own, `http://127.0.0.1:${own.port}`)).toBe(101);
  });

  it.each([
    ['another site', 'http://evil.example'],
    ['another site over https', 'https://evil.example'],
    ['the same host on another port', `http://127.0.0.1:${1}`],
    ['the same port under another name', 'http://localhost:PORT'],
    ['a look-alike host', 'http://127.0.0.1.evil.example:PORT'],
    ['the null origin (sandboxed frame, file://)', 'null'],
    ['garbage', 'not a url'],
  ])('Origin of %s → 403', async (_what, origin) => {
    expect(await statusWith(own, origin.replace('PORT', String(own.port)))).toBe(403);
  });

  it('a refused Origin with a valid token in a Bearer header is still 403', async () => {
    expect(await statusWith(own, 'http://evil.example', token, true)).toBe(403);
  });
});

describe('ALLOWED_ORIGINS=http://app.example, https://admin.example:8443', () => {
  it('a listed origin → open (with or without a trailing slash)', async () => {
    expect(await statusWith(listed, 'http://app.example')).toBe(101);
    expect(await statusWith(listed, 'https://admin.example:8443')).toBe(101);
    expect(await statusWith(listed, 'http://app.example/')).toBe(101);
  });

  it.each([
    'http://evil.example',
    'https://app.example',
    'http://app.example:8080',
    'http://app.example.evil.example',
    'http://evilapp.example',
    'https://admin.example',
    'null',
  ])('an unlisted origin (%s) → 403', async (origin) => {
    expect(await statusWith(listed, origin)).toBe(403);
  });

  it('the gateway’s own origin is not implicitly allowed once a list is set', async () => {
    expect(await statusWith(listed, `http://127.0.0.1:${listed.port}`)).toBe(403);
  });

  it('no Origin with a valid token → open; a listed Origin with no token → 401', async () => {
    expect(await statusWith(listed, undefined)).toBe(101);
    expect(await statusWith(listed, 'http://app.example', null)).toBe(401);
  });
});

describe('ALLOWED_ORIGINS=*', () => {
  it('any origin with a valid token → open, but never without a token', async () => {
    expect(await statusWith(any, 'http://evil.example')).toBe(101);
    expect(await statusWith(any, 'http://evil.example', null)).toBe(401);
  });
});
