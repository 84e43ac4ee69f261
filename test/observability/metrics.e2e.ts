/**
 * Metrics of what runs do (issue 17): workers count tool calls (by tool and outcome, with their
 * duration), requests to the person (asked, resolved by status, open, and how long they
 * waited), plan revisions by reason and instructions taken in, into Redis; a gateway renders
 * them on /metrics beside the run counters, with the queues' depth. Gateway and worker run
 * apart, as in production.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { MawsProcess } from '../support/maws-process';
import { sample } from '../support/metrics';
import { startRun, waitForRunEnd } from '../support/runs';
import { QUERY } from '../support/scenario';
import { newSdkSession } from '../support/session';
import type { SdkTestClient } from '../support/sdk-client';
import { setUpSuite, startStack } from '../support/suite';
import { eventually } from '../support/timing';

jest.setTimeout(90_000);

let gateway: MawsProcess;

setUpSuite(async () => {
  // Priced, so the cost counter the dashboard shows exists too.
  const prices = JSON.stringify({ offline: { input: 1, output: 2 } });
  [gateway] = (await startStack(['gateway', 'worker'], { OFFLINE_TOKEN_DELAY_MS: '0', LLM_PRICES: prices })).procs;
});

async function metrics(): Promise<string> {
  const res = await fetch(`${gateway.url}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/** Waits until every sample has its value (counts are written in batches, within 250 ms). */
async function expectSamples(expected: Record<string, number>): Promise<void> {
  let last: Record<string, number | undefined> = {};
  await eventually(
    async () => {
      const text = await metrics();
      last = Object.fromEntries(Object.keys(expected).map((k) => [k, sample(text, k)]));
      return Object.entries(expected).every(([k, v]) => last[k] === v);
    },
    10_000,
    'the metrics',
  ).catch(() => undefined);
  expect(last).toEqual(expected);
}

/** A task whose plan waits for review; its request. */
async function reviewedTask(client: SdkTestClient): Promise<{ runId: string; requestId: string }> {
  const ack = await client.request('task.start', { text: QUERY, review: 'plan' });
  const runId = (ack.data as { runId: string }).runId;
  const requested = await client.waitForEvent('run.input_requested', (f) => f.data.runId === runId, 30_000);
  return { runId, requestId: requested.data.requestId };
}

describe('metrics of what runs do', () => {
  it('tool calls by tool and outcome, with their duration', async () => {
    const { client } = await newSdkSession(gateway, 'metrics-tools');
    const { runId } = await startRun(client, 'task.start', QUERY);
    expect((await waitForRunEnd(client, runId, 60_000)).terminal.event).toBe('run.completed');
    await expectSamples({
      'maws_tool_calls_total{tool="calculator",outcome="ok"}': 1,
      'maws_tool_call_duration_seconds_count{tool="calculator"}': 1,
      'maws_tool_call_duration_seconds_bucket{tool="calculator",le="+Inf"}': 1,
      'maws_tool_call_duration_seconds_bucket{tool="calculator",le="60"}': 1,
    });
    const text = await metrics();
    expect(text).toContain('# TYPE maws_tool_call_duration_seconds histogram');
    expect(sample(text, 'maws_tool_call_duration_seconds_sum{tool="calculator"}')).toBeLessThan(60);
    await client.close();
  });

  it('a reviewed plan: asked, open while it waits, answered with its wait; a steer taken in and the replan it caused', async () => {
    const { client } = await newSdkSession(gateway, 'metrics-review');
    const { runId, requestId } = await reviewedTask(client);
    // The parked run's job waits in the delayed set: the queue depth says so.
    await expectSamples({
      'maws_input_requests_total{kind="plan_review"}': 1,
      'maws_input_requests_open{kind="plan_review"}': 1,
      'maws_queue_jobs{queue="resolver",state="delayed"}': 1,
      'maws_queue_jobs{queue="resolver",state="active"}': 0,
    });
    expect((await client.request('run.steer', { text: 'Skip Google' })).event).toBe('ack');
    await client.request('run.respond', { requestId, answer: { approve: true } });
    expect((await waitForRunEnd(client, runId, 60_000)).terminal.event).toBe('run.completed');
    await expectSamples({
      'maws_input_requests_total{kind="plan_review"}': 1,
      'maws_input_requests_resolved_total{kind="plan_review",status="answered"}': 1,
      'maws_input_requests_open{kind="plan_review"}': 0,
      'maws_input_wait_seconds_count{kind="plan_review"}': 1,
      maws_steers_total: 1,
      'maws_replans_total{reason="steer"}': 1,
      'maws_queue_jobs{queue="resolver",state="delayed"}': 0,
    });
    await client.close();
  });

  it('a request cancelled with its run; a step that failed for good and the replan after it', async () => {
    const { client } = await newSdkSession(gateway, 'metrics-cancel');
    // What the earlier tests counted (this one adds to it).
    const before = await metrics();
    const was = (name: string): number => sample(before, name) ?? 0;
    const { runId } = await reviewedTask(client);
    await client.request('task.cancel', {});
    expect((await waitForRunEnd(client, runId, 30_000)).terminal.event).toBe('run.cancelled');
    const failing = await startRun(client, 'task.start', `[offline-fail: of Google] ${QUERY}`);
    expect((await waitForRunEnd(client, failing.runId, 60_000)).terminal.event).toBe('run.completed');
    const asked = 'maws_input_requests_total{kind="plan_review"}';
    const waited = 'maws_input_wait_seconds_count{kind="plan_review"}';
    await expectSamples({
      [asked]: was(asked) + 1,
      'maws_input_requests_resolved_total{kind="plan_review",status="cancelled"}': 1,
      'maws_input_requests_open{kind="plan_review"}': 0,
      [waited]: was(waited) + 1,
      'maws_replans_total{reason="step_failed"}': 1,
    });
    await client.close();
  });

  it('every MAWS metric the Grafana dashboard (docs/observability) queries is on /metrics', async () => {
    const dashboard = JSON.parse(
      readFileSync(path.resolve(__dirname, '../../docs/observability/grafana/maws-dashboard.json'), 'utf8'),
    ) as { panels: { targets: { expr: string }[] }[] };
    const queried = new Set(
      dashboard.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/maws_[a-z_]+/g) ?? [])),
    );
    // A run first, so the figures that appear with the first model call (tokens, cost) exist.
    const { client } = await newSdkSession(gateway, 'metrics-dashboard');
    const { runId } = await startRun(client, 'task.start', QUERY);
    expect((await waitForRunEnd(client, runId, 60_000)).terminal.event).toBe('run.completed');
    await client.close();
    await eventually(async () => (await metrics()).includes('# TYPE maws_model_cost_total'), 10_000, 'the cost');
    const text = await metrics();
    const exported = new Set([...text.matchAll(/^# TYPE (maws_[a-z_]+) (\w+)$/gm)].map((m) => m[1]));
    const missing = [...queried].filter((name) => !exported.has(name.replace(/_(bucket|sum|count)$/, '')));
    expect(queried.size).toBeGreaterThan(10);
    expect(missing).toEqual([]);
  });
});
