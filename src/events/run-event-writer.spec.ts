import Redis from 'ioredis';
import { startRedis, stopAllRedis } from '../../test/support/redis-server';
import { SessionKeys, sessionKeyOf } from '../store/redis-keys';
import { EventLog } from './event-log';
import { durable } from './frames';
import { RunEventWriter, RunNotCurrentError } from './run-event-writer';

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

  it('keeps order, groups what is written during an append, and keeps the last checkpoint value', async () => {
    const session = sessionKeyOf('writer', 'W1');
    const runId = 'r_writer000001';
    await begin(session, runId);
    const appends = jest.spyOn(log, 'append');
    const writer = new RunEventWriter(log, session, runId, 0);
    for (let i = 0; i < 50; i++) {
      writer.write([durable('chat.response', { text: `e${i}` })], { current: `step-${i}` });
      writer.delta('executor', 'exec-1', `t${i} `);
    }
    await writer.drain();
    expect(appends.mock.calls.length).toBeLessThan(20);
    appends.mockRestore();

    const { frames } = await log.readAfter(session, 3);
    const parsed = frames.map((f) => JSON.parse(f) as { seq: number; event: string; data: { text: string } });
    expect(parsed.map((f) => f.seq)).toEqual(parsed.map((_, i) => i + 4));
    expect(parsed.map((f) => f.data.text)).toEqual(Array.from({ length: 50 }, (_, i) => [`e${i}`, `t${i} `]).flat());
    expect(await redis.hget(new SessionKeys(session).run(runId), 'current')).toBe('step-49');
  });

  it('reports a run that ended elsewhere at the next write, and writes nothing more of it', async () => {
    const session = sessionKeyOf('writer', 'W2');
    const runId = 'r_writer000002';
    await begin(session, runId);
    const writer = new RunEventWriter(log, session, runId, 0);
    await log.finishRun(session, runId, 'cancelled', durable('run.cancelled', { runId }));
    writer.delta('executor', 'exec-1', 'late');
    await expect(writer.drain()).rejects.toBeInstanceOf(RunNotCurrentError);
    expect(() => writer.write([durable('chat.response', { text: 'x' })])).toThrow(RunNotCurrentError);
    const { frames } = await log.readAfter(session, 0);
    expect(frames.map((f) => (JSON.parse(f) as { event: string }).event).pop()).toBe('session.state');
  });
});
