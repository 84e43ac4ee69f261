import { createMCPClient, type CallToolResult, type ListToolsResult, type MCPClient } from '@ai-sdk/mcp';
import { z } from 'zod';
import type { McpServerConfig } from '../../config/mcp-servers-file';
import { ToolError, type ToolDefinition } from '../tool';
import { cappedFetch } from './capped-fetch';
import { GuardedStdioTransport } from './guarded-stdio-transport';

export interface McpLimits {
  /** Starting the server (or reaching it) and listing its tools. */
  connectTimeoutMs: number;
  /** The largest message the server may send. */
  maxMessageBytes: number;
  /** After the server could not be reached, how long its tools are not listed again. */
  retryAfterMs: number;
}

/** Tool names every provider accepts. */
const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

type McpToolSet = ReturnType<MCPClient['toolsFromDefinitions']>;

/** One live client of the server, and the tools it listed. */
interface Connection {
  client: MCPClient;
  tools: McpToolSet;
  listing: ListToolsResult;
  /** Set when the connection failed: the next call starts a new one. */
  dropped: boolean;
  stdio?: GuardedStdioTransport;
}

/**
 * One MCP server of MCP_SERVERS. Its client is started on first use, its tools listed then,
 * and it is started again after it dropped (a stdio server that exited, an HTTP server that
 * stopped answering): a server that is down makes its calls fail with TOOL_FAILED, and the
 * next call after it came back works.
 */
export class McpServer {
  private connection?: Promise<Connection>;
  /** Its tools as last listed (offered while it is down, so that their calls say why they fail). */
  private known?: ToolDefinition[];
  private unreachableUntil = 0;

  constructor(
    readonly config: McpServerConfig,
    private readonly limits: McpLimits,
    private readonly warn: (message: string) => void,
  ) {}

  /** Its tools: listed on first use, after a reconnect, and not retried for a while after a failure. */
  async tools(): Promise<ToolDefinition[]> {
    if (this.known) return this.known;
    if (Date.now() < this.unreachableUntil) return [];
    try {
      await this.connected();
    } catch (err) {
      this.unreachableUntil = Date.now() + this.limits.retryAfterMs;
      this.warn(`MCP server ${this.config.name}: its tools are not offered for now: ${messageOf(err)}`);
    }
    return this.known ?? [];
  }

  /** Ends its client (and, for a stdio server, its process). */
  async close(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    if (!connection) return;
    const live = await connection.catch(() => undefined);
    await live?.client.close().catch(() => undefined);
  }

  private async call(tool: string, input: unknown, signal: AbortSignal): Promise<unknown> {
    let connection: Connection;
    try {
      connection = await this.connected();
    } catch (err) {
      throw new ToolError('TOOL_FAILED', `MCP server ${this.config.name} is not reachable: ${messageOf(err)}`);
    }
    const execute = connection.tools[tool]?.execute;
    if (!execute) throw new ToolError('TOOL_FAILED', `MCP server ${this.config.name} no longer offers ${tool}`);
    let result: CallToolResult;
    try {
      result = (await execute(input, { toolCallId: tool, messages: [], abortSignal: signal })) as CallToolResult;
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      // A JSON-RPC error is the server's answer; anything else means the connection is not to be trusted.
      if (typeof (err as { code?: unknown }).code !== 'number') this.drop(connection);
      throw new ToolError('TOOL_FAILED', `MCP server ${this.config.name} failed on ${tool}: ${messageOf(err)}`);
    }
    return outputOf(result, `${this.config.name}'s ${tool}`);
  }

  /** The live connection, or a new one (whose listing replaces the known tools). */
  private async connected(): Promise<Connection> {
    const current = this.connection && (await this.connection.catch(() => undefined));
    if (current && !current.dropped && !current.stdio?.closed) return current;
    if (current) void current.client.close().catch(() => undefined);
    const next = this.connect();
    this.connection = next;
    try {
      const connection = await next;
      this.known = this.definitionsOf(connection.listing);
      return connection;
    } catch (err) {
      if (this.connection === next) this.connection = undefined;
      throw err;
    }
  }

