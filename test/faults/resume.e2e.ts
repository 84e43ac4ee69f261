/**
 * Fault tolerance (issue 3): resume from any gateway, and bounded history.
 *
 * - A client drops mid-run on gateway A and comes back on gateway B, once with `?lastSeq=N`
 *   and once with the `resume` command: every later event, in order, no gap, no duplicate,
 *   byte for byte what the session's stored log holds.
 * - With HISTORY_MAX_EVENTS=100 a long run trims the stream: a resume from seq 1 gets
 *   RESUME_UNAVAILABLE and a snapshot with the latest report, and XLEN of the session's
 *   stream stays near the limit (Redis memory per session is bounded).
 */
import type { FrameOf } from '../../src/contract';
import { expectEvent, range, seqs, TERMINAL, type TerminalEvent } from '../support/frames';
import type { MawsProcess } from '../support/maws-process';
import { adminRedis, sessionKey, storedFrames } from '../support/redis-admin';
import type { RedisServer } from '../support/redis-server';
import { startRun } from '../support/runs';
import { QUERY, unique } from '../support/scenario';
import { connect } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';
import { signToken } from '../support/tokens';
import type { TestClient } from '../support/ws-client';

jest.setTimeout(90_000);

const RUN_TIMEOUT_MS = 45_000;

setUpSuite();

function terminalOf(client: TestClient, runId: string, since = 0): Promise<FrameOf<TerminalEvent>> {
  return client.waitForEvent(TERMINAL, (f) => f.data.runId === runId, RUN_TIMEOUT_MS, since);
}

describe('resume from another gateway', () => {
  let redis: RedisServer;
  let gatewayA: MawsProcess;
  let gatewayB: MawsProcess;

  beforeAll(async () => {
    ({
      redis,
      procs: [gatewayA, gatewayB],
    } = await startStack(['gateway', 'gateway', 'worker'], { OFFLINE_TOKEN_DELAY_MS: '8' }));
  });

  it('drops on A mid-run, resumes on B by ?lastSeq and by `resume`: every later event once, in order', async () => {
    const sessionId = unique('resume');
    const token = signToken(unique('ada'));
    // The observer on B stays connected the whole time: the reference history.
    const { client: observer } = await connect(gatewayB, sessionId, token);
    const { client: byQuery } = await connect(gatewayA, sessionId, token);
    const { client: byCommand } = await connect(gatewayA, sessionId, token);

    const { runId } = await startRun(byQuery, 'task.start', QUERY);

    // The first one drops during the first executor step (no close handshake).
    await byQuery.waitForEvent(
      'agent.delta',
      (f) => f.data.runId === runId && f.data.stepId === 'exec-1',
      RUN_TIMEOUT_MS,
    );
    await byQuery.terminate();
    const n1 = byQuery.lastSeq();
    expect(seqs(byQuery.frames)).toEqual(range(1, n1));

    // The second one drops later, during the second executor step.
    await byCommand.waitForEvent(
      'agent.delta',
      (f) => f.data.runId === runId && f.data.stepId === 'exec-2',
      RUN_TIMEOUT_MS,
    );
    await byCommand.terminate();
    const n2 = byCommand.lastSeq();
    expect(seqs(byCommand.frames)).toEqual(range(1, n2));
    expect(n2).toBeGreaterThan(n1);

    // Events go on while both are away.
    await observer.waitForEvent(
      'agent.started',
      (f) => f.data.runId === runId && f.data.stepId === 'exec-3',
      RUN_TIMEOUT_MS,
    );

    // 1) ?lastSeq=n1 on gateway B.
    const { client: back1, snapshot: snap1 } = await connect(gatewayB, sessionId, token, { lastSeq: n1 });
    expect(snap1.data.state).toBe('EXECUTING');
    expect(snap1.data.runId).toBe(runId);
    expect(snap1.data.lastSeq).toBeGreaterThan(n2);

    // 2) A plain connection on gateway B (it goes live from its snapshot), then `resume`.
    const { client: back2 } = await connect(gatewayB, sessionId, token);
    const resumeId = back2.nextId();
    const ackIndex = back2.frames.length;
    const resumed = back2.waitForEvent('ack', (f) => f.data.replyTo === resumeId, 10_000, ackIndex);
    back2.send('resume', { afterSeq: n2 }, resumeId);
    await resumed;
    const afterAck = back2.frames.findIndex(
      (f, i) => i >= ackIndex && f.event === 'ack' && f.data.replyTo === resumeId,
    );

    await Promise.all([terminalOf(observer, runId), terminalOf(back1, runId), terminalOf(back2, runId, afterAck)]);
    await Promise.all([observer.flush(), back1.flush(), back2.flush()]);

    const history = seqs(observer.frames);
    const last = history[history.length - 1];
    expect(history).toEqual(range(1, last));
    expect(observer.events('agent.started').length).toBeGreaterThanOrEqual(6);
    const terminals = observer.events(TERMINAL);
    expect(terminals.map((f) => f.event)).toEqual(['run.completed']);

    // Everything after n1, once, in order.
    expect(seqs(back1.frames)).toEqual(range(n1 + 1, last));
    expect(back1.events('error')).toEqual([]);
    // After the resume's ack: everything after n2, once, in order.
    expect(seqs(back2.frames.slice(afterAck + 1))).toEqual(range(n2 + 1, last));
    expect(back2.events('error')).toEqual([]);

    // Byte for byte what the stored log holds, on every socket and both gateways.
    const r = adminRedis(redis);
    const stored = await storedFrames(r, await sessionKey(r, sessionId, 'log'));
    expect(stored).toHaveLength(last);
    expect(observer.rawDurable()).toEqual(stored);
    expect([...byQuery.rawDurable(), ...back1.rawDurable()]).toEqual(stored);
    expect([...byCommand.rawDurable(), ...back2.rawDurable(afterAck + 1)]).toEqual(stored);
  });
});

