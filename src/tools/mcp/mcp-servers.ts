import type { McpServerConfig } from '../../config/mcp-servers-file';
import type { ToolDefinition } from '../tool';
import { McpServer, type McpLimits } from './mcp-server';

/**
 * The MCP servers of MCP_SERVERS, as one source of tools. The tools of a server marked
 * `"approval": "always"` wait for the person's yes before each call (v2 "People in the loop").
 */
export class McpServers {
  private readonly servers: McpServer[];

  constructor(configs: readonly McpServerConfig[], limits: McpLimits, warn: (message: string) => void) {
    this.servers = configs.map((config) => new McpServer(config, limits, warn));
  }

  get size(): number {
    return this.servers.length;
  }

  /** Every server's tools (each server started on first use). */
  async tools(): Promise<ToolDefinition[]> {
    const lists = await Promise.all(this.servers.map((server) => server.tools()));
    return lists.flat();
  }

  /** Ends every client and every stdio server's process. */
  async close(): Promise<void> {
    await Promise.all(this.servers.map((server) => server.close()));
  }
}
