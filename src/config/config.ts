import 'reflect-metadata';
import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  MinLength,
  validateSync,
} from 'class-validator';
import { readMcpServersFile, type McpServerConfig } from './mcp-servers-file';
import { parseLlmPrices } from './prices';
import { redisTargetOf, type RedisTarget } from './redis-target';

/** The built-in tools (v2 "Tools") this build has. */
export const BUILT_IN_TOOLS = ['calculator', 'run_js', 'http_fetch', 'web_search', 'ask_user'] as const;
export type BuiltInToolName = (typeof BUILT_IN_TOOLS)[number];

export const LLM_PROVIDERS = ['offline', 'openai', 'anthropic', 'openai-compatible'] as const;
export type LlmProviderName = (typeof LLM_PROVIDERS)[number];

const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
const toBool = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(v)) return true;
  if (['false', '0', 'no', ''].includes(v)) return false;
  return value;
};

/** Every environment variable MAWS reads, with its default. Validated once at start-up. */
export class AppConfig {
  @Transform(toInt) @IsInt() @Min(0) @Max(65535) PORT = 8000;
  @IsString() @MinLength(1) HOST = '127.0.0.1';
  @Matches(/^rediss?:\/\/.+/, { message: 'REDIS_URL must be a redis:// or rediss:// URL' })
  REDIS_URL = 'redis://127.0.0.1:6379';
  /** v2 "Redis Cluster": `host:port,...` of some of its nodes, instead of REDIS_URL. */
  @IsOptional()
  @Matches(/^\s*[^\s,:]+:\d{1,5}\s*(,\s*[^\s,:]+:\d{1,5}\s*)*$/, {
    message: 'REDIS_CLUSTER_NODES must be a comma list of host:port',
  })
  REDIS_CLUSTER_NODES?: string;
  /** Where Redis is, from REDIS_URL or REDIS_CLUSTER_NODES (filled in by loadConfig). */
  redis: RedisTarget = { url: this.REDIS_URL };

  @IsOptional()
  @IsString()
  @MinLength(16, { message: 'JWT_SECRET must be at least 16 characters' })
  JWT_SECRET?: string;
  @Transform(toBool) @IsBoolean() AUTH_DEV_TOKENS = false;

  @IsIn(LLM_PROVIDERS) LLM_PROVIDER: LlmProviderName = 'offline';
  @IsOptional() @IsString() LLM_MODEL?: string;
  @IsOptional()
  @Matches(/^https?:\/\/.+/, { message: 'LLM_BASE_URL must be an http(s) URL' })
  LLM_BASE_URL?: string;
  @IsOptional() @IsString() LLM_API_KEY?: string;
  /** Per-agent model overrides; LLM_MODEL (or the provider's default) where not set. */
  @IsOptional() @IsString() @MinLength(1) LLM_MODEL_PLANNER?: string;
  @IsOptional() @IsString() @MinLength(1) LLM_MODEL_EXECUTOR?: string;
  @IsOptional() @IsString() @MinLength(1) LLM_MODEL_AGGREGATOR?: string;
  @IsOptional() @IsString() @MinLength(1) LLM_MODEL_CLARIFIER?: string;
  /** Retries of one model call on 429, 5xx and lost connections (backoff honours Retry-After). */
  @Transform(toInt) @IsInt() @Min(0) @Max(10) LLM_MAX_RETRIES = 2;
  /** JSON: model → {input, output} prices per million tokens; turns tokens into cost in /metrics. */
  @IsOptional() @IsString() LLM_PRICES?: string;
  @Transform(toInt) @IsInt() @Min(0) @Max(10_000) OFFLINE_TOKEN_DELAY_MS = 20;

