/**
 * A gateway that dies between starting a run in Redis and queueing its job must not leave
 * the session EXECUTING forever: a worker queues the run again.
 */
import { durable, EventLog, sessionKeyOf } from '../support/built';
import { startMaws } from '../support/maws-process';
import { adminRedis } from '../support/redis-admin';
import { startRedis, type RedisServer } from '../support/redis-server';
import { connect } from '../support/session';
import { setUpSuite } from '../support/suite';
import { signToken } from '../support/tokens';

jest.setTimeout(60_000);

describe('a run whose job was never queued', () => {
  let redis: RedisServer;

  setUpSuite(async () => {
    redis = await startRedis();
  });

  it('is queued again by a worker after LOST_RUN_GRACE_MS and completes', async () => {
    const gateway = await startMaws('gateway', { REDIS_URL: redis.url });
    const { client } = await connect(gateway, 'LOST1', signToken('lost-user'));

    // What a gateway does before it queues the job, and nothing after: it died there.
    const log = new EventLog(adminRedis(redis), { maxEvents: 10_000, ttlSeconds: 3600 });
    const runId = 'r_lostjob0000000001';
    const text = 'Compare Rust and Go for network services.';
    const begun = await log.beginRun(
      sessionKeyOf('lost-user', 'LOST1'),
      { runId, mode: 'task', input: text },
      ['IDLE', 'REFINEMENT_READY'],
      {
        task: {
          userMessage: durable('user.message', { text, kind: 'task' }),
          queued: durable('run.queued', { runId, mode: 'task', input: text }),
        },
      },
    );
    expect(begun).toEqual({ started: true, seq: 3, mode: 'task' });
    await client.waitForEvent('run.queued');

    const started = Date.now();
    await startMaws('worker', { REDIS_URL: redis.url, LOST_RUN_GRACE_MS: '2000' });
    const completed = await client.waitForEvent('run.completed', (f) => f.data.runId === runId, 30_000);
    expect(completed.data.report).toMatch(/^# Report: Compare Rust and Go/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    const seqs = client.durable().map((f) => f.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(client.events('run.started')).toHaveLength(1);
  });
});
