/**
 * MCP servers (issue 14) in runs: MCP_SERVERS lists a stdio server and a streamable HTTP
 * server (test/fixtures/mcp/fixture-server.mjs, on loopback), whose tools the offline model
 * calls by its rule 0 (``call `mcp_<server>_<tool>` with {...}``). Each call is a tool.called
 * and a tool.result; a server that hangs, crashes, lies or answers with 10 MB gets a coded
 * result and the run completes; a server killed mid-run fails its calls (TOOL_FAILED) until
 * it is back; a stdio server never outlives its worker, even one that ignores SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FrameOf } from '../../src/contract';
import { registerCleanup } from '../support/cleanup';
import { runIdOf, TERMINAL } from '../support/frames';
import { startMaws, runMawsOnce, type MawsProcess } from '../support/maws-process';
import { getFreePort } from '../support/redis-server';
import { outputOf, planOf, startRun } from '../support/runs';
import { newSdkSession } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';
import { eventually } from '../support/timing';

jest.setTimeout(90_000);

const FIXTURE = path.resolve(__dirname, '../fixtures/mcp/fixture-server.mjs');
const dir = mkdtempSync(path.join(os.tmpdir(), 'maws-mcp-'));
const files = {
  servers: path.join(dir, 'servers.json'),
  stdioPids: path.join(dir, 'stdio.pids'),
  stubbornPids: path.join(dir, 'stubborn.pids'),
  notes: path.join(dir, 'notes.txt'),
};

let gateway: MawsProcess;
let worker: MawsProcess;
let httpPort: number;
let httpServer: ChildProcess | undefined;
let workerEnv: Record<string, string | undefined>;

/** The HTTP fixture on 127.0.0.1:httpPort, resolved once it listens. */
async function startHttpServer(): Promise<void> {
  const child = spawn(process.execPath, [FIXTURE, '--http', String(httpPort)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  httpServer = child;
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('listening')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the HTTP fixture exited (${code})`)));
  });
}

async function stopHttpServer(): Promise<void> {
  const child = httpServer;
  httpServer = undefined;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

const pidsIn = (file: string): number[] =>
  existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number) : [];

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

setUpSuite(async () => {
  httpPort = await getFreePort();
  registerCleanup(stopHttpServer);
  registerCleanup(() => {
    // Should the worker's guard have failed, no fixture is left behind by the test.
    for (const pid of [...pidsIn(files.stdioPids), ...pidsIn(files.stubbornPids)]) {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
    return Promise.resolve();
  });
  await startHttpServer();
  writeFileSync(
    files.servers,
    JSON.stringify({
      mcpServers: {
        files: {
          command: process.execPath,
          args: [FIXTURE],
          env: { MCP_FIXTURE_PIDS: files.stdioPids, MCP_FIXTURE_NOTES: files.notes },
        },
        stubborn: {
          command: process.execPath,
          args: [FIXTURE],
          env: { MCP_FIXTURE_PIDS: files.stubbornPids, MCP_FIXTURE_STUBBORN: '1' },
        },
        web: { type: 'http', url: `http://127.0.0.1:${httpPort}/mcp` },
      },
    }),
  );
  const stack = await startStack(['gateway', 'worker'], {
    OFFLINE_TOKEN_DELAY_MS: '0',
    MCP_SERVERS: files.servers,
    // Room for a crashed stdio server to be started again within the next call (two Node
    // processes, slower while other tests run beside this one).
    TOOL_TIMEOUT_MS: '4000',
  });
  [gateway, worker] = stack.procs;
  workerEnv = stack.env;
});

type Result = FrameOf<'tool.result'>['data'];

