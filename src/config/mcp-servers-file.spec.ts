/** The MCP_SERVERS file: the common `mcpServers` shape, every problem named at start-up. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, loadConfig } from './config';
import { parseMcpServers } from './mcp-servers-file';

const base = { JWT_SECRET: 'a-secret-of-sixteen-chars-or-more' };

describe('the MCP_SERVERS file', () => {
  it('reads stdio and HTTP servers, with their args, env, headers and approval', () => {
    const { servers, problems } = parseMcpServers({
      mcpServers: {
        files: { command: 'npx', args: ['-y', 'server-files', '/tmp'], env: { ROOT: '/tmp' } },
        web: {
          type: 'http',
          url: 'http://127.0.0.1:8931/mcp',
          headers: { Authorization: 'Bearer x' },
          approval: 'always',
        },
        old: { command: 'x', disabled: true },
      },
    });
    expect(problems).toEqual([]);
    expect(servers).toEqual([
      {
        name: 'files',
        approval: 'never',
        transport: 'stdio',
        command: 'npx',
        args: ['-y', 'server-files', '/tmp'],
        env: { ROOT: '/tmp' },
      },
      {
        name: 'web',
        approval: 'always',
        transport: 'http',
        url: 'http://127.0.0.1:8931/mcp',
        headers: { Authorization: 'Bearer x' },
      },
    ]);
  });

  it.each([
    [{ servers: {} }, 'the file must be an object with an "mcpServers" object'],
    [{ mcpServers: { 'a b': { command: 'x' } } }, 'server "a b": a name must be 1 to 24 letters, digits or dashes'],
    [{ mcpServers: { a: { command: 'x', url: 'http://h' } } }, 'server "a": has both "command" and "url"'],
    [{ mcpServers: { a: {} } }, 'server "a": needs "command" (a stdio server) or "url" (a streamable HTTP server)'],
    [{ mcpServers: { a: { command: 'x', args: 'y' } } }, 'server "a": "args" must be an array of strings'],
    [{ mcpServers: { a: { command: 'x', env: { N: 1 } } } }, 'server "a": "env" must map names to strings'],
    [{ mcpServers: { a: { url: 'file:///etc/passwd' } } }, 'server "a": "url" must be an http(s) URL'],
    [
      { mcpServers: { a: { type: 'sse', url: 'http://h/sse' } } },
      'server "a": "type" "sse" is not supported (stdio or http; SSE servers are not)',
    ],
    [
      { mcpServers: { a: { command: 'x', approval: 'sometimes' } } },
      'server "a": "approval" must be "always" or "never"',
    ],
    [{ mcpServers: { a: { command: 'x', transport: 'stdio' } } }, 'server "a": unknown key "transport"'],
  ])('%j: %s', (file, problem) => {
    expect(parseMcpServers(file).problems).toEqual([problem]);
  });

  it('a bad or missing file stops start-up with a message naming MCP_SERVERS', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'maws-mcp-config-'));
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '{"mcpServers": {"x": {"command": ""}}}');
    expect(() => loadConfig({ ...base, MCP_SERVERS: bad })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, MCP_SERVERS: bad })).toThrow(
      `MCP_SERVERS (${bad}): server "x": "command" must be a non-empty string`,
    );
    expect(() => loadConfig({ ...base, MCP_SERVERS: path.join(dir, 'missing.json') })).toThrow(
      /MCP_SERVERS \(.*missing\.json\): cannot read .*: ENOENT/,
    );
    const good = path.join(dir, 'good.json');
    writeFileSync(good, '{"mcpServers": {"x": {"url": "http://127.0.0.1:1/mcp"}}}');
    expect(loadConfig({ ...base, MCP_SERVERS: good }).mcpServers).toEqual([
      { name: 'x', approval: 'never', transport: 'http', url: 'http://127.0.0.1:1/mcp', headers: {} },
    ]);
  });
});
