/**
 * The real providers (AI SDK packages, which ship CommonJS) against the local fake model API
 * that speaks OpenAI Chat Completions and Anthropic Messages streaming exactly.
 */
import { FakeLlmServer, getClosedPort, tokensOf } from '../../test/support/fake-llm-server';
import { planJsonSchema } from '../agents/plan-parser';
import type { AgentName } from '../contract';
import { AiSdkProvider, RealProviderName } from './ai-sdk-provider';
import { ModelStreamCutError, ModelUnavailableError, PermanentModelError } from './model-provider';
import type { ModelRequest } from './model-provider';

jest.setTimeout(60_000);

let fake: FakeLlmServer;

beforeAll(async () => {
  fake = await FakeLlmServer.start();
});

afterAll(async () => {
  await fake.close();
});

beforeEach(() => fake.reset());

const PROVIDERS: RealProviderName[] = ['openai', 'anthropic', 'openai-compatible'];

function provider(
  name: RealProviderName,
  overrides: { maxRetries?: number; baseUrl?: string; warn?: (message: string) => void } = {},
): AiSdkProvider {
  const model = name === 'anthropic' ? 'claude-sonnet-4-5' : 'gpt-4o-mini';
  const models: Record<AgentName, string> = { planner: model, executor: model, aggregator: model, clarifier: model };
  return new AiSdkProvider({
    provider: name,
    models,
    baseUrl: overrides.baseUrl ?? fake.baseUrl,
    apiKey: 'sk-test',
    maxRetries: overrides.maxRetries ?? 2,
    keyVariable: name === 'openai' ? 'LLM_API_KEY (or OPENAI_API_KEY)' : 'LLM_API_KEY',
    warn: overrides.warn,
  });
}

function executorRequest(): ModelRequest {
  return {
    agent: 'executor',
    messages: [
      { role: 'system', content: 'You are an Executor on a research team.' },
      { role: 'user', content: 'Your subtask: Prices: look them up' },
    ],
    facts: { query: 'q' },
  };
}

function plannerRequest(): ModelRequest {
  return {
    agent: 'planner',
    messages: [
      { role: 'system', content: 'You are the Planner of a research team.' },
      { role: 'user', content: 'Compare two things' },
    ],
    json: true,
    schema: planJsonSchema(4),
    facts: { query: 'Compare two things' },
  };
}

/** Collects a stream's chunks; resolves with them or with the error it threw. */
async function collect(
  p: AiSdkProvider,
  request: ModelRequest,
  signal = new AbortController().signal,
): Promise<{ chunks: string[]; error?: unknown; usage?: { inputTokens: number; outputTokens: number } }> {
  const stream = p.stream(request, signal);
  const chunks: string[] = [];
  try {
    for await (const c of stream.chunks) chunks.push(c);
  } catch (error) {
    return { chunks, error };
  }
  return { chunks, usage: await stream.usage() };
}