  /** Comma list of the built-in tools executors may call; default: every one whose settings are present. */
  @IsOptional() @IsString() TOOLS?: string;
  /** Rounds of tool calls one step may make before it must answer. */
  @Transform(toInt) @IsInt() @Min(0) @Max(50) MAX_TOOL_STEPS = 8;
  /** A tool's output past this many characters is cut, and its tool.result says `truncated`. */
  @Transform(toInt) @IsInt() @Min(100) @Max(1_000_000) MAX_TOOL_OUTPUT_CHARS = 20_000;
  /** How long one tool call may take. */
  @Transform(toInt) @IsInt() @Min(100) @Max(600_000) TOOL_TIMEOUT_MS = 30_000;
  /** run_js: how long the code may run, and how much memory its sandbox may hold. */
  @Transform(toInt) @IsInt() @Min(100) @Max(600_000) RUN_JS_TIMEOUT_MS = 5_000;
  @Transform(toInt) @IsInt() @Min(1) @Max(1024) RUN_JS_MEMORY_MB = 32;
  /** http_fetch: the comma list of origins it may fetch (it is offered only with some). */
  @IsOptional() @IsString() TOOLS_FETCH_ALLOW?: string;
  @Transform(toInt) @IsInt() @Min(1024) @Max(100_000_000) TOOLS_FETCH_MAX_BYTES = 2_000_000;
  @Transform(toInt) @IsInt() @Min(100) @Max(600_000) TOOLS_FETCH_TIMEOUT_MS = 15_000;
  /** web_search: a SearXNG instance (its JSON API must be on), or a Brave Search key; offered only with one. */
  @IsOptional()
  @Matches(/^https?:\/\/.+/, { message: 'SEARXNG_URL must be an http(s) URL' })
  SEARXNG_URL?: string;
  @IsOptional() @IsString() @MinLength(1) BRAVE_API_KEY?: string;
  @Matches(/^https?:\/\/.+/, { message: 'BRAVE_API_URL must be an http(s) URL' })
  BRAVE_API_URL = 'https://api.search.brave.com/res/v1/web/search';
  @Transform(toInt) @IsInt() @Min(100) @Max(600_000) TOOLS_SEARCH_TIMEOUT_MS = 15_000;
  /** Path to a JSON file in the common `mcpServers` shape: their tools are offered as `mcp_<server>_<tool>`. */
  @IsOptional() @IsString() @MinLength(1) MCP_SERVERS?: string;
  /** How long starting an MCP server and listing its tools may take. */
  @Transform(toInt) @IsInt() @Min(100) @Max(600_000) MCP_CONNECT_TIMEOUT_MS = 10_000;
  /** The largest message an MCP server may send (a larger one drops its connection). */
  @Transform(toInt) @IsInt() @Min(1024) @Max(256 * 1024 * 1024) MCP_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
  /** The servers MCP_SERVERS lists, read once at start-up (not an environment variable). */
  mcpServers: readonly McpServerConfig[] = [];

  @Transform(toInt) @IsInt() @Min(1) @Max(1000) WORKER_CONCURRENCY = 8;
  @Transform(toInt) @IsInt() @Min(1) @Max(1000) CLARIFIER_CONCURRENCY = 32;
  /** `worker` role: the nice value its run thread lowers itself to (chat and the gateway come first). */
  @Transform(toInt) @IsInt() @Min(0) @Max(19) WORKER_RUN_NICE = 10;
  @Transform(toInt) @IsInt() @Min(2) @Max(50) MAX_SUBTASKS = 6;
  /** `always`: every task's plan waits for the person's review (else only `task.start {review: "plan"}`). */
  @IsIn(['never', 'always']) PLAN_REVIEW: 'never' | 'always' = 'never';
  /** How long a run waits for an answer before it fails (INPUT_EXPIRED). */
  @Transform(toInt) @IsInt() @Min(5) @Max(30 * 24 * 3600) INPUT_TTL_SECONDS = 24 * 3600;
  /** Revisions of the plan one run may make after steps failed for good; past it the run fails (REPLAN_EXHAUSTED). */
  @Transform(toInt) @IsInt() @Min(0) @Max(10) MAX_REPLANS = 2;

  @IsOptional() @IsString() @MinLength(1) ADMIN_USER?: string;
  @IsOptional() @IsString() @MinLength(1) ADMIN_PASSWORD?: string;

