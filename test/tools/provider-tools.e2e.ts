/**
 * Tools with real providers (issue 14): the openai and anthropic providers (the AI SDK's own
 * packages) against the local fake model API, which streams tool calls in each wire format
 * (OpenAI's `delta.tool_calls`, Anthropic's `tool_use` blocks). MAWS runs each call, records
 * it as tool.called / tool.result, and sends the result back in the model's next request;
 * a call of a tool that does not exist, or with arguments that are not JSON, is answered with
 * its code, and the run goes on.
 */
import type { AnyDurableFrame, FrameOf } from '../../src/contract';
import { FakeLlmServer, piecesOf, planJson, tokensOf } from '../support/fake-llm-server';
import { isEvent, runIdOf, TERMINAL } from '../support/frames';
import { startMaws, type MawsProcess } from '../support/maws-process';
import { startRedis, type RedisServer } from '../support/redis-server';
import { outputOf, startRun } from '../support/runs';
import { newSdkSession } from '../support/session';
import { setUpSuite } from '../support/suite';

jest.setTimeout(120_000);

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

type ToolFrame = FrameOf<'tool.called'> | FrameOf<'tool.result'>;

/** The user messages' text of a request body, in either wire format. */
function userTextOf(body: { messages: { role: string; content: unknown }[] }): string {
  return body.messages
    .filter((m) => m.role === 'user')
    .map((m) =>
      typeof m.content === 'string'
        ? m.content
        : (m.content as { type: string; text?: string }[]).map((p) => p.text ?? '').join(''),
    )
    .join('\n');
}

