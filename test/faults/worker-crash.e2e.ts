/**
 * Fault tolerance (issue 3): a worker crashes (SIGKILL) in the middle of a step. The other
 * worker takes the run over: finished steps are not run again, the interrupted step starts
 * again with the same stepId and attempt 2, the run ends exactly once and the client's seqs
 * are gap-free. Once with short lock settings, once with the defaults (takeover within 15 s).
 */
import type { FrameOf, ServerFrame } from '../../src/contract';
import { isDurable, isEvent, range, runIdOf, seqs, TERMINAL } from '../support/frames';
import { startMaws } from '../support/maws-process';
import { nextStepStreaming, planOf, startRun } from '../support/runs';
import { QUERY, unique } from '../support/scenario';
import { connect } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';
import { signToken } from '../support/tokens';

jest.setTimeout(90_000);

setUpSuite();

/**
 * The contract's takeover rules over one run's frames; `killedAt` is the index of the first
 * frame that arrived after the kill, `interrupted` the step that was running then.
 */
function expectTakenOver(frames: ServerFrame[], runId: string, killedAt: number, interrupted: string): void {
  expect(seqs(frames)).toEqual(range(1, seqs(frames).length));
  const ofRun = frames.filter((f) => runIdOf(f) === runId);
  const terminals = ofRun.filter((f) => isEvent(f, TERMINAL));
  expect(terminals.map((f) => f.event)).toEqual(['run.completed']);
  const terminalIndex = frames.indexOf(terminals[0]);
  expect(frames.slice(terminalIndex + 1).filter((f) => runIdOf(f) === runId && isDurable(f) && f.seq)).toEqual([]);

  const plan = planOf(ofRun);
  const steps = ['plan', ...plan.map((_, i) => `exec-${i + 1}`), 'aggregate'];
  const finishedBeforeKill = new Set(
    frames
      .slice(0, killedAt)
      .filter((f): f is FrameOf<'agent.finished'> => f.event === 'agent.finished' && f.data.runId === runId)
      .map((f) => f.data.stepId),
  );
  expect(finishedBeforeKill.size).toBeGreaterThanOrEqual(1); // the plan at least
  for (const stepId of steps) {
    const started = ofRun.filter(
      (f): f is FrameOf<'agent.started'> => f.event === 'agent.started' && f.data.stepId === stepId,
    );
    const finished = ofRun.filter(
      (f): f is FrameOf<'agent.finished'> => f.event === 'agent.finished' && f.data.stepId === stepId,
    );
    expect({ stepId, finished: finished.length }).toEqual({ stepId, finished: 1 });
    // A finished step is never started again.
    const startedAfterFinish = started.filter((f) => frames.indexOf(f) > frames.indexOf(finished[0]));
    expect({ stepId, startedAfterFinish }).toEqual({ stepId, startedAfterFinish: [] });
    if (stepId === interrupted) {
      expect(started.map((f) => f.data.attempt)).toEqual([1, 2]);
      expect(frames.indexOf(started[1])).toBeGreaterThanOrEqual(killedAt);
    } else {
      expect({ stepId, attempts: started.map((f) => f.data.attempt) }).toEqual({ stepId, attempts: [1] });
    }
  }
  // Steps in the contract's order (the restarted one where it was).
  const order = ofRun
    .filter((f): f is FrameOf<'agent.started'> => f.event === 'agent.started')
    .map((f) => f.data.stepId)
    .filter((s, i, all) => all.indexOf(s) === i);
  expect(order).toEqual(steps);
}

/** Runs a task, SIGKILLs the worker holding it mid-step, checks the takeover; returns its time. */
async function crashMidStep(settings: Record<string, string>): Promise<number> {
  // Only worker 1 runs when the task starts, so it is the one holding the run.
  const {
    env,
    procs: [gateway, worker1],
  } = await startStack(['gateway', 'worker'], { OFFLINE_TOKEN_DELAY_MS: '20', ...settings });
  const sessionId = unique('crash');
  const token = signToken(unique('cy'));
  const { client } = await connect(gateway, sessionId, token);
  const { runId } = await startRun(client, 'task.start', QUERY);
  await client.waitForEvent('run.started', (f) => f.data.runId === runId, 30_000);
  // Worker 2 joins now: it waits for work while worker 1 holds the run.
  await startMaws('worker', env);

  // Interrupt the next step that starts from now on (an executor's or the aggregator's),
  // once its model output is streaming.
  const interrupted = await nextStepStreaming(client, runId);
  worker1.kill('SIGKILL');
  const killedAt = client.frames.length;
  const killTime = Date.now();
  expect((await worker1.exited).signal).toBe('SIGKILL');

  const restarted = await client.waitForEvent(
    'agent.started',
    (f) => f.data.runId === runId && f.data.stepId === interrupted && f.data.attempt === 2,
    30_000,
    killedAt,
  );
  const takeoverMs = Date.now() - killTime;
  console.log(`worker crash: takeover after ${takeoverMs} ms (${JSON.stringify(settings)})`);
  expect(restarted.data.agent).toBe('executor');
  await client.waitForEvent(TERMINAL, (f) => f.data.runId === runId, 60_000);
  await client.waitForEvent('session.state', (f) => f.data.state === 'REFINEMENT_READY', 10_000);
  await client.flush();
  expectTakenOver(client.frames, runId, killedAt, interrupted);

  // A client that joins now replays the same history, gap-free.
  const { client: late } = await connect(gateway, sessionId, token, { lastSeq: 0 });
  await late.waitFor((f) => isDurable(f) && f.seq === client.lastSeq(), 10_000);
  expect(late.rawDurable()).toEqual(client.rawDurable());
  return takeoverMs;
}

describe('worker crash', () => {
  it('SIGKILL mid-step: the other worker resumes at the interrupted step (attempt 2), nothing rerun', async () => {
    await crashMidStep({ WORKER_LOCK_MS: '3000', WORKER_STALLED_INTERVAL_MS: '1000' });
  });

  it('with the default lock and stalled-check settings, the other worker takes the run over within 15 s', async () => {
    expect(await crashMidStep({})).toBeLessThanOrEqual(15_000);
  });
});
