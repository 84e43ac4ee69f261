/**
 * Test support: a local model API that speaks two wire formats exactly as the real services
 * do, so the real provider code (the AI SDK's packages) can be tested without a network:
 *
 * - OpenAI Chat Completions: `POST /v1/chat/completions` with `stream: true`, answered with
 *   server-sent events of `chat.completion.chunk` objects, a usage chunk when
 *   `stream_options.include_usage` is set, then `data: [DONE]`. Errors are
 *   `{"error": {message, type, param, code}}`.
 * - Anthropic Messages: `POST /v1/messages` with `stream: true`, answered with the event
 *   sequence message_start, content_block_start, ping, content_block_delta..., content_block_stop,
 *   message_delta, message_stop. Errors are `{"type": "error", "error": {type, message}}`.
 *
 * Each request is recorded (body, agent, arrival time, whether the client aborted it). Replies
 * are scripted per agent (recognised from the system prompt) and consumed in order; without a
 * script, a well-formed default answer is streamed. Only node built-ins (and ./timing) are imported.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sleep } from './timing';

export type Wire = 'openai' | 'anthropic';
export type FakeAgent = 'planner' | 'executor' | 'aggregator' | 'clarifier' | 'unknown';

export interface FakeUsage {
  input: number;
  output: number;
}

export type FakeReply =
  /** A streamed answer: each token is one SSE delta, `tokenDelayMs` apart. */
  | { kind: 'stream'; tokens: string[]; tokenDelayMs?: number; usage?: FakeUsage }
  /** An HTTP error with the wire format's error body (and e.g. a Retry-After header). */
  | { kind: 'error'; status: number; headers?: Record<string, string>; message?: string }
  /**
   * Streams `tokens`, then destroys the socket in the middle of the response; with `clean`,
   * ends the response properly but without the format's finish (no finish_reason, [DONE] or
   * message_stop), as a proxy that drops the upstream might.
   */
  | { kind: 'cut'; tokens: string[]; tokenDelayMs?: number; clean?: boolean }
  /**
   * The model asks for tool calls (after `tokens` of text, if any): OpenAI's `delta.tool_calls`
   * with the arguments streamed in pieces and finish_reason `tool_calls`, or Anthropic's
   * `tool_use` content blocks with `input_json_delta`s and stop_reason `tool_use`.
   * `arguments` is sent as it is (it may be invalid JSON).
   */
  | { kind: 'tool'; calls: FakeToolCall[]; tokens?: string[]; tokenDelayMs?: number; usage?: FakeUsage };

export interface FakeToolCall {
  /** The provider's call id (generated when not given). */
  id?: string;
  name: string;
  arguments: string;
}

export interface RecordedRequest {
  id: number;
  wire: Wire;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: any;
  agent: FakeAgent;
  /** Date.now() when the request's body had arrived. */
  receivedAt: number;
  /** Date.now() when the response (headers) went out. */
  respondedAt?: number;
  reply: FakeReply['kind'];
  status: number;
  /** The usage this reply reported (stream replies only). */
  usage?: FakeUsage;
  /** The streamed text (stream and cut replies). */
  text: string;
  /** The client closed the connection before the response was complete. */
  aborted: boolean;
  /** Date.now() when the connection closed. */
  closedAt?: number;
  /** The response was written to its end. */
  completed: boolean;
}

const DEFAULT_TOKEN_DELAY_MS = 2;

/** Splits text into word-sized tokens (whitespace kept), as a model streams it. */
export function tokensOf(text: string): string[] {
  return text.match(/\s*\S+\s*/g) ?? [text];
}

/** Splits text into fixed-size pieces (for JSON, which has few spaces). */
export function piecesOf(text: string, size = 12): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

/** A plan as the planner's JSON. */
export function planJson(titles: string[]): string {
  return JSON.stringify({ subtasks: titles.map((t) => ({ title: t, description: `Work out ${t.toLowerCase()}.` })) });
}

