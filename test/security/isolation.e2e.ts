/**
 * Security e2e: one user's session is nobody else's (issue 4, "Isolation").
 *
 * User A runs a task in session S. User B, connected with the very same sessionId S (and with
 * other ids, and with subs crafted to look like A's Redis key), never receives A's events,
 * cannot resume A's history, cannot cancel A's run (INVALID_STATE, and A's run completes),
 * cannot refine A's report, and never sees that report in a snapshot, whatever sessionId,
 * runId or extra fields B sends.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { ServerFrame } from '../../src/contract';
import { expectEvent } from '../support/frames';
import type { MawsProcess } from '../support/maws-process';
import { startRun } from '../support/runs';
import { connect as connectTo, upgradeStatus, type Connected } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';
import { signToken } from '../support/tokens';
import type { ConnectOptions, TestClient } from '../support/ws-client';

jest.setTimeout(60_000);

const QUERY = 'Compare the rainfall of Lisbon, Porto and Faro over the last decade and summarize the trend.';
const RUN_TIMEOUT_MS = 40_000;

let gw: MawsProcess;

setUpSuite(async () => {
  // Slow enough streaming that A's run is still going while B tries things.
  [gw] = (await startStack(['all'], { OFFLINE_TOKEN_DELAY_MS: '15' })).procs;
});

const tag = randomBytes(4).toString('hex');
const subA = `alice-${tag}`;
const subB = `bob-${tag}`;
const S = `shared-${tag}`;

async function connect(
  sub: string,
  sessionId: string,
  opts: ConnectOptions = {},
): Promise<{ c: TestClient; snap: Connected['snapshot'] }> {
  const { client: c, snapshot: snap } = await connectTo(gw, sessionId, signToken(sub), opts);
  return { c, snap };
}

/** Every frame B got, as text, must not mention any of A's secrets. */
function expectNothingOf(frames: ServerFrame[], secrets: string[]): void {
  for (const f of frames) {
    const text = JSON.stringify(f);
    for (const s of secrets) expect(text).not.toContain(s);
  }
}

let aRunId = '';
let aReport = '';
let bWatcher: TestClient;
let aClient: TestClient;

