/**
 * Workload 7, MCP servers (issue 14): what MAWS adds to a call of an MCP server's tool.
 *
 * MCP_SERVERS lists the test fixture server (test/fixtures/mcp/fixture-server.mjs) twice: over
 * stdio (started by the worker, behind its guard process) and over streamable HTTP (started
 * here, on loopback). Single runs whose executors each call its `echo` tool once (the offline
 * model's rule 0); the time from a `tool.called` frame's arrival on the client's socket to
 * its `tool.result`'s. Floor: the same call through the same MCP client (McpServer and
 * runTool) in the bench's own process, one every 10 ms (as idle as the server is between the
 * runs' calls): the server's and the protocol's own cost.
 * Target, as for the built-in tools: MAWS adds under 1 ms at p50.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SingleRunsArgs } from '../children/client';
import { Ctx } from '../lib/context';
import { openSockets } from '../lib/sockets';
import { makeRow, type Row } from '../lib/table';
import { hrUs, sleep, summarize, type Summary } from '../lib/util';
import type { McpServerConfig } from '../../src/config/mcp-servers-file';
import { McpServer } from '../../src/tools/mcp/mcp-server';
import { runTool } from '../../src/tools/tool-runner';
import { getFreePort } from '../../test/support/redis-server';

const FIXTURE = path.resolve(__dirname, '../../../test/fixtures/mcp/fixture-server.mjs');
const FLOOR_CALLS = { full: 1000, quick: 300, smoke: 50 } as const;
/** The pause before each floor call. */
const PACE_MS = 10;
const task = (tool: string): string => `Check the server: call \`${tool}\` with {"text": "bench"}.`;

const MAWS_ENV = {
  OFFLINE_TOKEN_DELAY_MS: '0',
  MAX_ACTIVE_RUNS_PER_USER: '1000',
  MAX_RUNS_PER_MINUTE_PER_USER: '100000',
};

/** The stdio and HTTP entries of the fixture server. */
function servers(httpPort: number): McpServerConfig[] {
  return [
    { name: 'files', approval: 'never', transport: 'stdio', command: process.execPath, args: [FIXTURE], env: {} },
    { name: 'web', approval: 'never', transport: 'http', url: `http://127.0.0.1:${httpPort}/mcp`, headers: {} },
  ];
}

/** The floor: `echo` through McpServer and runTool in this process, one call at a time. */
async function directCalls(config: McpServerConfig, n: number): Promise<Summary> {
  const server = new McpServer(
    config,
    { connectTimeoutMs: 10_000, maxMessageBytes: 16 << 20, retryAfterMs: 1_000 },
    () => {},
  );
  try {
    const echo = (await server.tools()).find((t) => t.name.endsWith('_echo'));
    if (!echo) throw new Error(`the fixture server (${config.transport}) offers no echo tool`);
    const options = { signal: new AbortController().signal, timeoutMs: 30_000, maxOutputChars: 20_000 };
    for (let i = 0; i < 100; i++) await runTool(echo, { text: 'bench' }, options);
    const ms: number[] = [];
    for (let i = 0; i < n; i++) {
      // Paced as the runs' calls are (one now and then, the server idle between): a server
      // called back to back stays hot on a core, one called now and then has to be woken.
      await sleep(PACE_MS);
      const t0 = hrUs();
      const outcome = await runTool(echo, { text: 'bench' }, options);
      ms.push((hrUs() - t0) / 1000);
      if (!outcome.ok) throw new Error(`echo failed: ${outcome.error?.message}`);
    }
    return summarize(ms);
  } finally {
    await server.close();
  }
}

export async function mcpWorkload(ctx: Ctx): Promise<void> {
  const details: Record<string, unknown> = {};
  ctx.details.mcp = details;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'maws-bench-mcp-'));
  const httpPort = await getFreePort();
  const http = spawn(process.execPath, [FIXTURE, '--http', String(httpPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      http.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('listening') && resolve());
      http.once('exit', (code) => reject(new Error(`the HTTP fixture exited (${code})`)));
    });
    const file = path.join(dir, 'servers.json');
    const entries = Object.fromEntries(
      servers(httpPort).map((s) => [
        s.name,
        s.transport === 'stdio' ? { command: s.command, args: s.args } : { url: s.url },
      ]),
    );
    writeFileSync(file, JSON.stringify({ mcpServers: entries }));
    await ctx.flushRedis();
    const gateway = await ctx.startMaws('gateway', MAWS_ENV);
    const worker = await ctx.startMaws('worker', { ...MAWS_ENV, MCP_SERVERS: file, TOOLS: 'none' });
    const client = await ctx.fork('mcp-client', 'client.js');
    const rounds: Record<string, Summary> = {};
    /** The calls' own time as the worker measured it (tool.result's `ms`). */
    const inWorker: Record<string, Summary> = {};
    try {
      for (const tool of ['mcp_files_echo', 'mcp_web_echo']) {
        await openSockets(client, gateway.proc.wsUrl!, tool, ctx.sizes.singles);
        await client.call('toolRounds');
        const singles = await client.call<{ errors: string[] }>(
          'singleRuns',
          { group: tool, text: task(tool), pauseMs: 20, timeoutMs: 30_000 } satisfies SingleRunsArgs,
          600_000,
        );
        if (singles.errors.length) ctx.log(`  mcp ${tool}: ${singles.errors.join('; ')}`);
        const seen = await client.call<{ ms: number[]; toolMs: number[] }>('toolRounds');
        rounds[tool] = summarize(seen.ms);
        inWorker[tool] = summarize(seen.toolMs);
        await sleep(300);
      }
    } finally {
      await client.stop();
      await ctx.stopMaws(worker.proc);
      await ctx.stopMaws(gateway.proc);
    }
    const [stdio, overHttp] = servers(httpPort);
    const floors = {
      stdio: await directCalls(stdio, FLOOR_CALLS[ctx.opts.mode]),
      http: await directCalls(overHttp, FLOOR_CALLS[ctx.opts.mode]),
    };
    Object.assign(details, { rounds, inWorker, floors });
    for (const tool of Object.keys(inWorker))
      ctx.log(`mcp ${tool}: the call itself in the worker: p50 ${inWorker[tool].p50} ms`);
    const p = (s: Summary, k: 'p50' | 'p99'): number | null => (s.n ? s[k] : null);
    const rows: Row[] = [];
    for (const [tool, floor, label] of [
      ['mcp_files_echo', floors.stdio, 'stdio'],
      ['mcp_web_echo', floors.http, 'streamable HTTP'],
    ] as const) {
      rows.push(
        makeRow(
          'mcp',
          `idle: tool.called → tool.result (${label} server) p50`,
          'ms',
          p(rounds[tool], 'p50'),
          p(floor, 'p50'),
          { kind: 'added<', value: 1 },
          `${rounds[tool].n} rounds; floor: the same echo call through McpServer and runTool in-process`,
        ),
        makeRow(
          'mcp',
          `idle: tool.called → tool.result (${label} server) p99`,
          'ms',
          p(rounds[tool], 'p99'),
          p(floor, 'p99'),
        ),
      );
    }
    ctx.report('MCP servers: a tool round over stdio and streamable HTTP', rows);
  } finally {
    http.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
