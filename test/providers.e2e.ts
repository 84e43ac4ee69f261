/**
 * End-to-end: the real model providers (openai, anthropic, openai-compatible, on the AI SDK)
 * in `node dist/main.js all` processes, against a local fake model API that speaks OpenAI
 * Chat Completions and Anthropic Messages streaming exactly, scripted per test. Everything is
 * watched through the WebSocket protocol: token deltas in order, usage, retries (429 with
 * Retry-After, 500 twice), a stream cut mid-way (the step restarts with attempt 2), a plan
 * repaired or still invalid (PLAN_INVALID), a bad key (MODEL_AUTH), and cancel (the fake
 * server sees its request aborted).
 */
import type { AnyDurableFrame, FrameOf } from '../src/contract';
import { FakeLlmServer, piecesOf, planJson, tokensOf } from './support/fake-llm-server';
import { expectEvent, isEvent, runIdOf, TERMINAL, type TerminalEvent } from './support/frames';
import { httpJson } from './support/http';
import { startMaws, type MawsEnv, type MawsProcess } from './support/maws-process';
import { sample } from './support/metrics';
import { startRedis, type RedisServer } from './support/redis-server';
import { outputOf, planOf, startRun } from './support/runs';
import { newSession } from './support/session';
import { setUpSuite } from './support/suite';
import { eventually } from './support/timing';
import type { TestClient } from './support/ws-client';

// Other e2e suites share this 2-core machine: generous limits everywhere.
jest.setTimeout(120_000);
const RUN_TIMEOUT_MS = 60_000;

let redis: RedisServer;
let fake: FakeLlmServer;

setUpSuite(async () => {
  redis = await startRedis();
  fake = await FakeLlmServer.start();
});

afterAll(async () => {
  await fake?.close();
});

beforeEach(() => fake.reset());

function envFor(provider: 'openai' | 'anthropic' | 'openai-compatible', extra: MawsEnv = {}): MawsEnv {
  return {
    REDIS_URL: redis.url,
    LLM_PROVIDER: provider,
    LLM_BASE_URL: fake.baseUrl,
    LLM_API_KEY: 'sk-test-key',
    LLM_MODEL: provider === 'openai-compatible' ? 'llama3.1' : undefined,
    ...extra,
  };
}

interface RunResult {
  client: TestClient;
  runId: string;
  /** This run's durable frames, from run.queued to its terminal event. */
  frames: AnyDurableFrame[];
  terminal: FrameOf<TerminalEvent>;
}

/** Starts a task on a fresh session and waits for its terminal event. */
async function runTask(
  maws: MawsProcess,
  text = 'Compare the stock performance of Apple and Tesla last month.',
  during?: (client: TestClient, runId: string) => Promise<void>,
): Promise<RunResult> {
  const { client } = await newSession(maws, 'prov');
  const { runId } = await startRun(client, 'task.start', text);
  if (during) await during(client, runId);
  const terminal = await client.waitForEvent(TERMINAL, (f) => f.data.runId === runId, RUN_TIMEOUT_MS);
  const frames = client.durable().filter((f) => runIdOf(f) === runId);
  return { client, runId, frames, terminal };
}

type StepEvent = 'agent.started' | 'agent.delta' | 'agent.finished';

const ofStep = <E extends StepEvent>(frames: AnyDurableFrame[], event: E, stepId: string): FrameOf<E>[] =>
  frames.filter((f): f is FrameOf<E> => isEvent(f, event) && f.data.stepId === stepId);

/** The attempts a step was started with, in order. */
const attempts = (frames: AnyDurableFrame[], stepId: string): number[] =>
  ofStep(frames, 'agent.started', stepId).map((f) => f.data.attempt);

/** The step's delta text after its last agent.started (what a client shows). */
function shownText(frames: AnyDurableFrame[], stepId: string): string {
  const from = Math.max(...frames.map((f, i) => (f.event === 'agent.started' && f.data.stepId === stepId ? i : -1)));
  return ofStep(frames.slice(from + 1), 'agent.delta', stepId)
    .map((f) => f.data.text)
    .join('');
}

const EXEC_1 = 'Apple rose about four percent over the month, on steady volume.';
const EXEC_2 = 'Tesla swung widely: down nine percent mid-month, then up six.';
const REPORT = '# Apple and Tesla\n\nApple rose steadily; Tesla was volatile.\n\n- Apple: +4%\n- Tesla: -3%\n';