/** Runs a task; expects it to complete, and returns its tool results and its first finding. */
async function run(task: string): Promise<{ results: Result[]; called: string[]; finding: string }> {
  const { client } = await newSdkSession(gateway, 'mcp');
  const { runId } = await startRun(client, 'task.start', task);
  const terminal = await client.waitForEvent(TERMINAL, (f) => f.data.runId === runId, 60_000);
  expect(terminal.event).toBe('run.completed');
  await client.close();
  const frames = client.durable().filter((f) => runIdOf(f) === runId);
  expect(planOf(frames).length).toBeGreaterThan(0);
  return {
    called: frames.filter((f): f is FrameOf<'tool.called'> => f.event === 'tool.called').map((f) => f.data.tool),
    results: frames.filter((f): f is FrameOf<'tool.result'> => f.event === 'tool.result').map((f) => f.data),
    finding: (outputOf(frames, 'exec-1') as { text: string }).text,
  };
}

describe('MCP servers in runs', () => {
  it('a stdio server and an HTTP server: their tools are called, their results come back to the model', async () => {
    const { results, finding } = await run(
      'Use the servers: call `mcp_files_echo` with {"text": "from stdio"}, call `mcp_web_add` with {"a": 2, "b": 40}.',
    );
    const firstStep = results.filter((r) => r.stepId === 'exec-1');
    expect(firstStep).toEqual([
      expect.objectContaining({ tool: 'mcp_files_echo', ok: true, output: 'echo: from stdio' }),
      expect.objectContaining({ tool: 'mcp_web_add', ok: true, output: { sum: 42 } }),
    ]);
    expect(finding).toContain('Called mcp_files_echo: echo: from stdio.');
    expect(finding).toContain('Called mcp_web_add: {"sum":42}.');
  });

  it('a tool with an unusable schema is not offered, and the log says so', async () => {
    const { called } = await run(
      'Try both: call `mcp_files_bad_schema` with {"x": 1}, call `mcp_files_echo` with {"text": "ok"}.',
    );
    expect(new Set(called)).toEqual(new Set(['mcp_files_echo']));
    expect(worker.output()).toMatch(/tool bad_schema is left out: its input schema is not usable/);
  });

  it.each([
    ['hang', '{}', 'TOOL_TIMEOUT', /took longer than 4000 ms/],
    ['crash', '{}', 'TOOL_FAILED', /MCP server files failed on crash: .*closed/i],
    ['liar', '{"n": 1}', 'TOOL_FAILED', /MCP server files failed on liar: Failed to parse server response/],
    ['fails', '{}', 'TOOL_FAILED', /answered with an error: the fixture refuses/],
    ['echo', '{"text": 5}', 'TOOL_INVALID_INPUT', /does not match mcp_files_echo's schema \(text: .*expected string/],
  ])('%s %s: a coded tool.result, the next call works, the run completes', async (tool, input, code, message) => {
    const { results } = await run(
      `Probe it: call \`mcp_files_${tool}\` with ${input}, call \`mcp_files_echo\` with {"text": "after ${tool}"}.`,
    );
    const [first, second] = results.filter((r) => r.stepId === 'exec-1');
    expect(first).toMatchObject({
      tool: `mcp_files_${tool}`,
      ok: false,
      error: { code, message: expect.stringMatching(message) },
    });
    expect(second).toMatchObject({ tool: 'mcp_files_echo', ok: true, output: `echo: after ${tool}` });
  });

  it('a 10 MB answer is cut to MAX_TOOL_OUTPUT_CHARS, and the worker keeps its memory', async () => {
    const { results } = await run('Get a lot: call `mcp_files_huge` with {"bytes": 10000000}.');
    expect(results.length).toBeGreaterThan(0);
    for (const r of results) {
      expect(r).toMatchObject({ tool: 'mcp_files_huge', ok: true, truncated: true });
      expect((r.output as string).length).toBe(20_000);
    }
    const rssMb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${worker.pid}/status`, 'utf8'))![1]) / 1024;
    expect(rssMb).toBeLessThan(400);
  });

  it('servers killed mid-run fail their calls with TOOL_FAILED; once they are back, the next call works', async () => {
    await run('Warm up: call `mcp_files_echo` with {"text": "warm"}, call `mcp_web_echo` with {"text": "warm"}.');
    const [stdioPid] = pidsIn(files.stdioPids).filter(alive);
    expect(stdioPid).toBeDefined();
    process.kill(stdioPid, 'SIGKILL');
    await stopHttpServer();

    const down = await run(
      'While down: call `mcp_web_echo` with {"text": "down"}, call `mcp_files_echo` with {"text": "again"}, call `mcp_files_echo` with {"text": "and again"}.',
    );
    const [web, files1, files2] = down.results.filter((r) => r.stepId === 'exec-1');
    expect(web).toMatchObject({ tool: 'mcp_web_echo', ok: false, error: { code: 'TOOL_FAILED' } });
    // A call that meets the dead stdio server before its guard has noticed fails with
    // TOOL_FAILED; from then on (at the latest) the server is started again.
    if (!files1.ok) expect(files1).toMatchObject({ tool: 'mcp_files_echo', error: { code: 'TOOL_FAILED' } });
    else expect(files1).toMatchObject({ tool: 'mcp_files_echo', output: 'echo: again' });
    expect(files2).toMatchObject({ tool: 'mcp_files_echo', ok: true, output: 'echo: and again' });
    expect(pidsIn(files.stdioPids).filter(alive)).toHaveLength(1);
    expect(pidsIn(files.stdioPids)).not.toContain(undefined);

    await startHttpServer();
    const back = await run('Back: call `mcp_web_echo` with {"text": "back"}.');
    expect(back.results[0]).toMatchObject({ tool: 'mcp_web_echo', ok: true, output: 'echo: back' });
  });

  it('a note written by a tool is written once per step', async () => {
    const before = existsSync(files.notes) ? readFileSync(files.notes, 'utf8') : '';
    const { results } = await run('Write it down: call `mcp_files_note` with {"text": "once"}.');
    const steps = new Set(results.map((r) => r.stepId));
    const notes = readFileSync(files.notes, 'utf8').slice(before.length).split('\n').filter(Boolean);
    expect(notes).toEqual([...steps].map(() => 'once'));
  });

  it('SIGKILL of the worker ends its stdio servers, the one that ignores SIGTERM too; SIGTERM as well', async () => {
    // Start the stubborn server (and the files server) in this worker.
    await run('Wake them: call `mcp_stubborn_echo` with {"text": "hi"}, call `mcp_files_echo` with {"text": "hi"}.');
    const started = [...pidsIn(files.stubbornPids), ...pidsIn(files.stdioPids)].filter(alive);
    expect(started.length).toBeGreaterThanOrEqual(2);
    worker.kill('SIGKILL');
    await worker.exited;
    await eventually(
      () => Promise.resolve(started.every((pid) => !alive(pid))),
      10_000,
      'the stdio servers to end with their worker',
    );

    const next = await startMaws('worker', workerEnv);
    await run('Wake them again: call `mcp_stubborn_echo` with {"text": "hi"}.');
    const again = pidsIn(files.stubbornPids).filter(alive);
    expect(again).toHaveLength(1);
    await next.stop('SIGTERM');
    await eventually(() => Promise.resolve(!alive(again[0])), 10_000, 'the stubborn server to end with its worker');
  });
});

describe('a bad MCP_SERVERS file', () => {
  it.each([
    ['{"mcpServers": {"x": {"command": ""}}}', /MCP_SERVERS \(.*\): server "x": "command" must be a non-empty string/],
    ['{"mcpServers": {"y": {"url": "ftp://host"}}}', /MCP_SERVERS \(.*\): server "y": "url" must be an http\(s\) URL/],
    ['{"servers": {}}', /MCP_SERVERS \(.*\): the file must be an object with an "mcpServers" object/],
    ['not json', /MCP_SERVERS \(.*\): .* is not JSON/],
  ])('%s stops start-up, naming MCP_SERVERS', async (content, message) => {
    const file = path.join(dir, `bad-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, content);
    const result = await runMawsOnce(['worker'], { MCP_SERVERS: file, REDIS_URL: 'redis://127.0.0.1:1' }, 10_000);
    expect(result.signal).toBeNull();
    expect(result.code).not.toBe(0);
    expect(`${result.stdout}\n${result.stderr}`).toMatch(message);
  });
});
