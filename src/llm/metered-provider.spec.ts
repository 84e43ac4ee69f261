import type { ModelUsageRecord } from '../ops/cluster-metrics';
import { MeteredProvider } from './metered-provider';
import type { ModelProvider, ModelRequest } from './model-provider';
import { createOfflineProvider } from './offline/offline-provider';
import { costOf, parseLlmPrices } from '../config/prices';

const request = (agent: ModelRequest['agent']): ModelRequest => ({
  agent,
  messages: [{ role: 'user', content: 'What is the status?' }],
  facts: { query: 'q', progress: 'Step 1 of 4 is running.' },
});

async function drain(p: ModelProvider, r: ModelRequest, signal = new AbortController().signal): Promise<string> {
  let text = '';
  for await (const c of p.stream(r, signal).chunks) text += c;
  return text;
}

describe('MeteredProvider', () => {
  it('passes the text through unchanged and records each finished call with its cost', async () => {
    const records: ModelUsageRecord[] = [];
    const inner = createOfflineProvider(0);
    const metered = new MeteredProvider(inner, (r) => records.push(r), {
      offline: { input: 1_000_000, output: 2_000_000 },
    });
    expect(await drain(metered, request('clarifier'))).toBe(await drain(inner, request('clarifier')));
    // The same call again, read to its end, tells what the metered one used.
    const again = inner.stream(request('clarifier'), new AbortController().signal);
    for await (const chunk of again.chunks) void chunk;
    const usage = await again.usage();
    expect(usage.outputTokens).toBeGreaterThan(0);
    expect(records).toEqual([
      {
        provider: 'offline',
        model: 'offline',
        agent: 'clarifier',
        inputTokens: usage.inputTokens,
        outputTokens: usage.outputTokens,
        cost: usage.inputTokens + 2 * usage.outputTokens,
      },
    ]);
  });

  it('names the model the inner provider uses for the agent', async () => {
    const records: ModelUsageRecord[] = [];
    const inner: ModelProvider = {
      name: 'openai',
      modelFor: (agent) => (agent === 'planner' ? 'big' : 'small'),
      stream: () => ({
        chunks: (async function* () {
          yield 'x';
          await Promise.resolve();
        })(),
        usage: () => Promise.resolve({ inputTokens: 3, outputTokens: 1 }),
      }),
    };
    const metered = new MeteredProvider(inner, (r) => records.push(r));
    await drain(metered, request('planner'));
    await drain(metered, request('executor'));
    expect(records.map((r) => [r.model, r.agent, r.cost])).toEqual([
      ['big', 'planner', undefined],
      ['small', 'executor', undefined],
    ]);
  });

  it('records nothing for a call that failed or was abandoned', async () => {
    const records: ModelUsageRecord[] = [];
    const failing: ModelProvider = {
      name: 'openai',
      stream: () => ({
        chunks: (async function* () {
          yield 'x';
          await Promise.resolve();
          throw new Error('cut');
        })(),
        usage: () => Promise.resolve({ inputTokens: 3, outputTokens: 1 }),
      }),
    };
    await expect(drain(new MeteredProvider(failing, (r) => records.push(r)), request('executor'))).rejects.toThrow(
      'cut',
    );
    const stream = new MeteredProvider(createOfflineProvider(0), (r) => records.push(r)).stream(
      request('executor'),
      new AbortController().signal,
    );
    for await (const _ of stream.chunks) break;
    expect(records).toEqual([]);
  });
});

describe('LLM_PRICES', () => {
  it('parses a table and prices tokens per million', () => {
    const table = parseLlmPrices('{"gpt-4o-mini": {"input": 0.15, "output": 0.6}}');
    expect(costOf(table, 'gpt-4o-mini', { inputTokens: 1_000_000, outputTokens: 500_000 })).toBeCloseTo(0.45);
    expect(costOf(table, 'other', { inputTokens: 1, outputTokens: 1 })).toBeUndefined();
    expect(parseLlmPrices(undefined)).toEqual({});
  });

  it.each([
    ['not JSON', '{gpt: 1}', /must be JSON/],
    ['an array', '[]', /JSON object/],
    ['a price without output', '{"m": {"input": 1}}', /"m"/],
    ['a negative price', '{"m": {"input": -1, "output": 1}}', /"m"/],
  ])('rejects %s', (_name, text, message) => {
    expect(() => parseLlmPrices(text)).toThrow(message);
  });
});
