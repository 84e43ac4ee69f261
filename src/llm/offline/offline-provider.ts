import type { AgentName } from '../../contract';
import { AiSdkProvider } from '../ai-sdk-provider';

const OFFLINE_MODELS: Record<AgentName, string> = {
  planner: 'offline',
  executor: 'offline',
  aggregator: 'offline',
  clarifier: 'offline',
};

/**
 * The built-in provider: the offline language model (deterministic, no network) in the same
 * AI SDK loop as every real provider, tools included. Its words are paused by
 * `tokenDelayMs`, like a real model's tokens; the Clarifier's are not.
 */
export function createOfflineProvider(tokenDelayMs: number): AiSdkProvider {
  return new AiSdkProvider({
    provider: 'offline',
    models: OFFLINE_MODELS,
    maxRetries: 0,
    keyVariable: '(none: the offline model needs no key)',
    offlineTokenDelayMs: tokenDelayMs,
  });
}
