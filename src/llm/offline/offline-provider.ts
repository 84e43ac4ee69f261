import { sleep } from '../../common/abort';
import type { ModelProvider, ModelRequest, ModelStream, ModelUsage } from '../model-provider';
import { writeAnswer } from './offline-writer';

const YIELD_EVERY = 16;

/**
 * The built-in model: deterministic, no network. It streams its text word by word with a
 * fixed pause, like a real model's tokens, and honours abort between tokens.
 */
export class OfflineProvider implements ModelProvider {
  readonly name = 'offline';

  constructor(private readonly tokenDelayMs: number) {}

  stream(request: ModelRequest, signal: AbortSignal): ModelStream {
    const text = this.write(request);
    const tokens = text.match(/\s*\S+\s*/g) ?? [text];
    // The Clarifier answers at once: its delay would only slow chat, not make runs watchable.
    const delay = request.agent === 'clarifier' ? 0 : this.tokenDelayMs;
    const usage: ModelUsage = {
      inputTokens: Math.ceil(request.messages.reduce((n, m) => n + m.content.length, 0) / 4),
      outputTokens: tokens.length,
    };
    async function* chunks(): AsyncGenerator<string> {
      for (const [i, token] of tokens.entries()) {
        if (delay > 0) await sleep(delay, signal);
        else if (signal.aborted) throw new Error('aborted');
        // At zero delay a whole answer would be one run of microtasks; yielding now and
        // then lets the process answer chat and sockets meanwhile, as a network model's would.
        else if (i % YIELD_EVERY === YIELD_EVERY - 1) await new Promise((resolve) => setImmediate(resolve));
        yield token;
      }
    }
    return { chunks: chunks(), usage: () => Promise.resolve(usage) };
  }

  private write(request: ModelRequest): string {
    const question = request.messages.filter((m) => m.role === 'user').pop()?.content ?? '';
    return writeAnswer(request.agent, request.facts, question);
  }
}
