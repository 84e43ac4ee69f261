import type { AppConfig } from '../config/config';
import type { AgentName } from '../contract';
import { AiSdkProvider, RealProviderName } from './ai-sdk-provider';
import { MeteredProvider, type UsageMeter } from './metered-provider';
import type { ModelProvider } from './model-provider';
import { createOfflineProvider } from './offline/offline-provider';
import { parseLlmPrices } from '../config/prices';

/** The model a provider uses when LLM_MODEL is not set (openai-compatible has none: config asks for one). */
export const DEFAULT_MODELS: Record<RealProviderName, string> = {
  openai: 'gpt-4o-mini',
  anthropic: 'claude-sonnet-4-5',
  'openai-compatible': '',
};

/**
 * The provider LLM_PROVIDER names, counting every call's tokens into `usage` (the
 * deployment's metrics; the caller decides where they go). `warn` gets what an operator
 * should know of (a server that refuses structured output).
 */
export function createModelProvider(
  config: AppConfig,
  usage: UsageMeter,
  warn?: (message: string) => void,
): ModelProvider {
  return new MeteredProvider(baseProvider(config, warn), usage.add, parseLlmPrices(config.LLM_PRICES), () =>
    usage.flush(),
  );
}

function baseProvider(config: AppConfig, warn?: (message: string) => void): ModelProvider {
  switch (config.LLM_PROVIDER) {
    case 'offline':
      return createOfflineProvider(config.OFFLINE_TOKEN_DELAY_MS);
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
