/**
 * Fault tolerance (issue 3): cancel. `task.cancel` mid-step gets `run.cancelled` within 1 s
 * and nothing of that run follows it; the worker that held the run is told (broadcast) and
 * stops its model call, so its slot is free again. A queued run that has not started (no
 * worker at all, or the only worker slot busy with another session's run) is cancelled too
 * and never starts later.
 */
import Redis from 'ioredis';
import { cleanupAll } from '../support/cleanup';
import { startMaws, type MawsProcess } from '../support/maws-process';
import { startRedis, type RedisServer } from '../support/redis-server';
import { signToken } from '../support/tokens';
import { TestClient, type Frame } from '../support/ws-client';
import { QUERY, range, seqs, TERMINAL, unique } from '../support/scenario';

jest.setTimeout(60_000);

const admins: Redis[] = [];

afterAll(async () => {
  for (const r of admins) r.disconnect();
  await cleanupAll();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function session(gateway: MawsProcess, prefix: string): Promise<TestClient> {
  const client = await TestClient.connect(gateway.wsUrl!, unique(prefix), signToken(unique(`${prefix}-user`)));
  await client.waitForEvent('session.snapshot', undefined, 10_000);
  return client;
}

/** Every stored frame of the run `runId` in the session stream that holds it. */
async function storedOfRun(redis: RedisServer, runId: string): Promise<Frame[]> {
  const admin = new Redis(redis.url, { maxRetriesPerRequest: null });
  admin.on('error', () => undefined);
  admins.push(admin);
  const [, keys] = await admin.scan('0', 'MATCH', 'maws:{*}:log', 'COUNT', 10_000);
  const out: Frame[] = [];
  for (const key of keys) {
    const entries = (await admin.xrange(key, '-', '+')) as [string, string[]][];
    for (const [, fields] of entries) {
      const frame = JSON.parse(fields[1]);
      if (frame.data?.runId === runId) out.push(frame);
    }
  }
  return out;
}

/** Sends task.cancel; resolves with its ack, the run.cancelled frame and how long that took. */
async function cancel(client: TestClient, runId: string): Promise<{ ack: Frame; cancelled: Frame; ms: number }> {
  const since = client.frames.length;
  const t0 = Date.now();
  const cancelled = client.waitFor((f) => f.event === 'run.cancelled' && f.data.runId === runId, 10_000, since);
  const ack = await client.request('task.cancel', {});
  const frame = await cancelled;
  return { ack, cancelled: frame, ms: Date.now() - t0 };
}

/** Nothing of the run after its terminal event, neither on the socket nor in the log. */
async function expectNothingAfterTerminal(client: TestClient, redis: RedisServer, runId: string): Promise<void> {
  const frames = client.frames;
  const terminals = frames.filter((f) => TERMINAL.includes(f.event) && f.data?.runId === runId);
  expect(terminals.map((f) => f.event)).toEqual(['run.cancelled']);
  const after = frames.slice(frames.indexOf(terminals[0]) + 1).filter((f) => f.seq && f.data?.runId === runId);
  expect(after).toEqual([]);
  const stored = await storedOfRun(redis, runId);
  expect(stored[stored.length - 1].event).toBe('run.cancelled');
  expect(seqs(frames)).toEqual(range(1, client.lastSeq()));
}

describe('cancel mid-step', () => {
  it('run.cancelled within 1 s, no delta after it, and the worker lets go of the run', async () => {
    const redis = await startRedis();
    const env = { REDIS_URL: redis.url, OFFLINE_TOKEN_DELAY_MS: '20', WORKER_CONCURRENCY: '1' };
    const [gateway] = await Promise.all([startMaws('gateway', env), startMaws('worker', env)]);
    const client = await session(gateway, 'cancel');
    const ack = await client.request('task.start', { text: QUERY });
    const runId = ack.data.runId as string;
    await client.waitFor(
      (f) => f.event === 'agent.delta' && f.data.runId === runId && f.data.stepId === 'exec-1',
      30_000,
    );

    const { ack: cancelAck, ms } = await cancel(client, runId);
    console.log(`cancel mid-step: run.cancelled ${ms} ms after task.cancel`);
    expect(cancelAck.event).toBe('ack');
    expect(cancelAck.data.runId).toBe(runId);
    expect(ms).toBeLessThanOrEqual(1_000);
    const state = await client.waitForEvent('session.state', (f) => f.data.state !== 'EXECUTING', 5_000);
    expect(state.data.state).toBe('IDLE');

    // The only worker slot is free at once: the aborted run does not hold it for the ~10 s
    // of its remaining steps.
    const other = await session(gateway, 'cancel-other');
    const otherAck = await other.request('task.start', { text: QUERY });
    const started = Date.now();
    await other.waitForEvent('run.started', (f) => f.data.runId === otherAck.data.runId, 8_000);
    console.log(`cancel mid-step: the worker took the next run ${Date.now() - started} ms later`);

    await sleep(2_000);
    await expectNothingAfterTerminal(client, redis, runId);
    const again = await client.request('task.cancel', {});
    expect(again.event).toBe('error');
    expect(again.data.code).toBe('INVALID_STATE');
  });
});

describe('cancel of a queued run', () => {
  it('with no worker running: cancelled, and it never starts once a worker comes', async () => {
    const redis = await startRedis();
    const env = { REDIS_URL: redis.url, OFFLINE_TOKEN_DELAY_MS: '5' };
    const gateway = await startMaws('gateway', env);
    const client = await session(gateway, 'queued');
    const ack = await client.request('task.start', { text: QUERY });
    const runId = ack.data.runId as string;
    await client.waitForEvent('run.queued', (f) => f.data.runId === runId, 10_000);

    const { ms } = await cancel(client, runId);
    expect(ms).toBeLessThanOrEqual(1_000);
    await client.waitForEvent('session.state', (f) => f.data.state === 'IDLE', 5_000);

    await startMaws('worker', env);
    await sleep(3_000);
    expect(client.events('run.started')).toEqual([]);
    await expectNothingAfterTerminal(client, redis, runId);

    // The session and the worker work normally afterwards.
    const next = await client.request('task.start', { text: QUERY });
    expect(next.event).toBe('ack');
    const done = await client.waitFor((f) => TERMINAL.includes(f.event) && f.data.runId === next.data.runId, 30_000);
    expect(done.event).toBe('run.completed');
    expect(client.events('run.started').map((f) => f.data.runId)).toEqual([next.data.runId]);
  });

  it('queued behind another session on a WORKER_CONCURRENCY=1 worker: cancelled, never starts', async () => {
    const redis = await startRedis();
    const env = { REDIS_URL: redis.url, OFFLINE_TOKEN_DELAY_MS: '5', WORKER_CONCURRENCY: '1' };
    const [gateway] = await Promise.all([startMaws('gateway', env), startMaws('worker', env)]);
    const busy = await session(gateway, 'busy');
    const busyAck = await busy.request('task.start', { text: QUERY });
    await busy.waitForEvent('run.started', (f) => f.data.runId === busyAck.data.runId, 15_000);

    const client = await session(gateway, 'waiting');
    const ack = await client.request('task.start', { text: QUERY });
    const runId = ack.data.runId as string;
    await client.waitForEvent('run.queued', (f) => f.data.runId === runId, 10_000);
    const { ms } = await cancel(client, runId);
    expect(ms).toBeLessThanOrEqual(1_000);

    // The busy run ends; the worker slot frees up; the cancelled run must not take it.
    const busyEnd = await busy.waitFor((f) => TERMINAL.includes(f.event), 30_000);
    expect(busyEnd.event).toBe('run.completed');
    await sleep(2_000);
    expect(client.events('run.started')).toEqual([]);
    expect(client.events('agent.started')).toEqual([]);
    await expectNothingAfterTerminal(client, redis, runId);
  });
});