describe.each([
  ['openai', 'gpt-4o-mini'],
  ['anthropic', 'claude-sonnet-4-5'],
  ['openai-compatible', 'llama3.1'],
] as const)('LLM_PROVIDER=%s', (provider, model) => {
  let maws: MawsProcess;

  beforeAll(async () => {
    maws = await startMaws('all', envFor(provider, { LLM_PRICES: `{"${model}": {"input": 1, "output": 4}}` }), {
      readyTimeoutMs: 60_000,
    });
  });

  afterAll(async () => {
    await maws?.stop('SIGTERM', 15_000);
  });

  it("a full run: the model's tokens arrive as deltas, in order, with usage per step and per run", async () => {
    fake.script('planner', {
      kind: 'stream',
      tokens: piecesOf(planJson(['Apple last month', 'Tesla last month'])),
      usage: { input: 120, output: 40 },
    });
    fake.script('executor', { kind: 'stream', tokens: tokensOf(EXEC_1), usage: { input: 200, output: 12 } });
    fake.script('executor', { kind: 'stream', tokens: tokensOf(EXEC_2), usage: { input: 230, output: 13 } });
    // Slow enough that the first tokens must be on the socket before the model has finished.
    fake.script('aggregator', {
      kind: 'stream',
      tokens: tokensOf(REPORT),
      tokenDelayMs: 60,
      usage: { input: 300, output: 25 },
    });

    let sawDeltaMidStream = false;
    const { frames, terminal } = await runTask(maws, undefined, async (client, runId) => {
      await client.waitFor(
        (f) => f.event === 'agent.delta' && f.data.runId === runId && f.data.stepId === 'aggregate',
        RUN_TIMEOUT_MS,
      );
      sawDeltaMidStream = fake.requestsOf('aggregator')[0]?.completed === false;
    });
    const completed = expectEvent(terminal, 'run.completed');
    expect(sawDeltaMidStream).toBe(true);

    // Each step's deltas, in arrival order, are exactly the model's tokens.
    const plan = planOf(ofStep(frames, 'agent.finished', 'plan'));
    expect(plan.map((p) => p.title)).toEqual(['Apple last month', 'Tesla last month']);
    expect(shownText(frames, 'plan')).toBe(planJson(['Apple last month', 'Tesla last month']));
    expect(shownText(frames, 'exec-1')).toBe(EXEC_1);
    expect(shownText(frames, 'exec-2')).toBe(EXEC_2);
    expect(shownText(frames, 'aggregate')).toBe(REPORT);
    expect(ofStep(frames, 'agent.delta', 'aggregate').length).toBeGreaterThan(2);
    expect(completed.data.report).toBe(REPORT.trim());
    for (const stepId of ['plan', 'exec-1', 'exec-2', 'aggregate']) expect(attempts(frames, stepId)).toEqual([1]);

    // Usage: the provider's own counts per step, their sum per run.
    const usage = (stepId: string): unknown => ofStep(frames, 'agent.finished', stepId)[0].data.usage;
    expect(usage('plan')).toEqual({ inputTokens: 120, outputTokens: 40 });
    expect(usage('exec-1')).toEqual({ inputTokens: 200, outputTokens: 12 });
    expect(usage('exec-2')).toEqual({ inputTokens: 230, outputTokens: 13 });
    expect(usage('aggregate')).toEqual({ inputTokens: 300, outputTokens: 25 });
    expect(completed.data.usage).toEqual({ inputTokens: 850, outputTokens: 90 });

    // What went over the wire: one streamed request per step, the planner's with a JSON schema.
    expect(fake.requests.map((r) => r.agent)).toEqual(['planner', 'executor', 'executor', 'aggregator']);
    const planner = fake.requests[0];
    expect(planner.body.model).toBe(model);
    expect(planner.body.stream).toBe(true);
    const schema =
      provider === 'anthropic'
        ? planner.body.output_config.format.schema
        : planner.body.response_format.json_schema.schema;
    expect(schema.properties.subtasks.items.required).toEqual(['title', 'description']);
    // Anthropic's output format takes no array bounds (the SDK strips them); MAWS checks anyway.
    if (provider !== 'anthropic') expect(schema.properties.subtasks.maxItems).toBe(6);

    // /metrics (the gateway, from Redis): tokens by provider, model, agent, direction; cost.
    const labels = (agent: string, direction: string): string =>
      `maws_model_tokens_total{provider="${provider}",model="${model}",agent="${agent}",direction="${direction}"}`;
    // Workers write usage in batches (every 250 ms): the figures appear shortly after the run.
    let metrics = '';
    await eventually(
      async () => {
        metrics = (await httpJson('GET', `${maws.url!}/metrics`)).text;
        return (sample(metrics, labels('aggregator', 'output')) ?? 0) >= 25;
      },
      5_000,
      "the aggregator's tokens on /metrics",
    );
    expect(sample(metrics, labels('planner', 'input'))).toBeGreaterThanOrEqual(120);
    expect(sample(metrics, labels('executor', 'input'))).toBeGreaterThanOrEqual(430);
    expect(sample(metrics, labels('aggregator', 'output'))).toBeGreaterThanOrEqual(25);
    const cost = sample(metrics, `maws_model_cost_total{provider="${provider}",model="${model}"}`);
    expect(cost).toBeGreaterThanOrEqual((850 * 1 + 90 * 4) / 1_000_000 - 1e-9);
  });

  it('a 401 fails the run at once with MODEL_AUTH, naming the key variable', async () => {
    fake.script('planner', { kind: 'error', status: 401 });
    const { terminal, frames, client } = await runTask(maws);
    const failed = expectEvent(terminal, 'run.failed');
    expect(failed.data.error.code).toBe('MODEL_AUTH');
    expect(failed.data.error.message).toContain('LLM_API_KEY');
    if (provider === 'openai') expect(failed.data.error.message).toContain('OPENAI_API_KEY');
    if (provider === 'anthropic') expect(failed.data.error.message).toContain('ANTHROPIC_API_KEY');
    expect(fake.requests).toHaveLength(1); // not retried, neither the call nor the run
    expect(attempts(frames, 'plan')).toEqual([1]);
    const state = await client.waitForEvent('session.state', (f) => f.seq > terminal.seq, 10_000);
    expect(state.data.state).toBe('IDLE');
  });
});

