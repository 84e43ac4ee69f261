/**
 * Plan review (issue 15, v2 "People in the loop") on real processes and a real Redis: a task
 * started with `review: "plan"` stops after the planner with run.input_requested, its job
 * parked in BullMQ's delayed set (no worker holds it); an answer wakes it. Approve, approve an
 * edited plan (plan.updated with reason `review`, no planner call), reject with feedback (the
 * planner revises and asks again); a `message` answers too. Bad, duplicate, late and foreign
 * answers; cancel and expiry while parked; every process restarted while it waits; and an
 * answer that arrives before the worker has parked, 50 times (a cancel, 20 times).
 */
import { Queue } from 'bullmq';
import Redis from 'ioredis';
import type { AnyDurableFrame, FrameOf, InputRequest } from '../../src/contract';
import { queuePrefixOf } from '../../src/store/redis-keys';
import { registerCleanup } from '../support/cleanup';
import { runIdOf } from '../support/frames';
import { startMaws, type MawsProcess } from '../support/maws-process';
import { expectOneWriter, waitForRunEnd } from '../support/runs';
import { QUERY } from '../support/scenario';
import { connectSdk, newSdkSession } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';
import { startTcpProxy } from '../support/tcp-proxy';
import { eventually, sleep } from '../support/timing';
import type { SdkTestClient } from '../support/sdk-client';

jest.setTimeout(120_000);

let gateway: MawsProcess;
let worker: MawsProcess;
let env: Record<string, string | undefined>;
let queue: Queue;
let redisPort: number;
let redisUrl: string;

setUpSuite(async () => {
  const stack = await startStack(['gateway', 'worker'], { OFFLINE_TOKEN_DELAY_MS: '0' });
  [gateway, worker] = stack.procs;
  env = stack.env;
  redisPort = stack.redis.port;
  redisUrl = stack.redis.url;
  queue = new Queue('resolver', { connection: { url: stack.redis.url }, prefix: queuePrefixOf('resolver') });
  registerCleanup(() => queue.close());
});

const ofRun = (client: SdkTestClient, runId: string): AnyDurableFrame[] =>
  client.durable().filter((f) => runIdOf(f) === runId);

/** Starts a reviewed task and waits for its request. */
async function reviewedTask(
  client: SdkTestClient,
  text = QUERY,
): Promise<{ runId: string; request: InputRequest & { runId: string } }> {
  const ack = await client.request('task.start', { text, review: 'plan' });
  expect(ack.event).toBe('ack');
  const runId = (ack.data as { runId: string }).runId;
  const requested = await client.waitForEvent('run.input_requested', (f) => f.data.runId === runId, 30_000);
  return { runId, request: requested.data };
}

const jobState = async (runId: string): Promise<string> => {
  const job = await queue.getJob(runId);
  return job ? job.getState() : 'missing';
};

/** The worker again, its link to Redis taking 10 ms each way (a far Redis), logging what it does. */
async function workerBehindFarRedis(): Promise<void> {
  const proxy = await startTcpProxy(redisPort, { latencyMs: 10 });
  await worker.stop('SIGTERM');
  worker = await startMaws('worker', { ...env, REDIS_URL: proxy.url, LOG_LEVEL: 'log' });
}

/** How many of the worker's log lines match. */
const timesLogged = (line: RegExp): number => (worker.output().match(line) ?? []).length;

const executorTitles = (frames: AnyDurableFrame[]): string[] =>
  frames.flatMap((f) => (f.event === 'agent.started' && f.data.agent === 'executor' ? [f.data.title ?? ''] : []));

