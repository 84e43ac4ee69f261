/// <reference types="jest" />
/**
 * Test support: a run as a client drives and sees it: started by a command, opened by its
 * first four events, its steps streaming, ended by a terminal event.
 */
import type {
  AgentName,
  AnyDurableFrame,
  FrameOf,
  PlanItem,
  ReplyFrame,
  RunMode,
  ServerFrame,
} from '../../src/contract';
import { expectEvent, isEvent, range, runIdOf, seqs, TERMINAL, type TerminalEvent } from './frames';
import type { TestClient } from './ws-client';

/** What the run helpers need of a client: the raw wire one (TestClient) or the SDK's (SdkTestClient). */
export type RunClient = Pick<TestClient, 'request' | 'waitForEvent' | 'frames'>;

/** The commands that start a run: a task, a refinement, or a `message` routed by the state. */
export type RunCommand = 'task.start' | 'task.refine' | 'message';

/** Sends `event` with `text`; its answer must be an ack carrying the new run's id. */
export async function startRun(
  client: RunClient,
  event: RunCommand,
  text: string,
): Promise<{ ack: ReplyFrame<'ack'>; runId: string }> {
  const ack = expectEvent(await client.request(event, { text }), 'ack');
  const runId = ack.data.runId;
  if (typeof runId !== 'string') throw new Error(`the ack to ${event} carries no runId: ${JSON.stringify(ack)}`);
  return { ack, runId };
}

/**
 * Expects `frames` (durable, from the run's user.message on) to open the run as the contract
 * says: user.message, session.state EXECUTING, run.queued, run.started, with their data.
 */
export function expectRunOpening(
  frames: readonly AnyDurableFrame[],
  run: { runId: string; mode: RunMode; input: string },
): void {
  const { runId, mode, input } = run;
  expect(frames.slice(0, 4).map((f) => f.event)).toEqual([
    'user.message',
    'session.state',
    'run.queued',
    'run.started',
  ]);
  expect(frames[0].data).toEqual({ text: input, kind: mode });
  expect(frames[1].data).toEqual({ state: 'EXECUTING', runId });
  expect(frames[2].data).toEqual({ runId, mode, input });
  expect(frames[3].data).toEqual({ runId, mode });
}

/**
 * Waits until the next step of the run that starts from now on, other than the planner's (or
 * only one of `agent`'s), is streaming its model output (a moment to interrupt it); returns
 * its stepId.
 */
export async function nextStepStreaming(
  client: RunClient,
  runId: string,
  { agent, timeoutMs = 30_000 }: { agent?: AgentName; timeoutMs?: number } = {},
): Promise<string> {
  const from = client.frames.length;
  const next = await client.waitForEvent(
    'agent.started',
    (f) => f.data.runId === runId && (agent ? f.data.agent === agent : f.data.agent !== 'planner'),
    timeoutMs,
    from,
  );
  const stepId = next.data.stepId;
  await client.waitForEvent('agent.delta', (f) => f.data.runId === runId && f.data.stepId === stepId, timeoutMs, from);
  return stepId;
}

/** Waits for the run's terminal event and the session.state that follows it. */
export async function waitForRunEnd(
  client: RunClient,
  runId: string,
  timeoutMs = 30_000,
): Promise<{ terminal: FrameOf<TerminalEvent>; state: FrameOf<'session.state'> }> {
  const terminal = await client.waitForEvent(TERMINAL, (f) => f.data.runId === runId, timeoutMs);
  const state = await client.waitForEvent('session.state', undefined, 10_000, client.frames.indexOf(terminal) + 1);
  return { terminal, state };
}

/**
 * The output of the first `agent.finished` of step `stepId` among `frames` (the contract
 * leaves its type open: `{plan}` for the planner, `{text}` for an executor, `{report}` for the
 * aggregator).
 */
export function outputOf(frames: readonly ServerFrame[], stepId: string): unknown {
  const finished = frames.find(
    (f): f is FrameOf<'agent.finished'> => isEvent(f, 'agent.finished') && f.data.stepId === stepId,
  );
  if (!finished) throw new Error(`no agent.finished of step ${stepId} among ${frames.length} frames`);
  return finished.data.output;
}

/** The plan the first `agent.finished` of the planner's step among `frames` carries. */
export function planOf(frames: readonly ServerFrame[]): PlanItem[] {
  return (outputOf(frames, 'plan') as { plan: PlanItem[] }).plan;
}

/** What a step's latest attempt streamed, joined. */
function latestAttemptText(frames: readonly ServerFrame[], runId: string, stepId: string): string {
  const ofStep = (f: ServerFrame): boolean => runIdOf(f) === runId && 'stepId' in f.data && f.data.stepId === stepId;
  const attempts = frames
    .filter((f): f is FrameOf<'agent.started'> => f.event === 'agent.started' && ofStep(f))
    .map((f) => f.data.attempt);
  const latest = Math.max(...attempts);
  return frames
    .filter((f): f is FrameOf<'agent.delta'> => f.event === 'agent.delta' && ofStep(f) && f.data.attempt === latest)
    .map((f) => f.data.text)
    .join('');
}

/**
 * The checks every stall ends with, over the whole history of the run: gap-free seqs, one
 * `run.completed`, one `agent.finished` per step, each step's latest attempt's deltas equal to
 * its output, and, for every step started again, nothing of an earlier attempt after the
 * later one began (a stale writer's deltas, starts or finishes).
 */
export function expectOneWriter(frames: ServerFrame[], runId: string): void {
  expect(seqs(frames)).toEqual(range(1, seqs(frames).length));
  const ofRun = frames.filter((f) => runIdOf(f) === runId);
  expect(ofRun.filter((f) => isEvent(f, TERMINAL)).map((f) => f.event)).toEqual(['run.completed']);
  // The executor steps of the plan's latest version (v2 "Replanning"), after its planner steps.
  const revised = ofRun.filter((f): f is FrameOf<'plan.updated'> => f.event === 'plan.updated').pop();
  const executors = revised ? revised.data.plan.map((s) => s.stepId) : planOf(ofRun).map((_, i) => `exec-${i + 1}`);
  const replans = [
    ...new Set(
      ofRun.flatMap((f) => (f.event === 'agent.started' && f.data.stepId.startsWith('replan-') ? [f.data.stepId] : [])),
    ),
  ];
  const steps = ['plan', ...replans, ...executors, 'aggregate'];
  for (const stepId of steps) {
    const finished = ofRun.filter((f) => f.event === 'agent.finished' && f.data.stepId === stepId);
    expect({ stepId, finished: finished.length }).toEqual({ stepId, finished: 1 });
    if (stepId === 'plan' || replans.includes(stepId)) continue;
    const output = outputOf(ofRun, stepId) as { text?: string; report?: string };
    const streamed = latestAttemptText(ofRun, runId, stepId);
    if (stepId === 'aggregate') expect(streamed.trim()).toBe(output.report);
    else expect({ stepId, streamed }).toEqual({ stepId, streamed: output.text });
  }
  ofRun.forEach((f, at) => {
    if (f.event !== 'agent.started') return;
    const { stepId, attempt } = f.data;
    const late = ofRun
      .slice(at + 1)
      .filter(
        (g) =>
          (g.event === 'agent.delta' || g.event === 'agent.started' || g.event === 'agent.finished') &&
          g.data.stepId === stepId &&
          'attempt' in g.data &&
          g.data.attempt < attempt,
      );
    expect({ stepId, attempt, late }).toEqual({ stepId, attempt, late: [] });
  });
}
