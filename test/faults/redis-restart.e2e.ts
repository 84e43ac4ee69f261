/**
 * Fault tolerance (issue 3): Redis restarts.
 * - With persistence (appendonly yes): redis-server is restarted twice in the middle of a run.
 *   Gateways and workers reconnect by themselves, the run completes exactly once, and clients
 *   on both gateways see every seq once, in order.
 * - Without persistence (appendonly no): Redis comes back empty. The processes stay up, the
 *   affected run ends with a clear coded error (run.failed STATE_LOST, or RESUME_UNAVAILABLE
 *   and a snapshot) rather than hanging, and a new task afterwards works.
 */
import { cleanupAll } from '../support/cleanup';
import { httpJson } from '../support/http';
import { startMaws } from '../support/maws-process';
import { startRedis } from '../support/redis-server';
import { signToken } from '../support/tokens';
import { TestClient } from '../support/ws-client';
import { eventually, QUERY, range, seqs, TERMINAL, unique } from '../support/scenario';

jest.setTimeout(90_000);

afterAll(async () => {
  await cleanupAll();
});

async function flush(client: TestClient): Promise<void> {
  const since = client.frames.length;
  client.send('ping', {}, client.nextId());
  await client.waitForEvent('pong', undefined, 20_000, since);
}

describe('Redis restart with persistence (appendonly yes)', () => {
  it('gateways and workers reconnect; the run completes once; no gap on either gateway', async () => {
    const redis = await startRedis({ appendonly: true });
    const env = { REDIS_URL: redis.url, OFFLINE_TOKEN_DELAY_MS: '15' };
    const [gatewayA, gatewayB, worker] = await Promise.all([
      startMaws('gateway', env),
      startMaws('gateway', env),
      startMaws('worker', env),
    ]);
    const sessionId = unique('aof');
    const token = signToken(unique('ria'));
    const a = await TestClient.connect(gatewayA.wsUrl!, sessionId, token);
    const b = await TestClient.connect(gatewayB.wsUrl!, sessionId, token);
    await a.waitForEvent('session.snapshot', undefined, 10_000);
    await b.waitForEvent('session.snapshot', undefined, 10_000);
    const ack = await a.request('task.start', { text: QUERY });
    const runId = ack.data.runId as string;

    for (const step of ['exec-1', 'exec-3']) {
      await a.waitFor((f) => f.event === 'agent.delta' && f.data.runId === runId && f.data.stepId === step, 45_000);
      await redis.restart();
    }

    const end = await a.waitFor((f) => TERMINAL.includes(f.event) && f.data.runId === runId, 60_000);
    expect(end.event).toBe('run.completed');
    await b.waitFor((f) => TERMINAL.includes(f.event) && f.data.runId === runId, 30_000);
    await Promise.all([flush(a), flush(b)]);
    const last = a.lastSeq();
    for (const client of [a, b]) {
      expect(client.isOpen).toBe(true);
      expect(seqs(client.frames)).toEqual(range(1, last));
      expect(client.frames.filter((f) => TERMINAL.includes(f.event))).toHaveLength(1);
      expect(client.events('error')).toEqual([]);
    }
    expect(b.raw.filter((_, i) => b.frames[i].seq)).toEqual(a.raw.filter((_, i) => a.frames[i].seq));
    for (const gateway of [gatewayA, gatewayB]) {
      expect((await httpJson('GET', `${gateway.url}/health/ready`)).status).toBe(200);
    }
    expect(worker.running).toBe(true);
  });
});

describe('Redis restart without persistence (appendonly no)', () => {
  it('processes stay up; the run ends with a coded error, not a hang; a new task works', async () => {
    const redis = await startRedis({ appendonly: false });
    const env = { REDIS_URL: redis.url, OFFLINE_TOKEN_DELAY_MS: '15' };
    const [gateway, worker] = await Promise.all([startMaws('gateway', env), startMaws('worker', env)]);
    const sessionId = unique('noaof');
    const token = signToken(unique('rob'));
    const client = await TestClient.connect(gateway.wsUrl!, sessionId, token);
    await client.waitForEvent('session.snapshot', undefined, 10_000);
    const ack = await client.request('task.start', { text: QUERY });
    const runId = ack.data.runId as string;
    await client.waitFor(
      (f) => f.event === 'agent.delta' && f.data.runId === runId && f.data.stepId === 'exec-1',
      45_000,
    );
    const before = client.frames.length;

    await redis.restart(); // comes back empty

    // A clear, coded end: run.failed STATE_LOST, or RESUME_UNAVAILABLE and a fresh snapshot.
    const coded = await client.waitFor(
      (f) =>
        (f.event === 'run.failed' && f.data.runId === runId) ||
        (f.event === 'error' && f.data.code === 'RESUME_UNAVAILABLE'),
      30_000,
      before,
    );
    if (coded.event === 'run.failed') {
      expect(coded.data.error.code).toBe('STATE_LOST');
    } else {
      const snap = await client.waitForEvent('session.snapshot', undefined, 10_000, client.frames.indexOf(coded) + 1);
      expect(snap.data.state).not.toBe('EXECUTING');
    }
    console.log(
      `redis restart without persistence: the client got ${client.frames
        .slice(before)
        .filter((f) => f.event !== 'agent.delta')
        .map((f) =>
          f.event === 'error'
            ? `error ${f.data.code}`
            : f.event === 'run.failed'
              ? `run.failed ${f.data.error.code}`
              : f.event,
        )
        .join(', ')}`,
    );

    // Processes stay up and become ready again.
    expect(gateway.running).toBe(true);
    expect(worker.running).toBe(true);
    expect((await httpJson('GET', `${gateway.url}/health/live`)).status).toBe(200);
    await eventually(
      async () => (await httpJson('GET', `${gateway.url}/health/ready`)).status === 200,
      15_000,
      'ready',
    );

    // The session is usable again on a fresh socket: a new task runs to completion.
    const fresh = await TestClient.connect(gateway.wsUrl!, sessionId, token);
    const snap = await fresh.waitForEvent('session.snapshot', undefined, 10_000);
    expect(snap.data.state).not.toBe('EXECUTING');
    const next = await fresh.request('task.start', { text: QUERY });
    expect(next.event).toBe('ack');
    const done = await fresh.waitFor((f) => TERMINAL.includes(f.event) && f.data.runId === next.data.runId, 45_000);
    expect(done.event).toBe('run.completed');
    await flush(fresh);
    expect(seqs(fresh.frames)).toEqual(range(snap.data.lastSeq + 1, fresh.lastSeq()));

    // The socket that lived through the loss is not left deaf: it saw the new run too.
    const seen = await client.waitFor((f) => f.event === 'run.completed' && f.data.runId === next.data.runId, 10_000);
    expect(seen.seq).toBe(done.seq);
  });
});
