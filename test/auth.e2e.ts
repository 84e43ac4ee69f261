/**
 * End-to-end: the WebSocket upgrade check (/work/shared/protocol.md, "Connecting").
 *
 * No, bad or expired token → HTTP 401; bad sessionId → HTTP 400; both before any socket is
 * accepted (a refused upgrade surfaces as UpgradeRejectedError with the status, never as an
 * open followed by a close). A session is the pair (token sub, sessionId).
 */
import { createHmac } from 'node:crypto';
import * as net from 'node:net';
import type { FrameOf } from '../src/contract';
import { expectEvent, isDurable } from './support/frames';
import { TEST_JWT_SECRET, type MawsProcess } from './support/maws-process';
import { startRun } from './support/runs';
import { setUpSuite, startStack } from './support/suite';
import { base64url, signToken } from './support/tokens';
import { TestClient, UpgradeRejectedError, type ConnectOptions } from './support/ws-client';

jest.setTimeout(30_000);

let maws: MawsProcess;

setUpSuite(async () => {
  [maws] = (await startStack(['all'], { OFFLINE_TOKEN_DELAY_MS: '0' })).procs;
});

/** An HS256 JWT with exactly the given claims (no sub added), signed like tokens.ts does. */
function signClaims(
  claims: Record<string, unknown>,
  secret = TEST_JWT_SECRET,
  header: object = { alg: 'HS256', typ: 'JWT' },
): string {
  const h = base64url(JSON.stringify(header));
  const p = base64url(JSON.stringify(claims));
  const s = createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url');
  return `${h}.${p}.${s}`;
}

