/**
 * End-to-end: the session state machine over the real WebSocket (/work/shared/protocol.md):
 * which commands each state accepts, concurrent starts, cancelling, chat in any state, ping.
 */
import type { FrameOf, ReplyFrame, ServerFrame } from '../src/contract';
import { expectEvent, isEvent, runIdOf } from './support/frames';
import type { MawsProcess } from './support/maws-process';
import { expectRunOpening, startRun, waitForRunEnd } from './support/runs';
import { QUERY, REFINE, unique } from './support/scenario';
import { connect as connectTo, newSession as newSessionOn } from './support/session';
import { setUpSuite, startStack } from './support/suite';
import { sleep } from './support/timing';
import { signToken } from './support/tokens';
import type { TestClient } from './support/ws-client';

jest.setTimeout(60_000);

const SECOND_QUERY = 'Compare the market share of Samsung and Nokia over the last year.';
const RUN_TIMEOUT_MS = 30_000;

let maws: MawsProcess;

setUpSuite(async () => {
  [maws] = (await startStack(['all'], { OFFLINE_TOKEN_DELAY_MS: '5' })).procs;
});

// ---------------------------------------------------------------------------------------------
// helpers

/** A new session of a new user: connected, snapshot received (and checked to come first). */
async function newSession(prefix: string): Promise<{ client: TestClient; sessionId: string; token: string }> {
  return newSessionOn(maws, prefix);
}

async function connect(sessionId: string, token: string): Promise<TestClient> {
  return (await connectTo(maws, sessionId, token)).client;
}

function expectInvalidState(reply: ServerFrame): void {
  const err = expectEvent(reply, 'error');
  expect(err).not.toHaveProperty('seq');
  expect(err.data.code).toBe('INVALID_STATE');
  expect(typeof err.data.message).toBe('string');
  expect(err.data.message.length).toBeGreaterThan(0);
}

/** Starts a task with `task.start` and returns its runId (the ack must carry it). */
async function startTask(client: TestClient, text = QUERY): Promise<string> {
  return (await startRun(client, 'task.start', text)).runId;
}

/** Runs a task to completion; returns its runId and report. */
async function completeTask(client: TestClient, text = QUERY): Promise<{ runId: string; report: string }> {
  const runId = await startTask(client, text);
  const { terminal, state } = await waitForRunEnd(client, runId, RUN_TIMEOUT_MS);
  const completed = expectEvent(terminal, 'run.completed');
  expect(state.data.state).toBe('REFINEMENT_READY');
  return { runId, report: completed.data.report };
}

/** Waits until the run has really started working (its planner is streaming). */
function waitForRunning(client: TestClient, runId: string): Promise<FrameOf<'agent.delta'>> {
  return client.waitForEvent('agent.delta', (f) => f.data.runId === runId, RUN_TIMEOUT_MS);
}

/** The durable seqs are 1, 2, 3, ... with no gap. */
function expectNoGaps(client: TestClient): void {
  const seqs = client.durable().map((f) => f.seq);
  expect(seqs).toEqual(seqs.map((_, i) => i + 1));
}

// ---------------------------------------------------------------------------------------------

describe('commands the state does not allow', () => {
  it('task.refine in IDLE → INVALID_STATE with replyTo, and nothing is written', async () => {
    const { client } = await newSession('refine-idle');
    const id = client.nextId();
    const reply = client.waitForEvent(['error', 'ack']);
    client.send('task.refine', { text: REFINE }, id);
    const err = await reply;
    expectInvalidState(err);
    expect(err.data.replyTo).toBe(id);
    await client.flush();
    expect(client.durable()).toEqual([]);
    expect(client.isOpen).toBe(true);
  });

  it('task.start while EXECUTING → INVALID_STATE; the running run is not disturbed', async () => {
    const { client } = await newSession('start-busy');
    const runId = await startTask(client);
    await waitForRunning(client, runId);
    const err = await client.request('task.start', { text: SECOND_QUERY });
    expectInvalidState(err);
    expect(client.events('run.queued')).toHaveLength(1);

    const { terminal, state } = await waitForRunEnd(client, runId, RUN_TIMEOUT_MS);
    expect(terminal.event).toBe('run.completed');
    expect(state.data.state).toBe('REFINEMENT_READY');
    expect(client.events('run.queued')).toHaveLength(1);
    expect(client.events('user.message')).toHaveLength(1);
    expectNoGaps(client);
  });

  it('task.cancel when nothing runs → INVALID_STATE', async () => {
    const { client } = await newSession('cancel-idle');
    const err = await client.request('task.cancel', {});
    expectInvalidState(err);
    await client.flush();
    expect(client.durable()).toEqual([]);
  });
});

