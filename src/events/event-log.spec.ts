import Redis from 'ioredis';
import { RedisServer, startRedis, stopAllRedis } from '../../test/support/redis-server';
import { PENDING_RUNS_KEY, SessionKeys, UserKeys, sessionKeyOf, userKeyOf } from '../store/redis-keys';
import { EventLog } from './event-log';
import { durable } from './frames';

describe('EventLog on a real Redis', () => {
  let server: RedisServer;
  let redis: Redis;
  let log: EventLog;
  const session = sessionKeyOf('alice', 'S1');

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
    log = new EventLog(redis, { maxEvents: 100, ttlSeconds: 3600 });
  });
  afterAll(async () => {
    redis.disconnect();
    await stopAllRedis();
  });

  it('numbers events from 1, stores and publishes the same bytes in order', async () => {
    const sub = new Redis(server.url);
    const published: string[] = [];
    sub.on('smessage', (_c: string, m: string) => published.push(...m.split('\n')));
    await sub.ssubscribe(log.channel(session));
    await log.append(session, [durable('chat.response', { text: 'a' }), durable('chat.response', { text: 'b\nc' })]);
    await log.append(session, [durable('chat.response', { text: 'd' })]);
    const { frames, complete } = await log.readAfter(session, 0);
    expect(complete).toBe(true);
    expect(frames.map((f) => (JSON.parse(f) as { seq: number }).seq)).toEqual([1, 2, 3]);
    expect((JSON.parse(frames[1]) as { data: { text: string } }).data.text).toBe('b\nc');
    await new Promise((r) => setTimeout(r, 50));
    expect(published).toEqual(frames);
    sub.disconnect();
  });

  it('gives one run to two simultaneous starts, and ends it exactly once', async () => {
    const key = sessionKeyOf('bob', 'S2');
    const start = (runId: string) =>
      log.beginRun(key, { runId, mode: 'task', input: 'q' }, ['IDLE', 'REFINEMENT_READY'], {
        task: {
          userMessage: durable('user.message', { text: 'q', kind: 'task' }),
          queued: durable('run.queued', { runId, mode: 'task', input: 'q' }),
        },
      });
    const results = await Promise.all([start('r_aaaaaaaaaa'), start('r_bbbbbbbbbb')]);
    expect(results.filter((r) => r.started)).toHaveLength(1);
    expect(results.find((r) => !r.started)).toEqual({ started: false, state: 'EXECUTING' });
    const { runId } = await log.snapshot(key);
    expect(runId).toBeDefined();

    const ends = await Promise.all([
      log.finishRun(key, runId!, 'cancelled', durable('run.cancelled', { runId: runId! })),
      log.finishRun(key, runId!, 'completed', durable('run.completed', { runId: runId!, report: 'r' }), {
        report: 'r',
      }),
    ]);
    expect(ends.filter((e) => e === 'finished')).toHaveLength(1);
    expect(ends.filter((e) => e === 'not-running')).toHaveLength(1);
    // Nothing of an ended run is appended any more.
    expect(
      await log.append(
        key,
        [durable('agent.delta', { runId: runId!, agent: 'executor', stepId: 'x', attempt: 1, text: 't' })],
        { guardRunId: runId },
      ),
    ).toBe('not-running');
    const snap = await log.snapshot(key);
    expect(snap.state).toBe(ends[0] ? 'IDLE' : 'REFINEMENT_READY');
    expect(snap.lastSeq).toBe(5);
  });

  it('with an early admission: a start that turns out to be chat (a run going) takes it back; one that starts keeps it', async () => {
    const key = sessionKeyOf('erin', 'S9');
    const user = new UserKeys(userKeyOf(key));
    const announce = (runId: string) => ({
      task: {
        userMessage: durable('user.message', { text: 'q', kind: 'task' as const }),
        queued: durable('run.queued', { runId, mode: 'task' as const, input: 'q' }),
      },
    });
    const start = (runId: string) =>
      log.beginRun(key, { runId, mode: 'task', input: 'q' }, ['IDLE'], announce(runId), undefined, {
        admitEarly: true,
      });
    const admitted = async () => ({
      active: await redis.zrange(user.activeRuns, 0, -1),
      thisMinute: Number(await redis.get(user.runsThisMinute())),
      pending: (await redis.zrange(PENDING_RUNS_KEY, 0, -1)).filter((m) => m.includes(key)),
    });
    expect(await start('r_early00001')).toMatchObject({ started: true });
    expect(await admitted()).toEqual({ active: ['r_early00001'], thisMinute: 1, pending: [expect.any(String)] });
    // The session is running: the second start is refused by its state, and its admission undone.
    expect(await start('r_early00002')).toEqual({ started: false, state: 'EXECUTING' });
    expect(await admitted()).toEqual({ active: ['r_early00001'], thisMinute: 1, pending: [expect.any(String)] });
  });

  it("announces the run.started of the run's own mode on its first activation only, and nothing for a run that never began", async () => {
    const key = sessionKeyOf('dave', 'S4');
    const runId = 'r_dddddddddd';
    const started = (id: string) => ({
      task: durable('run.started', { runId: id, mode: 'task' }),
      refinement: durable('run.started', { runId: id, mode: 'refinement' }),
    });
    // A start refused before it began: no record, not the session's run.
    expect(await log.activateRun(key, 'r_never00000', started('r_never00000'))).toEqual({
      status: 'not-running',
      hasRecord: false,
    });
    await log.beginRun(key, { runId, mode: 'auto', input: 'q' }, ['IDLE'], {
      task: {
        userMessage: durable('user.message', { text: 'q', kind: 'task' }),
        queued: durable('run.queued', { runId, mode: 'task', input: 'q' }),
      },
    });
    expect(await log.activateRun(key, runId, started(runId))).toMatchObject({
      status: 'activated',
      fence: 1,
      run: { runId, mode: 'task', input: 'q', started: true, fence: 1 },
    });
    // Taken over: a higher token, no second run.started.
    expect(await log.activateRun(key, runId, started(runId))).toMatchObject({ status: 'activated', fence: 2 });
    const { frames } = await log.readAfter(key, 0);
    const events = frames.map((f) => JSON.parse(f) as { event: string; data: { mode?: string } });
    expect(events.map((e) => e.event)).toEqual(['user.message', 'session.state', 'run.queued', 'run.started']);
    expect(events[3].data.mode).toBe('task');
  });

  it("takes a run's writes only from its current activation: a worker whose run was taken over writes nothing more", async () => {
    const key = sessionKeyOf('erin', 'S5');
    const runId = 'r_eeeeeeeeee';
    await log.beginRun(key, { runId, mode: 'task', input: 'q' }, ['IDLE'], {
      task: {
        userMessage: durable('user.message', { text: 'q', kind: 'task' }),
        queued: durable('run.queued', { runId, mode: 'task', input: 'q' }),
      },
    });
    const started = {
      task: durable('run.started', { runId, mode: 'task' }),
      refinement: durable('run.started', { runId, mode: 'refinement' }),
    };
    const first = await log.activateRun(key, runId, started);
    const delta = (attempt: number, text: string) =>
      durable('agent.delta', { runId, agent: 'executor', stepId: 'exec-1', attempt, text });
    if (first.status !== 'activated') throw new Error(`not activated: ${first.status}`);
    expect(typeof (await log.append(key, [delta(1, 'a ')], { guardRunId: runId, fence: first.fence }))).toBe('number');
    const second = await log.activateRun(key, runId, started);
    if (second.status !== 'activated') throw new Error(`not activated: ${second.status}`);
    // The stale worker's delta and checkpoint, and its attempt to end the run, are refused.
    expect(
      await log.append(key, [delta(1, 'stale ')], { guardRunId: runId, fence: first.fence, checkpoint: { x: '1' } }),
    ).toBe('superseded');
    expect(
      await log.finishRun(key, runId, 'completed', durable('run.completed', { runId, report: 'stale' }), {
        report: 'stale',
        fence: first.fence,
      }),
    ).toBe('superseded');
    expect(await redis.hget(new SessionKeys(key).run(runId), 'x')).toBeNull();
    // The current one writes and ends it.
    expect(typeof (await log.append(key, [delta(2, 'b ')], { guardRunId: runId, fence: second.fence }))).toBe('number');
    expect(
      await log.finishRun(key, runId, 'completed', durable('run.completed', { runId, report: 'ok' }), {
        report: 'ok',
        fence: second.fence,
      }),
    ).toBe('finished');
    const texts = (await log.readAfter(key, 0)).frames
      .map((f) => JSON.parse(f) as { event: string; data: { text?: string; report?: string } })
      .filter((e) => e.event === 'agent.delta' || e.event === 'run.completed')
      .map((e) => e.data.text ?? e.data.report);
    expect(texts).toEqual(['a ', 'b ', 'ok']);
  });

  it('writes a once-only append once, whoever tries it (a chat answer after a takeover)', async () => {
    const key = sessionKeyOf('frank', 'S6');
    const answer = (text: string) => [durable('chat.response', { text, replyTo: 'q1' })];
    expect(await log.appendOnce(key, 'chat:7', answer('first'))).toBe(1);
    expect(await log.appendOnce(key, 'chat:7', answer('stale'))).toBe('already-written');
    expect(await log.appendOnce(key, 'chat:8', answer('another job'))).toBe(2);
    const texts = (await log.readAfter(key, 0)).frames.map(
      (f) => (JSON.parse(f) as { data: { text: string } }).data.text,
    );
    expect(texts).toEqual(['first', 'another job']);
    expect(await redis.ttl(new SessionKeys(key).written)).toBeGreaterThan(0);
  });

  it('reports a resume point that was trimmed away as incomplete', async () => {
    const key = sessionKeyOf('carol', 'S3');
    for (let i = 0; i < 30; i++) {
      await log.append(
        key,
        Array.from({ length: 10 }, () => durable('chat.response', { text: 'x' })),
      );
    }
    const length = await redis.xlen(new SessionKeys(key).log);
    expect(length).toBeGreaterThanOrEqual(100);
    expect(length).toBeLessThan(300);
    expect((await log.readAfter(key, 0)).complete).toBe(false);
    const recent = await log.readAfter(key, 290);
    expect(recent.complete).toBe(true);
    expect(recent.frames).toHaveLength(10);
  });

  it('while Redis refuses writes, refuses every writing script whole (nothing written past maxmemory) and still reads', async () => {
    const key = sessionKeyOf('gina', 'S7');
    await log.append(key, [durable('chat.response', { text: 'before' })]);
    const seqBefore = await redis.get(new SessionKeys(key).seq);
    await redis.config('SET', 'maxmemory', '1');
    try {
      const runId = 'r_ffffffffff';
      // BEGIN_RUN's first command frees memory (it trims the user's run counter): without the
      // script's declaration Redis would let it write the whole run past maxmemory.
      await expect(
        log.beginRun(key, { runId, mode: 'task', input: 'q' }, ['IDLE'], {
          task: {
            userMessage: durable('user.message', { text: 'q', kind: 'task' }),
            queued: durable('run.queued', { runId, mode: 'task', input: 'q' }),
          },
        }),
      ).rejects.toThrow(/OOM/);
      await expect(log.append(key, [durable('chat.response', { text: 'x' })])).rejects.toThrow(/OOM/);
      expect(await redis.get(new SessionKeys(key).seq)).toBe(seqBefore);
      expect(await redis.exists(new SessionKeys(key).run(runId))).toBe(0);
      expect((await log.snapshot(key)).lastSeq).toBe(Number(seqBefore));
      expect((await log.readAfter(key, 0)).frames.map((f) => f.includes('before'))).toEqual([true]);
    } finally {
      await redis.config('SET', 'maxmemory', '0');
    }
  });
});
