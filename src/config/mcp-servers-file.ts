import { readFileSync } from 'node:fs';

/** One MCP server of the MCP_SERVERS file: a process to start (stdio), or a URL (streamable HTTP). */
export type McpServerConfig = McpStdioServerConfig | McpHttpServerConfig;

interface McpServerCommon {
  /** Its key in `mcpServers`; its tools are offered as `mcp_<name>_<tool>`. */
  name: string;
  /** `always`: none of its tools runs before the person says yes (v2 "People in the loop"). */
  approval: 'always' | 'never';
}

export interface McpStdioServerConfig extends McpServerCommon {
  transport: 'stdio';
  command: string;
  args: string[];
  /** Added to the few variables every server gets (PATH, HOME, ...): the worker's secrets are not passed. */
  env: Record<string, string>;
  cwd?: string;
}

export interface McpHttpServerConfig extends McpServerCommon {
  transport: 'http';
  url: string;
  headers: Record<string, string>;
}

/** A server name short enough that `mcp_<name>_<tool>` stays a name every provider accepts. */
const SERVER_NAME = /^[A-Za-z0-9-]{1,24}$/;
const KNOWN_KEYS = new Set(['command', 'args', 'env', 'cwd', 'url', 'headers', 'approval', 'type', 'disabled']);
const STDIO_TYPES = new Set(['stdio']);
const HTTP_TYPES = new Set(['http', 'streamable-http', 'streamableHttp']);

/**
 * Reads the MCP_SERVERS file (the common `mcpServers` shape). Returns the servers, or the
 * problems found, each naming the server and the key at fault, so that start-up can stop with
 * all of them at once.
 */
export function readMcpServersFile(path: string): { servers: McpServerConfig[]; problems: string[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return { servers: [], problems: [`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`] };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { servers: [], problems: [`${path} is not JSON: ${err instanceof Error ? err.message : String(err)}`] };
  }
  return parseMcpServers(parsed);
}

/** Checks the parsed file's shape; see readMcpServersFile. */
export function parseMcpServers(parsed: unknown): { servers: McpServerConfig[]; problems: string[] } {
  if (!isObject(parsed) || !isObject(parsed.mcpServers)) {
    return { servers: [], problems: ['the file must be an object with an "mcpServers" object'] };
  }
  const servers: McpServerConfig[] = [];
  const problems: string[] = [];
  for (const [name, entry] of Object.entries(parsed.mcpServers)) {
    const found = serverOf(name, entry);
    if (typeof found === 'string') problems.push(`server ${JSON.stringify(name)}: ${found}`);
    else if (found) servers.push(found);
  }
  return { servers, problems };
}

/** The server an entry describes, a problem, or undefined for an entry marked `disabled`. */
function serverOf(name: string, entry: unknown): McpServerConfig | string | undefined {
  if (!SERVER_NAME.test(name)) return 'a name must be 1 to 24 letters, digits or dashes';
  if (!isObject(entry)) return 'must be an object with "command" or "url"';
  const unknown = Object.keys(entry).filter((key) => !KNOWN_KEYS.has(key));
  if (unknown.length > 0) return `unknown key ${unknown.map((k) => JSON.stringify(k)).join(', ')}`;
  if (entry.disabled === true) return undefined;
  if (entry.approval !== undefined && entry.approval !== 'always' && entry.approval !== 'never') {
    return '"approval" must be "always" or "never"';
  }
  const approval = entry.approval === 'always' ? 'always' : 'never';
  const type = entry.type;
  if (type !== undefined && (typeof type !== 'string' || !(STDIO_TYPES.has(type) || HTTP_TYPES.has(type)))) {
    return `"type" ${JSON.stringify(type)} is not supported (stdio or http; SSE servers are not)`;
  }
  if (entry.command !== undefined && entry.url !== undefined) return 'has both "command" and "url"';
  if (entry.command !== undefined) {
    if (type !== undefined && !STDIO_TYPES.has(type))
      return `"type" ${JSON.stringify(type)} does not go with "command"`;
    if (typeof entry.command !== 'string' || entry.command.trim() === '') return '"command" must be a non-empty string';
    if (entry.args !== undefined && !isStringArray(entry.args)) return '"args" must be an array of strings';
    if (entry.env !== undefined && !isStringRecord(entry.env)) return '"env" must map names to strings';
    if (entry.cwd !== undefined && typeof entry.cwd !== 'string') return '"cwd" must be a string';
    return {
      name,
      approval,
      transport: 'stdio',
      command: entry.command,
      args: entry.args ?? [],
      env: entry.env ?? {},
      ...(entry.cwd !== undefined ? { cwd: entry.cwd } : {}),
    };
  }
  if (entry.url !== undefined) {
    if (type !== undefined && !HTTP_TYPES.has(type)) return `"type" ${JSON.stringify(type)} does not go with "url"`;
    if (typeof entry.url !== 'string' || !/^https?:\/\/[^/]/.test(entry.url)) return '"url" must be an http(s) URL';
    try {
      new URL(entry.url);
    } catch {
      return '"url" must be an http(s) URL';
    }
    if (entry.headers !== undefined && !isStringRecord(entry.headers)) return '"headers" must map names to strings';
    return {
      name,
      approval,
      transport: 'http',
      url: entry.url,
      headers: entry.headers ?? {},
    };
  }
  return 'needs "command" (a stdio server) or "url" (a streamable HTTP server)';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return isObject(value) && Object.values(value).every((item) => typeof item === 'string');
}