export class FakeLlmServer {
  readonly requests: RecordedRequest[] = [];
  private readonly scripts = new Map<FakeAgent, FakeReply[]>();
  private readonly sockets = new Set<import('node:net').Socket>();
  private nextId = 1;
  /** The plan a default planner answer streams. */
  defaultPlan = planJson(['Gather the facts', 'Compare the findings']);

  private constructor(
    private readonly server: http.Server,
    readonly port: number,
  ) {}

  static async start(): Promise<FakeLlmServer> {
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const fake = new FakeLlmServer(server, (server.address() as AddressInfo).port);
    server.on('request', (req, res) => void fake.handle(req, res));
    server.on('connection', (socket) => {
      fake.sockets.add(socket);
      socket.once('close', () => fake.sockets.delete(socket));
    });
    return fake;
  }

  /** `http://127.0.0.1:PORT/v1`: what LLM_BASE_URL points at. */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  /** Queues replies for the next requests of `agent`, consumed in order. */
  script(agent: FakeAgent, ...replies: FakeReply[]): void {
    const queue = this.scripts.get(agent) ?? [];
    queue.push(...replies);
    this.scripts.set(agent, queue);
  }

  /** Forgets scripts and recorded requests. */
  reset(): void {
    this.scripts.clear();
    this.requests.length = 0;
  }

  requestsOf(agent: FakeAgent): RecordedRequest[] {
    return this.requests.filter((r) => r.agent === agent);
  }

  /** Resolves with the first recorded request matching `pred` (polling), or rejects on timeout. */
  async waitFor(pred: (r: RecordedRequest) => boolean, timeoutMs = 15_000): Promise<RecordedRequest> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = this.requests.find(pred);
      if (found) return found;
      if (Date.now() > until) {
        throw new Error(
          `no matching model request within ${timeoutMs} ms; seen: ${JSON.stringify(
            this.requests.map((r) => ({ id: r.id, agent: r.agent, reply: r.reply, aborted: r.aborted })),
          )}`,
        );
      }
      await sleep(20);
    }
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const path = (req.url ?? '').split('?')[0];
    const wire: Wire | null = path.endsWith('/chat/completions')
      ? 'openai'
      : path.endsWith('/messages')
        ? 'anthropic'
        : null;
    if (req.method !== 'POST' || !wire) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found"}}');
      return;
    }
    let body: any;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"bad json"}}');
      return;
    }
    const agent = agentOf(wire, body);
    const reply = this.scripts.get(agent)?.shift() ?? this.defaultReply(agent, body);
    const rec: RecordedRequest = {
      id: this.nextId++,
      wire,
      path,
      headers: req.headers,
      body,
      agent,
      receivedAt: Date.now(),
      reply: reply.kind,
      status: reply.kind === 'error' ? reply.status : 200,
      text: '',
      aborted: false,
      completed: false,
    };
    this.requests.push(rec);
    res.on('close', () => {
      rec.closedAt = Date.now();
      if (!rec.completed && reply.kind !== 'cut') rec.aborted = true;
    });
    if (reply.kind === 'error') {
      rec.respondedAt = Date.now();
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      res.end(JSON.stringify(errorBody(wire, reply.status, reply.message)));
      rec.completed = true;
      return;
    }
    const tokens = reply.kind === 'tool' ? (reply.tokens ?? []) : reply.tokens;
    const usage =
      reply.kind === 'stream' || reply.kind === 'tool'
        ? (reply.usage ?? {
            input: Math.ceil(JSON.stringify(body.messages ?? '').length / 4),
            output: tokens.length + (reply.kind === 'tool' ? reply.calls.length : 0),
          })
        : undefined;
    rec.usage = usage;
    rec.respondedAt = Date.now();
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    const sse = wire === 'openai' ? new OpenAiSse(body) : new AnthropicSse(body, usage);
    const delay = reply.tokenDelayMs ?? DEFAULT_TOKEN_DELAY_MS;
    const write = (s: string): boolean => !res.destroyed && res.write(s);
    write(sse.start());
    for (const token of tokens) {
      if (res.destroyed) return;
      if (delay > 0) await sleep(delay);
      if (res.destroyed) return;
      write(sse.delta(token));
      rec.text += token;
    }
    if (reply.kind === 'cut') {
      await sleep(20);
      if (reply.clean) res.end();
      else res.socket?.destroy();
      return;
    }
    if (delay > 0) await sleep(delay);
    if (res.destroyed) return;
    if (reply.kind === 'tool') {
      const calls = reply.calls.map((c, i) => ({ ...c, id: c.id ?? `call_fake_${rec.id}_${i + 1}` }));
      write(sse.toolCalls(calls));
      write(sse.finish(usage!, 'tool'));
    } else write(sse.finish(usage!));
    rec.completed = true;
    res.end();
  }

  private defaultReply(agent: FakeAgent, body: any): FakeReply {
    switch (agent) {
      case 'planner':
        return { kind: 'stream', tokens: piecesOf(this.defaultPlan) };
      case 'executor': {
        const subtask = /Your subtask: ([^:\n]*)/.exec(userText(body))?.[1] ?? 'the subtask';
        return { kind: 'stream', tokens: tokensOf(`Finding for ${subtask}: the figures agree, with one exception.`) };
      }
      case 'aggregator':
        return { kind: 'stream', tokens: tokensOf('# Report\n\nThe team found two things.\n\n- One.\n- Two.\n') };
      case 'clarifier':
        return { kind: 'stream', tokens: tokensOf('The team is working on it.') };
      case 'unknown':
        return { kind: 'stream', tokens: tokensOf('Hello.') };
    }
  }
}

