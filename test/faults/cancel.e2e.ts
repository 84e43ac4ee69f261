/**
 * Fault tolerance (issue 3): cancel. `task.cancel` mid-step gets `run.cancelled` within 1 s
 * and nothing of that run follows it; the worker that held the run is told (broadcast) and
 * stops its model call, so its slot is free again. A queued run that has not started (no
 * worker at all, or the only worker slot busy with another session's run) is cancelled too
 * and never starts later.
 */
import type { AnyDurableFrame, FrameOf } from '../../src/contract';
import { expectEvent, isDurable, range, runIdOf, seqs, TERMINAL } from '../support/frames';
import { startMaws, type MawsProcess } from '../support/maws-process';
import { adminRedis, storedFrames } from '../support/redis-admin';
import type { RedisServer } from '../support/redis-server';
import { startRun } from '../support/runs';
import { QUERY } from '../support/scenario';
import { newSession } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';
import { sleep } from '../support/timing';
import type { CommandReply, TestClient } from '../support/ws-client';

jest.setTimeout(60_000);

setUpSuite();

async function session(gateway: MawsProcess, prefix: string): Promise<TestClient> {
  return (await newSession(gateway, prefix)).client;
}

/** Every stored frame of the run `runId` in the session stream that holds it. */
async function storedOfRun(redis: RedisServer, runId: string): Promise<AnyDurableFrame[]> {
  const admin = adminRedis(redis);
  const [, keys] = await admin.scan('0', 'MATCH', 'maws:{*}:log', 'COUNT', 10_000);
  const out: AnyDurableFrame[] = [];
  for (const key of keys) {
    for (const text of await storedFrames(admin, key)) {
      const frame = JSON.parse(text) as AnyDurableFrame;
      if (runIdOf(frame) === runId) out.push(frame);
    }
  }
  return out;
}

/** Sends task.cancel; resolves with its ack, the run.cancelled frame and how long that took. */
async function cancel(
  client: TestClient,
  runId: string,
): Promise<{ ack: CommandReply; cancelled: FrameOf<'run.cancelled'>; ms: number }> {
  const since = client.frames.length;
  const t0 = Date.now();
  const cancelled = client.waitForEvent('run.cancelled', (f) => f.data.runId === runId, 10_000, since);
  const ack = await client.request('task.cancel', {});
  const frame = await cancelled;
  return { ack, cancelled: frame, ms: Date.now() - t0 };
}

/** Nothing of the run after its terminal event, neither on the socket nor in the log. */
async function expectNothingAfterTerminal(client: TestClient, redis: RedisServer, runId: string): Promise<void> {
  const frames = client.frames;
  const terminals = client.events(TERMINAL).filter((f) => f.data.runId === runId);
  expect(terminals.map((f) => f.event)).toEqual(['run.cancelled']);
  const after = frames
    .slice(frames.indexOf(terminals[0]) + 1)
    .filter((f) => isDurable(f) && f.seq && runIdOf(f) === runId);
  expect(after).toEqual([]);
  const stored = await storedOfRun(redis, runId);
  expect(stored[stored.length - 1].event).toBe('run.cancelled');
  expect(seqs(frames)).toEqual(range(1, client.lastSeq()));
}

describe('cancel mid-step', () => {
  it('run.cancelled within 1 s, no delta after it, and the worker lets go of the run', async () => {
    const {
      redis,
      procs: [gateway],
    } = await startStack(['gateway', 'worker'], { OFFLINE_TOKEN_DELAY_MS: '20', WORKER_CONCURRENCY: '1' });
    const client = await session(gateway, 'cancel');
    const { runId } = await startRun(client, 'task.start', QUERY);
    await client.waitForEvent('agent.delta', (f) => f.data.runId === runId && f.data.stepId === 'exec-1', 30_000);

    const { ack: cancelReply, ms } = await cancel(client, runId);
    console.log(`cancel mid-step: run.cancelled ${ms} ms after task.cancel`);
    const cancelAck = expectEvent(cancelReply, 'ack');
    expect(cancelAck.data.runId).toBe(runId);
    expect(ms).toBeLessThanOrEqual(1_000);
    const state = await client.waitForEvent('session.state', (f) => f.data.state !== 'EXECUTING', 5_000);
    expect(state.data.state).toBe('IDLE');

    // The only worker slot is free at once: the aborted run does not hold it for the ~10 s
    // of its remaining steps.
    const other = await session(gateway, 'cancel-other');
    const { runId: otherRunId } = await startRun(other, 'task.start', QUERY);
    const started = Date.now();
    await other.waitForEvent('run.started', (f) => f.data.runId === otherRunId, 8_000);
    console.log(`cancel mid-step: the worker took the next run ${Date.now() - started} ms later`);

    await sleep(2_000);
    await expectNothingAfterTerminal(client, redis, runId);
    const again = expectEvent(await client.request('task.cancel', {}), 'error');
    expect(again.data.code).toBe('INVALID_STATE');
  });
});

describe('cancel of a queued run', () => {
  it('with no worker running: cancelled, and it never starts once a worker comes', async () => {
    const {
      redis,
      env,
      procs: [gateway],
    } = await startStack(['gateway'], { OFFLINE_TOKEN_DELAY_MS: '5' });
    const client = await session(gateway, 'queued');
    const { runId } = await startRun(client, 'task.start', QUERY);
    await client.waitForEvent('run.queued', (f) => f.data.runId === runId, 10_000);

    const { ms } = await cancel(client, runId);
    expect(ms).toBeLessThanOrEqual(1_000);
    await client.waitForEvent('session.state', (f) => f.data.state === 'IDLE', 5_000);

    await startMaws('worker', env);
    await sleep(3_000);
    expect(client.events('run.started')).toEqual([]);
    await expectNothingAfterTerminal(client, redis, runId);

    // The session and the worker work normally afterwards.
    const next = await startRun(client, 'task.start', QUERY);
    const done = await client.waitForEvent(TERMINAL, (f) => f.data.runId === next.runId, 30_000);
    expect(done.event).toBe('run.completed');
    expect(client.events('run.started').map((f) => f.data.runId)).toEqual([next.runId]);
  });

  it('queued behind another session on a WORKER_CONCURRENCY=1 worker: cancelled, never starts', async () => {
    const {
      redis,
      procs: [gateway],
    } = await startStack(['gateway', 'worker'], { OFFLINE_TOKEN_DELAY_MS: '5', WORKER_CONCURRENCY: '1' });
    const busy = await session(gateway, 'busy');
    const { runId: busyRunId } = await startRun(busy, 'task.start', QUERY);
    await busy.waitForEvent('run.started', (f) => f.data.runId === busyRunId, 15_000);

    const client = await session(gateway, 'waiting');
    const { runId } = await startRun(client, 'task.start', QUERY);
    await client.waitForEvent('run.queued', (f) => f.data.runId === runId, 10_000);
    const { ms } = await cancel(client, runId);
    expect(ms).toBeLessThanOrEqual(1_000);

    // The busy run ends; the worker slot frees up; the cancelled run must not take it.
    const busyEnd = await busy.waitForEvent(TERMINAL, undefined, 30_000);
    expect(busyEnd.event).toBe('run.completed');
    await sleep(2_000);
    expect(client.events('run.started')).toEqual([]);
    expect(client.events('agent.started')).toEqual([]);
    await expectNothingAfterTerminal(client, redis, runId);
  });
});
