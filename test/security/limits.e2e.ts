/**
 * Security e2e: the limits that keep one client from starving the others (issue 4, "Limits").
 *
 * One `all` process with small limits (each test uses its own users, so the per-user limits do
 * not interfere), and one gateway with MAX_SOCKETS=3:
 *
 * - MAX_FRAME_BYTES: a larger frame (text or binary) closes the socket with 1009; one of
 *   exactly the limit is served.
 * - MAX_INPUT_CHARS: longer text (in code points, after trimming) → VALIDATION_FAILED.
 * - MESSAGES_PER_SECOND / MESSAGE_BURST: frames over the rate → RATE_LIMITED (echoing the
 *   frame's id); a connection that keeps flooding → 1008, while a normal connection on the same
 *   gateway (same user, even) keeps working.
 * - MAX_ACTIVE_RUNS_PER_USER=1: a second session of the same user starting a task while the
 *   first runs → RATE_LIMITED; other users are unaffected.
 * - MAX_RUNS_PER_MINUTE_PER_USER=2: the third run in a minute → RATE_LIMITED.
 * - MAX_SOCKETS_PER_USER=3: a fourth socket of the user → 429 at the upgrade.
 * - MAX_SOCKETS=3: a fourth socket on the gateway → 503 at the upgrade.
 */
import { randomBytes } from 'node:crypto';
import type { FrameOf, ServerFrame } from '../../src/contract';
import { expectEvent, isDurable, isEvent } from '../support/frames';
import { startMaws, type MawsProcess } from '../support/maws-process';
import { startRedis } from '../support/redis-server';
import { startRun } from '../support/runs';
import { connect as connectTo, openOrRefused } from '../support/session';
import { setUpSuite } from '../support/suite';
import { sleep } from '../support/timing';
import { signToken } from '../support/tokens';
import { TestClient } from '../support/ws-client';

jest.setTimeout(60_000);

const MAX_FRAME_BYTES = 1024;
const MAX_INPUT_CHARS = 50;
const MESSAGES_PER_SECOND = 5;
const MESSAGE_BURST = 10;
const FLOOD_CLOSE_AFTER = 20;
const MAX_SOCKETS_PER_USER = 3;
const MAX_SOCKETS = 3;
const RUN_TIMEOUT_MS = 30_000;

let gw: MawsProcess;
let small: MawsProcess;

setUpSuite(async () => {
  const redis = await startRedis();
  [gw, small] = await Promise.all([
    startMaws('all', {
      REDIS_URL: redis.url,
      OFFLINE_TOKEN_DELAY_MS: '5',
      MAX_FRAME_BYTES: String(MAX_FRAME_BYTES),
      MAX_INPUT_CHARS: String(MAX_INPUT_CHARS),
      MESSAGES_PER_SECOND: String(MESSAGES_PER_SECOND),
      MESSAGE_BURST: String(MESSAGE_BURST),
      FLOOD_CLOSE_AFTER: String(FLOOD_CLOSE_AFTER),
      MAX_ACTIVE_RUNS_PER_USER: '1',
      MAX_RUNS_PER_MINUTE_PER_USER: '2',
      MAX_SOCKETS_PER_USER: String(MAX_SOCKETS_PER_USER),
    }),
    startMaws('gateway', { REDIS_URL: redis.url, MAX_SOCKETS: String(MAX_SOCKETS) }),
  ]);
});

const tag = randomBytes(3).toString('hex');
const user = (name: string): string => `${name}-${tag}`;

async function connect(on: MawsProcess, sub: string, sessionId: string): Promise<TestClient> {
  return (await connectTo(on, sessionId, signToken(sub))).client;
}

function upgradeStatus(on: MawsProcess, sub: string, sessionId: string): Promise<number | TestClient> {
  return openOrRefused(on, sessionId, signToken(sub));
}