describe('two users on the same sessionId', () => {
  it("B, connected to A's sessionId throughout, gets none of A's events; B cannot cancel or refine A's run", async () => {
    ({ c: bWatcher } = await connect(subB, S));
    const { c: a, snap: aSnap } = await connect(subA, S);
    aClient = a;
    expect(aSnap.data).toMatchObject({ state: 'IDLE', lastSeq: 0 });

    ({ runId: aRunId } = await startRun(a, 'task.start', QUERY));
    expect(typeof aRunId).toBe('string');
    await a.waitForEvent('run.started', (f) => f.data.runId === aRunId, RUN_TIMEOUT_MS);

    // While A's run goes: B's commands act on B's own (idle) session only.
    const { c: b } = await connect(subB, S);
    const cancel = expectEvent(await b.request('task.cancel', {}), 'error');
    expect(cancel.data.code).toBe('INVALID_STATE');
    // Naming A's run or session in the frame (fields the contract does not have) changes nothing.
    const cancel2 = expectEvent(
      await b.requestUnchecked('task.cancel', { runId: aRunId, sessionId: S, sub: subA }),
      'error',
    );
    expect(cancel2.data.code).toBe('INVALID_STATE');
    const refine = expectEvent(
      await b.requestUnchecked('task.refine', { text: 'Only Faro, please.', runId: aRunId }),
      'error',
    );
    expect(refine.data.code).toBe('INVALID_STATE');
    const chat = await b.request('chat.send', { text: 'What is the status of the rainfall study?' });
    expect(chat.event).toBe('ack');

    const done = await a.waitForEvent('run.completed', (f) => f.data.runId === aRunId, RUN_TIMEOUT_MS);
    aReport = done.data.report;
    expect(aReport.length).toBeGreaterThan(20);
    // A's run was not cancelled by B, and A saw none of B's chat.
    expect(a.events('run.cancelled')).toHaveLength(0);
    expect(a.events('user.message').map((f) => f.data.kind)).toEqual(['task']);
    expect(a.events('chat.response')).toHaveLength(0);

    // B's chat is answered in B's session; nothing of A reached either of B's sockets.
    await b.waitForEvent('chat.response', undefined, RUN_TIMEOUT_MS);
    for (const client of [bWatcher, b]) {
      expect(client.events('run.queued')).toHaveLength(0);
      expect(client.events('run.started')).toHaveLength(0);
      expect(client.events('agent.delta')).toHaveLength(0);
      expect(client.events('run.completed')).toHaveLength(0);
      expectNothingOf(client.frames, [aRunId, QUERY, aReport.slice(0, 40)]);
    }
    expect(bWatcher.events('user.message').map((f) => f.data.kind)).toEqual(['chat']);
    await b.close();
  });

  it("B cannot resume A's history or read A's report: lastSeq=0, resume {afterSeq:0}, lastSeq ahead", async () => {
    expect(aRunId).not.toBe('');
    const aLast = aClient.lastSeq();
    expect(aLast).toBeGreaterThan(5);

    const { c: b, snap } = await connect(subB, S, { lastSeq: 0 });
    expect(snap.data.report).toBeUndefined();
    expect(snap.data.runId).toBeUndefined();
    expect(snap.data.state).not.toBe('REFINEMENT_READY');
    // Only B's own chat (user.message + chat.response) is in B's history.
    await b.waitForEvent('chat.response', undefined, 10_000);
    const since = b.frames.length;
    const ack = await b.request('resume', { afterSeq: 0 });
    expect(ack.event).toBe('ack');
    await b.waitForEvent('chat.response', undefined, 10_000, since);
    await b.flush();
    const durable = b.durable();
    expect(durable.every((f) => f.seq <= snap.data.lastSeq)).toBe(true);
    expect(durable.filter((f) => ['run.queued', 'run.completed', 'agent.finished'].includes(f.event))).toHaveLength(0);
    expectNothingOf(b.frames, [aRunId, QUERY, aReport.slice(0, 40)]);

    // Asking for A's seq range: B's history is shorter, so RESUME_UNAVAILABLE and B's snapshot.
    const { c: b2 } = await connect(subB, S, { lastSeq: aLast });
    const unavailable = await b2.waitForEvent('error', undefined, 10_000);
    expect(unavailable.data.code).toBe('RESUME_UNAVAILABLE');
    const snap2 = await b2.waitForEvent('session.snapshot', (f) => b2.frames.indexOf(f) > 0, 10_000);
    expect(snap2.data.report).toBeUndefined();
    expectNothingOf(b2.frames, [aRunId, QUERY, aReport.slice(0, 40)]);

    // A still has its report; B's refine is refused.
    const refine = expectEvent(await b2.request('task.refine', { text: 'Shorter, please.' }), 'error');
    expect(refine.data.code).toBe('INVALID_STATE');
    const { snap: aSnap } = await connect(subA, S);
    expect(aSnap.data.state).toBe('REFINEMENT_READY');
    expect(aSnap.data.report).toBe(aReport);
    await Promise.all([b.close(), b2.close()]);
  });

  it("whatever sessionId B sends, B never lands in A's session", async () => {
    const tricky = [S.toUpperCase(), `${S}-`, `${S}_`, `${S}`.slice(0, -1), S];
    for (const sessionId of tricky) {
      const { c, snap } = await connect(subB, sessionId);
      expect(snap.data.report).toBeUndefined();
      const r = expectEvent(await c.requestUnchecked('task.cancel', { runId: aRunId }), 'error');
      expect(r.data.code).toBe('INVALID_STATE');
      expectNothingOf(c.frames, [aRunId, aReport.slice(0, 40)]);
      await c.close();
    }
    // Ids that try to reach into key names are refused at the upgrade.
    const userPart = createHash('sha256').update(subA).digest('base64url').slice(0, 22);
    const hostile = [
      `${userPart}.${S}`,
      `{${userPart}.${S}}`,
      `${S}:state`,
      `${S}%00`,
      `..%2F${S}`,
      `${S}*`,
      encodeURIComponent(`maws:{${userPart}.${S}}:log`),
    ];
    for (const sessionId of hostile) {
      const status = await upgradeStatus(gw, sessionId, signToken(subB), { rawSessionId: true });
      expect([400, 404]).toContain(status);
    }
  });

  it("subs crafted to look like A's key (or A's sub with noise) get sessions of their own", async () => {
    const userPart = createHash('sha256').update(subA).digest('base64url').slice(0, 22);
    const crafted = [
      userPart,
      `${subA} `,
      ` ${subA}`,
      subA.toUpperCase(),
      `${subA}\u0000`,
      `${userPart}.${S}`,
      `{${userPart}}`,
    ];
    for (const sub of crafted) {
      const { c, snap } = await connect(sub, S, { lastSeq: 0 });
      expect(snap.data.report).toBeUndefined();
      expect(snap.data.lastSeq).toBe(0);
      await c.flush();
      expect(c.durable()).toHaveLength(0);
      await c.close();
    }
  });

  it("A's own other sessions are separate too, and A's session still works after all of B's attempts", async () => {
    const { c: other, snap } = await connect(subA, `${S}-other`);
    expect(snap.data.report).toBeUndefined();
    await other.close();
    const { c: a } = await connect(subA, S);
    const ack = await startRun(a, 'task.refine', 'Focus on Faro only.');
    await a.waitForEvent('run.completed', (f) => f.data.runId === ack.runId, RUN_TIMEOUT_MS);
    expect(bWatcher.events('run.completed')).toHaveLength(0);
    expectNothingOf(bWatcher.frames, [aRunId, ack.runId]);
  });
});
