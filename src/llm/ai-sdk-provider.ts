import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import {
  APICallError,
  InvalidArgumentError,
  InvalidPromptError,
  jsonSchema,
  LoadAPIKeyError,
  Output,
  RetryError,
  stepCountIs,
  streamText,
  tool,
  UnsupportedFunctionalityError,
} from 'ai';
import type { JSONSchema7, LanguageModel, ModelMessage, ToolSet } from 'ai';
import { z } from 'zod';
import type { AgentName } from '../contract';
import { ToolError, type ToolDefinition } from '../tools/tool';
import { traceContentRecorded, tracingActive } from '../tracing/tracing';
import type { ChatMessage, ModelProvider, ModelRequest, ModelStream, ModelTools, ModelUsage } from './model-provider';
import { ModelStreamCutError, ModelUnavailableError, PermanentModelError } from './model-provider';

export type RealProviderName = 'openai' | 'anthropic' | 'openai-compatible';

export interface AiSdkProviderSettings {
  /** `offline`: the built-in deterministic model, through the same loop as the real ones. */
  provider: RealProviderName | 'offline';
  /** The model each agent calls. */
  models: Record<AgentName, string>;
  /** API base URL; the provider's own when not given (required for openai-compatible). */
  baseUrl?: string;
  apiKey?: string;
  /** Retries of one call on 429, 5xx and lost connections, with backoff honouring Retry-After. */
  maxRetries: number;
  /** The variable(s) an operator sets the key with, named in MODEL_AUTH messages. */
  keyVariable: string;
  /** Told once per model when its server refuses structured output (and it goes without). */
  warn?: (message: string) => void;
  /** The model each agent's calls go to, where the provider brings its own (the offline model). */
  languageModelOf?: (agent: AgentName) => LanguageModel;
}

// The SDK prints provider warnings (an unsupported setting, say) to the console on every call;
// they say nothing an operator can act on per run, so they are off.
(globalThis as { AI_SDK_LOG_WARNINGS?: false }).AI_SDK_LOG_WARNINGS = false;

/**
 * A model behind the Vercel AI SDK: OpenAI (Chat Completions), Anthropic (Messages), any
 * server speaking the OpenAI Chat Completions API (Ollama, vLLM, llama.cpp, LM Studio), or the
 * built-in offline model. All go through one `streamText` loop, tools included: the model
 * asks for a call, the request's ModelTools runs it, the answer goes back to the model, for
 * at most `maxSteps` rounds; the last round offers no tools, so the model answers in text.
 *
 * The SDK streams the tokens, retries 429/5xx/connection failures with exponential backoff
 * (honouring `Retry-After` and `retry-after-ms`), and aborts the HTTP request when the signal
 * fires. This class turns what is left into MAWS's errors: 401/403 → MODEL_AUTH, other 4xx →
 * MODEL_REJECTED (both permanent), retries used up → ModelUnavailableError, a stream that
 * broke off mid-answer → ModelStreamCutError (the step runner restarts the step).
 */
export class AiSdkProvider implements ModelProvider {
  readonly name: RealProviderName | 'offline';
  private readonly modelOf: (agent: AgentName) => LanguageModel;
  /** Models whose server refused structured output: their JSON requests go without it. */
  private readonly schemaRefused = new Set<string>();

  constructor(private readonly settings: AiSdkProviderSettings) {
    this.name = settings.provider;
    this.modelOf = settings.languageModelOf ?? languageModels(settings);
  }

  modelFor(agent: AgentName): string {
    return this.settings.models[agent];
  }

