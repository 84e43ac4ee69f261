/**
 * Fencing (v2 "Attempts and fencing"): a worker that stalls past its lock (SIGSTOP: a long GC
 * pause, a frozen VM) while another takes its run over, and then wakes up while the new one
 * streams, writes nothing more. The history holds exactly one `agent.finished` per step, each
 * step's latest attempt's deltas spell its output, one terminal event, gap-free seqs, and no
 * frame of the stale attempt after the takeover. The stale worker says so in one log line and
 * stays up. The same when Redis itself stalls (SIGSTOP for 15 s) and when one worker's link
 * to Redis is cut (a partition, through a test proxy) and heals.
 */
import type { AgentName } from '../../src/contract';
import { startMaws } from '../support/maws-process';
import { expectOneWriter, nextStepStreaming, startRun, waitForRunEnd } from '../support/runs';
import { startRedis } from '../support/redis-server';
import { QUERY, REFINE, unique } from '../support/scenario';
import { connect } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';
import { startTcpProxy } from '../support/tcp-proxy';
import { eventually, sleep } from '../support/timing';
import { signToken } from '../support/tokens';

jest.setTimeout(120_000);

setUpSuite();

const SHORT_LOCK = { WORKER_LOCK_MS: '3000', WORKER_STALLED_INTERVAL_MS: '1000', OFFLINE_TOKEN_DELAY_MS: '40' };

/**
 * Runs a task on one worker, SIGSTOPs it while a step of `agent` streams, starts a second
 * worker, and SIGCONTs the first once the second streams the step's attempt 2.
 */
async function stallDuring(agent: AgentName): Promise<void> {
  const {
    env,
    procs: [gateway, worker1],
  } = await startStack(['gateway', 'worker'], SHORT_LOCK);
  const { client } = await connect(gateway, unique('stale'), signToken(unique('st')));
  const { runId } = await startRun(client, 'task.start', QUERY);
  const stalled = await nextStepStreaming(client, runId, { agent, timeoutMs: 60_000 });
  worker1.kill('SIGSTOP');
  try {
    await startMaws('worker', env);
    const takeover = await client.waitForEvent(
      'agent.started',
      (f) => f.data.runId === runId && f.data.stepId === stalled && f.data.attempt === 2,
      30_000,
    );
    const takeoverAt = client.frames.indexOf(takeover);
    await client.waitForEvent(
      'agent.delta',
      (f) => f.data.runId === runId && f.data.stepId === stalled && f.data.attempt === 2,
      30_000,
      takeoverAt,
    );
    worker1.kill('SIGCONT');
    await waitForRunEnd(client, runId, 90_000);
    await client.flush();
    expectOneWriter(client.frames, runId);
  } finally {
    worker1.kill('SIGCONT');
  }
  // The stale worker said why it stopped, once, and is still up to take work.
  const said = worker1.output().match(/run r_\S+ was taken over by another worker|lost its lock on run r_\S+/g) ?? [];
  expect(said.length).toBe(1);
  expect(worker1.running).toBe(true);
}

describe('a worker that stalls past its lock', () => {
  it('SIGSTOP during an executor step, SIGCONT while the new worker streams it: the stale worker writes nothing more', async () => {
    await stallDuring('executor');
  });

  it('the same at the aggregator step: one report, written by the new worker', async () => {
    await stallDuring('aggregator');
  });

  it('redis-server SIGSTOPped past the lock with two workers: when it resumes, one writer per step, one report', async () => {
    const {
      redis,
      procs: [gateway],
    } = await startStack(['gateway', 'worker', 'worker'], SHORT_LOCK);
    const { client } = await connect(gateway, unique('stale'), signToken(unique('st')));
    const { runId } = await startRun(client, 'task.start', QUERY);
    await nextStepStreaming(client, runId, { timeoutMs: 60_000 });
    redis.kill('SIGSTOP');
    try {
      await sleep(15_000); // five times WORKER_LOCK_MS: every lock has expired when Redis resumes
    } finally {
      redis.kill('SIGCONT');
    }
    await waitForRunEnd(client, runId, 90_000);
    await client.flush();
    expectOneWriter(client.frames, runId);
    // Every process came back by itself: the same socket refines the report, to the end.
    const refinement = await startRun(client, 'task.refine', REFINE);
    await waitForRunEnd(client, refinement.runId, 60_000);
    await client.flush();
    expectOneWriter(client.frames, refinement.runId);
  });
});

describe('a worker cut off from Redis (a partition) past its lock', () => {
  it('loses the run to another worker, writes nothing of it when the link heals, and takes work again', async () => {
    const redis = await startRedis();
    const proxy = await startTcpProxy(redis.port);
    const env = { REDIS_URL: redis.url, ...SHORT_LOCK };
    const gateway = await startMaws('gateway', env);
    const cutOff = await startMaws('worker', { ...env, REDIS_URL: proxy.url });
    const { client } = await connect(gateway, unique('part'), signToken(unique('pt')));
    const { runId } = await startRun(client, 'task.start', QUERY);
    const stepId = await nextStepStreaming(client, runId, { agent: 'executor', timeoutMs: 60_000 });
    proxy.cut();
    const other = await startMaws('worker', env);
    const takeover = await client.waitForEvent(
      'agent.started',
      (f) => f.data.runId === runId && f.data.stepId === stepId && f.data.attempt === 2,
      30_000,
    );
    await client.waitForEvent(
      'agent.delta',
      (f) => f.data.runId === runId && f.data.stepId === stepId && f.data.attempt === 2,
      30_000,
      client.frames.indexOf(takeover),
    );
    // Healed while the new holder streams: what the cut-off worker sent meanwhile arrives now.
    proxy.heal();
    await waitForRunEnd(client, runId, 90_000);
    await client.flush();
    expectOneWriter(client.frames, runId);
    await eventually(
      () =>
        Promise.resolve(/run r_\S+ was taken over by another worker|lost its lock on run r_\S+/.test(cutOff.output())),
      15_000,
      'the cut-off worker says it stopped the run',
    );
    expect(cutOff.output().match(/: stopped it without writing more/g)).toHaveLength(1);
    // It recovered by itself: with the other worker gone, it runs the next task to the end.
    await other.stop();
    const next = await startRun(client, 'task.start', QUERY);
    await waitForRunEnd(client, next.runId, 90_000);
    await client.flush();
    expectOneWriter(client.frames, next.runId);
    expect(cutOff.running).toBe(true);
  });
});