describe('plan review', () => {
  it('stops after the planner with a plan_review request, parked in the delayed set; approving runs the plan', async () => {
    const { client, sessionId, token } = await newSdkSession(gateway, 'review');
    const { runId, request } = await reviewedTask(client);
    expect(request).toMatchObject({
      runId,
      kind: 'plan_review',
      prompt: expect.stringContaining('Review the plan'),
      plan: [
        { stepId: 'exec-1', title: 'Examine stock performance of Apple' },
        { stepId: 'exec-2', title: 'Examine stock performance of Google' },
        { stepId: 'exec-3', title: 'Examine stock performance of Tesla' },
        { stepId: 'exec-4', title: 'Compare Apple, Google and Tesla' },
      ],
    });
    expect(Date.parse(request.expiresAt) - Date.now()).toBeGreaterThan(23 * 3600 * 1000);
    // The run waits holding no worker: its job is in the delayed set, no executor started.
    await waitForJobState(runId, 'delayed');
    expect(executorTitles(ofRun(client, runId))).toEqual([]);
    // The session and the run's record are kept at least as long as the request may wait:
    // INPUT_TTL_SECONDS (a day), then the history's day.
    const admin = new Redis(redisUrl);
    try {
      const held = (await admin.keys(`maws:{*${sessionId}*}:*`)).filter((k) =>
        /:(state|seq|log|run:r_[\w-]+)$/.test(k),
      );
      expect(held.length).toBe(4);
      const ttls = async (): Promise<number[]> => Promise.all(held.map((key) => admin.ttl(key)));
      await eventually(async () => (await ttls()).every((ttl) => ttl > 86_400 + 3_600), 5_000, 'the keys to be held');
    } finally {
      admin.disconnect();
    }
    // A second tab sees the open request in its snapshot.
    const other = await connectSdk(gateway, sessionId, token);
    expect(other.snapshot.data).toMatchObject({
      state: 'EXECUTING',
      runId,
      pendingInput: { requestId: request.requestId },
    });
    await other.client.close();

    const ack = await client.request('run.respond', { requestId: request.requestId, answer: { approve: true } });
    expect(ack).toMatchObject({ event: 'ack', data: { runId } });
    const { terminal } = await waitForRunEnd(client, runId, 60_000);
    expect(terminal.event).toBe('run.completed');
    const frames = ofRun(client, runId);
    expect(frames.filter((f) => f.event === 'run.input_resolved').map((f) => f.data)).toEqual([
      { runId, requestId: request.requestId, status: 'answered', answer: { approve: true } },
    ]);
    expect(client.durable().some((f) => f.event === 'user.message' && f.data.kind === 'answer')).toBe(true);
    expect(executorTitles(frames)).toHaveLength(4);
    expectOneWriter(client.durable(), runId);
    await client.close();
  });

  it('approving an edited plan: plan.updated (reason review), the dropped steps skipped, the edited steps run, no planner call', async () => {
    const { client } = await newSdkSession(gateway, 'review-edit');
    const { runId, request } = await reviewedTask(client);
    const edited = [
      { title: 'Examine stock performance of Tesla', description: 'Tesla first.' },
      { title: 'Examine stock performance of Apple', description: '' },
      { title: 'Examine stock performance of Microsoft', description: 'Added by the reviewer.' },
    ];
    const ack = await client.request('run.respond', {
      requestId: request.requestId,
      answer: { approve: true, plan: edited },
    });
    expect(ack.event).toBe('ack');
    const { terminal } = await waitForRunEnd(client, runId, 60_000);
    expect(terminal.event).toBe('run.completed');
    const frames = ofRun(client, runId);
    const updated = frames.find((f): f is FrameOf<'plan.updated'> => f.event === 'plan.updated')!;
    expect(updated.data).toEqual({
      runId,
      version: 2,
      reason: 'review',
      plan: [
        { stepId: 'exec-3', title: 'Examine stock performance of Tesla', description: 'Tesla first.' },
        { stepId: 'exec-1', title: 'Examine stock performance of Apple', description: expect.any(String) },
        { stepId: 'exec-5', title: 'Examine stock performance of Microsoft', description: 'Added by the reviewer.' },
      ],
      finished: [],
      dropped: ['exec-2', 'exec-4'],
      failed: [],
    });
    expect(frames.filter((f) => f.event === 'agent.skipped').map((f) => (f.data as { stepId: string }).stepId)).toEqual(
      ['exec-2', 'exec-4'],
    );
    expect(executorTitles(frames)).toEqual(edited.map((e) => e.title));
    expect(frames.filter((f) => f.event === 'agent.started' && f.data.agent === 'planner')).toHaveLength(1);
    expectOneWriter(client.durable(), runId);
    await client.close();
  });

  it('rejecting with feedback (a message): the planner revises and asks again; "yes" approves', async () => {
    const { client } = await newSdkSession(gateway, 'review-feedback');
    const { runId, request } = await reviewedTask(client);
    expect((await client.request('message', { text: 'Skip Google, please.' })).event).toBe('ack');
    const second = await client.waitForEvent(
      'run.input_requested',
      (f) => f.data.runId === runId && f.data.requestId !== request.requestId,
      30_000,
    );
    expect(second.data.plan?.map((s) => s.title)).toEqual([
      'Examine stock performance of Apple',
      'Examine stock performance of Tesla',
      'Compare Apple, Google and Tesla',
    ]);
    expect(second.data.prompt).toMatch(/revised as you asked/);
    expect((await client.request('message', { text: 'yes' })).event).toBe('ack');
    const { terminal } = await waitForRunEnd(client, runId, 60_000);
    expect(terminal.event).toBe('run.completed');
    const frames = ofRun(client, runId);
    expect(frames.filter((f) => f.event === 'run.input_resolved').map((f) => f.data)).toEqual([
      {
        runId,
        requestId: request.requestId,
        status: 'answered',
        answer: { approve: false, feedback: 'Skip Google, please.' },
      },
      { runId, requestId: second.data.requestId, status: 'answered', answer: { approve: true } },
    ]);
    expect(frames.some((f) => f.event === 'agent.started' && f.data.stepId === 'review-1')).toBe(true);
    expect(executorTitles(frames)).toEqual(second.data.plan!.map((s) => s.title));
    expectOneWriter(client.durable(), runId);
    await client.close();
  });

  it('a malformed answer is VALIDATION_FAILED and the request stays open; a wrong id, a second or a late answer, or another user is INVALID_STATE', async () => {
    const { client, sessionId } = await newSdkSession(gateway, 'review-bad');
    const { runId, request } = await reviewedTask(client);
    const bad = await client.request('run.respond', { requestId: request.requestId, answer: { approve: 'maybe' } });
    expect(bad).toMatchObject({ event: 'error', data: { code: 'VALIDATION_FAILED' } });
    const noFeedback = await client.request('run.respond', {
      requestId: request.requestId,
      answer: { approve: false },
    });
    expect(noFeedback).toMatchObject({ event: 'error', data: { code: 'VALIDATION_FAILED' } });
    const wrong = await client.request('run.respond', { requestId: 'q_nothing_1', answer: { approve: true } });
    expect(wrong).toMatchObject({ event: 'error', data: { code: 'INVALID_STATE' } });
    // Another user, even with the session's id and the request's id, reaches nothing of it.
    const stranger = await newSdkSession(gateway, 'review-stranger');
    const foreign = await connectSdk(gateway, sessionId, stranger.token);
    const refused = await foreign.client.request('run.respond', {
      requestId: request.requestId,
      answer: { approve: true },
    });
    expect(refused).toMatchObject({ event: 'error', data: { code: 'INVALID_STATE' } });
    expect(JSON.stringify(refused.data)).not.toContain(runId);
    await foreign.client.close();
    await stranger.client.close();
    expect(await jobState(runId)).toBe('delayed');

    expect(
      (await client.request('run.respond', { requestId: request.requestId, answer: { approve: true } })).event,
    ).toBe('ack');
    const twice = await client.request('run.respond', { requestId: request.requestId, answer: { approve: true } });
    expect(twice).toMatchObject({ event: 'error', data: { code: 'INVALID_STATE' } });
    await waitForRunEnd(client, runId, 60_000);
    const late = await client.request('run.respond', {
      requestId: request.requestId,
      answer: { approve: false, feedback: 'x' },
    });
    expect(late).toMatchObject({ event: 'error', data: { code: 'INVALID_STATE' } });
    await client.close();
  });

  it('cancel while parked: the request is cancelled, the job is gone, nothing runs after', async () => {
    const { client } = await newSdkSession(gateway, 'review-cancel');
    const { runId, request } = await reviewedTask(client);
    await waitForJobState(runId, 'delayed');
    expect((await client.request('task.cancel')).event).toBe('ack');
    const { terminal } = await waitForRunEnd(client, runId, 10_000);
    expect(terminal.event).toBe('run.cancelled');
    expect(
      ofRun(client, runId)
        .filter((f) => f.event === 'run.input_resolved')
        .map((f) => f.data),
    ).toEqual([{ runId, requestId: request.requestId, status: 'cancelled' }]);
    expect(await jobState(runId)).toBe('missing');
    await sleep(1_000);
    expect(ofRun(client, runId).filter((f) => f.event === 'agent.started' && f.data.agent === 'executor')).toEqual([]);
    await client.close();
  });

  it('every process killed while the run waits: new ones take the answer, and the run goes on exactly once', async () => {
    const { client, sessionId, token } = await newSdkSession(gateway, 'review-restart');
    const { runId, request } = await reviewedTask(client);
    await waitForJobState(runId, 'delayed');
    await client.close();
    gateway.kill('SIGKILL');
    worker.kill('SIGKILL');
    await Promise.all([gateway.exited, worker.exited]);
    [gateway, worker] = await Promise.all([startMaws('gateway', env), startMaws('worker', env)]);
    const back = await connectSdk(gateway, sessionId, token);
    expect(back.snapshot.data.pendingInput).toMatchObject({ requestId: request.requestId, kind: 'plan_review' });
    await back.client.request('resume', { afterSeq: 0 });
    expect(
      (await back.client.request('run.respond', { requestId: request.requestId, answer: { approve: true } })).event,
    ).toBe('ack');
    const { terminal } = await waitForRunEnd(back.client, runId, 60_000);
    expect(terminal.event).toBe('run.completed');
    expectOneWriter(back.client.durable(), runId);
    await back.client.close();
  });

  it('an answer sent the moment the request opens (before the worker has parked) is never lost: 50 runs in a row', async () => {
    // The worker's link to Redis takes 10 ms each way (a far Redis): between storing the
    // request and parking its job it needs one more round trip, and a quick client answers
    // inside it.
    await workerBehindFarRedis();
    const { client } = await newSdkSession(gateway, 'review-race');
    const early = (): number => timesLogged(/was resolved before its job was parked: woke it/g);
    for (let i = 0; i < 50; i++) {
      const ack = await client.request('task.start', { text: `Round ${i}: ${QUERY}`, review: 'plan' });
      const runId = (ack.data as { runId: string }).runId;
      await client.waitForEvent('agent.finished', (f) => f.data.runId === runId && f.data.stepId === 'plan', 30_000);
      // As fast a client as can be: the request's id is known (docs/protocol.md), and the
      // answer is sent again and again until the request is open.
      const requestId = `q_${runId.slice(2)}_1`;
      for (;;) {
        const reply = await client.request('run.respond', { requestId, answer: { approve: true } });
        if (reply.event === 'ack') break;
        expect(reply).toMatchObject({ event: 'error', data: { code: 'INVALID_STATE' } });
      }
      const { terminal } = await waitForRunEnd(client, runId, 30_000);
      expect(terminal.event).toBe('run.completed');
      expectOneWriter(client.durable(), runId);
    }
    // The race was met: answers stored while their job was still active woke it once parked.
    const raced = early();
    console.log(`answers stored before their job was parked: ${raced} of 50`);
    expect(raced).toBeGreaterThan(0);
    await client.close();
    await worker.stop('SIGTERM');
    worker = await startMaws('worker', env);
  });

  it('a cancel sent the moment the request opens (before the worker has parked) leaves no job to run: 20 runs in a row', async () => {
    // As above, a far Redis for the worker: the cancel lands between the request being stored
    // and the worker reading it again after parking. The job must be removed, not woken.
    await workerBehindFarRedis();
    const { client } = await newSdkSession(gateway, 'review-cancel-race');
    const early = (): number => timesLogged(/ended before its job was parked: removed the job/g);
    for (let i = 0; i < 20; i++) {
      const { runId } = await reviewedTask(client, `Round ${i}: ${QUERY}`);
      expect((await client.request('task.cancel')).event).toBe('ack');
      const { terminal } = await waitForRunEnd(client, runId, 10_000);
      expect(terminal.event).toBe('run.cancelled');
      await eventually(async () => (await jobState(runId)) === 'missing', 5_000, `run ${runId}'s job to be gone`);
      expect(ofRun(client, runId).filter((f) => f.event === 'agent.started' && f.data.agent === 'executor')).toEqual(
        [],
      );
    }
    const raced = early();
    console.log(`cancels stored before their job was parked: ${raced} of 20`);
    expect(raced).toBeGreaterThan(0);
    await client.close();
    await worker.stop('SIGTERM');
    worker = await startMaws('worker', env);
  });
});

