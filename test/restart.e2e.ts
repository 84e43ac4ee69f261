/**
 * End-to-end: the session outlives its processes (/work/shared/protocol.md, Processes,
 * Resuming, Refinement). A refinement works after every process that ran the task has exited
 * (SIGTERM, exit 0), and a client resumes by seq on another gateway with no gap or duplicate.
 */
import type { AnyDurableFrame, FrameOf } from '../src/contract';
import { expectEvent } from './support/frames';
import { startMaws } from './support/maws-process';
import { startRedis, type RedisServer } from './support/redis-server';
import { expectRunOpening, outputOf, planOf, startRun, waitForRunEnd } from './support/runs';
import { QUERY, REFINE, unique } from './support/scenario';
import { connect } from './support/session';
import { setUpSuite } from './support/suite';
import { signToken } from './support/tokens';

jest.setTimeout(60_000);

const COMPANIES = ['Apple', 'Google', 'Tesla'];
const RUN_TIMEOUT_MS = 30_000;

let redis: RedisServer;

setUpSuite(async () => {
  redis = await startRedis({ appendonly: true });
});

// ---------------------------------------------------------------------------------------------
// helpers

function expectConsecutive(frames: AnyDurableFrame[], first: number): void {
  const seqs = frames.map((f) => f.seq);
  expect(seqs).toEqual(seqs.map((_, i) => first + i));
}

/** Step ids of the run in the order their agent.started came, e.g. plan, exec-1, ..., aggregate. */
function stepOrder(frames: AnyDurableFrame[], runId: string): string[] {
  return frames
    .filter((f): f is FrameOf<'agent.started'> => f.event === 'agent.started' && f.data.runId === runId)
    .map((f) => `${f.data.agent}/${f.data.stepId}`);
}

function expectedSteps(plan: unknown[]): string[] {
  return ['planner/plan', ...plan.map((_, i) => `executor/exec-${i + 1}`), 'aggregator/aggregate'];
}

// ---------------------------------------------------------------------------------------------