  stream(request: ModelRequest, signal: AbortSignal): ModelStream {
    const modelId = this.modelFor(request.agent);
    const { system, messages } = splitSystem(request.messages);
    const schema = request.json && request.schema ? (request.schema as JSONSchema7) : undefined;
    const tools = request.tools && request.tools.offered.length > 0 ? request.tools : undefined;
    // Calls the loop ran through `tools.call`; any other tool-error part is a call it refused.
    const ran = new Set<string>();
    // Instructions the person gave during the step, taken in between its tool rounds.
    const steered: string[] = [];
    const toolSet = tools ? toolSetOf(tools, ran, signal) : undefined;
    const call = (structured: boolean) =>
      streamText({
        model: this.modelOf(request.agent),
        system,
        messages,
        maxRetries: this.settings.maxRetries,
        abortSignal: signal,
        // The SDK's own spans (the call, each model round, each tool call) when tracing is on;
        // prompts and output on them only with MAWS_TRACE_CONTENT=true.
        experimental_telemetry: {
          isEnabled: tracingActive(),
          recordInputs: traceContentRecorded(),
          recordOutputs: traceContentRecorded(),
          functionId: `maws.${request.agent}`,
        },
        ...(this.name === 'offline'
          ? { providerOptions: { offline: { agent: request.agent, facts: request.facts } as never } }
          : {}),
        ...(tools && toolSet
          ? {
              tools: toolSet,
              // maxSteps rounds of calls, then one more step in which no tool is offered.
              stopWhen: stepCountIs(tools.maxSteps + 1),
              prepareStep: async ({ stepNumber }: { stepNumber: number }) => {
                // The person's instructions given since the last round join the prompt (v2 "Steering").
                if (stepNumber > 0 && tools.betweenRounds) steered.push(...(await tools.betweenRounds()));
                return {
                  ...(stepNumber >= tools.maxSteps ? { activeTools: [] as never[] } : {}),
                  ...(steered.length > 0 ? this.steeredRound(request, system, steered) : {}),
                };
              },
            }
          : {}),
        // Structured output: OpenAI and compatible servers get `response_format: json_schema`,
        // Anthropic its JSON output format. The text still streams, and the caller validates it.
        ...(structured && schema ? { output: Output.object({ schema: jsonSchema(schema), name: request.agent }) } : {}),
        // Errors arrive as `error` parts of the stream and are classified below (a run fails
        // with their code); the SDK's default would print each one a second time.
        onError: () => undefined,
      });
    let usage: ModelUsage = { inputTokens: 0, outputTokens: 0 };
    let finished = false;
    const describe = (err: unknown): Error => this.classify(err, modelId);
    const schemaRefused = this.schemaRefused;
    const { provider, warn } = this.settings;
    async function* parts(structured: boolean): AsyncGenerator<string> {
      for await (const part of call(structured).fullStream) {
        // Text, the usage at the end, and what stops the stream; the other parts (steps,
        // reasoning, tools) carry nothing MAWS shows.
        if (part.type === 'text-delta') {
          if (part.text.length > 0) yield part.text;
        } else if (part.type === 'tool-error' && tools && !ran.has(part.toolCallId)) {
          await tools.refused(
            { modelCallId: part.toolCallId, tool: part.toolName, input: part.input },
            refusalOf(part.error, part.toolName, tools),
          );
        } else if (part.type === 'finish') {
          // The SDK finishes even a response that simply stopped; one that never said why
          // it stopped (no finish_reason / stop_reason) nor what it used was cut off.
          finished = part.rawFinishReason !== undefined || part.totalUsage.outputTokens !== undefined;
          usage = {
            inputTokens: part.totalUsage.inputTokens ?? 0,
            outputTokens: part.totalUsage.outputTokens ?? 0,
          };
        } else if (part.type === 'error') {
          throw part.error;
        } else if (part.type === 'abort') {
          throw reasonOf(signal);
        }
      }
    }
    async function* chunks(): AsyncGenerator<string> {
      let structured = schema !== undefined && !schemaRefused.has(modelId);
      let answered = false;
      for (;;) {
        try {
          for await (const text of parts(structured)) {
            answered = true;
            yield text;
          }
          break;
        } catch (err) {
          if (signal.aborted) throw reasonOf(signal);
          // A server that does not do structured output (an older llama.cpp or vLLM, some
          // gateways) refuses the request: ask again without it, and from then on for this
          // model. The caller validates the JSON in any case.
          if (structured && !answered && refusesStructuredOutput(err)) {
            if (!schemaRefused.has(modelId)) {
              schemaRefused.add(modelId);
              warn?.(
                `The ${provider} server refused structured output for ${modelId}; its JSON requests go without it from now on.`,
              );
            }
            structured = false;
            continue;
          }
          throw describe(err);
        }
      }
      if (signal.aborted) throw reasonOf(signal);
      if (!finished) throw new ModelStreamCutError(`The ${modelId} stream ended before the answer was finished.`);
    }
    return { chunks: chunks(), usage: () => Promise.resolve(usage) };
  }

