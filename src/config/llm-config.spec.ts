/** The LLM variables: what a real provider needs is checked at start, naming the variable. */
import { configOf, configProblems } from '../../test/support/config-problems';

describe('LLM configuration', () => {
  it('offline needs nothing; defaults are kept', () => {
    const config = configOf({});
    expect(config.LLM_PROVIDER).toBe('offline');
    expect(config.LLM_MAX_RETRIES).toBe(2);
    expect(config.LLM_PRICES).toBeUndefined();
  });

  it.each([
    ['openai', 'OPENAI_API_KEY'],
    ['anthropic', 'ANTHROPIC_API_KEY'],
  ])('%s without a key names LLM_API_KEY and %s', (provider, own) => {
    const message = configProblems({ LLM_PROVIDER: provider });
    expect(message).toContain('LLM_API_KEY');
    expect(message).toContain(own);
  });

  it("honours the provider's own key variable", () => {
    expect(configOf({ LLM_PROVIDER: 'openai', OPENAI_API_KEY: 'sk-1' }).LLM_API_KEY).toBe('sk-1');
    expect(configOf({ LLM_PROVIDER: 'anthropic', ANTHROPIC_API_KEY: 'sk-2' }).LLM_API_KEY).toBe('sk-2');
    expect(configOf({ LLM_PROVIDER: 'anthropic', ANTHROPIC_API_KEY: 'sk-2', LLM_API_KEY: 'sk-3' }).LLM_API_KEY).toBe(
      'sk-3',
    );
  });

  it('openai-compatible requires LLM_BASE_URL and LLM_MODEL, and no key', () => {
    const message = configProblems({ LLM_PROVIDER: 'openai-compatible' });
    expect(message).toContain('LLM_BASE_URL is required');
    expect(message).toContain('LLM_MODEL is required');
    const config = configOf({
      LLM_PROVIDER: 'openai-compatible',
      LLM_BASE_URL: 'http://127.0.0.1:11434/v1',
      LLM_MODEL: 'llama3.1',
    });
    expect(config.LLM_API_KEY).toBeUndefined();
  });

  it('reads the per-agent model overrides', () => {
    const config = configOf({
      LLM_PROVIDER: 'openai-compatible',
      LLM_BASE_URL: 'http://127.0.0.1:11434/v1',
      LLM_MODEL_PLANNER: 'p',
      LLM_MODEL_EXECUTOR: 'e',
      LLM_MODEL_AGGREGATOR: 'a',
      LLM_MODEL_CLARIFIER: 'c',
    });
    expect([
      config.LLM_MODEL_PLANNER,
      config.LLM_MODEL_EXECUTOR,
      config.LLM_MODEL_AGGREGATOR,
      config.LLM_MODEL_CLARIFIER,
    ]).toEqual(['p', 'e', 'a', 'c']);
  });

  it.each([
    ['LLM_MAX_RETRIES', 'many'],
    ['LLM_MAX_RETRIES', '-1'],
    ['LLM_PRICES', 'cheap'],
    ['LLM_PRICES', '{"m": {"input": "1"}}'],
    ['LLM_BASE_URL', 'localhost:11434'],
  ])('%s=%s is refused, naming it', (name, value) => {
    expect(configProblems({ [name]: value })).toContain(name);
  });

  it('accepts a valid price table', () => {
    expect(configOf({ LLM_PRICES: '{"gpt-4o-mini": {"input": 0.15, "output": 0.6}}' }).LLM_PRICES).toBeDefined();
  });
});