describe('MAX_FRAME_BYTES', () => {
  it('a text frame one byte over the limit closes the socket with 1009', async () => {
    const c = await connect(gw, user('frame'), 'frame-text');
    const frame = JSON.stringify({ event: 'ping', data: {}, id: 'big' });
    c.sendRaw(frame + ' '.repeat(MAX_FRAME_BYTES + 1 - frame.length));
    expect((await c.closedWithin(10_000))?.info.code).toBe(1009);
  });

  it('a binary frame over the limit closes the socket with 1009', async () => {
    const c = await connect(gw, user('frame'), 'frame-binary');
    c.sendRaw(randomBytes(MAX_FRAME_BYTES * 4), true);
    expect((await c.closedWithin(10_000))?.info.code).toBe(1009);
  });

  it('a frame of exactly the limit is served', async () => {
    const c = await connect(gw, user('frame'), 'frame-exact');
    const frame = JSON.stringify({ event: 'ping', data: {}, id: 'exact' });
    c.sendRaw(frame + ' '.repeat(MAX_FRAME_BYTES - frame.length));
    await c.waitForEvent('pong', undefined, 10_000);
    expect(c.isOpen).toBe(true);
    await c.close();
  });
});

describe('MAX_INPUT_CHARS', () => {
  it('text longer than the limit → VALIDATION_FAILED, for every text command; the limit itself is fine', async () => {
    const c = await connect(gw, user('input'), 'input');
    for (const event of ['task.start', 'message', 'chat.send'] as const) {
      const r = await c.request(event, { text: 'x'.repeat(MAX_INPUT_CHARS + 1) });
      expect({ event, code: 'code' in r.data ? r.data.code : undefined }).toEqual({ event, code: 'VALIDATION_FAILED' });
    }
    // Counted in code points after trimming: 50 emoji (100 UTF-16 units) and padded text are fine.
    const ok = await c.request('chat.send', { text: `   ${'y'.repeat(MAX_INPUT_CHARS)}\n\t ` });
    expect(ok.event).toBe('ack');
    await sleep(1_500); // stay within the message rate of this gateway
    const emoji = await c.request('chat.send', { text: '😀'.repeat(MAX_INPUT_CHARS) });
    expect(emoji.event).toBe('ack');
    const tooMany = expectEvent(await c.request('chat.send', { text: '😀'.repeat(MAX_INPUT_CHARS + 1) }), 'error');
    expect(tooMany.data.code).toBe('VALIDATION_FAILED');
    // The refused task did not start anything.
    expect(c.events('run.queued')).toHaveLength(0);
    await c.close();
  });
});

describe('messages per second', () => {
  it('frames over the burst → RATE_LIMITED; the connection recovers when it slows down', async () => {
    const c = await connect(gw, user('rate'), 'rate');
    const n = MESSAGE_BURST * 2;
    for (let i = 0; i < n; i++) c.send('ping', {}, `p${i}`);
    await c.waitFor(() => c.events('pong').length + limited(c.frames).length >= n, 10_000);
    const pongs = c.events('pong').length;
    const rateLimited = limited(c.frames).length;
    expect(pongs + rateLimited).toBe(n);
    expect(pongs).toBeGreaterThanOrEqual(MESSAGE_BURST);
    expect(rateLimited).toBeGreaterThanOrEqual(MESSAGE_BURST - 3);
    expect(c.isOpen).toBe(true);
    await sleep(1_000 + (1000 * 2) / MESSAGES_PER_SECOND);
    await c.flush();
    await c.close();
  });

  it('a RATE_LIMITED error echoes the id of the frame it refuses as replyTo', async () => {
    const c = await connect(gw, user('rate-id'), 'rate-id');
    for (let i = 0; i < MESSAGE_BURST + 5; i++) c.send('ping', {}, `q${i}`);
    await c.waitFor(() => limited(c.frames).length >= 3, 10_000);
    const errors = limited(c.frames);
    for (const e of errors) expect(e.data.replyTo).toMatch(/^q\d+$/);
    await c.close();
  });

  it('a flooding connection is closed with 1008 while a normal one on the same gateway keeps working', async () => {
    const sub = user('flood');
    const normal = await connect(gw, sub, 'flood-normal');
    const flooder = await connect(gw, sub, 'flood-flooder');
    for (let i = 0; i < 300 && flooder.isOpen; i++) flooder.send('ping', {}, `f${i}`);
    const closed = await flooder.closedWithin(10_000);
    expect(closed?.info.code).toBe(1008);
    expect(limited(flooder.frames).length).toBeGreaterThanOrEqual(FLOOD_CLOSE_AFTER - 1);
    // The other connection was never limited, and still works.
    await normal.flush();
    const chat = await normal.request('chat.send', { text: 'Still there?' });
    expect(chat.event).toBe('ack');
    expect(limited(normal.frames)).toHaveLength(0);
    expect(normal.isOpen).toBe(true);
    // The same user can open a fresh connection.
    const again = await connect(gw, sub, 'flood-flooder');
    await again.flush();
    await Promise.all([normal.close(), again.close()]);
  });

  it('a connection that keeps flooding at 10× the rate (not in one burst) is closed with 1008', async () => {
    const c = await connect(gw, user('steady-flood'), 'steady-flood');
    const started = Date.now();
    let sent = 0;
    // 10× MESSAGES_PER_SECOND, spread evenly, for up to 6 s.
    while (c.isOpen && Date.now() - started < 6_000) {
      c.send('ping', {}, `s${sent++}`);
      await sleep(1000 / (MESSAGES_PER_SECOND * 10));
    }
    const closed = await c.closedWithin(2_000);
    console.log(
      `steady flood: ${sent} frames in ${Date.now() - started} ms, ` +
        `${limited(c.frames).length} RATE_LIMITED, ${c.events('pong').length} pongs, close ${closed?.info.code ?? 'none'}`,
    );
    expect(closed?.info.code).toBe(1008);
  });
});