function systemText(wire: Wire, body: any): string {
  if (wire === 'anthropic') {
    if (typeof body.system === 'string') return body.system;
    if (Array.isArray(body.system)) return body.system.map((p: { text?: string }) => p.text ?? '').join('\n');
    return '';
  }
  const sys = (body.messages ?? []).find((m: { role: string }) => m.role === 'system' || m.role === 'developer');
  return typeof sys?.content === 'string' ? sys.content : '';
}

function userText(body: any): string {
  return (body.messages ?? [])
    .filter((m: { role: string }) => m.role === 'user')
    .map((m: { content: unknown }) =>
      typeof m.content === 'string'
        ? m.content
        : Array.isArray(m.content)
          ? m.content.map((p: { text?: string }) => p.text ?? '').join('')
          : '',
    )
    .join('\n');
}

function agentOf(wire: Wire, body: any): FakeAgent {
  const m = /You are (?:the |an )(Planner|Executor|Aggregator|Clarifier)\b/.exec(systemText(wire, body));
  return m ? (m[1].toLowerCase() as FakeAgent) : 'unknown';
}

function errorBody(wire: Wire, status: number, message?: string): unknown {
  const kind =
    status === 401
      ? ['authentication_error', 'invalid_api_key', 'Incorrect API key provided.']
      : status === 403
        ? ['permission_error', 'forbidden', 'Your key may not use this model.']
        : status === 429
          ? ['rate_limit_error', 'rate_limit_exceeded', 'Rate limit reached for requests.']
          : status >= 500
            ? ['api_error', 'server_error', 'The server had an error while processing your request.']
            : ['invalid_request_error', 'invalid_request', 'Invalid request.'];
  if (wire === 'anthropic') return { type: 'error', error: { type: kind[0], message: message ?? kind[2] } };
  return {
    error: {
      message: message ?? kind[2],
      type: status === 429 ? 'requests' : status >= 500 ? 'server_error' : 'invalid_request_error',
      param: null,
      code: kind[1],
    },
  };
}

interface SseWriter {
  start(): string;
  delta(text: string): string;
  /** The tool calls, after the text. */
  toolCalls(calls: Required<FakeToolCall>[]): string;
  /** The end; `tool`: the model stopped to have its tool calls run. */
  finish(usage: FakeUsage, stop?: 'tool'): string;
}

class OpenAiSse implements SseWriter {
  private readonly id = `chatcmpl-fake${Math.random().toString(36).slice(2, 10)}`;
  private readonly created = Math.floor(Date.now() / 1000);
  private readonly model: string;
  private readonly includeUsage: boolean;