  private async connect(): Promise<Connection> {
    const { config, limits } = this;
    const stdio = config.transport === 'stdio' ? new GuardedStdioTransport(config, limits.maxMessageBytes) : undefined;
    let client: MCPClient | undefined;
    try {
      client = await createMCPClient({
        transport: stdio ?? {
          type: 'http',
          url: config.transport === 'http' ? config.url : '',
          headers: config.transport === 'http' ? config.headers : {},
          redirect: 'error',
          fetch: cappedFetch(limits.maxMessageBytes),
        },
        clientName: 'maws',
        initializationOptions: { timeout: limits.connectTimeoutMs },
        onUncaughtError: (err) => this.warn(`MCP server ${config.name}: ${messageOf(err)}`),
      });
      const listing = await listAllTools(client, limits.connectTimeoutMs);
      return { client, listing, tools: client.toolsFromDefinitions(listing), dropped: false, stdio };
    } catch (err) {
      await (client ? client.close() : stdio?.close())?.catch(() => undefined);
      throw err;
    }
  }

  private drop(connection: Connection): void {
    if (connection.dropped) return;
    connection.dropped = true;
    void connection.client.close().catch(() => undefined);
  }

  /** The listed tools as MAWS's tools; one whose name or input schema MAWS cannot use is left out, and said so. */
  private definitionsOf(listing: ListToolsResult): ToolDefinition[] {
    const definitions: ToolDefinition[] = [];
    for (const tool of listing.tools) {
      const name = `mcp_${this.config.name}_${tool.name}`;
      if (!TOOL_NAME.test(name)) {
        this.warn(
          `MCP server ${this.config.name}: tool ${JSON.stringify(tool.name)} is left out (${name} is not a usable tool name)`,
        );
        continue;
      }
      let input: z.ZodType;
      try {
        input = z.fromJSONSchema({ ...tool.inputSchema, properties: tool.inputSchema.properties ?? {} } as never);
        z.toJSONSchema(input, { io: 'input' });
      } catch (err) {
        this.warn(
          `MCP server ${this.config.name}: tool ${tool.name} is left out: its input schema is not usable (${messageOf(err)})`,
        );
        continue;
      }
      definitions.push({
        name,
        description: tool.description ?? `${tool.name} from the MCP server ${this.config.name}`,
        input,
        ...(this.config.approval === 'always' ? { needsApproval: true } : {}),
        run: (value, signal) => this.call(tool.name, value, signal),
      });
    }
    return definitions;
  }
}

async function listAllTools(client: MCPClient, timeoutMs: number): Promise<ListToolsResult> {
  let page = await client.listTools({ options: { timeout: timeoutMs } });
  const tools = [...page.tools];
  // A few pages at most: a server that pages forever is not listed past them.
  for (let pages = 1; page.nextCursor !== undefined && pages < 20; pages += 1) {
    page = await client.listTools({ params: { cursor: page.nextCursor }, options: { timeout: timeoutMs } });
    tools.push(...page.tools);
  }
  return { ...page, tools, nextCursor: undefined };
}

/** A call's result as the model reads it: its structured content, else its content as text. */
function outputOf(result: CallToolResult, what: string): unknown {
  if ('toolResult' in result) return result.toolResult;
  const text = result.content.map(partText).join('\n');
  if (result.isError) throw new ToolError('TOOL_FAILED', `${what} answered with an error: ${text}`);
  return result.structuredContent ?? text;
}

function partText(part: Extract<CallToolResult, { content: unknown }>['content'][number]): string {
  switch (part.type) {
    case 'text':
      return part.text;
    case 'image':
      return `[an image, ${part.mimeType}, ${Math.floor((part.data.length * 3) / 4)} bytes]`;
    case 'resource':
      return typeof part.resource.text === 'string' ? part.resource.text : `[a binary resource, ${part.resource.uri}]`;
    case 'resource_link':
      return `[${part.name}](${part.uri})`;
    default:
      return '';
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