describe('two sockets start a task at the same moment', () => {
  it('exactly one gets an ack with a runId, the other INVALID_STATE; one run.queued', async () => {
    const sessionId = unique('race');
    const token = signToken(unique('user'));
    const a = await connect(sessionId, token);
    const b = await connect(sessionId, token);

    const [ra, rb] = await Promise.all([
      a.request('task.start', { text: QUERY }),
      b.request('task.start', { text: SECOND_QUERY }),
    ]);
    const replies = [ra, rb];
    const acks = replies.filter((r): r is ReplyFrame<'ack'> => isEvent(r, 'ack'));
    const errors = replies.filter((r) => r.event === 'error');
    expect(acks).toHaveLength(1);
    expect(errors).toHaveLength(1);
    expectInvalidState(errors[0]);
    const runId = acks[0].data.runId as string;
    expect(typeof runId).toBe('string');

    // End it quickly, then count what the session's history holds.
    await waitForRunning(a, runId);
    const cancel = await a.request('task.cancel', {});
    expect(cancel.event).toBe('ack');
    for (const c of [a, b]) {
      const { terminal, state } = await waitForRunEnd(c, runId, RUN_TIMEOUT_MS);
      expect(terminal.event).toBe('run.cancelled');
      expect(state.data.state).toBe('IDLE');
      await c.flush();
      expectNoGaps(c);
      const queued = c.events('run.queued');
      expect(queued).toHaveLength(1);
      expect(queued[0].data.runId).toBe(runId);
      expect(c.events('user.message')).toHaveLength(1);
      expect(c.events('session.state').filter((f) => f.data.state === 'EXECUTING')).toHaveLength(1);
    }
    // The winner's text is the one that was queued.
    const winnerText = acks[0] === ra ? QUERY : SECOND_QUERY;
    expect(a.events('run.queued')[0].data.input).toBe(winnerText);
  });
});

