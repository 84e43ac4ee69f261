/**
 * Steering (issue 15, v2 "Steering") on real processes and a real Redis, with the offline
 * model: `run.steer` and a `message` the Clarifier reads as an instruction are applied at the
 * next step boundary (run.steered, before the planner's replan-N); an instruction that drops
 * a step makes plan.updated (reason steer) and agent.skipped, and the step never starts; one
 * that adds a subject adds a step; one that changes no step leaves the plan's version as it
 * was and reaches the report. Questions still get the v1 answer. Steering a run that waits on
 * the person, across a restart of every process; bad input; the Clarifier and a refinement
 * know what the person steered. (The prompts a real provider gets: steering-prompts.e2e.ts.)
 */
import type { AnyDurableFrame, FrameOf } from '../../src/contract';
import { expectEvent, runIdOf } from '../support/frames';
import { startMaws, type MawsProcess } from '../support/maws-process';
import { expectOneWriter, startRun, waitForRunEnd } from '../support/runs';
import { QUERY } from '../support/scenario';
import { connectSdk, newSdkSession } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';
import type { SdkTestClient } from '../support/sdk-client';

jest.setTimeout(120_000);

let gateway: MawsProcess;
let worker: MawsProcess;
let env: Record<string, string | undefined>;

setUpSuite(async () => {
  // Each step streams for about half a second: time to steer while one runs.
  const stack = await startStack(['gateway', 'worker'], { OFFLINE_TOKEN_DELAY_MS: '12' });
  [gateway, worker] = stack.procs;
  env = stack.env;
});

const ofRun = (client: SdkTestClient, runId: string): AnyDurableFrame[] =>
  client.durable().filter((f) => runIdOf(f) === runId);

const startedSteps = (frames: AnyDurableFrame[]): string[] =>
  frames.flatMap((f) => (f.event === 'agent.started' ? [f.data.stepId] : []));

const eventsOf = <E extends AnyDurableFrame['event']>(frames: AnyDurableFrame[], event: E) =>
  frames.filter((f): f is FrameOf<E> => f.event === event);

/** Starts the Apple, Google, Tesla task and waits until its first executor step streams. */
async function runningTask(client: SdkTestClient): Promise<string> {
  const { runId } = await startRun(client, 'task.start', QUERY);
  await client.waitForEvent('agent.delta', (f) => f.data.runId === runId && f.data.stepId === 'exec-1', 30_000);
  return runId;
}