  /**
   * A tool round after the person steered mid-step: the system prompt gains their
   * instructions (every later round keeps them), and the offline model's facts too.
   */
  private steeredRound(
    request: ModelRequest,
    system: string | undefined,
    steered: string[],
  ): { system: string; providerOptions?: Record<string, never> } {
    const said = `The person asked just now, while you work (follow it):\n${steered.map((t) => `- ${t}`).join('\n')}`;
    const facts = { ...request.facts, steers: [...(request.facts.steers ?? []), ...steered] };
    return {
      system: system ? `${system}\n\n${said}` : said,
      ...(this.name === 'offline'
        ? { providerOptions: { offline: { agent: request.agent, facts } } as unknown as Record<string, never> }
        : {}),
    };
  }

  /** Maps what the SDK threw to MAWS's model errors, with a message an operator can act on. */
  private classify(err: unknown, modelId: string): Error {
    const last = RetryError.isInstance(err) ? err.lastError : err;
    const { provider, keyVariable, maxRetries } = this.settings;
    if (LoadAPIKeyError.isInstance(last)) {
      return new PermanentModelError('MODEL_AUTH', `The ${provider} provider has no API key: set ${keyVariable}.`);
    }
    if (APICallError.isInstance(last)) {
      const status = last.statusCode;
      const said = serverMessage(last);
      if (status !== undefined && status >= 200 && status < 300) {
        // The answer had begun: the SDK reports a body that broke off with its 2xx status.
        return new ModelStreamCutError(
          `The ${modelId} stream broke off mid-answer (${describeCause(last).replace(/\.+$/, '')}).`,
        );
      }
      if (status === 401 || status === 403) {
        return new PermanentModelError(
          'MODEL_AUTH',
          `The ${provider} API refused the API key (HTTP ${status}${said}): set ${keyVariable} to a valid key` +
            (status === 403 ? ` that may use the model ${modelId}` : '') +
            '.',
        );
      }
      if (status === undefined) {
        // No answer at all: refused, reset, DNS.
        return new ModelUnavailableError(
          `Could not reach the ${provider} API at ${last.url} (${describeCause(last)}) in ${maxRetries + 1} tries: ` +
            'check LLM_BASE_URL and that the server is up.',
        );
      }
      if (!last.isRetryable) {
        return new PermanentModelError(
          'MODEL_REJECTED',
          `The ${provider} API rejected the request for model ${modelId} (HTTP ${status}${said}): check LLM_MODEL ` +
            "(or the agent's LLM_MODEL_* override) and LLM_BASE_URL.",
        );
      }
      return new ModelUnavailableError(
        `The ${provider} API stayed unavailable (HTTP ${status}${said}) in ${maxRetries + 1} tries (LLM_MAX_RETRIES=${maxRetries}).`,
      );
    }
    if (
      InvalidPromptError.isInstance(last) ||
      InvalidArgumentError.isInstance(last) ||
      UnsupportedFunctionalityError.isInstance(last)
    ) {
      return last;
    }
    const cause = describeCause(last).replace(/\.+$/, '');
    if (/fetch failed|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH/i.test(cause)) {
      return new ModelUnavailableError(
        `Could not reach the ${provider} API (${cause}): check LLM_BASE_URL and that the server is up.`,
      );
    }
    // Anything else broke the stream itself (a malformed chunk, a lost connection).
    return new ModelStreamCutError(`The ${modelId} stream broke off: ${cause}.`);
  }
}

/**
 * The request's tools as the AI SDK's: each call goes to `tools.call`, which announces, runs
 * and records it; a failed call throws, and the SDK hands the error back to the model. The
 * input schema is not checked here (no `validate`): the runner checks it, so that a call
 * with bad input is recorded and answered TOOL_INVALID_INPUT like any other.
 */
function toolSetOf(tools: ModelTools, ran: Set<string>, signal: AbortSignal): ToolSet {
  const set: ToolSet = {};
  for (const definition of tools.offered) {
    set[definition.name] = tool({
      description: definition.description,
      inputSchema: inputSchemaOf(definition),
      execute: (input: unknown, { toolCallId }) => {
        ran.add(toolCallId);
        return tools.call({ modelCallId: toolCallId, tool: definition.name, input }, signal);
      },
    });
  }
  return set;
}

/** Each tool's input schema for the model, made once: converting a zod schema costs more than a call. */
const inputSchemas = new WeakMap<ToolDefinition, ReturnType<typeof jsonSchema<unknown>>>();

