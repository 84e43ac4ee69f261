import { BUILT_IN_TOOLS, fetchOriginsOf, toolNamesOf, type AppConfig, type BuiltInToolName } from '../config/config';
import { calculator } from './calculator';
import { FetchPolicy } from './fetch/fetch-policy';
import { createHttpFetch } from './fetch/http-fetch';
import { createRunJs } from './run-js';
import { createWebSearch } from './search/web-search';
import type { ToolDefinition } from './tool';

/** Each built-in tool this build has, by name, as the config sets it up. */
const BUILT_INS: Record<BuiltInToolName, (config: AppConfig) => ToolDefinition> = {
  calculator: () => calculator,
  run_js: (config) =>
    createRunJs({ timeoutMs: config.RUN_JS_TIMEOUT_MS, memoryBytes: config.RUN_JS_MEMORY_MB * 1024 * 1024 }),
  http_fetch: (config) =>
    createHttpFetch({
      policy: new FetchPolicy(fetchOriginsOf(config.TOOLS_FETCH_ALLOW)),
      maxBytes: config.TOOLS_FETCH_MAX_BYTES,
      timeoutMs: config.TOOLS_FETCH_TIMEOUT_MS,
    }),
  // SearXNG when both are set: the operator's own instance first.
  web_search: (config) =>
    createWebSearch(
      config.SEARXNG_URL
        ? { kind: 'searxng', url: config.SEARXNG_URL }
        : { kind: 'brave', apiKey: config.BRAVE_API_KEY ?? '', url: config.BRAVE_API_URL },
      config.TOOLS_SEARCH_TIMEOUT_MS,
    ),
};

/** Whether a built-in's settings are present, so that it is on by default. */
const CONFIGURED: Record<BuiltInToolName, (config: AppConfig) => boolean> = {
  calculator: () => true,
  run_js: () => true,
  http_fetch: (config) => fetchOriginsOf(config.TOOLS_FETCH_ALLOW).length > 0,
  web_search: (config) => Boolean(config.SEARXNG_URL || config.BRAVE_API_KEY),
};

/** What every tool call of a worker is held to (the config's caps). */
export interface ToolLimits {
  /** Rounds of tool calls one step may make before it must answer. */
  maxSteps: number;
  maxOutputChars: number;
  timeoutMs: number;
}

/** The tools a worker's executors are offered, and the caps their calls run under. */
export class ToolRegistry {
  private readonly byName: Map<string, ToolDefinition>;

  constructor(
    tools: ToolDefinition[],
    readonly limits: ToolLimits,
  ) {
    this.byName = new Map(tools.map((t) => [t.name, t]));
  }

  /** The tools TOOLS enables (default: every built-in whose settings are present). */
  static fromConfig(config: AppConfig): ToolRegistry {
    const names =
      config.TOOLS === undefined
        ? BUILT_IN_TOOLS.filter((name) => CONFIGURED[name](config))
        : toolNamesOf(config.TOOLS);
    return new ToolRegistry(
      names.map((name) => BUILT_INS[name as BuiltInToolName](config)),
      {
        maxSteps: config.MAX_TOOL_STEPS,
        maxOutputChars: config.MAX_TOOL_OUTPUT_CHARS,
        timeoutMs: config.TOOL_TIMEOUT_MS,
      },
    );
  }

  /** The tools offered, in a stable order. */
  get offered(): ToolDefinition[] {
    return this.limits.maxSteps > 0 ? [...this.byName.values()] : [];
  }

  get(name: string): ToolDefinition | undefined {
    return this.byName.get(name);
  }
}
