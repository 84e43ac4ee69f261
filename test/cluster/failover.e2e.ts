/**
 * Redis Cluster under change (issue 18, v2 "Redis Cluster": "same behaviour, same tests,
 * through a failover"), on a real six-node cluster: while a dozen runs stream, the master of a
 * busy session fails over to its replica (`CLUSTER FAILOVER`), and, in a second test, the busy
 * session's slot moves to another master with its keys (as `redis-cli --cluster reshard`
 * moves it). Every run completes exactly once, every client's seqs are gap-free, no job is
 * left behind, and the session goes on afterwards.
 */
import type { FrameOf } from '../../src/contract';
import { SessionKeys, sessionKeyOf } from '../../src/store/redis-keys';
import { range, seqs } from '../support/frames';
import { startMaws, type MawsProcess } from '../support/maws-process';
import { startRedisCluster, type RedisCluster } from '../support/redis-cluster';
import { expectOneWriter, nextStepStreaming, startRun, waitForRunEnd } from '../support/runs';
import { QUERY, REFINE, unique } from '../support/scenario';
import { connect } from '../support/session';
import { setUpSuite } from '../support/suite';
import { signToken } from '../support/tokens';
import type { TestClient } from '../support/ws-client';

jest.setTimeout(180_000);

let cluster: RedisCluster;
let gateway: MawsProcess;

setUpSuite(async () => {
  cluster = await startRedisCluster();
  const env = {
    REDIS_CLUSTER_NODES: cluster.nodeList,
    OFFLINE_TOKEN_DELAY_MS: '10',
    WORKER_LOCK_MS: '5000',
    WORKER_STALLED_INTERVAL_MS: '2000',
  };
  [gateway] = await Promise.all([startMaws('gateway', env), startMaws('worker', env), startMaws('worker', env)]);
});

interface Running {
  client: TestClient;
  runId: string;
  stateKey: string;
}

/** `n` sessions of their own users, each with a task started. */
async function runningSessions(n: number, prefix: string): Promise<Running[]> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const user = unique(`${prefix}-user-${i}`);
      const sessionId = unique(`${prefix}-${i}`);
      const { client } = await connect(gateway, sessionId, signToken(user));
      const { runId } = await startRun(client, 'task.start', QUERY);
      return { client, runId, stateKey: new SessionKeys(sessionKeyOf(user, sessionId)).state };
    }),
  );
}

/** Every run completed once, and every client saw every seq once, in order. */
async function expectAllCompleted(sessions: Running[]): Promise<void> {
  await Promise.all(
    sessions.map(async ({ client, runId }) => {
      const { terminal } = await waitForRunEnd(client, runId, 90_000);
      expect({ runId, ended: terminal.event }).toEqual({ runId, ended: 'run.completed' });
      await client.flush();
      expect(seqs(client.frames)).toEqual(range(1, client.lastSeq()));
      expectOneWriter(client.frames, runId);
    }),
  );
}

/** The session goes on: a refinement after the change runs to its end, gap-free. */
async function expectGoesOn({ client }: Running): Promise<void> {
  const { runId } = await startRun(client, 'task.refine', REFINE);
  const { terminal } = await waitForRunEnd(client, runId, 60_000);
  expect(terminal.event).toBe('run.completed');
  await client.flush();
  expect(seqs(client.frames)).toEqual(range(1, client.lastSeq()));
}

describe('a Redis Cluster changing under running runs', () => {
  it("fails over a busy session's master mid-run: runs complete, seqs gap-free, the session goes on", async () => {
    const sessions = await runningSessions(12, 'fo');
    const [busy] = sessions;
    await nextStepStreaming(busy.client, busy.runId);
    const { node: master } = await cluster.masterOf(busy.stateKey);
    const replica = await cluster.replicaOf(master);
    const at = Date.now();
    await cluster.failover(replica);
    console.log(`failover: 127.0.0.1:${replica.port} took over from :${master.port} in ${Date.now() - at} ms`);
    expect((await cluster.masterOf(busy.stateKey)).node).toBe(replica);
    await expectAllCompleted(sessions);
    await expectGoesOn(busy);
    await Promise.all(sessions.map(({ client }) => client.close()));
  });

  it("moves a busy session's slot to another master mid-run: runs complete, seqs gap-free, the session goes on", async () => {
    const sessions = await runningSessions(12, 'mv');
    const [busy] = sessions;
    await nextStepStreaming(busy.client, busy.runId);
    const { node: from, slot } = await cluster.masterOf(busy.stateKey);
    const to = (await cluster.masters()).find((m) => m !== from)!;
    const deltasBefore = busy.client.frames.filter((f) => f.event === 'agent.delta').length;
    const moved = await cluster.migrateSlot(slot, from, to);
    console.log(`slot ${slot} moved from :${from.port} to :${to.port} with ${moved} keys`);
    expect(moved).toBeGreaterThanOrEqual(4);
    expect((await cluster.masterOf(busy.stateKey)).node).toBe(to);
    await expectAllCompleted(sessions);
    // It streamed on after the move, not only before it.
    const deltas = busy.client.frames.filter((f): f is FrameOf<'agent.delta'> => f.event === 'agent.delta');
    expect(deltas.length).toBeGreaterThan(deltasBefore);
    await expectGoesOn(busy);
    await Promise.all(sessions.map(({ client }) => client.close()));
  });
});
