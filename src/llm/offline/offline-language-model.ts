import type {
  JSONObject,
  LanguageModelV3,
  LanguageModelV3CallOptions,
  LanguageModelV3Content,
  LanguageModelV3GenerateResult,
  LanguageModelV3Prompt,
  LanguageModelV3StreamPart,
  LanguageModelV3StreamResult,
  LanguageModelV3Usage,
} from '@ai-sdk/provider';
import { sleep } from '../../common/abort';
import type { AgentName } from '../../contract';
import type { AgentFacts } from '../model-provider';
import { offlineToolCalls } from './offline-tool-rule';
import { writeAnswer } from './offline-writer';

/** What the offline model reads instead of parsing its prompt: `providerOptions.offline`. */
export interface OfflineCall {
  agent: AgentName;
  facts: AgentFacts;
}

/**
 * At zero delay the text streams in pieces of this many words: nothing paces it, and each
 * stream part costs the AI SDK's loop tens of microseconds, which word by word would make
 * the offline model, not MAWS, the slow part of a zero-delay run.
 */
const PIECE_WORDS = 16;

/**
 * The built-in offline model as an AI SDK language model, so that it goes through the same
 * tool loop (`streamText` with `tools` and `stopWhen`) as every real provider. Deterministic,
 * no network: it streams its text word by word with a fixed pause and honours abort between
 * words. It calls tools by the rule in offline-tool-rule.ts, when the call offers the tool.
 */
export class OfflineLanguageModel implements LanguageModelV3 {
  readonly specificationVersion = 'v3';
  readonly provider = 'offline';
  readonly modelId = 'offline';
  readonly supportedUrls = {};

  constructor(private readonly tokenDelayMs: number) {}

  async doGenerate(options: LanguageModelV3CallOptions): Promise<LanguageModelV3GenerateResult> {
    const { parts, usage } = this.answer(options);
    const content: LanguageModelV3Content[] =
      parts.kind === 'text' ? [{ type: 'text', text: parts.text }] : [parts.call];
    return Promise.resolve({ content, finishReason: finish(parts.kind), usage, warnings: [] });
  }

  doStream(options: LanguageModelV3CallOptions): Promise<LanguageModelV3StreamResult> {
    const { parts, usage } = this.answer(options);
    const signal = options.abortSignal;
    const delay = this.tokenDelayMs;
    const stream = new ReadableStream<LanguageModelV3StreamPart>({
      async start(controller) {
        try {
          controller.enqueue({ type: 'stream-start', warnings: [] });
          if (parts.kind === 'tool-call') {
            controller.enqueue(parts.call);
          } else {
            controller.enqueue({ type: 'text-start', id: 't0' });
            for (const [i, piece] of piecesOf(parts.text, delay > 0 ? 1 : PIECE_WORDS).entries()) {
              if (delay > 0) await sleep(delay, signal);
              else if (signal?.aborted) throw signal.reason;
              // At zero delay a whole answer would be one run of microtasks; yielding between
              // pieces lets the process answer chat and sockets meanwhile, as a network model's would.
              else if (i > 0) await new Promise((resolve) => setImmediate(resolve));
              controller.enqueue({ type: 'text-delta', id: 't0', delta: piece });
            }
            controller.enqueue({ type: 'text-end', id: 't0' });
          }
          controller.enqueue({ type: 'finish', usage, finishReason: finish(parts.kind) });
          controller.close();
        } catch (err) {
          controller.error(err);
        }
      },
    });
    return Promise.resolve({ stream });
  }

  /** What this call answers: a tool call by the rule, or the text the offline writer writes. */
  private answer(options: LanguageModelV3CallOptions): {
    parts:
      | { kind: 'text'; text: string }
      | { kind: 'tool-call'; call: Extract<LanguageModelV3StreamPart, { type: 'tool-call' }> };
    usage: LanguageModelV3Usage;
  } {
    const { agent, facts } = offlineCallOf(options.providerOptions);
    const results = toolResultsIn(options.prompt);
    // The tools offered now, and those earlier rounds called (the last round offers none).
    const offered = new Set([...(options.tools ?? []).map((t) => t.name), ...results.map((r) => r.toolName)]);
    const calls = agent === 'executor' ? offlineToolCalls(facts, offered) : [];
    const inputTokens = Math.ceil(JSON.stringify(options.prompt).length / 4);
    // One call per round, until each call has its result (the results come back in order).
    const next = calls[results.length];
    if (next && (options.tools ?? []).some((t) => t.name === next.tool)) {
      const call = {
        type: 'tool-call' as const,
        toolCallId: `call_offline_${results.length + 1}`,
        toolName: next.tool,
        input: JSON.stringify(next.input),
      };
      return { parts: { kind: 'tool-call', call }, usage: usageOf(inputTokens, 1) };
    }
    let text = writeAnswer(agent, facts, lastUserText(options.prompt));
    const said = calls.flatMap((call, i) => {
      const result = results[i];
      return result && result.toolName === call.tool ? [call.said(result.value, result.failed)] : [];
    });
    if (said.length > 0) text = `${text.trimEnd()}\n\n${said.join('\n')}`;
    return { parts: { kind: 'text', text }, usage: usageOf(inputTokens, text.match(/\S+/g)?.length ?? 0) };
  }
}

/** `text` in pieces of `words` words each (whitespace kept with the word before it). */
function piecesOf(text: string, words: number): string[] {
  const tokens = text.match(/\s*\S+\s*/g) ?? [text];
  if (words === 1) return tokens;
  const pieces: string[] = [];
  for (let i = 0; i < tokens.length; i += words) pieces.push(tokens.slice(i, i + words).join(''));
  return pieces;
}

/** The agent and facts the caller passed in `providerOptions.offline` (see OfflineCall). */
function offlineCallOf(providerOptions: Record<string, JSONObject> | undefined): OfflineCall {
  const call = providerOptions?.offline as unknown as OfflineCall | undefined;
  if (!call?.agent || !call.facts) throw new Error('the offline model needs providerOptions.offline = {agent, facts}');
  return call;
}

/** The tool results already in the prompt (the earlier rounds of this step), as text. */
function toolResultsIn(prompt: LanguageModelV3Prompt): { toolName: string; value: string; failed: boolean }[] {
  const results: { toolName: string; value: string; failed: boolean }[] = [];
  for (const message of prompt) {
    if (message.role !== 'tool') continue;
    for (const part of message.content) {
      if (part.type !== 'tool-result') continue;
      const { output } = part;
      const value =
        output.type === 'text' || output.type === 'error-text'
          ? output.value
          : output.type === 'json' || output.type === 'error-json'
            ? JSON.stringify(output.value)
            : output.type;
      results.push({ toolName: part.toolName, value, failed: output.type.startsWith('error') });
    }
  }
  return results;
}

function lastUserText(prompt: LanguageModelV3Prompt): string {
  const user = prompt.filter((m) => m.role === 'user').pop();
  return user ? user.content.map((p) => (p.type === 'text' ? p.text : '')).join('') : '';
}

function finish(kind: 'text' | 'tool-call'): { unified: 'stop' | 'tool-calls'; raw: string } {
  return kind === 'tool-call' ? { unified: 'tool-calls', raw: 'tool_calls' } : { unified: 'stop', raw: 'stop' };
}

function usageOf(input: number, output: number): LanguageModelV3Usage {
  return {
    inputTokens: { total: input, noCache: input, cacheRead: 0, cacheWrite: 0 },
    outputTokens: { total: output, text: output, reasoning: 0 },
  };
}
