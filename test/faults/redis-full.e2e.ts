/**
 * Redis refusing writes (issue: "never go silent when Redis refuses writes"): a small
 * `maxmemory` under `noeviction`, filled by the runs of 40 sessions. Every command is answered
 * within a second (an `error` UNAVAILABLE when it cannot be carried out), the runs going keep
 * their place and their sockets are told, /health/ready says not-ready, /metrics shows it, each
 * process logs the condition once; once memory is freed every run completes exactly once and
 * every chat question gets one answer.
 */
import type { AnyDurableFrame, ReplyFrame } from '../../src/contract';
import { logLines } from '../support/log-lines';
import { isEvent, range, seqs, TERMINAL } from '../support/frames';
import { sample } from '../support/metrics';
import { adminRedis } from '../support/redis-admin';
import { expectOneWriter } from '../support/runs';
import { QUERY } from '../support/scenario';
import { newSession, type Connected } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';
import { eventually, sleep } from '../support/timing';
import type { CommandReply } from '../support/ws-client';

jest.setTimeout(240_000);

setUpSuite();

const SESSIONS = 40;
/** What the runs may add to Redis's memory before it is full. */
const HEADROOM_BYTES = 2_000_000;
const ANSWER_WITHIN_MS = 1_000;

type Session = Connected & { sessionId: string };

/** Sends `message` and returns its reply and how long it took. */
async function timedMessage(s: Session, text: string): Promise<{ reply: CommandReply; ms: number }> {
  const t0 = Date.now();
  const reply = await s.client.request('message', { text }, 5_000);
  return { reply, ms: Date.now() - t0 };
}

/** Lines of the process's main thread (not its clarifier thread) from `context` whose message matches. */
function countLines(output: string, context: string, pattern: RegExp): number {
  return logLines(output).filter((l) => l.context === context && !l.thread && pattern.test(l.msg)).length;
}