  @Transform(toInt) @IsInt() @Min(256) @Max(16 * 1024 * 1024) MAX_FRAME_BYTES = 64 * 1024;
  @Transform(toInt) @IsInt() @Min(1) @Max(1_000_000) MAX_INPUT_CHARS = 8000;
  @Transform(toInt) @IsInt() @Min(100) @Max(10_000_000) HISTORY_MAX_EVENTS = 10_000;
  @Transform(toInt) @IsInt() @Min(60) HISTORY_TTL_SECONDS = 24 * 3600;
  @Transform(toInt) @IsInt() @Min(0) @Max(1000) DELTA_FLUSH_MS = 10;
  @Transform(toInt) @IsInt() @Min(1024) MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
  @Transform(toInt) @IsInt() @Min(100) HEARTBEAT_INTERVAL_MS = 25_000;
  @Transform(toInt) @IsInt() @Min(100) HEARTBEAT_TIMEOUT_MS = 10_000;
  @Transform(toInt) @IsInt() @Min(0) SHUTDOWN_GRACE_MS = 10_000;
  @Transform(toInt) @IsInt() @Min(1000) WORKER_LOCK_MS = 10_000;
  @Transform(toInt) @IsInt() @Min(500) WORKER_STALLED_INTERVAL_MS = 5_000;
  /** A run begun this long ago whose job is missing is queued again (its gateway died). */
  @Transform(toInt) @IsInt() @Min(1000) LOST_RUN_GRACE_MS = 15_000;
  @Transform(toInt) @IsInt() @Min(1000) MODEL_TIMEOUT_MS = 120_000;

  @IsIn(['error', 'warn', 'log', 'debug', 'verbose']) LOG_LEVEL = 'log';
  /** `json`: one JSON object per line (for machines); `pretty`: for people (needs pino-pretty). */
  @IsIn(['json', 'pretty']) LOG_FORMAT: 'json' | 'pretty' = 'json';

