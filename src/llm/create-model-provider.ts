import type Redis from 'ioredis';
import { AppConfig } from '../config/config';
import type { AgentName } from '../events/event-types';
import { openRedis } from '../jobs/redis-connection';
import { recordModelUsage } from '../ops/cluster-metrics';
import { AiSdkProvider, RealProviderName } from './ai-sdk-provider';
import { UsageBatcher } from '../ops/usage-batcher';
import { MeteredProvider } from './metered-provider';
import type { ModelProvider } from './model-provider';
import { OfflineProvider } from './offline/offline-provider';
import { parseLlmPrices } from './prices';

/** The model a provider uses when LLM_MODEL is not set (openai-compatible has none: config asks for one). */
export const DEFAULT_MODELS: Record<RealProviderName, string> = {
  openai: 'gpt-4o-mini',
  anthropic: 'claude-sonnet-4-5',
  'openai-compatible': '',
};

/**
 * The provider LLM_PROVIDER names, counting its tokens into the deployment's metrics. `warn`
 * gets what an operator should know of (a server that refuses structured output).
 */
export function createModelProvider(config: AppConfig, warn?: (message: string) => void): ModelProvider {
  const usage = redisUsageBatcher(config.REDIS_URL);
  return new MeteredProvider(baseProvider(config, warn), usage.add, parseLlmPrices(config.LLM_PRICES), () =>
    usage.flush(),
  );
}

/** How long usage counts wait to be written together (see UsageBatcher). */
const USAGE_FLUSH_MS = 250;

function baseProvider(config: AppConfig, warn?: (message: string) => void): ModelProvider {
  switch (config.LLM_PROVIDER) {
    case 'offline':
      return new OfflineProvider(config.OFFLINE_TOKEN_DELAY_MS);
    case 'openai':
    case 'anthropic':
    case 'openai-compatible':
      return new AiSdkProvider({
        provider: config.LLM_PROVIDER,
        models: modelsOf(config, config.LLM_PROVIDER),
        baseUrl: config.LLM_BASE_URL,
        apiKey: config.LLM_API_KEY,
        maxRetries: config.LLM_MAX_RETRIES,
        keyVariable: keyVariableOf(config.LLM_PROVIDER),
        warn,
      });
  }
}

/** Each agent's model: its LLM_MODEL_<AGENT> override, else LLM_MODEL, else the provider's default. */
export function modelsOf(config: AppConfig, provider: RealProviderName): Record<AgentName, string> {
  const base = config.LLM_MODEL ?? DEFAULT_MODELS[provider];
  return {
    planner: config.LLM_MODEL_PLANNER ?? base,
    executor: config.LLM_MODEL_EXECUTOR ?? base,
    aggregator: config.LLM_MODEL_AGGREGATOR ?? base,
    clarifier: config.LLM_MODEL_CLARIFIER ?? base,
  };
}

function keyVariableOf(provider: RealProviderName): string {
  switch (provider) {
    case 'openai':
      return 'LLM_API_KEY (or OPENAI_API_KEY)';
    case 'anthropic':
      return 'LLM_API_KEY (or ANTHROPIC_API_KEY)';
    case 'openai-compatible':
      return 'LLM_API_KEY';
  }
}

/**
 * Usage goes to Redis on a connection of its own, opened at the first write: the gateway
 * builds a provider too but never calls it, so it never connects. Counting is best-effort
 * and never holds up or fails a run; /metrics shows a call's tokens within USAGE_FLUSH_MS.
 */
function redisUsageBatcher(redisUrl: string): UsageBatcher {
  let redis: Redis | undefined;
  return new UsageBatcher(async (records) => {
    redis ??= openRedis(redisUrl, 'metrics', { lazyConnect: true, maxRetriesPerRequest: 1 });
    await recordModelUsage(redis, records);
  }, USAGE_FLUSH_MS);
}
