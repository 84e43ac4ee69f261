/**
 * End-to-end: the HTTP surface (/work/shared/protocol.md, "HTTP"): the web client and its
 * vendored scripts, dev tokens, health, metrics and the Bull Board behind Basic auth.
 *
 * `open`: an `all` process with AUTH_DEV_TOKENS=true and ADMIN_USER/ADMIN_PASSWORD.
 * `locked`: an `all` process with JWT_SECRET only (no dev tokens, no admin credentials), on
 * its own redis-server, which the last test stops to see readiness go to 503.
 */
import { httpJson, basicAuth } from './support/http';
import { startMaws, type MawsProcess } from './support/maws-process';
import { sample } from './support/metrics';
import { startRedis, type RedisServer } from './support/redis-server';
import { startRun } from './support/runs';
import { connect, upgradeStatus } from './support/session';
import { setUpSuite } from './support/suite';
import { signToken } from './support/tokens';

jest.setTimeout(30_000);

const ADMIN_USER = 'ops';
const ADMIN_PASSWORD = 'correct-horse-battery-staple';

let open: MawsProcess;
let locked: MawsProcess;
let lockedRedis: RedisServer;

setUpSuite(async () => {
  const [redisA, redisB] = await Promise.all([startRedis(), startRedis()]);
  lockedRedis = redisB;
  [open, locked] = await Promise.all([
    startMaws('all', {
      REDIS_URL: redisA.url,
      AUTH_DEV_TOKENS: 'true',
      ADMIN_USER,
      ADMIN_PASSWORD,
      OFFLINE_TOKEN_DELAY_MS: '0',
    }),
    startMaws('all', {
      REDIS_URL: redisB.url,
      AUTH_DEV_TOKENS: undefined,
      ADMIN_USER: undefined,
      ADMIN_PASSWORD: undefined,
      OFFLINE_TOKEN_DELAY_MS: '0',
    }),
  ]);
});

describe('web client', () => {
  it('GET / serves the HTML web client with a connect control and the vendored scripts', async () => {
    const res = await httpJson('GET', `${open.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.text).toMatch(/<html[\s>]/i);
    expect(res.text).toMatch(/\bid\s*=\s*["']connect["']/);
    expect(res.text).toMatch(/<script[^>]+src=["']\/vendor\/marked\.umd\.js["']/);
    expect(res.text).toMatch(/<script[^>]+src=["']\/vendor\/purify\.min\.js["']/);
  });

  it.each(['/vendor/marked.umd.js', '/vendor/purify.min.js'])('GET %s is 200 JavaScript', async (path) => {
    const res = await httpJson('GET', `${open.url}${path}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/javascript/);
    expect(res.text.length).toBeGreaterThan(1000);
  });

  it('the vendored scripts are the libraries the client expects', async () => {
    const marked = await httpJson('GET', `${open.url}/vendor/marked.umd.js`);
    expect(marked.text).toMatch(/marked/);
    const purify = await httpJson('GET', `${open.url}/vendor/purify.min.js`);
    expect(purify.text).toMatch(/DOMPurify|sanitize/);
  });
});

describe('dev tokens (AUTH_DEV_TOKENS=true)', () => {
  it('POST /auth/dev-token {user:"alice"} → 200 {token}, and the token opens a WebSocket', async () => {
    const res = await httpJson('POST', `${open.url}/auth/dev-token`, { user: 'alice' });
    expect(res.status).toBe(200);
    const body = res.body as { token?: unknown };
    expect(typeof body.token).toBe('string');
    const token = body.token as string;
    expect(token.split('.')).toHaveLength(3);
    const payload = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as {
      sub?: unknown;
      exp?: unknown;
    };
    expect(payload.sub).toBe('alice');

    const { client, snapshot: snap } = await connect(open, 'dev-token-session', token);
    expect(snap.data.state).toBe('IDLE');
    await client.flush();
    await client.close();
  });

  it.each([
    ['missing user', {}],
    ['user with spaces', { user: 'alice smith' }],
    ['empty user', { user: '' }],
    ['non-string user', { user: 42 }],
    ['user of 65 characters', { user: 'u'.repeat(65) }],
  ])('POST /auth/dev-token with %s → 400', async (_what, body) => {
    const res = await httpJson('POST', `${open.url}/auth/dev-token`, body);
    expect(res.status).toBe(400);
    expect(res.body).not.toHaveProperty('token');
  });

  it('POST /auth/dev-token with a body that is not JSON → 400', async () => {
    const res = await httpJson('POST', `${open.url}/auth/dev-token`, '{"user":', {
      'content-type': 'application/json',
    });
    expect(res.status).toBe(400);
  });
});

describe('health', () => {
  it('GET /health/live → 200', async () => {
    const res = await httpJson('GET', `${open.url}/health/live`);
    expect(res.status).toBe(200);
  });

  it('GET /health/ready → 200 while Redis is up', async () => {
    expect((await httpJson('GET', `${open.url}/health/ready`)).status).toBe(200);
    expect((await httpJson('GET', `${locked.url}/health/ready`)).status).toBe(200);
  });
});