describe('steering a live run', () => {
  it('run.steer "skip Google": applied before the next step, the planner drops the step, which never starts', async () => {
    const { client } = await newSdkSession(gateway, 'steer-drop');
    const runId = await runningTask(client);
    const ack = await client.request('run.steer', { text: 'Skip Google' });
    expect(ack).toMatchObject({ event: 'ack', data: { runId } });
    const { terminal } = await waitForRunEnd(client, runId, 60_000);
    expect(terminal.event).toBe('run.completed');

    const all = client.durable();
    const frames = ofRun(client, runId);
    expect(all.filter((f) => f.event === 'user.message').map((f) => f.data)).toContainEqual({
      text: 'Skip Google',
      kind: 'steer',
    });
    // Applied at the boundary after the step that was running: before the planner's revision.
    const steered = eventsOf(frames, 'run.steered');
    expect(steered.map((f) => f.data)).toEqual([{ runId, text: 'Skip Google', appliedBefore: 'replan-1' }]);
    const finishedExec1 = frames.find((f) => f.event === 'agent.finished' && f.data.stepId === 'exec-1')!;
    const replanStarted = frames.find((f) => f.event === 'agent.started' && f.data.stepId === 'replan-1')!;
    expect(steered[0].seq).toBeGreaterThan(finishedExec1.seq);
    expect(steered[0].seq).toBeLessThan(replanStarted.seq);
    expect(replanStarted.data).toMatchObject({
      agent: 'planner',
      title: 'Revise the plan as you asked: "Skip Google"',
    });

    const [updated] = eventsOf(frames, 'plan.updated');
    expect(updated.data).toMatchObject({
      runId,
      version: 2,
      reason: 'steer',
      finished: ['exec-1'],
      dropped: ['exec-2'],
      failed: [],
    });
    expect(updated.data.plan.map((s) => s.title)).toEqual([
      'Examine stock performance of Apple',
      'Examine stock performance of Tesla',
      'Compare Apple, Google and Tesla',
    ]);
    expect(eventsOf(frames, 'agent.skipped').map((f) => f.data)).toEqual([
      { runId, stepId: 'exec-2', reason: 'version 2 of the plan dropped it as you asked: "Skip Google"' },
    ]);
    // The dropped step never started; the others ran once each.
    expect(startedSteps(frames)).toEqual(['plan', 'exec-1', 'replan-1', 'exec-3', 'exec-4', 'aggregate']);
    expectOneWriter(all, runId);
    const report = (terminal as FrameOf<'run.completed'>).data.report;
    expect(report).toContain('As you asked while the team worked: "Skip Google".');
    await client.close();
  });

  it('a message read as an instruction is applied as run.steer; the answer says what will change', async () => {
    const { client } = await newSdkSession(gateway, 'steer-msg');
    const runId = await runningTask(client);
    const ack = await client.request('message', { text: 'Also include Microsoft' });
    expect(ack.event).toBe('ack');
    const replyTo = (ack.data as { replyTo: string }).replyTo;
    const answer = await client.waitForEvent('chat.response', (f) => f.data.replyTo === replyTo, 30_000);
    expect(answer.data.text).toBe(
      'Understood: "Also include Microsoft" is applied before the next step: the planner will add "Examine stock performance of Microsoft".',
    );
    const { terminal } = await waitForRunEnd(client, runId, 60_000);
    expect(terminal.event).toBe('run.completed');
    const frames = ofRun(client, runId);
    // The message stays the person's chat message; its instruction is stored with the answer.
    expect(
      client
        .durable()
        .filter((f) => f.event === 'user.message')
        .map((f) => f.data.kind),
    ).toEqual(['task', 'chat']);
    expect(eventsOf(frames, 'run.steered').map((f) => f.data.text)).toEqual(['Also include Microsoft']);
    const [updated] = eventsOf(frames, 'plan.updated');
    expect(updated.data).toMatchObject({ reason: 'steer', version: 2, dropped: [] });
    const added = updated.data.plan.find((s) => s.title === 'Examine stock performance of Microsoft');
    expect(added?.stepId).toBe('exec-5');
    // The new step runs before the comparison, which now sees its finding.
    const order = startedSteps(frames);
    expect(order.indexOf('exec-5')).toBeGreaterThan(order.indexOf('replan-1'));
    expect(order.indexOf('exec-5')).toBeLessThan(order.indexOf('exec-4'));
    expectOneWriter(client.durable(), runId);
    await client.close();
  });

  it('a question while the run goes gets the v1 answer, and nothing is steered', async () => {
    const { client } = await newSdkSession(gateway, 'steer-question');
    const runId = await runningTask(client);
    const ack = await client.request('message', { text: 'How far along is it?' });
    const replyTo = (ack.data as { replyTo: string }).replyTo;
    const answer = await client.waitForEvent('chat.response', (f) => f.data.replyTo === replyTo, 30_000);
    expect(answer.data.text).toMatch(/^Step \d of 6 is running: the executor is working on "Examine/);
    expect(answer.data.text).toContain('(You asked: "How far along is it?")');
    await waitForRunEnd(client, runId, 60_000);
    const frames = ofRun(client, runId);
    expect(eventsOf(frames, 'run.steered')).toEqual([]);
    expect(startedSteps(frames)).toEqual(['plan', 'exec-1', 'exec-2', 'exec-3', 'exec-4', 'aggregate']);
    await client.close();
  });

  it('an instruction that changes no step: the planner keeps the plan (no new version), every later step and the report follow it', async () => {
    const { client } = await newSdkSession(gateway, 'steer-keep');
    const runId = await runningTask(client);
    expect((await client.request('run.steer', { text: 'Keep the report short' })).event).toBe('ack');
    const { terminal } = await waitForRunEnd(client, runId, 60_000);
    const frames = ofRun(client, runId);
    expect(eventsOf(frames, 'run.steered').map((f) => f.data.appliedBefore)).toEqual(['replan-1']);
    expect(eventsOf(frames, 'plan.updated')).toEqual([]);
    expect(eventsOf(frames, 'agent.skipped')).toEqual([]);
    const replan = eventsOf(frames, 'agent.finished').find((f) => f.data.stepId === 'replan-1');
    expect(replan?.data.output).toMatchObject({ version: 1, dropped: [] });
    expect(startedSteps(frames)).toEqual(['plan', 'exec-1', 'replan-1', 'exec-2', 'exec-3', 'exec-4', 'aggregate']);
    expect((terminal as FrameOf<'run.completed'>).data.report).toContain('"Keep the report short"');
    // The Clarifier knows what the person steered.
    const chat = await client.request('chat.send', { text: 'What did I ask for?' });
    const reply = await client.waitForEvent(
      'chat.response',
      (f) => f.data.replyTo === (chat.data as { replyTo: string }).replyTo,
      30_000,
    );
    expect(reply.data.text).toContain('You told the team: "Keep the report short".');
    await client.close();
  });

  it('steered while it waits for plan review, across a restart of every process: applied once after the approval', async () => {
    const { client, sessionId, token } = await newSdkSession(gateway, 'steer-parked');
    const ack = expectEvent(await client.request('task.start', { text: QUERY, review: 'plan' }), 'ack');
    const runId = ack.data.runId!;
    const requested = await client.waitForEvent('run.input_requested', (f) => f.data.runId === runId, 30_000);
    expect((await client.request('run.steer', { text: 'Drop Tesla' })).event).toBe('ack');
    await client.close();
    // Every process goes (SIGKILL) and new ones come.
    gateway.kill('SIGKILL');
    worker.kill('SIGKILL');
    await Promise.all([gateway.exited, worker.exited]);
    [gateway, worker] = await Promise.all([startMaws('gateway', env), startMaws('worker', env)]);

    const again = await connectSdk(gateway, sessionId, token);
    await again.client.request('resume', { afterSeq: 0 });
    const reply = await again.client.request('run.respond', {
      requestId: requested.data.requestId,
      answer: { approve: true },
    });
    expect(reply.event).toBe('ack');
    const { terminal } = await waitForRunEnd(again.client, runId, 60_000);
    expect(terminal.event).toBe('run.completed');
    const frames = ofRun(again.client, runId);
    expect(eventsOf(frames, 'run.steered').map((f) => f.data)).toEqual([
      { runId, text: 'Drop Tesla', appliedBefore: 'replan-1' },
    ]);
    expect(eventsOf(frames, 'agent.skipped').map((f) => f.data.stepId)).toEqual(['exec-3']);
    expect(startedSteps(frames)).toEqual(['plan', 'replan-1', 'exec-1', 'exec-2', 'exec-4', 'aggregate']);
    expectOneWriter(again.client.durable(), runId);
    await again.client.close();
  });

  it('bad input: nothing to steer, empty text, a run that ended, more than 20 instructions', async () => {
    const { client } = await newSdkSession(gateway, 'steer-bad');
    expect(await client.request('run.steer', { text: 'Skip Google' })).toMatchObject({
      event: 'error',
      data: { code: 'INVALID_STATE' },
    });
    expect(await client.request('run.steer', { text: '   ' })).toMatchObject({
      event: 'error',
      data: { code: 'VALIDATION_FAILED' },
    });
    expect(await client.requestUnchecked('run.steer', { text: 5 })).toMatchObject({
      event: 'error',
      data: { code: 'VALIDATION_FAILED' },
    });
    // A run waiting for review takes 20 instructions, then refuses more; the history keeps them.
    const ack = expectEvent(await client.request('task.start', { text: QUERY, review: 'plan' }), 'ack');
    const runId = ack.data.runId!;
    await client.waitForEvent('run.input_requested', (f) => f.data.runId === runId, 30_000);
    for (let i = 1; i <= 20; i++) {
      expect((await client.request('run.steer', { text: `Note ${i}` })).event).toBe('ack');
    }
    expect(await client.request('run.steer', { text: 'Note 21' })).toMatchObject({
      event: 'error',
      data: { code: 'RATE_LIMITED', message: 'a run takes at most 20 steering instructions' },
    });
    const steers = eventsOf(client.durable(), 'user.message').filter((f) => f.data.kind === 'steer');
    expect(steers.map((f) => f.data.text)).toEqual(Array.from({ length: 20 }, (_, i) => `Note ${i + 1}`));
    expect((await client.request('task.cancel', {})).event).toBe('ack');
    await waitForRunEnd(client, runId);
    expect(await client.request('run.steer', { text: 'Skip Google' })).toMatchObject({
      event: 'error',
      data: { code: 'INVALID_STATE' },
    });
    await client.close();
  });
});
