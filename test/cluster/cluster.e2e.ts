/**
 * Redis Cluster (issue 18, v2 "Redis Cluster") on a real six-node cluster (three masters, a
 * replica each, started by the test) with real gateways and workers given
 * REDIS_CLUSTER_NODES: the seed flow with chat, a refinement after every process restarted,
 * resume across two gateways, cancel, a worker crash, and many sessions over all three
 * masters, each with its seqs audited. Every session's keys and its live channel share one
 * slot; queues live under their own hash tags.
 */
import { Cluster } from 'ioredis';
import { isDurable, range, seqs } from '../support/frames';
import { registerCleanup } from '../support/cleanup';
import { startMaws, type MawsProcess } from '../support/maws-process';
import { startRedisCluster, type RedisCluster } from '../support/redis-cluster';
import { expectOneWriter, nextStepStreaming, startRun, waitForRunEnd } from '../support/runs';
import { CHAT, QUERY, REFINE, unique } from '../support/scenario';
import { connect, newSession } from '../support/session';
import { setUpSuite } from '../support/suite';
import { signToken } from '../support/tokens';

jest.setTimeout(180_000);

let cluster: RedisCluster;
let admin: Cluster;
let env: Record<string, string>;
let gatewayA: MawsProcess;
let gatewayB: MawsProcess;
let worker: MawsProcess;

setUpSuite(async () => {
  cluster = await startRedisCluster();
  admin = new Cluster(cluster.nodeList.split(',').map((n) => ({ host: '127.0.0.1', port: Number(n.split(':')[1]) })));
  registerCleanup(() => Promise.resolve(admin.disconnect()));
  env = { REDIS_CLUSTER_NODES: cluster.nodeList, OFFLINE_TOKEN_DELAY_MS: '5' };
  [gatewayA, gatewayB, worker] = await Promise.all([
    startMaws('gateway', env),
    startMaws('gateway', env),
    startMaws('worker', env),
  ]);
});

/** The user's session key as MAWS makes it, read back from the keys the cluster holds. */
async function keysOfSession(sessionId: string): Promise<string[]> {
  const found: string[] = [];
  for (const node of admin.nodes('master')) found.push(...(await node.keys(`maws:{*.${sessionId}}:*`)));
  return found;
}