it('answers every command within a second while Redis is full, and completes every run once when it has room', async () => {
  const { redis, procs } = await startStack(['gateway', 'worker'], { OFFLINE_TOKEN_DELAY_MS: '5', LOG_LEVEL: 'log' });
  const [gateway, worker] = procs;
  const admin = adminRedis(redis);
  const sessions: Session[] = await Promise.all(
    Array.from({ length: SESSIONS }, (_, i) => newSession(gateway, `full${i}`)),
  );
  const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
  await admin.config('SET', 'maxmemory', String(used + HEADROOM_BYTES));

  // Rounds of `message` from every session (a new task where none runs, else a chat
  // question) until Redis is full: every one answered within the second.
  const slow: string[] = [];
  /** The ids of `message`s taken as chat questions, by session. */
  const questions = new Map<Session, string[]>(sessions.map((s) => [s, []]));
  let unavailable: ReplyFrame<'error'> | undefined;
  for (let round = 0; round < 30 && !unavailable; round++) {
    const replies = await Promise.all(sessions.map((s) => timedMessage(s, `${QUERY} (round ${round})`)));
    for (const [i, { reply, ms }] of replies.entries()) {
      if (ms > ANSWER_WITHIN_MS) slow.push(`${reply.event} after ${ms} ms`);
      if (reply.event === 'ack' && !reply.data.runId) questions.get(sessions[i])!.push(reply.data.replyTo!);
      if (reply.event === 'error') {
        expect(reply.data.code).toBe('UNAVAILABLE');
        unavailable ??= reply;
      }
    }
    await sleep(300);
  }
  expect(unavailable?.data.message).toMatch(/out of memory.*nothing was done/);

  // Hold it full (the runs filled it; below what is used, Redis stays full whatever is freed).
  await admin.config('SET', 'maxmemory', '1');
  await sleep(500);
  const going = sessions.filter((s) => runsOf(s.client.durable()).some((r) => !r.ended));
  expect(going.length).toBeGreaterThan(0);
  for (const s of sessions) {
    const t0 = Date.now();
    const [message, cancel, resume] = await Promise.all([
      s.client.request('message', { text: 'Are you there?' }, 5_000),
      s.client.request('task.cancel', {}, 5_000),
      // Reading is no write: a resume is carried out (from where the socket is: nothing twice).
      s.client.request('resume', { afterSeq: Math.max(0, ...seqs(s.client.durable())) }, 5_000),
    ]);
    if (Date.now() - t0 > ANSWER_WITHIN_MS) slow.push(`three commands after ${Date.now() - t0} ms`);
    expect({ message: codeOf(message), resume: resume.event }).toEqual({ message: 'UNAVAILABLE', resume: 'ack' });
    // Cancelling a run is a write too; with no run going it is refused for that reason.
    expect(codeOf(cancel)).toBe(going.includes(s) ? 'UNAVAILABLE' : 'INVALID_STATE');
  }
  // A session with nothing going connects (a read) and is refused a new task the same way:
  // the run is not begun past maxmemory, its job not queued for later.
  const idle = await newSession(gateway, 'idle');
  const t0 = Date.now();
  const [task, message] = await Promise.all([
    idle.client.request('task.start', { text: QUERY }, 5_000),
    idle.client.request('message', { text: QUERY }, 5_000),
  ]);
  if (Date.now() - t0 > ANSWER_WITHIN_MS) slow.push(`an idle session's two commands after ${Date.now() - t0} ms`);
  expect([codeOf(task), codeOf(message)]).toEqual(['UNAVAILABLE', 'UNAVAILABLE']);
  expect(slow).toEqual([]);
  // A session whose run a worker holds (started, not ended) was told it waits, on its socket,
  // without a seq. (A run still queued waits in the queue: no worker can take a job meanwhile.)
  const started = going.filter((s) => s.client.durable().some((f) => f.event === 'run.started'));
  expect(started.length).toBeGreaterThan(0);
  for (const s of started) {
    const notice = await s.client.waitForEvent('store.status', (f) => !f.data.writable, 10_000);
    expect(notice).not.toHaveProperty('seq');
    expect(notice.data.reason).toBe('OOM');
  }
  const ready = await fetch(`${gateway.url}/health/ready`);
  expect(ready.status).toBe(503);
  expect(await ready.json()).toMatchObject({ redis: 'refusing writes', reason: 'OOM' });
  const refusedMetrics = await (await fetch(`${gateway.url}/metrics`)).text();
  expect(sample(refusedMetrics, 'maws_redis_writes_refused')).toBe(1);
  expect(sample(refusedMetrics, 'maws_redis_write_refusals_total')).toBeGreaterThanOrEqual(1);
  expect(gateway.running && worker.running).toBe(true);

  // Room again: every run completes, once, and every question asked gets one answer.
  await admin.config('SET', 'maxmemory', '0');
  for (const s of sessions) {
    await eventually(
      () => Promise.resolve(runsOf(s.client.durable()).every((r) => r.ended)),
      120_000,
      `every run of ${s.sessionId} ended`,
    );
  }
  for (const s of sessions) {
    const frames = s.client.durable();
    expect(seqs(frames)).toEqual(range(1, frames.length));
    for (const run of runsOf(frames)) {
      expect({ run: run.runId, ends: run.ends }).toEqual({ run: run.runId, ends: ['run.completed'] });
      expectOneWriter(frames, run.runId);
    }
    const answers = s.client.events('chat.response');
    for (const question of questions.get(s)!) {
      await s.client.waitForEvent('chat.response', (f) => f.data.replyTo === question, 30_000);
      const written = answers.filter((a) => a.data.replyTo === question).length;
      expect({ question, written }).toEqual({ question, written: 1 });
    }
  }
  for (const s of started) {
    await s.client.waitForEvent('store.status', (f) => f.data.writable, 10_000);
  }
  // Nothing of the refused commands was done: the idle session is still idle.
  await idle.client.flush();
  expect(idle.client.durable()).toEqual([]);
  await eventually(
    async () => (await fetch(`${gateway.url}/health/ready`)).status === 200,
    10_000,
    '/health/ready answers 200 again',
  );
  const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
  expect(sample(metrics, 'maws_redis_writes_refused')).toBe(0);

  // One line when the condition began and one when it ended, per process (and thread), not one per attempt.
  await eventually(
    () => Promise.resolve(countLines(gateway.output(), 'Redis', /Redis takes writes again after/) > 0),
    10_000,
    'the gateway logs that Redis takes writes again',
  );
  expect(countLines(gateway.output(), 'Redis', /Redis takes writes again after/)).toBe(1);
  expect(countLines(gateway.output(), 'Redis', /Redis refuses writes/)).toBe(1);
  expect(countLines(worker.output(), 'Redis', /Redis refuses writes/)).toBe(1);
  await eventually(
    () => Promise.resolve(countLines(worker.output(), 'Redis', /Redis takes writes again after/) === 1),
    10_000,
    'the worker logs once that Redis takes writes again',
  );
  expect(logLines(gateway.output()).filter((l) => l.level === 'error')).toEqual([]);
  expect(logLines(worker.output()).filter((l) => l.level === 'error')).toEqual([]);
});

function codeOf(reply: CommandReply): string {
  return reply.event === 'error' ? reply.data.code : 'ack';
}

/** Each run of a session's history: its id and the terminal events it got. */
function runsOf(frames: AnyDurableFrame[]): { runId: string; ended: boolean; ends: string[] }[] {
  return frames
    .filter((f) => f.event === 'run.queued')
    .map((queued) => {
      const runId = (queued.data as { runId: string }).runId;
      const ends = frames.filter((f) => isEvent(f, TERMINAL) && f.data.runId === runId).map((f) => f.event);
      return { runId, ended: ends.length > 0, ends };
    });
}