describe('runs per user', () => {
  it('MAX_ACTIVE_RUNS_PER_USER=1: a second session of the same user starting a task while the first runs → RATE_LIMITED', async () => {
    const sub = user('active');
    const s1 = await connect(gw, sub, 'active-1');
    const s2 = await connect(gw, sub, 'active-2');
    const first = await startRun(s1, 'task.start', 'Summarize the weather in Oslo.');
    const second = expectEvent(await s2.request('task.start', { text: 'Summarize the weather in Bergen.' }), 'error');
    expect(second.data.code).toBe('RATE_LIMITED');
    expect(s2.events('run.queued')).toHaveLength(0);
    // Another user is not limited by this one.
    const other = await connect(gw, user('active-other'), 'active-1');
    const theirs = await other.request('task.start', { text: 'Summarize the weather in Rome.' });
    expect(theirs.event).toBe('ack');
    // Once the first run has ended, the second session may start one.
    await s1.waitForEvent('run.completed', (f) => f.data.runId === first.runId, RUN_TIMEOUT_MS);
    // The refused start left nothing in its session: no run, no event (its job went out with
    // the refusing script and was dropped, or ended at once by the worker that took it).
    expect(s2.frames.filter(isDurable)).toEqual([]);
    const third = await startRun(s2, 'task.start', 'Summarize the weather in Bergen.');
    await s2.waitForEvent('run.completed', (f) => f.data.runId === third.runId, RUN_TIMEOUT_MS);
    await other.waitForEvent('run.completed', undefined, RUN_TIMEOUT_MS);
    await Promise.all([s1.close(), s2.close(), other.close()]);
  });

  it('a cancelled run frees its slot', async () => {
    const sub = user('active-cancel');
    const s1 = await connect(gw, sub, 'cancel-1');
    const s2 = await connect(gw, sub, 'cancel-2');
    const first = await s1.request('task.start', { text: 'Summarize the weather in Kyiv.' });
    expect(first.event).toBe('ack');
    const refused = expectEvent(await s2.request('task.start', { text: 'Summarize the weather in Lviv.' }), 'error');
    expect(refused.data.code).toBe('RATE_LIMITED');
    const cancel = await s1.request('task.cancel', {});
    expect(cancel.event).toBe('ack');
    const ok = await s2.request('task.start', { text: 'Summarize the weather in Lviv.' });
    expect(ok.event).toBe('ack');
    await s2.waitForEvent('run.completed', undefined, RUN_TIMEOUT_MS);
    await Promise.all([s1.close(), s2.close()]);
  });

  it('MAX_RUNS_PER_MINUTE_PER_USER=2: the third run in a minute → RATE_LIMITED, in any session of the user', async () => {
    // The count is per minute: keep the three starts inside one.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 42_000) await sleep(60_000 - intoMinute + 200);
    const sub = user('rpm');
    const c = await connect(gw, sub, 'rpm-1');
    for (const city of ['Paris', 'Lyon']) {
      const ack = expectEvent(await c.request('task.start', { text: `Summarize the weather in ${city}.` }), 'ack');
      await c.waitForEvent('run.completed', (f) => f.data.runId === ack.data.runId, RUN_TIMEOUT_MS);
    }
    const third = expectEvent(await c.request('task.start', { text: 'Summarize the weather in Nice.' }), 'error');
    expect(third.data.code).toBe('RATE_LIMITED');
    const refine = expectEvent(await c.request('task.refine', { text: 'Only Lyon.' }), 'error');
    expect(refine.data.code).toBe('RATE_LIMITED');
    const elsewhere = await connect(gw, sub, 'rpm-2');
    const fourth = expectEvent(
      await elsewhere.request('message', { text: 'Summarize the weather in Lille.' }),
      'error',
    );
    expect(fourth.data.code).toBe('RATE_LIMITED');
    // The refused starts changed nothing.
    const snap = await connect(gw, sub, 'rpm-1');
    const s = snap.events('session.snapshot')[0];
    expect(s.data.state).toBe('REFINEMENT_READY');
    await Promise.all([c.close(), elsewhere.close(), snap.close()]);
  }, 60_000);
});

