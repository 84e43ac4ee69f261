/** What runs did, counted into Redis (a real redis-server) and rendered as Prometheus text. */
import Redis from 'ioredis';
import { cleanupAll } from '../../test/support/cleanup';
import { startRedis } from '../../test/support/redis-server';
import { renderClusterMetrics } from './cluster-metrics';
import { startWorkCounters, workCounters } from './work-counters';

jest.setTimeout(30_000);

let redis: Redis;
let counters: { flush(): Promise<void>; close(): Promise<void> };

beforeAll(async () => {
  const server = await startRedis();
  redis = new Redis(server.url);
  counters = startWorkCounters({ url: server.url }, 3600);
});

afterAll(async () => {
  await counters.close();
  redis.disconnect();
  await cleanupAll();
});

const linesOf = (text: string, name: string): string[] =>
  text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));

describe('work counters', () => {
  it('tool calls by tool and outcome, and a cumulative duration histogram per tool', async () => {
    workCounters().toolCall('calculator', 'ok', 30);
    workCounters().toolCall('calculator', 'ok', 700);
    workCounters().toolCall('calculator', 'TOOL_TIMEOUT', 65_000);
    workCounters().toolCall('mcp_files_"read"', 'ok', 4);
    await counters.flush();
    const text = await renderClusterMetrics(redis);
    expect(linesOf(text, 'maws_tool_calls_total')).toEqual([
      'maws_tool_calls_total{tool="calculator",outcome="TOOL_TIMEOUT"} 1',
      'maws_tool_calls_total{tool="calculator",outcome="ok"} 2',
      'maws_tool_calls_total{tool="mcp_files_\\"read\\"",outcome="ok"} 1',
    ]);
    const calc = linesOf(text, 'maws_tool_call_duration_seconds_bucket').filter((l) => l.includes('"calculator"'));
    expect(calc.map((l) => l.replace('maws_tool_call_duration_seconds_bucket{tool="calculator",', ''))).toEqual([
      'le="0.01"} 0',
      'le="0.05"} 1',
      'le="0.1"} 1',
      'le="0.25"} 1',
      'le="0.5"} 1',
      'le="1"} 2',
      'le="2.5"} 2',
      'le="5"} 2',
      'le="10"} 2',
      'le="30"} 2',
      'le="60"} 2',
      'le="+Inf"} 3',
    ]);
    expect(linesOf(text, 'maws_tool_call_duration_seconds_sum')).toContain(
      'maws_tool_call_duration_seconds_sum{tool="calculator"} 65.73',
    );
    expect(linesOf(text, 'maws_tool_call_duration_seconds_count')).toContain(
      'maws_tool_call_duration_seconds_count{tool="calculator"} 3',
    );
  });

  it('requests asked and resolved, the open ones, and how long they waited', async () => {
    // Asked 90 s ago: it expires in INPUT_TTL_SECONDS (3600 here) less those 90 s.
    const expiresAt = new Date(Date.now() + 3_510_000).toISOString();
    workCounters().inputAsked('question');
    workCounters().inputAsked('question');
    workCounters().inputAsked('plan_review');
    workCounters().inputResolved('question', 'answered', expiresAt);
    workCounters().replanned('steer');
    workCounters().steered(2);
    await counters.flush();
    const text = await renderClusterMetrics(redis);
    expect(linesOf(text, 'maws_input_requests_open')).toEqual([
      'maws_input_requests_open{kind="plan_review"} 1',
      'maws_input_requests_open{kind="question"} 1',
    ]);
    expect(linesOf(text, 'maws_input_requests_resolved_total')).toEqual([
      'maws_input_requests_resolved_total{kind="question",status="answered"} 1',
    ]);
    // 90 s: above the 60 s bucket, within the 300 s one.
    const waits = linesOf(text, 'maws_input_wait_seconds_bucket');
    expect(waits).toContain('maws_input_wait_seconds_bucket{kind="question",le="300"} 1');
    expect(waits).toContain('maws_input_wait_seconds_bucket{kind="question",le="60"} 0');
    const sum = Number(linesOf(text, 'maws_input_wait_seconds_sum')[0].split(' ')[1]);
    expect(sum).toBeGreaterThanOrEqual(90);
    expect(sum).toBeLessThan(95);
    expect(linesOf(text, 'maws_replans_total')).toEqual(['maws_replans_total{reason="steer"} 1']);
    expect(linesOf(text, 'maws_steers_total')).toEqual(['maws_steers_total 2']);
  });
});