describe('an input request nobody answers', () => {
  it('expires after INPUT_TTL_SECONDS: run.input_resolved (expired), run.failed INPUT_EXPIRED', async () => {
    const stack = await startStack(['all'], { OFFLINE_TOKEN_DELAY_MS: '0', INPUT_TTL_SECONDS: '5' });
    const [maws] = stack.procs;
    const { client } = await newSdkSession(maws, 'review-expiry');
    const { runId, request } = await reviewedTask(client);
    const { terminal } = await waitForRunEnd(client, runId, 20_000);
    expect(terminal).toMatchObject({ event: 'run.failed', data: { error: { code: 'INPUT_EXPIRED' } } });
    expect(
      ofRun(client, runId)
        .filter((f) => f.event === 'run.input_resolved')
        .map((f) => f.data),
    ).toEqual([{ runId, requestId: request.requestId, status: 'expired' }]);
    const late = await client.request('run.respond', { requestId: request.requestId, answer: { approve: true } });
    expect(late).toMatchObject({ event: 'error', data: { code: 'INVALID_STATE' } });
    await client.close();
  });
});

async function waitForJobState(runId: string, state: string): Promise<void> {
  const until = Date.now() + 10_000;
  while ((await jobState(runId)) !== state) {
    if (Date.now() > until) throw new Error(`run ${runId}'s job is ${await jobState(runId)}, not ${state}`);
    await sleep(50);
  }
}
