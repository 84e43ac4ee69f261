/**
 * Replanning (issue 14, v2 "Replanning") on real processes, forced by the offline model's
 * fault switch (`[offline-fail: <words>]` in the task fails every executor step whose title
 * holds the words): a step that fails for good gives agent.failed, then the planner's
 * replan-N step and plan.updated; dropped steps get agent.skipped; finished steps never run
 * again; the report says what failed or was dropped; the Clarifier reads the latest plan;
 * MAX_REPLANS caps it (REPLAN_EXHAUSTED), and a worker killed mid-replan does not charge the
 * budget twice.
 */
import type { AnyDurableFrame, FrameOf } from '../src/contract';
import { runIdOf } from './support/frames';
import { startMaws, type MawsProcess } from './support/maws-process';
import { expectOneWriter, startRun, waitForRunEnd } from './support/runs';
import { QUERY } from './support/scenario';
import { newSdkSession } from './support/session';
import { setUpSuite, startStack } from './support/suite';

jest.setTimeout(90_000);

let gateway: MawsProcess;
let worker: MawsProcess;
let env: Record<string, string | undefined>;

setUpSuite(async () => {
  const stack = await startStack(['gateway', 'worker'], {
    OFFLINE_TOKEN_DELAY_MS: '15',
    MAX_REPLANS: '1',
    WORKER_LOCK_MS: '3000',
    WORKER_STALLED_INTERVAL_MS: '1000',
  });
  [gateway, worker] = stack.procs;
  env = stack.env;
});

const ofRun = (frames: AnyDurableFrame[], runId: string): AnyDurableFrame[] =>
  frames.filter((f) => runIdOf(f) === runId);
const stepEvents = (frames: AnyDurableFrame[]): string[] =>
  frames
    .filter((f) => ['agent.started', 'agent.failed', 'agent.skipped', 'plan.updated'].includes(f.event))
    .map((f) => {
      const d = f.data as { stepId?: string; version?: number };
      return `${f.event} ${d.stepId ?? `v${d.version}`}`;
    });

describe('replanning after a step fails for good', () => {
  it('agent.failed, replan-1, plan.updated (a step dropped, a new one added); the report says what is missing; chat reads the new plan', async () => {
    const { client } = await newSdkSession(gateway, 'replan');
    const { runId } = await startRun(client, 'task.start', `[offline-fail: of Google] ${QUERY}`);
    const updated = await client.waitForEvent('plan.updated', (f) => f.data.runId === runId, 60_000);
    // The Clarifier answers from the latest plan version.
    const reply = await client.request('message', { text: 'What is the plan now?' });
    expect(reply.event).toBe('ack');
    const chat = await client.waitForEvent('chat.response', undefined, 20_000);
    expect(chat.data.text).toMatch(
      /the plan \(version 2, revised\) is: 1\. Examine stock performance of Apple; 2\. Examine stock performance of Tesla; 3\. Compare what was found/,
    );
    expect(chat.data.text).toMatch(/Failed for good: "Examine stock performance of Google"/);

    const { terminal } = await waitForRunEnd(client, runId, 60_000);
    expect(terminal.event).toBe('run.completed');
    const frames = ofRun(client.durable(), runId);
    expect(stepEvents(frames)).toEqual([
      'agent.started plan',
      'agent.started exec-1',
      'agent.started exec-2',
      'agent.failed exec-2',
      'agent.started replan-1',
      'plan.updated v2',
      'agent.skipped exec-4',
      'agent.started exec-3',
      'agent.started exec-5',
      'agent.started aggregate',
    ]);
    const failed = frames.find((f): f is FrameOf<'agent.failed'> => f.event === 'agent.failed')!;
    expect(failed.data).toEqual({
      runId,
      agent: 'executor',
      stepId: 'exec-2',
      attempt: 1,
      error: { code: 'MODEL_UNAVAILABLE', message: expect.stringContaining('[offline-fail: of Google]') },
    });
    expect(updated.data).toEqual({
      runId,
      version: 2,
      reason: 'step_failed',
      plan: [
        { stepId: 'exec-1', title: 'Examine stock performance of Apple', description: expect.any(String) },
        { stepId: 'exec-3', title: 'Examine stock performance of Tesla', description: expect.any(String) },
        { stepId: 'exec-5', title: 'Compare what was found', description: expect.stringContaining('without') },
      ],
      finished: ['exec-1'],
      dropped: ['exec-4'],
      failed: ['exec-2'],
    });
    const skipped = frames.find((f): f is FrameOf<'agent.skipped'> => f.event === 'agent.skipped')!;
    expect(skipped.data.reason).toMatch(/version 2 of the plan dropped it/);
    // The finished step ran once; the report names the failed and the dropped step.
    expect(frames.filter((f) => f.event === 'agent.started' && f.data.stepId === 'exec-1')).toHaveLength(1);
    const report = (terminal as FrameOf<'run.completed'>).data.report;
    expect(report).toContain('## Not covered');
    expect(report).toMatch(/\*\*Examine stock performance of Google\*\* failed: .*offline-fail/);
    expect(report).toContain('**Compare Apple, Google and Tesla** was dropped when the plan was revised.');
    expectOneWriter(client.durable(), runId);

    // A refinement builds on what the revised run found.
    const refinement = await startRun(client, 'task.refine', 'Focus on Tesla');
    const refined = await waitForRunEnd(client, refinement.runId, 60_000);
    expect(refined.terminal.event).toBe('run.completed');
    await client.close();
  });

  it('past MAX_REPLANS the run fails with REPLAN_EXHAUSTED', async () => {
    const { client } = await newSdkSession(gateway, 'replan-exhausted');
    const { runId } = await startRun(client, 'task.start', `[offline-fail: Examine] ${QUERY}`);
    const { terminal } = await waitForRunEnd(client, runId, 60_000);
    expect(terminal.event).toBe('run.failed');
    expect((terminal as FrameOf<'run.failed'>).data.error).toEqual({
      code: 'REPLAN_EXHAUSTED',
      message: expect.stringMatching(/failed .*revised 1 time\(s\) \(MAX_REPLANS\)/),
    });
    expect(stepEvents(ofRun(client.durable(), runId))).toEqual([
      'agent.started plan',
      'agent.started exec-1',
      'agent.failed exec-1',
      'agent.started replan-1',
      'plan.updated v2',
      'agent.skipped exec-4',
      'agent.started exec-2',
      'agent.failed exec-2',
    ]);
    await client.close();
  });

  it('a worker killed mid-replan: the new one resumes replan-1 as attempt 2, without charging MAX_REPLANS again', async () => {
    const { client } = await newSdkSession(gateway, 'replan-crash');
    const { runId } = await startRun(client, 'task.start', `[offline-fail: of Apple] ${QUERY}`);
    await client.waitForEvent('agent.delta', (f) => f.data.runId === runId && f.data.stepId === 'replan-1', 60_000);
    worker.kill('SIGKILL');
    await worker.exited;
    worker = await startMaws('worker', env);
    const { terminal } = await waitForRunEnd(client, runId, 60_000);
    expect(terminal.event).toBe('run.completed');
    const frames = ofRun(client.durable(), runId);
    expect(
      frames
        .filter((f): f is FrameOf<'agent.started'> => f.event === 'agent.started' && f.data.stepId === 'replan-1')
        .map((f) => f.data.attempt),
    ).toEqual([1, 2]);
    expect(frames.filter((f) => f.event === 'plan.updated')).toHaveLength(1);
    expectOneWriter(client.durable(), runId);
    await client.close();
  });
});
