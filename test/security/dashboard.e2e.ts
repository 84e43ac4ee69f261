/**
 * Security e2e: the Bull Board dashboard (issue 4, "The dashboard").
 *
 * /admin/queues (and everything under it) answers 401 without credentials in every
 * configuration: with ADMIN_USER/ADMIN_PASSWORD set, and with them unset (then no credentials
 * open it at all). Only the right credentials get 200. Path spellings that might slip past a
 * middleware mounted on one exact path never get the dashboard either.
 */
import { basicAuth, httpJson } from '../support/http';
import { startMaws, type MawsProcess } from '../support/maws-process';
import { startRedis } from '../support/redis-server';
import { setUpSuite } from '../support/suite';
import { signToken } from '../support/tokens';

jest.setTimeout(60_000);

const ADMIN_USER = 'ops-admin';
const ADMIN_PASSWORD = 'sec-dashboard-password-42';

let withAdmin: MawsProcess;
let noAdmin: MawsProcess;

setUpSuite(async () => {
  const redis = await startRedis();
  [withAdmin, noAdmin] = await Promise.all([
    startMaws('gateway', { REDIS_URL: redis.url, ADMIN_USER, ADMIN_PASSWORD }),
    startMaws('gateway', { REDIS_URL: redis.url, ADMIN_USER: undefined, ADMIN_PASSWORD: undefined }),
  ]);
});

const PATHS = ['/admin/queues', '/admin/queues/', '/admin/queues/api/queues', '/admin/queues/queue/resolver'];

/** Spellings of the path that a naive prefix check might miss (Express routes case-insensitively). */
const SPELLINGS = [
  '/ADMIN/QUEUES',
  '/Admin/Queues/api/queues',
  '/admin//queues',
  '//admin/queues',
  '/admin/queues;x=1',
  '/admin/queues%2F',
  '/admin/%71ueues',
  '/admin/queues/..%2Fqueues',
  '/./admin/queues',
  '/admin/queues?x=/health/live',
];

const WRONG = [
  ['no Authorization header', undefined],
  ['a wrong password', basicAuth(ADMIN_USER, 'wrong-password')],
  ['a wrong user', basicAuth('root', ADMIN_PASSWORD)],
  ['the password with a suffix', basicAuth(ADMIN_USER, `${ADMIN_PASSWORD}x`)],
  ['empty credentials', basicAuth('', '')],
  ['admin:admin', basicAuth('admin', 'admin')],
  ['an empty Basic value', 'Basic '],
  ['a Bearer JWT', `Bearer ${signToken('alice')}`],
] as const;

function get(gw: MawsProcess, path: string, authorization?: string) {
  return httpJson('GET', `${gw.url}${path}`, undefined, authorization ? { authorization } : {});
}

/** Bull Board's UI or API, as opposed to an error page. */
function looksLikeDashboard(text: string): boolean {
  return /bull-?board|"queues"\s*:/i.test(text);
}

describe('ADMIN_USER/ADMIN_PASSWORD set', () => {
  it.each(WRONG)('%s → 401 with a Basic challenge, on every path', async (_what, authorization) => {
    for (const path of PATHS) {
      const res = await get(withAdmin, path, authorization);
      expect({ path, status: res.status }).toEqual({ path, status: 401 });
      expect(res.headers['www-authenticate']).toMatch(/^Basic/i);
      expect(looksLikeDashboard(res.text)).toBe(false);
    }
  });

  it('other HTTP methods without credentials → 401 too', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const res = await httpJson(method, `${withAdmin.url}/admin/queues/api/queues/resolver/clean/completed`, {});
      expect({ method, status: res.status }).toEqual({ method, status: 401 });
    }
  });

  it('path spellings never reach the dashboard without credentials', async () => {
    for (const path of SPELLINGS) {
      const res = await get(withAdmin, path);
      expect({ path, ok: res.status >= 200 && res.status < 300 }).toEqual({ path, ok: false });
      expect(looksLikeDashboard(res.text)).toBe(false);
    }
  });

  it('the right credentials → 200 (the page and its API)', async () => {
    const auth = basicAuth(ADMIN_USER, ADMIN_PASSWORD);
    const page = await get(withAdmin, '/admin/queues', auth);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const api = await get(withAdmin, '/admin/queues/api/queues', auth);
    expect(api.status).toBe(200);
    expect(api.body).toHaveProperty('queues');
  });
});

describe('ADMIN_USER/ADMIN_PASSWORD unset', () => {
  it.each(WRONG)('%s → 401, on every path', async (_what, authorization) => {
    for (const path of PATHS) {
      const res = await get(noAdmin, path, authorization);
      expect({ path, status: res.status }).toEqual({ path, status: 401 });
      expect(looksLikeDashboard(res.text)).toBe(false);
    }
  });

  it('not even the other gateway’s credentials open it', async () => {
    const res = await get(noAdmin, '/admin/queues', basicAuth(ADMIN_USER, ADMIN_PASSWORD));
    expect(res.status).toBe(401);
  });

  it('path spellings never reach a dashboard', async () => {
    for (const path of SPELLINGS) {
      const res = await get(noAdmin, path);
      expect({ path, ok: res.status >= 200 && res.status < 300 }).toEqual({ path, ok: false });
      expect(looksLikeDashboard(res.text)).toBe(false);
    }
  });
});
