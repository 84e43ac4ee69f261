import type { AgentName } from '../contract';
import type { ModelUsageRecord } from '../ops/cluster-metrics';
import type { ModelProvider, ModelRequest, ModelStream } from './model-provider';
import { costOf, PriceTable } from '../config/prices';

/** Where finished calls' usage goes (Redis in the deployment; a list in tests). */
export type UsageSink = (record: ModelUsageRecord) => void;

/** A usage sink that may hold records back, and hands them on when flushed (at shutdown). */
export interface UsageMeter {
  add: UsageSink;
  flush(): Promise<void>;
}

/**
 * Counts every finished model call's tokens (any agent, including the Clarifier and a
 * planner's repair) by provider, model and agent, and its cost where LLM_PRICES prices the
 * model. Calls that fail or are cancelled have no usage to count.
 */
export class MeteredProvider implements ModelProvider {
  readonly name: string;

  constructor(
    private readonly inner: ModelProvider,
    private readonly sink: UsageSink,
    private readonly prices: PriceTable = {},
    private readonly flushUsage: () => Promise<void> = () => Promise.resolve(),
  ) {
    this.name = inner.name;
  }

  async close(): Promise<void> {
    await this.flushUsage();
  }

  modelFor(agent: AgentName): string {
    return this.inner.modelFor?.(agent) ?? this.inner.name;
  }

  stream(request: ModelRequest, signal: AbortSignal): ModelStream {
    const stream = this.inner.stream(request, signal);
    const record = async (): Promise<void> => {
      const usage = await stream.usage();
      const model = this.modelFor(request.agent);
      this.sink({
        provider: this.name,
        model,
        agent: request.agent,
        inputTokens: usage.inputTokens,
        outputTokens: usage.outputTokens,
        cost: costOf(this.prices, model, usage),
      });
    };
    async function* chunks(): AsyncGenerator<string> {
      yield* stream.chunks;
      await record();
    }
    return { chunks: chunks(), usage: () => stream.usage() };
  }
}