describe('history retention (HISTORY_MAX_EVENTS=100)', () => {
  let redis: RedisServer;
  let gateway: MawsProcess;

  beforeAll(async () => {
    // Every model token its own agent.delta (the offline model streams word by word when its
    // words are paused at all, and nothing coalesces them): one run writes some 600 events.
    ({
      redis,
      procs: [gateway],
    } = await startStack(['gateway', 'worker'], {
      OFFLINE_TOKEN_DELAY_MS: '1',
      DELTA_FLUSH_MS: '0',
      HISTORY_MAX_EVENTS: '100',
      HISTORY_TTL_SECONDS: '600',
    }));
  });

  it('a resume older than the kept history gets RESUME_UNAVAILABLE and the latest report; XLEN stays bounded', async () => {
    const sessionId = unique('retain');
    const token = signToken(unique('bea'));
    const r = adminRedis(redis);
    const { client } = await connect(gateway, sessionId, token);
    const { runId } = await startRun(client, 'task.start', QUERY);
    const done = expectEvent(await terminalOf(client, runId), 'run.completed');
    const report = done.data.report;
    await client.flush();
    const last = client.lastSeq();
    expect(seqs(client.frames)).toEqual(range(1, last));
    expect(last).toBeGreaterThan(400);

    const key = await sessionKey(r, sessionId, 'log');
    const xlen = await r.xlen(key);
    // Trimmed approximately: never fewer than the limit, never much more.
    expect(xlen).toBeGreaterThanOrEqual(100);
    expect(xlen).toBeLessThanOrEqual(250);
    const ttl = await r.ttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(600);

    // ?lastSeq=1 is long gone: snapshot, RESUME_UNAVAILABLE, snapshot with the report, then live.
    const { client: late } = await connect(gateway, sessionId, token, { lastSeq: 1 });
    const unavailable = await late.waitForEvent('error', undefined, 10_000);
    expect(unavailable.data.code).toBe('RESUME_UNAVAILABLE');
    const snap = await late.waitForEvent('session.snapshot', undefined, 10_000, late.frames.indexOf(unavailable) + 1);
    expect(snap.data).toEqual({ state: 'REFINEMENT_READY', lastSeq: last, report });
    await late.flush();
    expect(seqs(late.frames)).toEqual([]);

    // The `resume` command the same way, with replyTo.
    const reply = expectEvent(await late.request('resume', { afterSeq: 1 }), 'error');
    expect(reply.data.code).toBe('RESUME_UNAVAILABLE');
    const snap2 = await late.waitForEvent('session.snapshot', undefined, 10_000, late.frames.indexOf(reply) + 1);
    expect(snap2.data.report).toBe(report);

    // A resume inside the kept history still works.
    const { client: recent } = await connect(gateway, sessionId, token, { lastSeq: last - 50 });
    await recent.flush();
    expect(recent.events('error')).toEqual([]);
    expect(seqs(recent.frames)).toEqual(range(last - 49, last));

    // A second long run (a refinement) in the same session: the stream stays near the limit.
    const refine = await startRun(late, 'task.refine', 'Focus on Tesla only.');
    const refined = await terminalOf(late, refine.runId);
    expect(refined.event).toBe('run.completed');
    await late.flush();
    expect(seqs(late.frames)).toEqual(range(last + 1, late.lastSeq()));
    const xlen2 = await r.xlen(key);
    expect(xlen2).toBeGreaterThanOrEqual(100);
    expect(xlen2).toBeLessThanOrEqual(250);
    const memory = Number(await r.call('MEMORY', 'USAGE', key));
    // ~150 frames of a few hundred bytes; far from the ~1,200 frames the session wrote.
    expect(memory).toBeLessThan(256 * 1024);
  });
});
