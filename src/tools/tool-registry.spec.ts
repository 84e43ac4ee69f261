/** TOOLS and the tool caps: which tools executors are offered, checked at start naming the variable. */
import { ConfigError, loadConfig } from '../config/config';
import { ToolRegistry } from './tool-registry';

const base = { JWT_SECRET: 'a-secret-of-sixteen-chars-or-more' };
const offered = async (env: Record<string, string>): Promise<string[]> =>
  (await ToolRegistry.fromConfig(loadConfig({ ...base, ...env })).offered()).map((t) => t.name);

describe('ToolRegistry.fromConfig', () => {
  it('offers every built-in by default, the listed ones with TOOLS, none with TOOLS=none or MAX_TOOL_STEPS=0', async () => {
    expect(await offered({})).toEqual(['calculator', 'run_js', 'ask_user']);
    expect(await offered({ TOOLS: ' run_js ' })).toEqual(['run_js']);
    expect(await offered({ TOOLS: 'none' })).toEqual([]);
    expect(await offered({ MAX_TOOL_STEPS: '0' })).toEqual([]);
    // The tools that need settings are on by default once they have them.
    expect(await offered({ TOOLS_FETCH_ALLOW: 'https://example.com', SEARXNG_URL: 'http://127.0.0.1:8888' })).toEqual([
      'calculator',
      'run_js',
      'http_fetch',
      'web_search',
      'ask_user',
    ]);
    expect(await offered({ BRAVE_API_KEY: 'key' })).toEqual(['calculator', 'run_js', 'web_search', 'ask_user']);
  });

  it('a TOOLS name this build does not have stops start-up, naming TOOLS and the built-ins', () => {
    expect(() => loadConfig({ ...base, TOOLS: 'calculator,shell' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, TOOLS: 'calculator,shell' })).toThrow(
      /TOOLS names shell: the built-in tools are calculator, run_js, http_fetch, web_search, ask_user/,
    );
    expect(() => loadConfig({ ...base, TOOLS: 'web_search' })).toThrow(/web_search, which needs SEARXNG_URL/);
    expect(() => loadConfig({ ...base, TOOLS: 'http_fetch' })).toThrow(/http_fetch, which needs TOOLS_FETCH_ALLOW/);
    expect(() => loadConfig({ ...base, TOOLS_FETCH_ALLOW: 'https://example.com/path' })).toThrow(
      /TOOLS_FETCH_ALLOW: "https:\/\/example.com\/path" is not an origin/,
    );
  });

  it('takes its caps from the config', async () => {
    const registry = ToolRegistry.fromConfig(
      loadConfig({ ...base, MAX_TOOL_STEPS: '3', MAX_TOOL_OUTPUT_CHARS: '500', TOOL_TIMEOUT_MS: '2000' }),
    );
    expect(registry.limits).toEqual({ maxSteps: 3, maxOutputChars: 500, timeoutMs: 2000 });
    expect((await registry.offered()).find((t) => t.name === 'run_js')?.timeoutMs).toBe(5_000 + 2_000);
  });
});