describe.each(PROVIDERS)('%s', (name) => {
  it('streams the tokens in order and reports usage', async () => {
    const tokens = tokensOf('Apple rose, Google held, Tesla swung widely.');
    fake.script('executor', { kind: 'stream', tokens, usage: { input: 42, output: 7 } });
    const result = await collect(provider(name), executorRequest());
    expect(result.error).toBeUndefined();
    expect(result.chunks).toEqual(tokens);
    expect(result.usage).toEqual({ inputTokens: 42, outputTokens: 7 });
    const [req] = fake.requests;
    expect(req.wire).toBe(name === 'anthropic' ? 'anthropic' : 'openai');
    expect(req.body.stream).toBe(true);
    expect(req.agent).toBe('executor');
    if (name === 'anthropic') {
      expect(req.headers['x-api-key']).toBe('sk-test');
    } else {
      expect(req.headers.authorization).toBe('Bearer sk-test');
    }
  });

  it("sends the planner's JSON schema as structured output", async () => {
    const result = await collect(provider(name), plannerRequest());
    expect(result.error).toBeUndefined();
    expect(JSON.parse(result.chunks.join('')).subtasks).toHaveLength(2);
    const { body } = fake.requests[0];
    const schema = name === 'anthropic' ? body.output_config.format.schema : body.response_format.json_schema.schema;
    if (name === 'anthropic') expect(body.output_config.format.type).toBe('json_schema');
    else expect(body.response_format.type).toBe('json_schema');
    expect(schema.properties.subtasks.type).toBe('array');
    expect(schema.required).toEqual(['subtasks']);
  });

  it('asks again without structured output when the server refuses it, and from then on for that model', async () => {
    const refusal =
      name === 'anthropic'
        ? 'output_config.format: structured outputs are not supported for this model'
        : "Invalid parameter: 'response_format' of type 'json_schema' is not supported by this server";
    fake.script('planner', { kind: 'error', status: 400, message: refusal });
    const warnings: string[] = [];
    const p = provider(name, { warn: (message) => warnings.push(message) });
    const first = await collect(p, plannerRequest());
    expect(first.error).toBeUndefined();
    expect(JSON.parse(first.chunks.join('')).subtasks).toHaveLength(2);
    const formatOf = (body: { output_config?: unknown; response_format?: unknown }): unknown =>
      name === 'anthropic' ? body.output_config : body.response_format;
    const [refused, plain] = fake.requests;
    expect(refused.status).toBe(400);
    expect(formatOf(refused.body)).toBeDefined();
    expect(plain.status).toBe(200);
    expect(formatOf(plain.body)).toBeUndefined();
    // The next JSON request to the same model goes without it straight away.
    const second = await collect(p, plannerRequest());
    expect(second.error).toBeUndefined();
    expect(fake.requests).toHaveLength(3);
    expect(formatOf(fake.requests[2].body)).toBeUndefined();
    // The operator is told once, naming the model.
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('refused structured output');
    expect(warnings[0]).toContain(name === 'anthropic' ? 'claude-sonnet-4-5' : 'gpt-4o-mini');
  });

  it('honours Retry-After on a 429, then succeeds', async () => {
    fake.script('executor', { kind: 'error', status: 429, headers: { 'retry-after': '1' } });
    const result = await collect(provider(name), executorRequest());
    expect(result.error).toBeUndefined();
    expect(result.chunks.length).toBeGreaterThan(0);
    const [limited, retried] = fake.requests;
    expect(limited.status).toBe(429);
    const waited = retried.receivedAt - limited.respondedAt!;
    // Retry-After: 1 means one second; the SDK's own first backoff would be two.
    expect(waited).toBeGreaterThanOrEqual(950);
    expect(waited).toBeLessThan(1_900);
  });

  it('401 fails at once with MODEL_AUTH naming the key variable, without retrying', async () => {
    fake.script('executor', { kind: 'error', status: 401 });
    const result = await collect(provider(name), executorRequest());
    expect(result.error).toBeInstanceOf(PermanentModelError);
    const error = result.error as PermanentModelError;
    expect(error.code).toBe('MODEL_AUTH');
    expect(error.message).toContain('LLM_API_KEY');
    expect(error.message).toContain('401');
    expect(fake.requests).toHaveLength(1);
  });

  it('a stream cut mid-way is a ModelStreamCutError', async () => {
    fake.script('executor', { kind: 'cut', tokens: tokensOf('one two three') });
    const result = await collect(provider(name), executorRequest());
    expect(result.chunks.join('')).toBe('one two three');
    expect(result.error).toBeInstanceOf(ModelStreamCutError);
  });

  it("a stream that just stops, without the format's finish, is a ModelStreamCutError", async () => {
    fake.script('executor', { kind: 'cut', tokens: tokensOf('one two three'), clean: true });
    const result = await collect(provider(name), executorRequest());
    expect(result.chunks.join('')).toBe('one two three');
    expect(result.error).toBeInstanceOf(ModelStreamCutError);
  });

  it('abort cancels the HTTP request, which the server sees', async () => {
    fake.script('executor', { kind: 'stream', tokens: tokensOf('a b c d e f g h i j k l m n o p'), tokenDelayMs: 150 });
    const controller = new AbortController();
    const p = provider(name);
    const stream = p.stream(executorRequest(), controller.signal);
    const seen: string[] = [];
    let error: unknown;
    try {
      for await (const c of stream.chunks) {
        seen.push(c);
        if (seen.length === 2) controller.abort(new Error('cancelled'));
      }
    } catch (err) {
      error = err;
    }
    expect((error as Error).message).toBe('cancelled');
    const req = await fake.waitFor((r) => r.closedAt !== undefined, 5_000);
    expect(req.aborted).toBe(true);
    expect(req.completed).toBe(false);
  });
});