describe.each(['openai', 'anthropic'] as const)('LLM_PROVIDER=%s', (provider) => {
  let maws: MawsProcess;

  beforeAll(async () => {
    maws = await startMaws(
      'all',
      { REDIS_URL: redis.url, LLM_PROVIDER: provider, LLM_BASE_URL: fake.baseUrl, LLM_API_KEY: 'sk-test-key' },
      { readyTimeoutMs: 60_000 },
    );
  });

  afterAll(async () => {
    await maws?.stop('SIGTERM', 15_000);
  });

  async function runTask(): Promise<{ frames: AnyDurableFrame[]; runId: string }> {
    const { client } = await newSdkSession(maws, 'prov-tools');
    const { runId } = await startRun(client, 'task.start', 'Work out the order total.');
    const terminal = await client.waitForEvent(TERMINAL, (f) => f.data.runId === runId, 60_000);
    expect(terminal.event).toBe('run.completed');
    await client.close();
    return { frames: client.durable().filter((f) => runIdOf(f) === runId), runId };
  }

  it("a tool call in the provider's wire format runs, is recorded, and its result goes back in the next request", async () => {
    fake.script('planner', { kind: 'stream', tokens: piecesOf(planJson(['The total'])) });
    fake.script(
      'executor',
      {
        kind: 'tool',
        tokens: tokensOf('Let me compute it. '),
        calls: [{ id: 'call_model_1', name: 'calculator', arguments: '{"expression": "17*23"}' }],
      },
      { kind: 'stream', tokens: tokensOf('The total is 391.') },
    );
    const { frames, runId } = await runTask();
    const tools = frames.filter((f): f is ToolFrame => isEvent(f, ['tool.called', 'tool.result']));
    expect(tools.map((f) => f.data)).toEqual([
      {
        runId,
        stepId: 'exec-1',
        attempt: 1,
        toolCallId: 'tc_exec-1_1_1',
        tool: 'calculator',
        input: { expression: '17*23' },
      },
      {
        runId,
        stepId: 'exec-1',
        attempt: 1,
        toolCallId: 'tc_exec-1_1_1',
        tool: 'calculator',
        ok: true,
        output: '391',
        ms: expect.any(Number),
      },
    ]);
    // The executor's text is both rounds' text; its output lists the call.
    expect(outputOf(frames, 'exec-1')).toEqual({
      text: 'Let me compute it. The total is 391.',
      toolCalls: [{ tool: 'calculator', ok: true }],
    });
    // The first request offered the built-in tools; the second carried the call and its result.
    const [first, second] = fake.requestsOf('executor');
    const offered =
      provider === 'openai'
        ? first.body.tools.map((t: any) => t.function.name)
        : first.body.tools.map((t: any) => t.name);
    expect(offered).toEqual(['calculator', 'run_js', 'ask_user']);
    if (provider === 'openai') {
      const messages = second.body.messages as any[];
      const asked = messages.find((m) => m.role === 'assistant' && m.tool_calls);
      expect(asked.tool_calls).toEqual([
        { id: 'call_model_1', type: 'function', function: { name: 'calculator', arguments: '{"expression":"17*23"}' } },
      ]);
      expect(messages.find((m) => m.role === 'tool')).toEqual({
        role: 'tool',
        tool_call_id: 'call_model_1',
        content: '391',
      });
    } else {
      const messages = second.body.messages as any[];
      const use = messages
        .flatMap((m) => (Array.isArray(m.content) ? m.content : []))
        .find((p: any) => p.type === 'tool_use');
      expect(use).toMatchObject({ id: 'call_model_1', name: 'calculator', input: { expression: '17*23' } });
      const result = messages
        .flatMap((m) => (Array.isArray(m.content) ? m.content : []))
        .find((p: any) => p.type === 'tool_result');
      expect(result).toMatchObject({ tool_use_id: 'call_model_1' });
      expect(JSON.stringify(result.content)).toContain('391');
    }
    // Only executors are offered tools.
    for (const r of [...fake.requestsOf('planner'), ...fake.requestsOf('aggregator')])
      expect(r.body.tools).toBeUndefined();
  });

  it("a refinement sees the first run's tool evidence: the figures the tools gave are in its prompt", async () => {
    fake.script('planner', { kind: 'stream', tokens: piecesOf(planJson(['The total'])) });
    fake.script(
      'executor',
      { kind: 'tool', calls: [{ name: 'calculator', arguments: '{"expression": "1234*5"}' }] },
      { kind: 'stream', tokens: tokensOf('The total is 6170.') },
    );
    const { client } = await newSdkSession(maws, 'prov-refine');
    const first = await startRun(client, 'task.start', 'Work out the order total.');
    await client.waitForEvent(TERMINAL, (f) => f.data.runId === first.runId, 60_000);
    fake.reset();
    const refinement = await startRun(client, 'task.refine', 'Use the figures you computed, in euros.');
    const terminal = await client.waitForEvent(TERMINAL, (f) => f.data.runId === refinement.runId, 60_000);
    expect(terminal.event).toBe('run.completed');
    await client.close();
    // The refinement's executor reads the first run's finding with what its calculator gave.
    expect(userTextOf(fake.requestsOf('executor')[0].body)).toContain(
      'The total is 6170.\nTool results:\n- calculator {"expression":"1234*5"} → "6170"',
    );
  });

  it('a tool that does not exist, arguments that are not JSON, and input off the schema: each answered with its code, the run goes on', async () => {
    fake.script('planner', { kind: 'stream', tokens: piecesOf(planJson(['The total'])) });
    fake.script(
      'executor',
      {
        kind: 'tool',
        calls: [
          { name: 'shell', arguments: '{"command": "rm -rf /"}' },
          { name: 'calculator', arguments: '{"expression": ' },
          { name: 'calculator', arguments: '{"expr": "1+1"}' },
        ],
      },
      { kind: 'stream', tokens: tokensOf('I could not compute it.') },
    );
    const { frames } = await runTask();
    const results = frames.filter((f): f is FrameOf<'tool.result'> => f.event === 'tool.result').map((f) => f.data);
    expect(results.map((r) => [r.tool, r.ok, r.error?.code])).toEqual([
      ['shell', false, 'TOOL_DENIED'],
      ['calculator', false, 'TOOL_INVALID_INPUT'],
      ['calculator', false, 'TOOL_INVALID_INPUT'],
    ]);
    const called = frames.filter((f): f is FrameOf<'tool.called'> => f.event === 'tool.called').map((f) => f.data);
    expect(called.map((c) => c.toolCallId)).toEqual(results.map((r) => r.toolCallId));
    expect(called[2].input).toEqual({ expr: '1+1' });
    // The model heard about all three in its next request.
    const second = JSON.stringify(fake.requestsOf('executor')[1].body);
    expect(second).toMatch(/shell/);
    expect(second).toMatch(/TOOL_INVALID_INPUT: the input does not match calculator's schema/);
    expect(outputOf(frames, 'exec-1')).toMatchObject({ text: 'I could not compute it.' });
  });
});
