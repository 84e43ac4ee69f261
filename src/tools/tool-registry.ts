import { BUILT_IN_TOOLS, fetchOriginsOf, toolNamesOf, type AppConfig, type BuiltInToolName } from '../config/config';
import { askUser } from './ask-user';
import { calculator } from './calculator';
import { FetchPolicy } from './fetch/fetch-policy';
import { createHttpFetch } from './fetch/http-fetch';
import { McpServers } from './mcp/mcp-servers';
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
  ask_user: () => askUser,
};

/** Whether a built-in's settings are present, so that it is on by default. */
const CONFIGURED: Record<BuiltInToolName, (config: AppConfig) => boolean> = {
  calculator: () => true,
  run_js: () => true,
  http_fetch: (config) => fetchOriginsOf(config.TOOLS_FETCH_ALLOW).length > 0,
  web_search: (config) => Boolean(config.SEARXNG_URL || config.BRAVE_API_KEY),
  ask_user: () => true,
};

/** What every tool call of a worker is held to (the config's caps). */
export interface ToolLimits {
  /** Rounds of tool calls one step may make before it must answer. */
  maxSteps: number;
  maxOutputChars: number;
  timeoutMs: number;
}

/**
 * The tools a worker's executors are offered (the built-ins TOOLS enables, then the tools of
 * the MCP_SERVERS servers), and the caps their calls run under.
 */
export class ToolRegistry {
  constructor(
    private readonly builtIns: ToolDefinition[],
    readonly limits: ToolLimits,
    private readonly mcp?: McpServers,
  ) {}

  /** The tools TOOLS enables (default: every built-in whose settings are present), and MCP_SERVERS's. */
  static fromConfig(config: AppConfig, warn: (message: string) => void = () => undefined): ToolRegistry {
    const names =
      config.TOOLS === undefined
        ? BUILT_IN_TOOLS.filter((name) => CONFIGURED[name](config))
        : toolNamesOf(config.TOOLS);
    const mcp =
      config.mcpServers.length > 0
        ? new McpServers(
            config.mcpServers,
            {
              connectTimeoutMs: config.MCP_CONNECT_TIMEOUT_MS,
              maxMessageBytes: config.MCP_MAX_MESSAGE_BYTES,
              retryAfterMs: MCP_RETRY_AFTER_MS,
            },
            warn,
          )
        : undefined;
    return new ToolRegistry(
      names.map((name) => BUILT_INS[name as BuiltInToolName](config)),
      {
        maxSteps: config.MAX_TOOL_STEPS,
        maxOutputChars: config.MAX_TOOL_OUTPUT_CHARS,
        timeoutMs: config.TOOL_TIMEOUT_MS,
      },
      mcp,
    );
  }

  /** Whether any tool may be offered at all. */
  get enabled(): boolean {
    return this.limits.maxSteps > 0 && (this.builtIns.length > 0 || (this.mcp?.size ?? 0) > 0);
  }

  /**
   * The tools one step is offered, in a stable order: the built-ins, then each MCP server's
   * (started on first use; one that cannot be reached offers its tools as last listed).
   */
  async offered(): Promise<ToolDefinition[]> {
    if (!this.enabled) return [];
    return this.mcp ? [...this.builtIns, ...(await this.mcp.tools())] : [...this.builtIns];
  }

  /** Ends the MCP clients and their servers' processes (the worker is stopping). */
  async close(): Promise<void> {
    await this.mcp?.close();
  }
}

/** After an MCP server could not be reached, how long before its tools are listed again. */
const MCP_RETRY_AFTER_MS = 15_000;
