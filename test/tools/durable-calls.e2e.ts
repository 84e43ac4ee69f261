/**
 * Durable tool calls (issues 13 and 14), on real worker processes: a worker SIGKILLed between
 * a call's tool.called and its tool.result; a worker killed after a call's result, while the
 * step still streams (the restarted step answers the call from its record, not running it
 * again); and a worker SIGSTOPped past its lock with a tool call in flight, woken after the
 * takeover: nothing it sends reaches the history. Every toolCallId has exactly one
 * tool.called and one tool.result; one writer per step; one report.
 */
import type { FrameOf, ServerFrame } from '../../src/contract';
import { runIdOf } from '../support/frames';
import { startMaws } from '../support/maws-process';
import { expectOneWriter, startRun, waitForRunEnd } from '../support/runs';
import { unique } from '../support/scenario';
import { connect } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';
import { sleep } from '../support/timing';
import { signToken } from '../support/tokens';

jest.setTimeout(120_000);

setUpSuite();

// Tokens 10 ms apart: a step streams long enough to be caught mid-way, and the report is quick.
const SHORT_LOCK = { WORKER_LOCK_MS: '3000', WORKER_STALLED_INTERVAL_MS: '1000', OFFLINE_TOKEN_DELAY_MS: '10' };
/** A task whose every executor calls run_js with code that spins for `ms` (the offline model's rule 2). */
const spinning = (ms: number): string =>
  `Time the loop:\n\`\`\`js\nconst t = Date.now(); while (Date.now() - t < ${ms}) {} 'spun ${ms} ms'\n\`\`\``;

type CalledFrame = FrameOf<'tool.called'>;
type ResultFrame = FrameOf<'tool.result'>;

/** Every tool.called of the run has exactly one tool.result after it, and every result a call. */
function expectPairs(frames: ServerFrame[], runId: string): void {
  const ofRun = frames.filter((f) => runIdOf(f) === runId);
  const called = ofRun.filter((f): f is CalledFrame => f.event === 'tool.called');
  const results = ofRun.filter((f): f is ResultFrame => f.event === 'tool.result');
  expect(called.length).toBeGreaterThan(0);
  expect(results.map((r) => r.data.toolCallId).sort()).toEqual(called.map((c) => c.data.toolCallId).sort());
  for (const c of called) {
    const result = results.find((r) => r.data.toolCallId === c.data.toolCallId)!;
    expect(ofRun.indexOf(result)).toBeGreaterThan(ofRun.indexOf(c));
    expect(result.data.attempt).toBe(c.data.attempt);
  }
}

async function startOn(env: Record<string, string>) {
  const {
    env: stackEnv,
    procs: [gateway, worker1],
  } = await startStack(['gateway', 'worker'], env);
  const { client } = await connect(gateway, unique('durable'), signToken(unique('du')));
  return { stackEnv, worker1, client };
}

describe('tool calls across worker crashes and stalls', () => {
  it('SIGKILL between tool.called and tool.result: the next worker closes the call (TOOL_FAILED), runs it again in attempt 2, and the run completes', async () => {
    const { stackEnv, worker1, client } = await startOn(SHORT_LOCK);
    const { runId } = await startRun(client, 'task.start', spinning(3000));
    const called = await client.waitForEvent('tool.called', (f) => f.data.runId === runId, 60_000);
    worker1.kill('SIGKILL');
    await startMaws('worker', stackEnv);
    await waitForRunEnd(client, runId, 90_000);
    await client.flush();
    expectOneWriter(client.frames, runId);
    expectPairs(client.frames, runId);
    const { stepId, toolCallId } = called.data;
    const ofStep = client.frames.filter(
      (f) => runIdOf(f) === runId && 'stepId' in f.data && f.data.stepId === stepId && f.event !== 'agent.delta',
    );
    const closing = ofStep.find(
      (f): f is ResultFrame => f.event === 'tool.result' && f.data.toolCallId === toolCallId,
    )!;
    expect(closing.data).toMatchObject({
      attempt: 1,
      tool: 'run_js',
      ok: false,
      error: { code: 'TOOL_FAILED', message: expect.stringMatching(/stopped before it finished/) },
    });
    // Closed before the step's attempt 2 began; attempt 2 ran the call again, to its end.
    const restart = ofStep.findIndex((f) => f.event === 'agent.started' && f.data.attempt === 2);
    expect(ofStep.indexOf(closing)).toBeLessThan(restart);
    const again = ofStep.filter((f): f is ResultFrame => f.event === 'tool.result' && f.data.attempt === 2);
    expect(again.map((r) => [r.data.ok, r.data.output, r.data.recorded])).toEqual([
      [true, { value: 'spun 3000 ms', logs: [] }, undefined],
    ]);
  });

  it('killed after a call’s result, while the step streams: the restarted step answers the call from its record', async () => {
    const { stackEnv, worker1, client } = await startOn(SHORT_LOCK);
    const { runId } = await startRun(client, 'task.start', spinning(200));
    const result = await client.waitForEvent('tool.result', (f) => f.data.runId === runId, 60_000);
    const { stepId } = result.data;
    await client.waitForEvent('agent.delta', (f) => f.data.runId === runId && f.data.stepId === stepId, 30_000);
    worker1.kill('SIGKILL');
    await startMaws('worker', stackEnv);
    await waitForRunEnd(client, runId, 90_000);
    await client.flush();
    expectOneWriter(client.frames, runId);
    expectPairs(client.frames, runId);
    const results = client.frames.filter(
      (f): f is ResultFrame => f.event === 'tool.result' && f.data.runId === runId && f.data.stepId === stepId,
    );
    expect(results.map((r) => [r.data.attempt, r.data.ok, r.data.recorded ?? false])).toEqual([
      [1, true, false],
      [2, true, true],
    ]);
    // The same outcome, its time included: the call was not run again.
    expect(results[1].data.output).toEqual(results[0].data.output);
    expect(results[1].data.ms).toBe(results[0].data.ms);
  });

  it('SIGSTOP past the lock with a tool call in flight, SIGCONT after the takeover: the stale worker writes nothing more', async () => {
    const { stackEnv, worker1, client } = await startOn(SHORT_LOCK);
    const { runId } = await startRun(client, 'task.start', spinning(2500));
    const called = await client.waitForEvent('tool.called', (f) => f.data.runId === runId, 60_000);
    worker1.kill('SIGSTOP');
    try {
      await startMaws('worker', stackEnv);
      const { stepId } = called.data;
      await client.waitForEvent(
        'tool.called',
        (f) => f.data.runId === runId && f.data.stepId === stepId && f.data.attempt === 2,
        30_000,
      );
      // The stale worker wakes while the new one runs the same call: its tool finishes, and
      // its result (and anything after) is refused.
      worker1.kill('SIGCONT');
      await sleep(3000);
      await waitForRunEnd(client, runId, 90_000);
    } finally {
      worker1.kill('SIGCONT');
    }
    await client.flush();
    expectOneWriter(client.frames, runId);
    expectPairs(client.frames, runId);
    const stale = client.frames.filter(
      (f): f is ResultFrame => f.event === 'tool.result' && f.data.toolCallId === called.data.toolCallId,
    );
    expect(stale.map((f) => [f.data.ok, f.data.error?.code])).toEqual([[false, 'TOOL_FAILED']]);
    const said = worker1.output().match(/run r_\S+ was taken over by another worker|lost its lock on run r_\S+/g) ?? [];
    expect(said.length).toBe(1);
    expect(worker1.running).toBe(true);
  });
});