  // Traces (OpenTelemetry's own variables): on only when an exporter is asked for.
  /** The collector's OTLP/HTTP base address; traces go to `<it>/v1/traces`. */
  @IsOptional()
  @Matches(/^https?:\/\/.+/, { message: 'OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL' })
  OTEL_EXPORTER_OTLP_ENDPOINT?: string;
  /** The full traces address, where it is not `<OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces`. */
  @IsOptional()
  @Matches(/^https?:\/\/.+/, { message: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be an http(s) URL' })
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string;
  /** `otlp` (the default once an endpoint is set), `console` (spans on stdout, for a look), or `none`. */
  @IsOptional() @IsIn(['otlp', 'console', 'none']) OTEL_TRACES_EXPORTER?: 'otlp' | 'console' | 'none';
  @IsOptional() @IsString() @MinLength(1) OTEL_SERVICE_NAME?: string;
  @Transform(toBool) @IsBoolean() OTEL_SDK_DISABLED = false;
  /** Prompts, model output and tool inputs and outputs on the spans: off unless asked for. */
  @Transform(toBool) @IsBoolean() MAWS_TRACE_CONTENT = false;

  // Security: token sources, browser origins, and the limits that keep one client from
  // starving the others.
  @IsOptional() @Matches(/^https?:\/\/.+/, { message: 'JWKS_URL must be an http(s) URL' }) JWKS_URL?: string;
  @IsOptional() @IsString() @MinLength(1) JWT_ISSUER?: string;
  @IsOptional() @IsString() @MinLength(1) JWT_AUDIENCE?: string;
  /** Comma-separated origins allowed to open sockets from a browser; `*` allows any. */
  @IsOptional() @IsString() ALLOWED_ORIGINS?: string;
  @IsOptional() @IsString() NODE_ENV?: string;
  @Transform(toInt) @IsInt() @Min(1) MESSAGES_PER_SECOND = 20;
  @Transform(toInt) @IsInt() @Min(1) MESSAGE_BURST = 60;
  /** Rate-limited frames in a row after which a flooding connection is closed (1008). */
  @Transform(toInt) @IsInt() @Min(1) FLOOD_CLOSE_AFTER = 100;
  @Transform(toInt) @IsInt() @Min(1) MAX_ACTIVE_RUNS_PER_USER = 10;
  @Transform(toInt) @IsInt() @Min(1) MAX_RUNS_PER_MINUTE_PER_USER = 60;
  /** Sessions one user may have stored; a run in one more is refused until one is deleted or expires. */
  @Transform(toInt) @IsInt() @Min(1) MAX_SESSIONS_PER_USER = 100;
  /** Run records a session keeps (the newest, and always the one a refinement builds on); older ones are deleted. */
  @Transform(toInt) @IsInt() @Min(1) RUN_RECORDS_KEPT = 20;
  @Transform(toInt) @IsInt() @Min(1) MAX_SOCKETS_PER_USER = 50;
  @Transform(toInt) @IsInt() @Min(1) MAX_SOCKETS = 20_000;
  @Transform(toInt) @IsInt() @Min(1) DEV_TOKENS_PER_MINUTE = 30;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Reads and validates the environment; throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const defaults = new AppConfig();
  const raw: Record<string, unknown> = {};
  // Only variables: lower-case fields (mcpServers) are filled in below.
  for (const key of Object.keys(defaults)
    .concat(optionalKeys)
    .filter((k) => /^[A-Z]/.test(k))) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  // Providers' own key variables are honoured where LLM_API_KEY is not given.
  if (raw.LLM_API_KEY === undefined) {
    if (raw.LLM_PROVIDER === 'openai' && env.OPENAI_API_KEY) raw.LLM_API_KEY = env.OPENAI_API_KEY;
    if (raw.LLM_PROVIDER === 'anthropic' && env.ANTHROPIC_API_KEY) raw.LLM_API_KEY = env.ANTHROPIC_API_KEY;
  }
  const config = plainToInstance(AppConfig, raw);
  const errors = validateSync(config, { forbidUnknownValues: false });
  const problems = errors.map((e) => {
    const shown =
      e.property === 'JWT_SECRET' || e.property.includes('PASSWORD') || e.property.includes('KEY')
        ? '(hidden)'
        : JSON.stringify(e.value);
    return `${e.property}=${shown}: ${Object.values(e.constraints ?? {}).join('; ')}`;
  });
  if (!config.JWT_SECRET && !config.AUTH_DEV_TOKENS && !config.JWKS_URL) {
    problems.push('JWT_SECRET is required unless AUTH_DEV_TOKENS=true (or JWKS_URL is set)');
  }
  if (config.AUTH_DEV_TOKENS && config.NODE_ENV === 'production') {
    problems.push('AUTH_DEV_TOKENS=true is refused when NODE_ENV=production: anyone could mint tokens');
  }
  if (Boolean(config.ADMIN_USER) !== Boolean(config.ADMIN_PASSWORD)) {
    problems.push('ADMIN_USER and ADMIN_PASSWORD must be set together');
  }
  if (config.REDIS_CLUSTER_NODES !== undefined && raw.REDIS_URL !== undefined) {
    problems.push('REDIS_URL and REDIS_CLUSTER_NODES are exclusive: set one (a cluster takes REDIS_CLUSTER_NODES)');
  }
  config.redis = redisTargetOf(config.REDIS_URL, config.REDIS_CLUSTER_NODES);
  problems.push(...llmProblems(config), ...toolProblems(config));
  if (config.MCP_SERVERS !== undefined) {
    const { servers, problems: mcpProblems } = readMcpServersFile(config.MCP_SERVERS);
    config.mcpServers = servers;
    problems.push(...mcpProblems.map((problem) => `MCP_SERVERS (${config.MCP_SERVERS}): ${problem}`));
  }
  if (problems.length > 0) {
    throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  return config;
}

/** What a real model provider needs, named by the variable that supplies it. */
function llmProblems(config: AppConfig): string[] {
  const problems: string[] = [];
  const provider = config.LLM_PROVIDER;
  if ((provider === 'openai' || provider === 'anthropic') && !config.LLM_API_KEY) {
    const own = provider === 'openai' ? 'OPENAI_API_KEY' : 'ANTHROPIC_API_KEY';
    problems.push(`LLM_API_KEY (or ${own}) is required when LLM_PROVIDER=${provider}`);
  }
  if (provider === 'openai-compatible') {
    if (!config.LLM_BASE_URL) {
      problems.push(
        "LLM_BASE_URL is required when LLM_PROVIDER=openai-compatible (the server's OpenAI API, e.g. http://127.0.0.1:11434/v1 for Ollama)",
      );
    }
    const overridden =
      config.LLM_MODEL_PLANNER &&
      config.LLM_MODEL_EXECUTOR &&
      config.LLM_MODEL_AGGREGATOR &&
      config.LLM_MODEL_CLARIFIER;
    if (!config.LLM_MODEL && !overridden) {
      problems.push(
        "LLM_MODEL is required when LLM_PROVIDER=openai-compatible (the model's name on that server, e.g. llama3.1)",
      );
    }
  }
  if (config.LLM_PRICES !== undefined) {
    try {
      parseLlmPrices(config.LLM_PRICES);
    } catch (err) {
      problems.push(`LLM_PRICES: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return problems;
}

/** TOOLS must name built-in tools this build has, each with its settings; TOOLS_FETCH_ALLOW must list origins. */
function toolProblems(config: AppConfig): string[] {
  const problems: string[] = [];
  const names = config.TOOLS === undefined ? [] : toolNamesOf(config.TOOLS);
  const unknown = names.filter((name) => !(BUILT_IN_TOOLS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    problems.push(
      `TOOLS names ${unknown.join(', ')}: the built-in tools are ${BUILT_IN_TOOLS.join(', ')} (or none: TOOLS=none)`,
    );
  }
  if (names.includes('http_fetch') && !config.TOOLS_FETCH_ALLOW) {
    problems.push('TOOLS names http_fetch, which needs TOOLS_FETCH_ALLOW (the origins it may fetch)');
  }
  if (names.includes('web_search') && !config.SEARXNG_URL && !config.BRAVE_API_KEY) {
    problems.push('TOOLS names web_search, which needs SEARXNG_URL (a SearXNG instance) or BRAVE_API_KEY');
  }
  for (const origin of fetchOriginsOf(config.TOOLS_FETCH_ALLOW)) {
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      /* reported below */
    }
    if (!url || !/^https?:$/.test(url.protocol) || url.pathname !== '/' || url.search || url.hash) {
      problems.push(`TOOLS_FETCH_ALLOW: ${JSON.stringify(origin)} is not an origin such as https://example.com`);
    }
  }
  return problems;
}

/** The origins a TOOLS_FETCH_ALLOW value lists. */
export function fetchOriginsOf(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
}

/** The names a TOOLS value lists (`none` lists none). */
export function toolNamesOf(value: string): string[] {
  const names = value
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  return names.length === 1 && names[0] === 'none' ? [] : names;
}

const optionalKeys = [
  'REDIS_CLUSTER_NODES',
  'TOOLS',
  'MCP_SERVERS',
  'TOOLS_FETCH_ALLOW',
  'SEARXNG_URL',
  'BRAVE_API_KEY',
  'JWT_SECRET',
  'LLM_MODEL',
  'LLM_BASE_URL',
  'LLM_API_KEY',
  'LLM_MODEL_PLANNER',
  'LLM_MODEL_EXECUTOR',
  'LLM_MODEL_AGGREGATOR',
  'LLM_MODEL_CLARIFIER',
  'LLM_PRICES',
  'ADMIN_USER',
  'ADMIN_PASSWORD',
  'JWKS_URL',
  'JWT_ISSUER',
  'JWT_AUDIENCE',
  'ALLOWED_ORIGINS',
  'NODE_ENV',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_TRACES_EXPORTER',
  'OTEL_SERVICE_NAME',
];

/** Where a process's spans go: nowhere (the default), to an OTLP/HTTP collector, or to stdout. */
export type TraceExport = { kind: 'none' } | { kind: 'otlp'; url: string } | { kind: 'console' };

/** The standard OpenTelemetry variables, read the standard way. */
export function traceExportOf(config: AppConfig): TraceExport {
  if (config.OTEL_SDK_DISABLED) return { kind: 'none' };
  const endpointSet = Boolean(config.OTEL_EXPORTER_OTLP_ENDPOINT || config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  const kind = config.OTEL_TRACES_EXPORTER ?? (endpointSet ? 'otlp' : 'none');
  if (kind !== 'otlp') return { kind };
  const base = (config.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://localhost:4318').replace(/\/+$/, '');
  return { kind, url: config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? `${base}/v1/traces` };
}