function inputSchemaOf(definition: ToolDefinition): ReturnType<typeof jsonSchema<unknown>> {
  let schema = inputSchemas.get(definition);
  if (!schema) {
    schema = jsonSchema<unknown>(z.toJSONSchema(definition.input, { io: 'input' }) as JSONSchema7);
    inputSchemas.set(definition, schema);
  }
  return schema;
}

/** Why the loop refused a call before it ran: a tool not offered, or input that is not JSON. */
function refusalOf(error: unknown, toolName: string, tools: ModelTools): ToolError {
  if (!tools.offered.some((t) => t.name === toolName)) {
    return new ToolError('TOOL_DENIED', `no tool named ${JSON.stringify(toolName.slice(0, 100))} is offered here`);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ToolError('TOOL_INVALID_INPUT', `the input for ${toolName} is not valid JSON (${message.slice(0, 300)})`);
}

function languageModels(s: AiSdkProviderSettings): (agent: AgentName) => LanguageModel {
  switch (s.provider) {
    case 'offline':
      throw new Error('the offline provider brings its own model (languageModelOf)');
    case 'openai': {
      const openai = createOpenAI({ apiKey: s.apiKey, baseURL: s.baseUrl });
      // Chat Completions rather than the Responses API: the format every compatible server speaks.
      return (agent) => openai.chat(s.models[agent]);
    }
    case 'anthropic': {
      const anthropic = createAnthropic({ apiKey: s.apiKey, baseURL: s.baseUrl });
      return (agent) => anthropic.messages(s.models[agent]);
    }
    case 'openai-compatible': {
      if (!s.baseUrl) throw new Error('openai-compatible needs a base URL (LLM_BASE_URL)');
      const compatible = createOpenAICompatible({
        name: 'openai-compatible',
        baseURL: s.baseUrl,
        apiKey: s.apiKey,
        includeUsage: true,
        supportsStructuredOutputs: true,
      });
      return (agent) => compatible.chatModel(s.models[agent]);
    }
  }
}

/** The SDK takes the system prompt apart from the conversation. */
function splitSystem(messages: ChatMessage[]): { system?: string; messages: ModelMessage[] } {
  const system = messages
    .filter((m) => m.role === 'system')
    .map((m) => m.content)
    .join('\n\n');
  const rest: ModelMessage[] = messages
    .filter((m) => m.role !== 'system')
    .map((m) => (m.role === 'user' ? { role: 'user', content: m.content } : { role: 'assistant', content: m.content }));
  return { system: system || undefined, messages: rest };
}

/**
 * A 400 or 422 whose message is about the response format: the server (or the model) does not
 * do structured output, e.g. "response_format type json_schema is not supported".
 */
function refusesStructuredOutput(err: unknown): boolean {
  const last = RetryError.isInstance(err) ? err.lastError : err;
  if (!APICallError.isInstance(last) || (last.statusCode !== 400 && last.statusCode !== 422)) return false;
  return /response_format|json_schema|structured output|output_format|output_config/i.test(
    `${last.message} ${last.responseBody ?? ''}`,
  );
}

/** `: <the server's own message>` from an error body, when it has one. */
function serverMessage(err: APICallError): string {
  const body = err.responseBody ?? '';
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } | string; message?: unknown };
    const message =
      typeof parsed.error === 'object' && parsed.error !== null
        ? parsed.error.message
        : (parsed.error ?? parsed.message);
    if (typeof message === 'string' && message) return `: ${message.slice(0, 300)}`;
  } catch {
    /* not JSON */
  }
  return body ? `: ${body.slice(0, 200)}` : '';
}

/** Why the signal fired: its reason (a cancel, a TimeoutError) as the error to throw. */
function reasonOf(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  // A DOMException from another realm (jest) is not `instanceof Error` there, but is one.
  if (typeof reason === 'object' && reason !== null && 'name' in reason) return reason as Error;
  const e = new Error(typeof reason === 'string' ? reason : 'aborted');
  e.name = 'AbortError';
  return e;
}

function describeCause(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  // Errors from undici may come from another realm, so look for a message, not `instanceof`.
  for (let depth = 0; typeof e === 'object' && e !== null && 'message' in e && depth < 4; depth++) {
    const { message, cause } = e as { message: unknown; cause?: unknown };
    if (typeof message === 'string' && message && !parts.includes(message)) parts.push(message);
    e = cause;
  }
  return parts.join(': ') || String(err);
}