describe('cancelling', () => {
  it('task.cancel while running → ack, run.cancelled, session.state IDLE, and nothing of the run after', async () => {
    const { client, sessionId, token } = await newSession('cancel');
    const runId = await startTask(client);
    await waitForRunning(client, runId);

    const ack = await client.request('task.cancel', {});
    expect(ack.event).toBe('ack');
    expect(ack).not.toHaveProperty('seq');
    const { terminal, state } = await waitForRunEnd(client, runId, RUN_TIMEOUT_MS);
    expect(terminal.event).toBe('run.cancelled');
    expect(terminal.data).toEqual({ runId });
    expect(state.data.state).toBe('IDLE');

    const durable = client.durable();
    const cancelledAt = durable.indexOf(terminal);
    // The state change is the very next event.
    expect(durable[cancelledAt + 1]).toBe(state);

    // Nothing of the cancelled run may follow its terminal event, even a little later.
    await sleep(300);
    await client.flush();
    const after = client.durable().slice(cancelledAt + 1);
    expect(after.filter((f) => runIdOf(f) === runId && f.event !== 'session.state')).toEqual([]);
    expect(after.filter((f) => f.event === 'agent.delta')).toEqual([]);
    expect(client.events('run.completed')).toEqual([]);
    expectNoGaps(client);

    const again = await connect(sessionId, token);
    const snapshot = expectEvent(again.frames[0], 'session.snapshot');
    expect(snapshot.data.state).toBe('IDLE');
    expect(snapshot.data.report).toBeUndefined();
    expect(snapshot.data.lastSeq).toBe(client.lastSeq());
    await again.close();
  });

  it('a cancelled refinement after a completed run ends in REFINEMENT_READY with the earlier report', async () => {
    const { client, sessionId, token } = await newSession('cancel-refine');
    const task = await completeTask(client);

    const { runId } = await startRun(client, 'task.refine', REFINE);
    expect(typeof runId).toBe('string');
    expect(runId).not.toBe(task.runId);
    await client.waitForEvent('run.queued', (f) => f.data.runId === runId && f.data.mode === 'refinement');
    await waitForRunning(client, runId);

    const cancel = await client.request('task.cancel', {});
    expect(cancel.event).toBe('ack');
    const { terminal, state } = await waitForRunEnd(client, runId, RUN_TIMEOUT_MS);
    expect(terminal.event).toBe('run.cancelled');
    expect(state.data.state).toBe('REFINEMENT_READY');

    await sleep(300);
    await client.flush();
    const durable = client.durable();
    const after = durable.slice(durable.indexOf(terminal) + 1);
    expect(after.filter((f) => f.event === 'agent.delta')).toEqual([]);
    expect(client.events('run.completed')).toHaveLength(1);
    expectNoGaps(client);

    const again = await connect(sessionId, token);
    expect(again.frames[0].data).toEqual({
      state: 'REFINEMENT_READY',
      lastSeq: client.lastSeq(),
      report: task.report,
    });
    await again.close();
  });
});

describe('chat, ping and new tasks', () => {
  it('chat.send in IDLE gets a chat.response from the Clarifier; the state stays IDLE', async () => {
    const { client, sessionId, token } = await newSession('chat-idle');
    const id = client.nextId();
    const ackP = client.waitForEvent(['ack', 'error'], (f) => f.data.replyTo === id);
    client.send('chat.send', { text: 'What can you do?' }, id);
    expect((await ackP).event).toBe('ack');
    const response = await client.waitForEvent('chat.response', (f) => f.data.replyTo === id);
    expect(typeof response.data.text).toBe('string');
    expect(response.data.text.length).toBeGreaterThan(0);

    await client.flush();
    const durable = client.durable();
    expect(durable.map((f) => f.event)).toEqual(['user.message', 'chat.response']);
    expect(durable[0].data).toEqual({ text: 'What can you do?', kind: 'chat' });
    expectNoGaps(client);

    const again = await connect(sessionId, token);
    expect(again.frames[0].data).toEqual({ state: 'IDLE', lastSeq: 2 });
    await again.close();
  });

  it('ping → pong with no seq', async () => {
    const { client } = await newSession('ping');
    const since = client.frames.length;
    client.send('ping', {}, client.nextId());
    const pong = await client.waitForEvent('pong', undefined, 10_000, since);
    expect(pong).not.toHaveProperty('seq');
    expect(pong.data).toEqual({});
    // Without an id, too.
    client.send('ping', {});
    await client.waitFor((f) => f.event === 'pong' && f !== pong, 10_000, since);
    expect(client.durable()).toEqual([]);
  });

  it('task.start in REFINEMENT_READY starts a new task', async () => {
    const { client } = await newSession('start-again');
    const first = await completeTask(client);
    const before = client.lastSeq();

    const runId = await startTask(client, SECOND_QUERY);
    expect(runId).not.toBe(first.runId);
    const { terminal, state } = await waitForRunEnd(client, runId, RUN_TIMEOUT_MS);
    const completed = expectEvent(terminal, 'run.completed');
    expect(state.data.state).toBe('REFINEMENT_READY');

    const next = client.durable().filter((f) => f.seq > before);
    expect(next[0].seq).toBe(before + 1);
    expectRunOpening(next, { runId, mode: 'task', input: SECOND_QUERY });
    const report = completed.data.report;
    expect(report.startsWith('# Report:')).toBe(true);
    expect(report).toContain('Samsung');
    expect(report).not.toBe(first.report);
    expectNoGaps(client);
  });
});