describe('on a Redis Cluster', () => {
  it('runs the seed flow with chat: every event once, in order; the session on one slot, its job under the queue tag', async () => {
    const { client, sessionId } = await newSession(gatewayA, 'cl-flow');
    const { runId } = await startRun(client, 'message', QUERY);
    await client.waitForEvent('agent.started', (f) => f.data.runId === runId && f.data.stepId === 'exec-1', 30_000);
    const chat = await client.request('chat.send', { text: CHAT });
    expect(chat.event).toBe('ack');
    await client.waitForEvent('chat.response', () => true, 30_000);
    const { terminal, state } = await waitForRunEnd(client, runId, 60_000);
    expect(terminal.event).toBe('run.completed');
    expect(state.data.state).toBe('REFINEMENT_READY');
    await client.flush();
    expectOneWriter(client.frames, runId);

    const keys = await keysOfSession(sessionId);
    expect(keys.length).toBeGreaterThanOrEqual(4);
    const slots = new Set(await Promise.all(keys.map((k) => admin.cluster('KEYSLOT', k))));
    expect(slots.size).toBe(1);
    // The run's job, under the resolver queue's own tag (BullMQ's scripts stay on its slot).
    expect(await admin.exists(`maws:q:{resolver}:resolver:${runId}`)).toBe(1);
    await client.close();
  });

  it('resumes on another gateway where the socket left off, and refines after every process restarted', async () => {
    const { client, sessionId, token } = await newSession(gatewayA, 'cl-resume');
    const { runId } = await startRun(client, 'task.start', QUERY);
    await client.waitForEvent('agent.started', (f) => f.data.runId === runId && f.data.stepId === 'exec-1', 30_000);
    const left = client.lastSeq();
    await client.close();
    const { client: back } = await connect(gatewayB, sessionId, token, { lastSeq: left });
    const { terminal } = await waitForRunEnd(back, runId, 60_000);
    expect(terminal.event).toBe('run.completed');
    await back.flush();
    expect(seqs(back.frames)).toEqual(range(left + 1, back.lastSeq()));
    await back.close();

    for (const proc of [gatewayA, gatewayB, worker]) proc.kill('SIGKILL');
    await Promise.all([gatewayA.exited, gatewayB.exited, worker.exited]);
    [gatewayA, gatewayB, worker] = await Promise.all([
      startMaws('gateway', env),
      startMaws('gateway', env),
      startMaws('worker', env),
    ]);
    const { client: again, snapshot } = await connect(gatewayB, sessionId, token, { lastSeq: 0 });
    expect(snapshot.data).toMatchObject({ state: 'REFINEMENT_READY', lastSeq: terminal.seq + 1 });
    const refined = await startRun(again, 'task.refine', REFINE);
    const end = await waitForRunEnd(again, refined.runId, 60_000);
    expect(end.terminal.event).toBe('run.completed');
    await again.flush();
    expect(seqs(again.frames)).toEqual(range(1, again.lastSeq()));
    expect(again.frames.filter((f) => f.event === 'run.queued').map((f) => f.data)).toEqual([
      expect.objectContaining({ runId, mode: 'task' }),
      expect.objectContaining({ runId: refined.runId, mode: 'refinement' }),
    ]);
    await again.close();
  });

  it('cancels a running run: run.cancelled, nothing of the run after it', async () => {
    const { client } = await newSession(gatewayB, 'cl-cancel');
    const { runId } = await startRun(client, 'task.start', QUERY);
    await nextStepStreaming(client, runId);
    expect((await client.request('task.cancel')).event).toBe('ack');
    const { terminal } = await waitForRunEnd(client, runId, 10_000);
    expect(terminal.event).toBe('run.cancelled');
    const at = client.frames.indexOf(terminal);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(client.frames.slice(at + 1).filter((f) => isDurable(f) && f.event !== 'session.state')).toEqual([]);
    await client.close();
  });

  it('a worker killed mid-step: another takes the run over and it ends exactly once', async () => {
    const second = await startMaws('worker', { ...env, WORKER_LOCK_MS: '3000', WORKER_STALLED_INTERVAL_MS: '1000' });
    worker.kill('SIGKILL');
    await worker.exited;
    worker = await startMaws('worker', { ...env, WORKER_LOCK_MS: '3000', WORKER_STALLED_INTERVAL_MS: '1000' });
    const { client } = await newSession(gatewayA, 'cl-crash');
    const { runId } = await startRun(client, 'task.start', QUERY);
    await nextStepStreaming(client, runId);
    // Whichever worker holds it dies; the other takes over.
    const holder = worker.output().includes(runId) ? worker : second;
    const other = holder === worker ? second : worker;
    holder.kill('SIGKILL');
    await holder.exited;
    const { terminal } = await waitForRunEnd(client, runId, 60_000);
    expect(terminal.event).toBe('run.completed');
    await client.flush();
    expectOneWriter(client.frames, runId);
    worker = other;
    await client.close();
  });

  it('200 sessions over all three masters run at once, each gap-free', async () => {
    // As fast as the model can be: the cluster, not the model, is what is tested here.
    worker.kill('SIGKILL');
    await worker.exited;
    worker = await startMaws('worker', { ...env, OFFLINE_TOKEN_DELAY_MS: '0', WORKER_CONCURRENCY: '32' });
    const masters = await cluster.masters();
    expect(masters).toHaveLength(3);
    const sessions = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const sessionId = unique(`cl-many-${i}`);
        const token = signToken(unique(`cl-many-user-${i}`));
        const { client } = await connect(i % 2 ? gatewayA : gatewayB, sessionId, token);
        return { client, sessionId };
      }),
    );
    const runs = await Promise.all(sessions.map(({ client }) => startRun(client, 'task.start', QUERY)));
    await Promise.all(
      sessions.map(async ({ client }, i) => {
        const { terminal } = await waitForRunEnd(client, runs[i].runId, 150_000);
        expect(terminal.event).toBe('run.completed');
        await client.flush();
        expect(seqs(client.frames)).toEqual(range(1, client.lastSeq()));
      }),
    );
    // Where their keys live: every master holds some.
    const perMaster = await Promise.all(
      admin.nodes('master').map(async (node) => (await node.keys('maws:{*}:state')).length),
    );
    console.log(`200 sessions on the cluster: state keys per master ${perMaster.join(' / ')}`);
    expect(perMaster.filter((n) => n > 0)).toHaveLength(3);
    await Promise.all(sessions.map(({ client }) => client.close()));
  });
});