describe('refinement after every process restarts (gateway, worker and Redis)', () => {
  it('a fresh gateway and worker refine the report from the context stored in Redis', async () => {
    const env = { REDIS_URL: redis.url, OFFLINE_TOKEN_DELAY_MS: '0' };
    const sessionId = unique('restart');
    const token = signToken(unique('erin'));

    // --- first generation: run the task to REFINEMENT_READY
    const [gateway1, worker1] = await Promise.all([startMaws('gateway', env), startMaws('worker', env)]);
    const { client: first, snapshot: firstSnapshot } = await connect(gateway1, sessionId, token);
    expect(firstSnapshot.data).toEqual({ state: 'IDLE', lastSeq: 0 });
    const { runId: taskRunId } = await startRun(first, 'message', QUERY);
    const taskEnd = await waitForRunEnd(first, taskRunId, RUN_TIMEOUT_MS);
    const taskCompleted = expectEvent(taskEnd.terminal, 'run.completed');
    expect(taskEnd.state.data.state).toBe('REFINEMENT_READY');
    const report = taskCompleted.data.report;
    expect(report.startsWith('# Report:')).toBe(true);
    for (const company of COMPANIES) expect(report).toContain(company);
    const oldLastSeq = first.lastSeq();
    expectConsecutive(first.durable(), 1);

    const taskPlan = planOf(first.durable());
    const teslaIndex = taskPlan.findIndex((p) => p.title.includes('Tesla'));
    expect(teslaIndex).toBeGreaterThanOrEqual(0);
    const teslaFinding = (outputOf(first.durable(), `exec-${teslaIndex + 1}`) as { text: string }).text;

    // --- stop both (SIGTERM): each exits 0 (close codes: see 'graceful shutdown')
    await first.close();
    const [gatewayExit, workerExit] = await Promise.all([gateway1.stop('SIGTERM'), worker1.stop('SIGTERM')]);
    expect(gatewayExit).toEqual({ code: 0, signal: null });
    expect(workerExit).toEqual({ code: 0, signal: null });
    // Redis too goes down and comes back from its append-only file.
    await redis.restart();

    // --- second generation: new processes, the same (restarted) Redis
    const [gateway2, worker2] = await Promise.all([startMaws('gateway', env), startMaws('worker', env)]);
    const { client: second, snapshot } = await connect(gateway2, sessionId, token);
    expect(snapshot.data).toEqual({ state: 'REFINEMENT_READY', lastSeq: oldLastSeq, report });
    await second.flush();
    expect(second.durable()).toEqual([]);

    const { runId } = await startRun(second, 'message', REFINE);
    expect(typeof runId).toBe('string');
    expect(runId).not.toBe(taskRunId);
    const end = await waitForRunEnd(second, runId, RUN_TIMEOUT_MS);
    const refinedFrame = expectEvent(end.terminal, 'run.completed');
    expect(end.state.data.state).toBe('REFINEMENT_READY');

    // Seqs continue the session's history.
    const durable = second.durable();
    expectConsecutive(durable, oldLastSeq + 1);
    expectRunOpening(durable, { runId, mode: 'refinement', input: REFINE });
    const plan = planOf(durable);
    expect(plan.some((p) => `${p.title} ${p.description}`.includes('Tesla'))).toBe(true);
    expect(stepOrder(durable, runId)).toEqual(expectedSteps(plan));
    expect(
      durable
        .filter((f): f is FrameOf<'agent.started'> => f.event === 'agent.started')
        .every((f) => f.data.attempt === 1),
    ).toBe(true);

    const refined = refinedFrame.data.report;
    expect(refined.startsWith('# Refined report')).toBe(true);
    expect(refined).toContain('Tesla');
    expect(refined).toMatch(/volatility/i);
    // Drawn from the stored context: the earlier run's Tesla figure is carried into it.
    const figure = /[+-]\d+\.\d%/.exec(teslaFinding);
    expect(figure).not.toBeNull();
    expect(refined).toContain(figure![0]);

    const { client: third, snapshot: finalSnapshot } = await connect(gateway2, sessionId, token);
    expect(finalSnapshot.data).toEqual({
      state: 'REFINEMENT_READY',
      lastSeq: second.lastSeq(),
      report: refined,
    });
    await third.close();
    await second.close();
    await Promise.all([gateway2.stop('SIGTERM'), worker2.stop('SIGTERM')]);
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM on a gateway closes its open sockets with 1001 and exits 0', async () => {
    const gateway = await startMaws('gateway', { REDIS_URL: redis.url });
    const { client } = await connect(gateway, unique('bye'), signToken(unique('gina')));
    const exit = await gateway.stop('SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    const closed = await client.closed;
    expect(closed.code).toBe(1001);
  });
});

describe('resuming on another gateway', () => {
  it('a client that left gateway A resumes with ?lastSeq on gateway B with no gap and no duplicate', async () => {
    // A Redis of its own, so that no worker of another test takes this run.
    const ownRedis = await startRedis();
    const env = { REDIS_URL: ownRedis.url, OFFLINE_TOKEN_DELAY_MS: '5' };
    const [gatewayA, gatewayB] = await Promise.all([
      startMaws('gateway', env),
      startMaws('gateway', env),
      startMaws('worker', env),
    ]);
    const sessionId = unique('handoff');
    const token = signToken(unique('frank'));

    // An observer on gateway A records the whole history.
    const { client: observer } = await connect(gatewayA, sessionId, token);
    const { client: leaver } = await connect(gatewayA, sessionId, token);
    const { runId } = await startRun(leaver, 'message', QUERY);

    // Leave in the middle of the run.
    await leaver.waitForEvent(
      'agent.started',
      (f) => f.data.runId === runId && f.data.stepId === 'exec-1',
      RUN_TIMEOUT_MS,
    );
    await leaver.terminate();
    const n = leaver.lastSeq();
    expect(n).toBeGreaterThan(0);
    expectConsecutive(leaver.durable(), 1);

    // Events are produced while it is away.
    await observer.waitForEvent(
      'agent.started',
      (f) => f.data.runId === runId && f.data.stepId === 'exec-3',
      RUN_TIMEOUT_MS,
    );
    const { client: back, snapshot } = await connect(gatewayB, sessionId, token, { lastSeq: n });
    expect(snapshot.data.state).toBe('EXECUTING');
    expect(snapshot.data.runId).toBe(runId);
    expect(snapshot.data.lastSeq).toBeGreaterThan(n);

    const end = await waitForRunEnd(back, runId, RUN_TIMEOUT_MS);
    expect(end.terminal.event).toBe('run.completed');
    expect(end.state.data.state).toBe('REFINEMENT_READY');
    await waitForRunEnd(observer, runId, RUN_TIMEOUT_MS);
    await back.flush();
    await observer.flush();

    const history = observer.durable();
    expectConsecutive(history, 1);
    const resumed = back.durable();
    expectConsecutive(resumed, n + 1);
    expect(resumed[resumed.length - 1].seq).toBe(history[history.length - 1].seq);
    expect(back.rawDurable()).toEqual(observer.rawDurable().filter((_, i) => history[i].seq > n));
    // What it had before leaving plus what it got back is the whole history, once.
    expect([...leaver.durable(), ...resumed].map((f) => f.seq)).toEqual(history.map((f) => f.seq));
    expect(back.events('error')).toEqual([]);
    expect(stepOrder(history, runId)).toEqual(expectedSteps(planOf(history)));
  });
});
