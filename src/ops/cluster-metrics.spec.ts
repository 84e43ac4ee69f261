/** Model usage figures in Redis (a real redis-server) and their Prometheus rendering. */
import Redis from 'ioredis';
import { cleanupAll } from '../../test/support/cleanup';
import { startRedis } from '../../test/support/redis-server';
import { recordModelUsage, renderClusterMetrics } from './cluster-metrics';

jest.setTimeout(30_000);

let redis: Redis;

beforeAll(async () => {
  const server = await startRedis();
  redis = new Redis(server.url);
});

afterAll(async () => {
  redis.disconnect();
  await cleanupAll();
});

describe('model usage metrics', () => {
  it('sums tokens by provider, model, agent and direction, and cost by provider and model', async () => {
    const base = { provider: 'openai', model: 'gpt-4o-mini' };
    await recordModelUsage(redis, [
      { ...base, agent: 'planner', inputTokens: 100, outputTokens: 20, cost: 0.001 },
      { ...base, agent: 'planner', inputTokens: 50, outputTokens: 5, cost: 0.0005 },
    ]);
    await recordModelUsage(redis, [{ ...base, agent: 'executor', inputTokens: 10, outputTokens: 1 }]);
    await recordModelUsage(redis, [
      {
        provider: 'openai-compatible',
        model: 'we"ird\\name',
        agent: 'aggregator',
        inputTokens: 1,
        outputTokens: 2,
      },
    ]);
    const text = await renderClusterMetrics(redis);
    expect(text).toContain('# TYPE maws_model_tokens_total counter');
    expect(text).toContain(
      'maws_model_tokens_total{provider="openai",model="gpt-4o-mini",agent="planner",direction="input"} 150',
    );
    expect(text).toContain(
      'maws_model_tokens_total{provider="openai",model="gpt-4o-mini",agent="planner",direction="output"} 25',
    );
    expect(text).toContain(
      'maws_model_tokens_total{provider="openai",model="gpt-4o-mini",agent="executor",direction="input"} 10',
    );
    expect(text).toContain(
      'maws_model_tokens_total{provider="openai-compatible",model="we\\"ird\\\\name",agent="aggregator",direction="output"} 2',
    );
    expect(text).toContain('# TYPE maws_model_cost_total counter');
    expect(text).toMatch(/^maws_model_cost_total\{provider="openai",model="gpt-4o-mini"\} 0\.0015\d*$/m);
    // Every sample line parses as `name{labels} number`.
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
      expect(line).toMatch(/^[a-z_]+(\{.*\})? -?[0-9.e+-]+$/);
    }
  });
});
