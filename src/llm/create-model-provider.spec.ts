import { loadConfig } from '../config/config';
import { createModelProvider, modelsOf } from './create-model-provider';

const base = { JWT_SECRET: 'a-secret-of-sixteen-chars-or-more' };
const noUsage = { add: () => undefined, flush: () => Promise.resolve() };

describe('createModelProvider', () => {
  it('offline stays the default', () => {
    const provider = createModelProvider(loadConfig(base), noUsage);
    expect(provider.name).toBe('offline');
  });

  it.each([
    ['openai', { LLM_API_KEY: 'sk-test' }, 'gpt-4o-mini'],
    ['anthropic', { LLM_API_KEY: 'sk-test' }, 'claude-sonnet-4-5'],
    ['openai-compatible', { LLM_BASE_URL: 'http://127.0.0.1:11434/v1', LLM_MODEL: 'llama3.1' }, 'llama3.1'],
  ])('%s is built with its model', (name, env, model) => {
    const provider = createModelProvider(loadConfig({ ...base, LLM_PROVIDER: name, ...env }), noUsage);
    expect(provider.name).toBe(name);
    expect(provider.modelFor?.('executor')).toBe(model);
  });

  it('per-agent overrides win over LLM_MODEL', () => {
    const config = loadConfig({
      ...base,
      LLM_PROVIDER: 'openai',
      LLM_API_KEY: 'sk-test',
      LLM_MODEL: 'gpt-4.1',
      LLM_MODEL_CLARIFIER: 'gpt-4.1-nano',
    });
    expect(modelsOf(config, 'openai')).toEqual({
      planner: 'gpt-4.1',
      executor: 'gpt-4.1',
      aggregator: 'gpt-4.1',
      clarifier: 'gpt-4.1-nano',
    });
  });
});