describe('sockets', () => {
  it(`MAX_SOCKETS_PER_USER=${MAX_SOCKETS_PER_USER}: one more socket of the user → 429 at the upgrade`, async () => {
    const sub = user('sockets');
    const open: TestClient[] = [];
    for (let i = 0; i < MAX_SOCKETS_PER_USER; i++) open.push(await connect(gw, sub, `sock-${i}`));
    expect(await upgradeStatus(gw, sub, 'sock-extra')).toBe(429);
    expect(await upgradeStatus(gw, sub, 'sock-0')).toBe(429);
    // Someone else is not affected.
    const other = await upgradeStatus(gw, user('sockets-other'), 'sock-0');
    expect(other).toBeInstanceOf(TestClient);
    await (other as TestClient).close();
    // A closed socket frees its slot.
    await open.pop()!.close();
    let again: number | TestClient = 0;
    for (let i = 0; i < 50 && !(again instanceof TestClient); i++) {
      again = await upgradeStatus(gw, sub, 'sock-extra');
      if (!(again instanceof TestClient)) await sleep(100);
    }
    expect(again).toBeInstanceOf(TestClient);
    await Promise.all([...open, again as TestClient].map((c) => c.close()));
  });

  it(`MAX_SOCKETS_PER_USER=${MAX_SOCKETS_PER_USER}: of 12 upgrades of the user at once, exactly ${MAX_SOCKETS_PER_USER} open, the rest 429`, async () => {
    // The gateway takes upgrades in batches: they must not pass the limit together.
    const sub = user('sockets-burst');
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => upgradeStatus(gw, sub, `burst-${i}`)));
    const opened = answers.filter((a): a is TestClient => a instanceof TestClient);
    expect({ opened: opened.length, refused: answers.filter((a) => a === 429).length }).toEqual({
      opened: MAX_SOCKETS_PER_USER,
      refused: 12 - MAX_SOCKETS_PER_USER,
    });
    await Promise.all(opened.map((c) => c.close()));
  });

  it(`MAX_SOCKETS=${MAX_SOCKETS}: one more socket on the gateway → 503 at the upgrade`, async () => {
    const open: TestClient[] = [];
    for (let i = 0; i < MAX_SOCKETS; i++) open.push(await connect(small, user(`full-${i}`), 'full'));
    expect(await upgradeStatus(small, user('full-late'), 'full')).toBe(503);
    expect(await upgradeStatus(small, user('full-0'), 'full')).toBe(503);
    await open.pop()!.close();
    let again: number | TestClient = 0;
    for (let i = 0; i < 50 && !(again instanceof TestClient); i++) {
      again = await upgradeStatus(small, user('full-late'), 'full');
      if (!(again instanceof TestClient)) await sleep(100);
    }
    expect(again).toBeInstanceOf(TestClient);
    await Promise.all([...open, again as TestClient].map((c) => c.close()));
  });
});

function limited(frames: ServerFrame[]): FrameOf<'error'>[] {
  return frames.filter((f): f is FrameOf<'error'> => isEvent(f, 'error') && f.data.code === 'RATE_LIMITED');
}
