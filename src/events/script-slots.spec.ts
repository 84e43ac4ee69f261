/**
 * v2 "Redis Cluster": every command MAWS's event log sends names keys of one hash slot only
 * (a cluster refuses any other), every Lua script included, and every script is exercised.
 * Checked on a real Redis by recording each command as ioredis sends it, through a session's
 * whole life: a task begun and ended, an answer, a steer, a refinement, pruning, a delete.
 */
import Redis from 'ioredis';
import { createHash } from 'node:crypto';
import { keySlot } from '../../test/support/key-slot';
import { RedisServer, startRedis, stopAllRedis } from '../../test/support/redis-server';
import { RedisScript } from '../store/redis-script';
import { sessionKeyOf } from '../store/redis-keys';
import { EventLog } from './event-log';
import { durable } from './frames';
import * as scripts from './lua-scripts';

interface Sent {
  name: string;
  keys: (string | Buffer)[];
  sha?: string;
}

describe('hash slots of the event log’s commands', () => {
  let server: RedisServer;
  let redis: Redis;
  const sent: Sent[] = [];

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
    const send = redis.sendCommand.bind(redis);
    redis.sendCommand = (command, stream) => {
      const args = command.args as (string | Buffer)[];
      sent.push({
        name: command.name,
        keys: command.getKeys(),
        ...(command.name === 'evalsha' ? { sha: String(args[0]) } : {}),
      });
      return send(command, stream);
    };
  });
  afterAll(async () => {
    redis.disconnect();
    await stopAllRedis();
  });

  it('a session’s whole life sends no command spanning two slots, and runs every script', async () => {
    const log = new EventLog(redis, { maxEvents: 100, ttlSeconds: 3600 });
    const session = sessionKeyOf('slot-user', 'S1');
    const announce = (runId: string) => ({
      task: {
        userMessage: durable('user.message', { text: 'q', kind: 'task' }),
        queued: durable('run.queued', { runId, mode: 'task', input: 'q' }),
      },
      refinement: {
        userMessage: durable('user.message', { text: 'r', kind: 'refinement' }),
        queued: durable('run.queued', { runId, mode: 'refinement', input: 'r' }),
      },
    });
    const started = durable('run.started', { runId: 'r_1', mode: 'task' });
    expect(
      await log.beginRun(session, { runId: 'r_1', mode: 'task', input: 'q' }, ['IDLE'], announce('r_1')),
    ).toMatchObject({
      started: true,
    });
    const activated = await log.activateRun(session, 'r_1', { task: started, refinement: started });
    expect(activated.status).toBe('activated');
    const fence = activated.status === 'activated' ? activated.fence : undefined;
    await log.append(session, [durable('chat.response', { text: 'a' })], { guardRunId: 'r_1', fence, checkpoint: {} });
    await log.appendOnce(session, 'w1', [durable('chat.response', { text: 'b' })]);
    await log.resolveInput(
      session,
      'r_1',
      'q_1',
      { text: 'x' },
      {
        message: durable('user.message', { text: 'x', kind: 'answer' }),
        resolved: durable('run.input_resolved', { runId: 'r_1', requestId: 'q_1', status: 'answered' }),
      },
    );
    await log.steer(session, 'r_1', 'shorter', [durable('user.message', { text: 'shorter', kind: 'steer' })], {
      maxSteers: 5,
    });
    expect(
      await log.finishRun(session, 'r_1', 'completed', durable('run.completed', { runId: 'r_1', report: 'R' }), {
        report: 'R',
        fence,
      }),
    ).toBe('finished');
    expect(
      await log.beginRun(
        session,
        { runId: 'r_2', mode: 'refinement', input: 'r' },
        ['REFINEMENT_READY'],
        announce('r_2'),
      ),
    ).toMatchObject({ started: true });
    await log.finishRun(session, 'r_2', 'cancelled', durable('run.cancelled', { runId: 'r_2' }));
    await log.snapshot(session);
    await log.readAfter(session, 0);
    await log.pruneRuns(session, 1);
    await log.deleteSession(session);

    const spanning = sent.filter((c) => new Set(c.keys.map(keySlot)).size > 1);
    expect(spanning.map((c) => ({ name: c.name, keys: c.keys.map(String) }))).toEqual([]);
    // Every script of the log ran (by the SHA1 of its text, as EVALSHA names it).
    const all = (Object.values(scripts) as unknown[]).filter(
      (v): v is RedisScript<string, string> => v instanceof RedisScript,
    );
    const ran = new Set(sent.flatMap((c) => (c.sha ? [c.sha] : [])));
    const unexercised = all.filter((s) => !ran.has(createHash('sha1').update(s.lua).digest('hex'))).map((s) => s.name);
    expect(unexercised).toEqual([]);
    expect(all.length).toBeGreaterThanOrEqual(11);
  });

  it('computes slots as the cluster does (the specification’s example; hash tags)', () => {
    expect(keySlot('123456789')).toBe(12739);
    expect(keySlot('maws:{abc}:state')).toBe(keySlot('abc'));
    expect(keySlot('maws:{}:state')).toBe(keySlot('maws:{}:state'));
    expect(keySlot('maws:{abc}:state')).toBe(keySlot('other:{abc}:log'));
  });
});
