/**
 * Fault tolerance (issue 3): graceful shutdown of a worker.
 * - SIGTERM mid-step with a small SHUTDOWN_GRACE_MS: exit 0, and the other worker continues
 *   the run: finished steps are not run again, the interrupted step restarts with attempt + 1.
 * - With a grace long enough for the step, the step finishes first and the other worker goes
 *   on with the next one (no step is restarted).
 */
import type { ServerFrame } from '../../src/contract';
import { isEvent, range, runIdOf, seqs, TERMINAL } from '../support/frames';
import { startMaws } from '../support/maws-process';
import { nextStepStreaming, startRun } from '../support/runs';
import { QUERY } from '../support/scenario';
import { newSession } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';

jest.setTimeout(60_000);

setUpSuite();

/** agent.started attempts per stepId, in order of arrival. */
function attemptsByStep(frames: ServerFrame[], runId: string): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const f of frames) {
    if (f.event === 'agent.started' && f.data.runId === runId) (out[f.data.stepId] ??= []).push(f.data.attempt);
  }
  return out;
}

/** No step is started again after its agent.finished; each finishes once. */
function expectNoRerun(frames: ServerFrame[], runId: string): void {
  const finished = new Set<string>();
  for (const f of frames) {
    if (runIdOf(f) !== runId) continue;
    if (f.event === 'agent.started')
      expect({ rerun: f.data.stepId, wasFinished: finished.has(f.data.stepId) }).toEqual({
        rerun: f.data.stepId,
        wasFinished: false,
      });
    if (f.event === 'agent.finished') {
      expect(finished.has(f.data.stepId)).toBe(false);
      finished.add(f.data.stepId);
    }
  }
  const terminals = frames.filter((f) => isEvent(f, TERMINAL) && f.data.runId === runId);
  expect(terminals.map((f) => f.event)).toEqual(['run.completed']);
}

describe('graceful shutdown of a worker', () => {
  async function runAndTerminate(
    graceMs: number,
  ): Promise<{ frames: ServerFrame[]; runId: string; interrupted: string; finishedAtTerm: Set<string> }> {
    const {
      env,
      procs: [gateway, worker1],
    } = await startStack(['gateway', 'worker'], { OFFLINE_TOKEN_DELAY_MS: '12', SHUTDOWN_GRACE_MS: String(graceMs) });
    const { client } = await newSession(gateway, 'term');
    const { runId } = await startRun(client, 'task.start', QUERY);
    await client.waitForEvent('run.started', (f) => f.data.runId === runId, 30_000);
    await startMaws('worker', env); // idle until worker 1 hands the run back

    // Interrupt the next step that starts from now on (an executor's or the aggregator's),
    // once its model output is streaming.
    const interrupted = await nextStepStreaming(client, runId);
    const finishedAtTerm = new Set<string>(
      client
        .events('agent.finished')
        .filter((f) => f.data.runId === runId)
        .map((f) => f.data.stepId),
    );
    const exit = await worker1.stop('SIGTERM', 20_000);
    expect(exit).toEqual({ code: 0, signal: null });
    // It handed the run back rather than finishing it before exiting.
    expect(client.events(TERMINAL)).toEqual([]);

    await client.waitForEvent(TERMINAL, (f) => f.data.runId === runId, 45_000);
    await client.flush();
    expect(seqs(client.frames)).toEqual(range(1, client.lastSeq()));
    expectNoRerun(client.frames, runId);
    return { frames: client.frames, runId, interrupted, finishedAtTerm };
  }

  it('small SHUTDOWN_GRACE_MS: exit 0; the other worker restarts the interrupted step with attempt 2', async () => {
    const { frames, runId, interrupted, finishedAtTerm } = await runAndTerminate(200);
    expect(finishedAtTerm.has('plan')).toBe(true);
    expect(finishedAtTerm.has(interrupted)).toBe(false);
    const attempts = attemptsByStep(frames, runId);
    expect(attempts[interrupted]).toEqual([1, 2]);
    for (const [stepId, list] of Object.entries(attempts)) {
      if (stepId !== interrupted) expect({ stepId, list }).toEqual({ stepId, list: [1] });
    }
  });

  it('a grace long enough for the step: it finishes, and the other worker goes on from the next step', async () => {
    const { frames, runId, interrupted } = await runAndTerminate(20_000);
    const attempts = attemptsByStep(frames, runId);
    for (const [stepId, list] of Object.entries(attempts)) expect({ stepId, list }).toEqual({ stepId, list: [1] });
    // The step that was running at the SIGTERM was finished by the stopping worker.
    expect(attempts[interrupted]).toEqual([1]);
  });
});
