import type { McpServerConfig } from '../../config/mcp-servers-file';
import type { ToolDefinition } from '../tool';
import { McpServer, type McpLimits } from './mcp-server';

/**
 * The MCP servers of MCP_SERVERS, as one source of tools. A server whose tools need the
 * person's approval (`"approval": "always"`) is not used until MAWS can ask for it (v2
 * "People in the loop"): its tools are never offered, so they never run unapproved.
 */
export class McpServers {
  private readonly servers: McpServer[];

  constructor(configs: readonly McpServerConfig[], limits: McpLimits, warn: (message: string) => void) {
    for (const config of configs.filter((c) => c.approval === 'always')) {
      warn(
        `MCP server ${config.name} asks for approval before each call, which this build cannot ask for: its tools are not offered`,
      );
    }
    this.servers = configs.filter((c) => c.approval !== 'always').map((config) => new McpServer(config, limits, warn));
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