describe('retries and failures (openai)', () => {
  it('retries a 500 twice with exponential backoff, then succeeds', async () => {
    fake.script('executor', { kind: 'error', status: 500 }, { kind: 'error', status: 500 });
    const result = await collect(provider('openai'), executorRequest());
    expect(result.error).toBeUndefined();
    expect(fake.requests.map((r) => r.status)).toEqual([500, 500, 200]);
    const gap = (i: number): number => fake.requests[i].receivedAt - fake.requests[i - 1].respondedAt!;
    expect(gap(1)).toBeGreaterThanOrEqual(1_900); // 2 s
    expect(gap(2)).toBeGreaterThanOrEqual(3_900); // then 4 s
  });

  it('retries used up: ModelUnavailableError', async () => {
    for (let i = 0; i < 3; i++)
      fake.script('executor', { kind: 'error', status: 503, headers: { 'retry-after': '0' } });
    const result = await collect(provider('openai'), executorRequest());
    expect(result.error).toBeInstanceOf(ModelUnavailableError);
    expect((result.error as Error).message).toContain('503');
    expect(fake.requests).toHaveLength(3);
  });

  it('another 4xx is permanent: MODEL_REJECTED naming LLM_MODEL', async () => {
    fake.script('executor', { kind: 'error', status: 404, message: 'The model `nope` does not exist' });
    const result = await collect(provider('openai'), executorRequest());
    expect(result.error).toBeInstanceOf(PermanentModelError);
    expect((result.error as PermanentModelError).code).toBe('MODEL_REJECTED');
    expect((result.error as Error).message).toContain('LLM_MODEL');
    expect((result.error as Error).message).toContain('does not exist');
  });

  it('a 400 about anything but the response format stays MODEL_REJECTED, asked once', async () => {
    fake.script('planner', { kind: 'error', status: 400, message: "'messages' must contain the word 'json'" });
    const result = await collect(provider('openai-compatible'), plannerRequest());
    expect((result.error as PermanentModelError).code).toBe('MODEL_REJECTED');
    expect((result.error as Error).message).toContain("must contain the word 'json'");
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0].body.response_format.type).toBe('json_schema');
  });

  it('nothing listening: ModelUnavailableError naming LLM_BASE_URL', async () => {
    const port = await getClosedPort();
    const result = await collect(
      provider('openai-compatible', { maxRetries: 0, baseUrl: `http://127.0.0.1:${port}/v1` }),
      executorRequest(),
    );
    expect(result.error).toBeInstanceOf(ModelUnavailableError);
    expect((result.error as Error).message).toContain('LLM_BASE_URL');
  });

  it('a timeout aborts the call with a TimeoutError', async () => {
    fake.script('executor', { kind: 'stream', tokens: tokensOf('a b c d e f g h'), tokenDelayMs: 300 });
    const result = await collect(provider('openai'), executorRequest(), AbortSignal.timeout(500));
    expect((result.error as Error).name).toBe('TimeoutError');
    const req = await fake.waitFor((r) => r.closedAt !== undefined, 5_000);
    expect(req.aborted).toBe(true);
  });
});
