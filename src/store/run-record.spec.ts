import Redis from 'ioredis';
import { startRedis, stopAllRedis } from '../../test/support/redis-server';
import { SessionKeys, sessionKeyOf } from './redis-keys';
import { RunCheckpoint, RunField, decodeRunRecord } from './run-record';
import { RunStore } from './run-store';

/** The run record's codec: what a run stores at each moment is what a resumed run reads back. */
describe('run record codec on a real Redis', () => {
  let redis: Redis;
  const session = sessionKeyOf('alice', 'codec');
  const runKey = new SessionKeys(session).run('r_codec123');

  beforeAll(async () => {
    redis = new Redis((await startRedis()).url);
  });
  afterAll(async () => {
    redis.disconnect();
    await stopAllRedis();
  });

  it('reads back every checkpoint a run wrote, so a resumed run skips its finished steps', async () => {
    const usage = { inputTokens: 12, outputTokens: 34 };
    const plan = [
      { title: 'A', description: 'first' },
      { title: 'B', description: 'second' },
    ];
    // What BEGIN_RUN stores, then what the resolver stores as it goes.
    await redis.hset(runKey, RunField.mode, 'task', RunField.input, 'the question', RunField.status, 'queued');
    await redis.hset(runKey, {
      [RunField.started]: '1',
      [RunField.fence]: '2',
      ...RunCheckpoint.query('the question'),
      ...RunCheckpoint.stepStarted({ stepId: 'plan', title: 'Plan the work', agent: 'planner' }, 1),
      ...RunCheckpoint.planned('plan', plan, usage),
      ...RunCheckpoint.stepStarted({ stepId: 'exec-1', title: 'A', agent: 'executor' }, 2),
      ...RunCheckpoint.stepFinished('exec-1', { text: 'found A' }, usage),
      ...RunCheckpoint.stepStarted({ stepId: 'exec-2', title: 'B', agent: 'executor' }, 1),
    });
    const run = await new RunStore(redis).get(session, 'r_codec123');
    expect(run).toMatchObject({
      runId: 'r_codec123',
      mode: 'task',
      input: 'the question',
      started: true,
      fence: 2,
      query: 'the question',
      plan,
      attempts: { plan: 1, 'exec-1': 2, 'exec-2': 1 },
      current: { stepId: 'exec-2', title: 'B', agent: 'executor' },
    });
    expect(run?.outputs).toEqual({ plan: { plan, usage }, 'exec-1': { text: 'found A', usage } });
    expect(run?.outputs['exec-2']).toBeUndefined();
  });

  it("reads the aggregator's report and the knowledge a refinement builds on", () => {
    const usage = { inputTokens: 1, outputTokens: 2 };
    const knowledge = [{ title: 'A', text: 'found A' }];
    const run = decodeRunRecord('r_x', {
      [RunField.mode]: 'refinement',
      [RunField.input]: 'shorter',
      [RunField.parentRunId]: 'r_parent',
      ...RunCheckpoint.aggregated('aggregate', '# Report', knowledge, usage),
    });
    expect(run).toMatchObject({ mode: 'refinement', parentRunId: 'r_parent', knowledge, started: false, fence: 0 });
    expect(run?.outputs.aggregate).toEqual({ report: '# Report', usage });
  });

  it('is no record without a mode (BEGIN_RUN never stored one)', () => {
    expect(decodeRunRecord('r_none', {})).toBeNull();
    expect(decodeRunRecord('r_none', RunCheckpoint.query('q'))).toBeNull();
  });
});
