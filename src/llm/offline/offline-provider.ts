import type { LanguageModelV3Prompt, LanguageModelV3StreamPart } from '@ai-sdk/provider';
import type { AgentName } from '../../contract';
import { AiSdkProvider } from '../ai-sdk-provider';
import {
  ModelUnavailableError,
  type ModelProvider,
  type ModelRequest,
  type ModelStream,
  type ModelUsage,
} from '../model-provider';
import { offlineFaultOf } from './offline-fault';
import { OfflineLanguageModel } from './offline-language-model';

const OFFLINE_MODELS: Record<AgentName, string> = {
  planner: 'offline',
  executor: 'offline',
  aggregator: 'offline',
  clarifier: 'offline',
};

/**
 * The built-in provider: the offline language model (deterministic, no network). A call that
 * offers tools goes through the same AI SDK loop as every real provider (AiSdkProvider). A
 * call without tools has no loop to run: its stream is read from the model as it is, which
 * spares each call the loop's dozen web streams (about a millisecond of CPU, which at zero
 * delay would make the offline model, not MAWS, the slow part of a run). Its words are paused
 * by `tokenDelayMs`, like a real model's tokens; the Clarifier's are not.
 */
export class OfflineProvider implements ModelProvider {
  readonly name = 'offline';
  private readonly loop: AiSdkProvider;
  private readonly paused: OfflineLanguageModel;
  private readonly atOnce = new OfflineLanguageModel(0);

  constructor(tokenDelayMs: number) {
    this.paused = new OfflineLanguageModel(tokenDelayMs);
    this.loop = new AiSdkProvider({
      provider: 'offline',
      models: OFFLINE_MODELS,
      maxRetries: 0,
      keyVariable: '(none: the offline model needs no key)',
      languageModelOf: (agent) => this.modelOf(agent),
    });
  }

  /** The Clarifier answers at once: its pause would only slow chat, not make runs watchable. */
  private modelOf(agent: AgentName): OfflineLanguageModel {
    return agent === 'clarifier' ? this.atOnce : this.paused;
  }

  modelFor(): string {
    return 'offline';
  }

  stream(request: ModelRequest, signal: AbortSignal): ModelStream {
    const fault = request.agent === 'executor' ? offlineFaultOf(request.facts) : undefined;
    if (fault !== undefined) return failing(fault);
    if (request.tools && request.tools.offered.length > 0) return this.loop.stream(request, signal);
    const model = this.modelOf(request.agent);
    let usage: ModelUsage = { inputTokens: 0, outputTokens: 0 };
    async function* chunks(): AsyncGenerator<string> {
      const { stream } = await model.doStream({
        prompt: promptOf(request),
        abortSignal: signal,
        providerOptions: { offline: { agent: request.agent, facts: request.facts } as never },
      });
      for await (const part of stream as AsyncIterable<LanguageModelV3StreamPart>) {
        if (part.type === 'text-delta') yield part.delta;
        else if (part.type === 'finish') {
          usage = { inputTokens: part.usage.inputTokens.total ?? 0, outputTokens: part.usage.outputTokens.total ?? 0 };
        } else if (part.type === 'error') throw part.error;
      }
    }
    return { chunks: chunks(), usage: () => Promise.resolve(usage) };
  }
}

/** A step the fault switch fails: no text, the provider unavailable. */
function failing(words: string): ModelStream {
  const error = new ModelUnavailableError(
    `the offline model's fault switch [offline-fail: ${words}] failed this step (as a provider that stays unavailable)`,
  );
  // eslint-disable-next-line require-yield
  async function* chunks(): AsyncGenerator<string> {
    await Promise.resolve();
    throw error;
  }
  return { chunks: chunks(), usage: () => Promise.resolve({ inputTokens: 0, outputTokens: 0 }) };
}

/** The request's messages as the model's prompt. */
function promptOf(request: ModelRequest): LanguageModelV3Prompt {
  return request.messages.map((m) =>
    m.role === 'system'
      ? { role: 'system', content: m.content }
      : { role: m.role, content: [{ type: 'text', text: m.content }] },
  );
}

/** The built-in provider with its words `tokenDelayMs` apart. */
export function createOfflineProvider(tokenDelayMs: number): OfflineProvider {
  return new OfflineProvider(tokenDelayMs);
}