describe('failures (LLM_PROVIDER=openai-compatible)', () => {
  let maws: MawsProcess;

  beforeAll(async () => {
    maws = await startMaws('all', envFor('openai-compatible', { LLM_MODEL_CLARIFIER: 'llama3.2:1b' }), {
      readyTimeoutMs: 60_000,
    });
  });

  it('chat goes to the Clarifier through the provider, on its own model (LLM_MODEL_CLARIFIER)', async () => {
    const { client } = await newSession(maws, 'chat');
    fake.script('clarifier', { kind: 'stream', tokens: tokensOf('Nothing is running yet: send a task.') });
    const ack = await client.request('chat.send', { text: 'What is the current status?' });
    expect(ack.event).toBe('ack');
    const answer = await client.waitForEvent('chat.response', undefined, RUN_TIMEOUT_MS);
    expect(answer.data.text).toBe('Nothing is running yet: send a task.');
    const [call] = fake.requestsOf('clarifier');
    expect(call.body.model).toBe('llama3.2:1b');
    expect(JSON.stringify(call.body.messages)).toContain('What is the current status?');
  });

  afterAll(async () => {
    await maws?.stop('SIGTERM', 15_000);
  });

  it('a 429 with Retry-After is retried after that long, and the run completes', async () => {
    fake.script('executor', { kind: 'error', status: 429, headers: { 'retry-after': '1' } });
    const { terminal, frames } = await runTask(maws);
    expect(terminal.event).toBe('run.completed');
    const [limited, retried] = fake.requestsOf('executor');
    expect(limited.status).toBe(429);
    expect(retried.status).toBe(200);
    const waited = retried.receivedAt - limited.respondedAt!;
    // Retry-After: 1 s, where the SDK's own first backoff is 2 s.
    expect(waited).toBeGreaterThanOrEqual(950);
    expect(waited).toBeLessThan(1_900);
    // Retried inside the one call: the step was not restarted.
    expect(attempts(frames, 'exec-1')).toEqual([1]);
  });

  it('a 500 twice is retried with backoff, then the run completes', async () => {
    fake.script('planner', { kind: 'error', status: 500 }, { kind: 'error', status: 500 });
    const { terminal, frames } = await runTask(maws);
    expect(terminal.event).toBe('run.completed');
    const planner = fake.requestsOf('planner');
    expect(planner.map((r) => r.status)).toEqual([500, 500, 200]);
    const gaps = [1, 2].map((i) => planner[i].receivedAt - planner[i - 1].respondedAt!);
    expect(gaps[0]).toBeGreaterThanOrEqual(1_900);
    expect(gaps[1]).toBeGreaterThanOrEqual(3_900);
    expect(attempts(frames, 'plan')).toEqual([1]);
  });

  it('a stream cut mid-way restarts the step: agent.started again, same stepId, attempt 2', async () => {
    fake.script('executor', { kind: 'cut', tokens: tokensOf('Apple rose about four') });
    fake.script('executor', { kind: 'stream', tokens: tokensOf(EXEC_1) });
    const { terminal, frames } = await runTask(maws);
    expect(terminal.event).toBe('run.completed');
    expect(attempts(frames, 'exec-1')).toEqual([1, 2]);
    // The cut attempt's deltas came before the restart; what follows is the whole new answer.
    const exec1 = frames
      .filter((f) => isEvent(f, ['agent.started', 'agent.delta', 'agent.finished']) && f.data.stepId === 'exec-1')
      .map((f) => f.event);
    expect(exec1.slice(0, 2)).toEqual(['agent.started', 'agent.delta']);
    expect(shownText(frames, 'exec-1')).toBe(EXEC_1);
    expect(outputOf(frames, 'exec-1')).toEqual({ text: EXEC_1, toolCalls: [] });
    expect(fake.requestsOf('executor').map((r) => r.reply)).toEqual(['cut', 'stream', 'stream']);
  });

  it('a malformed plan (too many subtasks) is repaired: the planner restarts with attempt 2 and a repair message', async () => {
    const tooLong = planJson(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']);
    fake.script('planner', { kind: 'stream', tokens: piecesOf(tooLong) });
    fake.script('planner', { kind: 'stream', tokens: piecesOf(planJson(['Apple', 'Tesla'])) });
    const { terminal, frames } = await runTask(maws);
    expect(terminal.event).toBe('run.completed');
    expect(attempts(frames, 'plan')).toEqual([1, 2]);
    expect(shownText(frames, 'plan')).toBe(planJson(['Apple', 'Tesla']));
    expect(planOf(frames)).toHaveLength(2);
    const [, repair] = fake.requestsOf('planner');
    const messages = repair.body.messages as { role: string; content: string }[];
    expect(messages[messages.length - 2]).toEqual({ role: 'assistant', content: tooLong });
    expect(messages[messages.length - 1].role).toBe('user');
    expect(messages[messages.length - 1].content).toContain('at most 6');
    expect(repair.body.response_format.type).toBe('json_schema');
  });

  it('a plan that stays malformed fails the run with PLAN_INVALID', async () => {
    fake.script('planner', { kind: 'stream', tokens: tokensOf('Sure! First look at Apple, then at Tesla.') });
    fake.script('planner', { kind: 'stream', tokens: tokensOf('{"subtasks": [{"title": "Only one"}]}') });
    const { terminal, frames } = await runTask(maws);
    expect(expectEvent(terminal, 'run.failed').data.error.code).toBe('PLAN_INVALID');
    expect(attempts(frames, 'plan')).toEqual([1, 2]);
    expect(fake.requestsOf('planner')).toHaveLength(2);
    expect(fake.requestsOf('executor')).toHaveLength(0);
  });

  it('cancel during a streamed call aborts the HTTP request (the server sees it)', async () => {
    fake.script('executor', {
      kind: 'stream',
      tokens: tokensOf('word '.repeat(200)),
      tokenDelayMs: 100,
    });
    let cancelledAt = 0;
    const { terminal } = await runTask(maws, undefined, async (client, runId) => {
      await client.waitFor(
        (f) => f.event === 'agent.delta' && f.data.runId === runId && f.data.stepId === 'exec-1',
        RUN_TIMEOUT_MS,
      );
      cancelledAt = Date.now();
      const ack = await client.request('task.cancel', {});
      expect(ack.event).toBe('ack');
    });
    expect(terminal.event).toBe('run.cancelled');
    const call = await fake.waitFor((r) => r.agent === 'executor' && r.closedAt !== undefined, 15_000);
    expect(call.aborted).toBe(true);
    expect(call.completed).toBe(false);
    expect(call.closedAt! - cancelledAt).toBeLessThan(10_000);
  });
});

describe('timeouts (MODEL_TIMEOUT_MS=1500)', () => {
  let maws: MawsProcess;

  beforeAll(async () => {
    maws = await startMaws('all', envFor('openai', { MODEL_TIMEOUT_MS: '1500' }), { readyTimeoutMs: 60_000 });
  });

  afterAll(async () => {
    await maws?.stop('SIGTERM', 15_000);
  });

  it('a call slower than the limit is aborted; after the run retries it fails with MODEL_TIMEOUT', async () => {
    for (let i = 0; i < 3; i++) {
      fake.script('planner', { kind: 'stream', tokens: tokensOf('{"subtasks": '.repeat(100)), tokenDelayMs: 100 });
    }
    const { terminal, frames } = await runTask(maws);
    expect(expectEvent(terminal, 'run.failed').data.error.code).toBe('MODEL_TIMEOUT');
    // The run is retried as a whole (3 attempts); each resumes the planner step with attempt + 1.
    expect(attempts(frames, 'plan')).toEqual([1, 2, 3]);
    const calls = fake.requestsOf('planner');
    expect(calls).toHaveLength(3);
    // The run fails as its last call is aborted; the server may see that close a moment later.
    await fake.waitFor((r) => r.agent === 'planner' && r === calls[2] && r.closedAt !== undefined, 5_000);
    for (const call of calls) {
      expect(call.aborted).toBe(true);
      expect(call.closedAt! - call.receivedAt).toBeGreaterThanOrEqual(1_400);
      expect(call.closedAt! - call.receivedAt).toBeLessThan(5_000);
    }
  });
});
