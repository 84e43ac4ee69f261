/**
 * Fault tolerance (issue 3): graceful shutdown of a gateway. SIGTERM mid-run closes its
 * sockets with 1001 and exits 0; the clients resume on another gateway with no gap.
 * (shutdown-worker.e2e.ts: SIGTERM on a worker.)
 */
import { cleanupAll } from '../support/cleanup';
import { startMaws } from '../support/maws-process';
import { startRedis } from '../support/redis-server';
import { signToken } from '../support/tokens';
import { TestClient } from '../support/ws-client';
import { QUERY, range, seqs, TERMINAL, unique } from '../support/scenario';

jest.setTimeout(60_000);

afterAll(async () => {
  await cleanupAll();
});

async function flush(client: TestClient): Promise<void> {
  const since = client.frames.length;
  client.send('ping', {}, client.nextId());
  await client.waitForEvent('pong', undefined, 10_000, since);
}

describe('graceful shutdown of a gateway', () => {
  it('SIGTERM mid-run: its sockets are closed with 1001, exit 0; clients resume elsewhere', async () => {
    const redis = await startRedis();
    const env = { REDIS_URL: redis.url, OFFLINE_TOKEN_DELAY_MS: '10' };
    const [gatewayA, gatewayB] = await Promise.all([
      startMaws('gateway', env),
      startMaws('gateway', env),
      startMaws('worker', env),
    ]);
    const sessionId = unique('bye');
    const token = signToken(unique('gil'));
    const one = await TestClient.connect(gatewayA.wsUrl!, sessionId, token);
    const two = await TestClient.connect(gatewayA.wsUrl!, unique('bye-other'), signToken(unique('gus')));
    await one.waitForEvent('session.snapshot', undefined, 10_000);
    await two.waitForEvent('session.snapshot', undefined, 10_000);
    const ack = await one.request('task.start', { text: QUERY });
    const runId = ack.data.runId as string;
    await one.waitFor((f) => f.event === 'agent.delta' && f.data.runId === runId, 30_000);

    const exit = await gatewayA.stop('SIGTERM', 15_000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect((await one.closed).code).toBe(1001);
    expect((await two.closed).code).toBe(1001);

    const n = one.lastSeq();
    expect(seqs(one.frames)).toEqual(range(1, n));
    const back = await TestClient.connect(gatewayB.wsUrl!, sessionId, token, { lastSeq: n });
    const end = await back.waitFor((f) => TERMINAL.includes(f.event) && f.data.runId === runId, 45_000);
    expect(end.event).toBe('run.completed');
    await flush(back);
    expect(seqs(back.frames)).toEqual(range(n + 1, back.lastSeq()));
  });
});