describe('metrics', () => {
  const NAMES = [
    'maws_connected_sockets',
    'maws_events_relayed_total',
    'maws_runs_total{outcome="completed"}',
    'maws_run_duration_seconds_bucket',
  ];

  it('GET /metrics is Prometheus text with the MAWS metrics', async () => {
    const res = await httpJson('GET', `${open.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    for (const name of NAMES) expect(res.text).toContain(name);
    expect(res.text).toMatch(/^# TYPE maws_connected_sockets gauge$/m);
    expect(res.text).toMatch(/^# TYPE maws_events_relayed_total counter$/m);
    expect(res.text).toMatch(/^# TYPE maws_runs_total counter$/m);
    expect(res.text).toMatch(/^# TYPE maws_run_duration_seconds histogram$/m);
    expect(res.text).toMatch(/^maws_run_duration_seconds_bucket\{le="\+Inf"\} \d+$/m);
    // Every sample line is `name{labels} number`.
    for (const line of res.text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+]?([0-9.eE+-]+|NaN|\+Inf|-Inf)( \d+)?$/);
    }
  });

  it('after one completed run: runs_total{completed} >= 1, events_relayed > 0, a connected socket counted', async () => {
    const { body } = await httpJson('POST', `${open.url}/auth/dev-token`, { user: 'metrics-user' });
    const token = (body as { token: string }).token;
    const { client } = await connect(open, 'metrics-session', token);
    const ack = await startRun(client, 'task.start', 'Describe how bees make honey');
    await client.waitForEvent('run.completed', (f) => f.data.runId === ack.runId, 20_000);
    await client.waitForEvent('session.state', (f) => f.data.state === 'REFINEMENT_READY', 10_000);

    const res = await httpJson('GET', `${open.url}/metrics`);
    expect(res.status).toBe(200);
    const completed = sample(res.text, 'maws_runs_total{outcome="completed"}');
    expect(completed).toBeGreaterThanOrEqual(1);
    const relayed = sample(res.text, 'maws_events_relayed_total');
    expect(relayed).toBeGreaterThan(0);
    expect(relayed).toBeGreaterThanOrEqual(client.durable().length);
    expect(sample(res.text, 'maws_connected_sockets')).toBeGreaterThanOrEqual(1);
    expect(sample(res.text, 'maws_run_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sample(res.text, 'maws_run_duration_seconds_bucket{le="+Inf"}')).toBeGreaterThanOrEqual(1);
    await client.close();
  });
});

describe('Bull Board at /admin/queues (ADMIN_USER/ADMIN_PASSWORD set)', () => {
  it('without credentials → 401', async () => {
    const res = await httpJson('GET', `${open.url}/admin/queues`);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Basic/i);
  });

  it.each([
    ['a wrong password', basicAuth(ADMIN_USER, 'wrong-password')],
    ['a wrong user', basicAuth('root', ADMIN_PASSWORD)],
    ['a password prefix', basicAuth(ADMIN_USER, ADMIN_PASSWORD.slice(0, -1))],
    ['an empty Basic value', 'Basic '],
    ['a Bearer token', `Bearer ${signToken('alice')}`],
  ])('with %s → 401', async (_what, authorization) => {
    const res = await httpJson('GET', `${open.url}/admin/queues`, undefined, { authorization });
    expect(res.status).toBe(401);
  });

  it('a sub-path is protected too', async () => {
    const res = await httpJson('GET', `${open.url}/admin/queues/api/queues`);
    expect(res.status).toBe(401);
  });

  it('with the right credentials → 200 HTML', async () => {
    const res = await httpJson('GET', `${open.url}/admin/queues`, undefined, {
      authorization: basicAuth(ADMIN_USER, ADMIN_PASSWORD),
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.text).toMatch(/<html/i);
  });
});

describe('a process without AUTH_DEV_TOKENS and without ADMIN_*', () => {
  it('POST /auth/dev-token → 404', async () => {
    const res = await httpJson('POST', `${locked.url}/auth/dev-token`, { user: 'alice' });
    expect(res.status).toBe(404);
    expect(res.body).not.toHaveProperty('token');
  });

  it('/admin/queues → 401 with no dashboard behind it when ADMIN_* is unset, whatever credentials are sent', async () => {
    const res = await httpJson('GET', `${locked.url}/admin/queues`);
    expect(res.status).toBe(401);
    const any = await httpJson('GET', `${locked.url}/admin/queues`, undefined, {
      authorization: basicAuth('admin', 'admin'),
    });
    expect(any.status).toBe(401);
    const sub = await httpJson('GET', `${locked.url}/admin/queues/api/queues`);
    expect(sub.status).toBe(401);
  });

  it('still serves the web client, and signed tokens still open a WebSocket', async () => {
    expect((await httpJson('GET', `${locked.url}/`)).status).toBe(200);
    expect(await upgradeStatus(locked, 'locked-session', signToken('alice'))).toBe(101);
    expect(await upgradeStatus(locked, 'locked-session', null)).toBe(401);
  });
});

// Last: stops the `locked` process's redis-server.
describe('readiness follows Redis', () => {
  it('GET /health/ready → 503 after the redis-server is stopped, while /health/live stays 200', async () => {
    expect((await httpJson('GET', `${locked.url}/health/ready`)).status).toBe(200);
    await lockedRedis.stop();
    const res = await httpJson('GET', `${locked.url}/health/ready`, undefined, {}, 10_000);
    expect(res.status).toBe(503);
    expect((await httpJson('GET', `${locked.url}/health/live`)).status).toBe(200);
    // The `open` process, on its own Redis, is unaffected.
    expect((await httpJson('GET', `${open.url}/health/ready`)).status).toBe(200);
  });
});