  constructor(body: any) {
    this.model = String(body.model ?? 'fake');
    this.includeUsage = body.stream_options?.include_usage === true;
  }

  private chunk(choices: unknown[], extra: Record<string, unknown> = {}): string {
    const data = {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
      system_fingerprint: 'fp_fake',
      choices,
      ...extra,
    };
    return `data: ${JSON.stringify(data)}\n\n`;
  }

  start(): string {
    return this.chunk([
      { index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null },
    ]);
  }

  delta(text: string): string {
    return this.chunk([{ index: 0, delta: { content: text }, logprobs: null, finish_reason: null }]);
  }

  toolCalls(calls: Required<FakeToolCall>[]): string {
    return calls
      .map((call, index) => {
        // The name first, then the arguments in pieces, as OpenAI streams them.
        const head = this.chunk([
          {
            index: 0,
            delta: {
              tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }],
            },
            logprobs: null,
            finish_reason: null,
          },
        ]);
        const pieces = piecesOf(call.arguments, 8).map((piece) =>
          this.chunk([
            {
              index: 0,
              delta: { tool_calls: [{ index, function: { arguments: piece } }] },
              logprobs: null,
              finish_reason: null,
            },
          ]),
        );
        return head + pieces.join('');
      })
      .join('');
  }

  finish(usage: FakeUsage, stop?: 'tool'): string {
    let out = this.chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: stop ? 'tool_calls' : 'stop' }]);
    if (this.includeUsage) {
      out += this.chunk([], {
        usage: {
          prompt_tokens: usage.input,
          completion_tokens: usage.output,
          total_tokens: usage.input + usage.output,
          prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
          completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 },
        },
      });
    }
    return `${out}data: [DONE]\n\n`;
  }
}

class AnthropicSse implements SseWriter {
  private readonly id = `msg_fake${Math.random().toString(36).slice(2, 12)}`;
  private readonly model: string;

  constructor(
    body: any,
    private readonly usage: FakeUsage | undefined,
  ) {
    this.model = String(body.model ?? 'fake');
  }

  private event(name: string, data: unknown): string {
    return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
  }

  start(): string {
    return (
      this.event('message_start', {
        type: 'message_start',
        message: {
          id: this.id,
          type: 'message',
          role: 'assistant',
          model: this.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: {
            input_tokens: this.usage?.input ?? 10,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
            output_tokens: 1,
          },
        },
      }) +
      this.event('content_block_start', {
        type: 'content_block_start',
        index: 0,
        content_block: { type: 'text', text: '' },
      }) +
      this.event('ping', { type: 'ping' })
    );
  }

  delta(text: string): string {
    return this.event('content_block_delta', {
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'text_delta', text },
    });
  }

  private toolBlocks = 0;

  toolCalls(calls: Required<FakeToolCall>[]): string {
    this.toolBlocks = calls.length;
    // The text block (index 0) ends first; each call is a tool_use block after it.
    let out = this.event('content_block_stop', { type: 'content_block_stop', index: 0 });
    calls.forEach((call, i) => {
      const index = i + 1;
      out += this.event('content_block_start', {
        type: 'content_block_start',
        index,
        content_block: { type: 'tool_use', id: call.id, name: call.name, input: {} },
      });
      for (const piece of piecesOf(call.arguments, 8)) {
        out += this.event('content_block_delta', {
          type: 'content_block_delta',
          index,
          delta: { type: 'input_json_delta', partial_json: piece },
        });
      }
      out += this.event('content_block_stop', { type: 'content_block_stop', index });
    });
    return out;
  }

  finish(usage: FakeUsage, stop?: 'tool'): string {
    return (
      (this.toolBlocks > 0 ? '' : this.event('content_block_stop', { type: 'content_block_stop', index: 0 })) +
      this.event('message_delta', {
        type: 'message_delta',
        delta: { stop_reason: stop ? 'tool_use' : 'end_turn', stop_sequence: null },
        usage: { output_tokens: usage.output },
      }) +
      this.event('message_stop', { type: 'message_stop' })
    );
  }
}

/** A local port with nothing listening on it (bound, read, closed). */
export function getClosedPort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = http.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
