import Redis from 'ioredis';
import { startRedis, stopAllRedis } from '../../test/support/redis-server';
import { SessionKeys, sessionKeyOf } from '../store/redis-keys';
import { EventLog } from './event-log';
import { durable } from './frames';
import { RunEventWriter, RunNotCurrentError, RunTakenOverError } from './run-event-writer';

describe('RunEventWriter on a real Redis', () => {
  let redis: Redis;
  let log: EventLog;

  beforeAll(async () => {
    const server = await startRedis();
    redis = new Redis(server.url);
    log = new EventLog(redis, { maxEvents: 10_000, ttlSeconds: 3600 });
  });
  afterAll(async () => {
    redis.disconnect();
    await stopAllRedis();
  });

  async function begin(session: string, runId: string): Promise<void> {
    const result = await log.beginRun(session, { runId, mode: 'task', input: 'q' }, ['IDLE'], {
      task: {
        userMessage: durable('user.message', { text: 'q', kind: 'task' }),
        queued: durable('run.queued', { runId, mode: 'task', input: 'q' }),
      },
    });
    expect(result.started).toBe(true);
  }

  /** A worker takes the run: its fencing token. */
  async function activate(session: string, runId: string): Promise<number> {
    const activated = await log.activateRun(session, runId, {
      task: durable('run.started', { runId, mode: 'task' }),
      refinement: durable('run.started', { runId, mode: 'refinement' }),
    });
    if (activated.status !== 'activated') throw new Error(`not activated: ${activated.status}`);
    return activated.fence;
  }

  it('keeps order, groups what is written during an append, and keeps the last checkpoint value', async () => {
    const session = sessionKeyOf('writer', 'W1');
    const runId = 'r_writer000001';
    await begin(session, runId);
    const appends = jest.spyOn(log, 'append');
    const writer = new RunEventWriter(log, session, runId, await activate(session, runId), 0);
    for (let i = 0; i < 50; i++) {
      writer.write([durable('chat.response', { text: `e${i}` })], { current: `step-${i}` });
      writer.delta('executor', 'exec-1', 1, `t${i} `);
    }
    await writer.drain();
    expect(appends.mock.calls.length).toBeLessThan(20);
    appends.mockRestore();

    const { frames } = await log.readAfter(session, 4);
    const parsed = frames.map((f) => JSON.parse(f) as { seq: number; event: string; data: { text: string } });
    expect(parsed.map((f) => f.seq)).toEqual(parsed.map((_, i) => i + 5));
    expect(parsed.map((f) => f.data.text)).toEqual(Array.from({ length: 50 }, (_, i) => [`e${i}`, `t${i} `]).flat());
    expect(await redis.hget(new SessionKeys(session).run(runId), 'current')).toBe('step-49');
  });

  it('reports a run that ended elsewhere at the next write, and writes nothing more of it', async () => {
    const session = sessionKeyOf('writer', 'W2');
    const runId = 'r_writer000002';
    await begin(session, runId);
    const writer = new RunEventWriter(log, session, runId, await activate(session, runId), 0);
    await log.finishRun(session, runId, 'cancelled', durable('run.cancelled', { runId }));
    writer.delta('executor', 'exec-1', 1, 'late');
    await expect(writer.drain()).rejects.toBeInstanceOf(RunNotCurrentError);
    expect(() => writer.write([durable('chat.response', { text: 'x' })])).toThrow(RunNotCurrentError);
    const { frames } = await log.readAfter(session, 0);
    expect(frames.map((f) => (JSON.parse(f) as { event: string }).event).pop()).toBe('session.state');
  });

  it('stops at once when another worker takes the run over, and none of its later writes reach the log', async () => {
    const session = sessionKeyOf('writer', 'W3');
    const runId = 'r_writer000003';
    await begin(session, runId);
    const refused: Error[] = [];
    const stale = new RunEventWriter(log, session, runId, await activate(session, runId), 0, (err) =>
      refused.push(err),
    );
    stale.delta('executor', 'exec-1', 1, 'before ');
    await stale.drain();
    const current = new RunEventWriter(log, session, runId, await activate(session, runId), 0);
    stale.delta('executor', 'exec-1', 1, 'after ');
    await expect(stale.drain()).rejects.toBeInstanceOf(RunTakenOverError);
    // Told at once, so that its model call can stop.
    expect(refused).toHaveLength(1);
    expect(refused[0]).toBeInstanceOf(RunTakenOverError);
    expect(() => stale.write([durable('chat.response', { text: 'x' })])).toThrow(RunTakenOverError);
    current.delta('executor', 'exec-1', 2, 'again ');
    await current.drain();
    const deltas = (await log.readAfter(session, 0)).frames
      .map((f) => JSON.parse(f) as { event: string; data: { attempt: number; text: string } })
      .filter((e) => e.event === 'agent.delta')
      .map((e) => `${e.data.attempt}:${e.data.text}`);
    expect(deltas).toEqual(['1:before ', '2:again ']);
  });
});
