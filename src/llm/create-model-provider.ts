import { AppConfig, ConfigError } from '../config/config';
import type { ModelProvider } from './model-provider';
import { OfflineProvider } from './offline/offline-provider';

/** The provider LLM_PROVIDER names. */
export function createModelProvider(config: AppConfig): ModelProvider {
  switch (config.LLM_PROVIDER) {
    case 'offline':
      return new OfflineProvider(config.OFFLINE_TOKEN_DELAY_MS);
    case 'openai':
    case 'anthropic':
    case 'openai-compatible':
      throw new ConfigError(
        `LLM_PROVIDER=${config.LLM_PROVIDER}: this build has only the offline provider; real providers are not wired in yet`,
      );
  }
}