/** Connects and expects the upgrade to be refused with `status`; returns the error. */
async function expectRejected(
  sessionId: string,
  token: string | null,
  status: number,
  opts: ConnectOptions = {},
): Promise<UpgradeRejectedError> {
  let err: unknown;
  try {
    const client = await TestClient.connect(maws.wsUrl!, sessionId, token, opts);
    // An accepted socket is already a failure of the contract, whatever follows.
    const closed = await Promise.race([client.closed, new Promise<null>((r) => setTimeout(() => r(null), 500))]);
    await client.close();
    throw new Error(
      `upgrade was accepted (101) for sessionId ${JSON.stringify(sessionId)}; expected HTTP ${status}` +
        (closed ? ` (then closed with ${closed.code})` : ''),
    );
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(UpgradeRejectedError);
  expect((err as UpgradeRejectedError).statusCode).toBe(status);
  return err as UpgradeRejectedError;
}

/** Connects, expects the upgrade to succeed and the first frame to be the snapshot. */
async function expectAccepted(sessionId: string, token: string, opts: ConnectOptions = {}): Promise<TestClient> {
  const client = await TestClient.connect(maws.wsUrl!, sessionId, token, opts);
  const snap = await client.waitForEvent('session.snapshot');
  expect(client.frames[0]).toBe(snap);
  expect(snap).not.toHaveProperty('seq');
  expect(['IDLE', 'EXECUTING', 'REFINEMENT_READY']).toContain(snap.data.state);
  expect(typeof snap.data.lastSeq).toBe('number');
  // And it is really served.
  await client.flush();
  return client;
}

/** The first frame a socket got, which expectAccepted checked to be its snapshot. */
function snapshotOf(client: TestClient): FrameOf<'session.snapshot'> {
  return expectEvent(client.frames[0], 'session.snapshot');
}

/** A raw HTTP upgrade request: the status line the server answers with (never 101 here). */
function rawUpgradeStatusLine(path: string, headers: Record<string, string> = {}): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const sock = net.createConnection({ host: '127.0.0.1', port: maws.port! });
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer to the upgrade request; got ${JSON.stringify(buf)}`));
    }, 5_000);
    sock.setEncoding('utf8');
    sock.once('connect', () => {
      const extra = Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      sock.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${maws.port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
          `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${Buffer.from('0123456789abcdef').toString('base64')}\r\n` +
          `${extra}\r\n`,
      );
    });
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const eol = buf.indexOf('\r\n');
      if (eol >= 0) {
        clearTimeout(timer);
        sock.destroy();
        resolve(buf.slice(0, eol));
      }
    });
    sock.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

describe('tokens: HTTP 401 before any socket exists', () => {
  it('no token → 401', async () => {
    await expectRejected('auth-none', null, 401);
  });

  it('an empty token query parameter → 401', async () => {
    await expectRejected('auth-empty', null, 401, { query: { token: '' } });
  });

  it('a token signed with another secret → 401', async () => {
    await expectRejected('auth-other-secret', signToken('mallory', 'another-secret-0123456789abcdef'), 401);
  });

  it('an expired token (exp in the past) → 401', async () => {
    await expectRejected('auth-expired', signToken('alice', undefined, { expiresInSec: -60 }), 401);
  });

  it('an expired token in the Authorization header → 401', async () => {
    await expectRejected('auth-expired-h', signToken('alice', undefined, { expiresInSec: -60 }), 401, {
      headerToken: true,
    });
  });

  it('a correctly signed token with no sub → 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRejected('auth-nosub', signClaims({ iat: now, exp: now + 3600 }), 401);
  });

  it('a correctly signed token with an empty sub → 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRejected('auth-emptysub', signClaims({ sub: '', iat: now, exp: now + 3600 }), 401);
  });

  it('an unsigned token (alg none) → 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    const h = base64url(JSON.stringify({ alg: 'none', typ: 'JWT' }));
    const p = base64url(JSON.stringify({ sub: 'alice', iat: now, exp: now + 3600 }));
    await expectRejected('auth-alg-none', `${h}.${p}.`, 401);
  });

  it.each([
    ['garbage', 'not-a-jwt'],
    ['three garbage parts', 'abc.def.ghi'],
    ['a truncated token', signToken('alice').slice(0, 40)],
    [
      'a token with a tampered payload',
      (() => {
        const [h, , s] = signToken('alice').split('.');
        const now = Math.floor(Date.now() / 1000);
        return `${h}.${base64url(JSON.stringify({ sub: 'admin', iat: now, exp: now + 3600 }))}.${s}`;
      })(),
    ],
  ])('a malformed token (%s) → 401', async (_what, token) => {
    await expectRejected('auth-malformed', token, 401);
  });

  it('a malformed Bearer header → 401', async () => {
    await expectRejected('auth-bad-bearer', 'garbage.token', 401, { headerToken: true });
  });

  it('the refusal is a plain HTTP answer to the upgrade request, not 101', async () => {
    const line = await rawUpgradeStatusLine('/ws/auth-raw');
    expect(line).toMatch(/^HTTP\/1\.1 401\b/);
    const bad = await rawUpgradeStatusLine(`/ws/a.b?token=${encodeURIComponent(signToken('alice'))}`);
    expect(bad).toMatch(/^HTTP\/1\.1 400\b/);
  });
});

describe('sessionId: HTTP 400 even with a valid token', () => {
  const token = signToken('alice');

  it('65 characters → 400', async () => {
    await expectRejected('s'.repeat(65), token, 400);
  });

  it('65 characters with the token in the header → 400', async () => {
    await expectRejected('h'.repeat(65), token, 400, { headerToken: true });
  });

  it.each([
    ['a dot', 'a.b'],
    ['an encoded space', 'a%20b'],
    ['an encoded slash', 'a%2Fb'],
    ['a plus', 'a+b'],
    ['a tilde', 'a~b'],
    ['a non-ASCII letter', 'caf%C3%A9'],
    ['a bad percent escape', 'a%zzb'],
  ])('a character outside A-Za-z0-9_- (%s) → 400', async (_what, sid) => {
    await expectRejected(sid, token, 400, { rawSessionId: true });
  });
});

describe('accepted connections', () => {
  it('a valid token in the query works', async () => {
    const client = await expectAccepted('auth-query-ok', signToken('alice'));
    await client.close();
  });

  it('a valid token in `Authorization: Bearer` works', async () => {
    const client = await expectAccepted('auth-header-ok', signToken('alice'), { headerToken: true });
    expect(client.url).not.toContain('token=');
    await client.close();
  });

  it('a sessionId of exactly 64 characters works', async () => {
    const sid = `${'A'.repeat(20)}${'z'.repeat(20)}${'0'.repeat(10)}_-_-${'9'.repeat(10)}`;
    expect(sid).toHaveLength(64);
    const client = await expectAccepted(sid, signToken('alice'));
    await client.close();
  });

  it('a sessionId of one character works', async () => {
    const client = await expectAccepted('x', signToken('alice'));
    await client.close();
  });
});

describe('a session is the pair (user, sessionId)', () => {
  it('two users with the same sessionId get separate sessions and never see each other’s events', async () => {
    const sid = 'shared-session-id';
    const tokenA = signToken('user-a');
    const tokenB = signToken('user-b');

    // B is connected (and listening) the whole time A works.
    const bLive = await expectAccepted(sid, tokenB);
    expect(snapshotOf(bLive).data.state).toBe('IDLE');
    expect(snapshotOf(bLive).data.lastSeq).toBe(0);

    const a = await expectAccepted(sid, tokenA);
    const { runId } = await startRun(a, 'task.start', 'Write a short note about tides');
    const done = await a.waitForEvent('run.completed', (f) => f.data.runId === runId, 20_000);
    await a.waitForEvent('session.state', (f) => f.data.state === 'REFINEMENT_READY', 10_000);
    expect(a.lastSeq()).toBeGreaterThan(0);

    // A second socket of A's own session sees A's history (same session).
    const a2 = await expectAccepted(sid, tokenA);
    expect(snapshotOf(a2).data.state).toBe('REFINEMENT_READY');
    expect(snapshotOf(a2).data.lastSeq).toBe(a.lastSeq());
    expect(snapshotOf(a2).data.report).toBe(done.data.report);

    // B, on the same sessionId with a different sub, sees none of it.
    await bLive.flush();
    expect(bLive.durable()).toHaveLength(0);
    expect(bLive.frames.some((f) => JSON.stringify(f).includes(runId))).toBe(false);

    const bNew = await expectAccepted(sid, tokenB);
    expect(snapshotOf(bNew).data.state).toBe('IDLE');
    expect(snapshotOf(bNew).data.lastSeq).toBe(0);
    expect(snapshotOf(bNew).data).not.toHaveProperty('report');
    expect(snapshotOf(bNew).data).not.toHaveProperty('runId');

    // Even asking for A's history by seq gives B nothing of A's.
    const bResume = await TestClient.connect(maws.wsUrl!, sid, tokenB, { lastSeq: 0 });
    await bResume.waitForEvent('session.snapshot');
    await bResume.flush();
    expect(bResume.durable()).toHaveLength(0);

    // B can then run its own task in its own session, which A never sees.
    const aSince = a.frames.length;
    const bAck = await startRun(bNew, 'task.start', 'Name three rivers');
    expect(bAck.runId).not.toBe(runId);
    const bDone = await bNew.waitForEvent('run.completed', (f) => f.data.runId === bAck.runId, 20_000);
    expect(bNew.durable()[0].seq).toBe(1);
    await a.flush();
    expect(a.frames.slice(aSince).filter(isDurable)).toHaveLength(0);
    expect(a.frames.some((f) => JSON.stringify(f).includes(bDone.data.runId))).toBe(false);
  });
});
