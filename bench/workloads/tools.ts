/**
 * Workload 6, tools (issue 14): what MAWS adds to a tool call, and what tool calls cost a run.
 *
 *  1. Tool round, idle: single runs whose executors each make three `calculator` calls (the
 *     offline model's rule 3, one call per round); the time from a `tool.called` frame's
 *     arrival on the client's socket to its `tool.result`'s. That round holds storing
 *     `tool.called` (fenced, before the tool runs), the call itself, writing `tool.result` and
 *     relaying both. Floor: the same calculator call through the same runner (runTool) in
 *     the bench's own process, timed alone: the tool's own cost. Target: MAWS adds under 1 ms
 *     at p50.
 *  2. Runs with tools: the same runs, runSessions at once at zero model delay, on one worker;
 *     runs/s beside the same runs on a worker with TOOLS=none (the model then writes without
 *     calling anything: the same steps and text, less the tool rounds).
 */
import type { BatchArgs, SingleRunsArgs } from '../children/client';
import { Ctx } from '../lib/context';
import { openSockets } from '../lib/sockets';
import { makeRow, type Row } from '../lib/table';
import { hrUs, median, round, sleep, summarize, type Summary } from '../lib/util';
import { calculator } from '../../src/tools/calculator';
import { runTool } from '../../src/tools/tool-runner';

/** Three expressions: each executor calls the calculator three times, one round each. */
const QUERY = 'Check 17*23, (1200 - 950) / 950 and 2^10 for the quarterly budget of the team.';
const EXPRESSIONS = ['17*23', '(1200 - 950) / 950', '2^10'];
const FLOOR_CALLS = { full: 3000, quick: 1000, smoke: 100 } as const;

const MAWS_ENV = {
  OFFLINE_TOKEN_DELAY_MS: '0',
  MAX_ACTIVE_RUNS_PER_USER: '1000',
  MAX_RUNS_PER_MINUTE_PER_USER: '100000',
  MAX_SOCKETS: '60000',
  MAX_SOCKETS_PER_USER: '60000',
};

interface BatchResult {
  runs: number;
  completed: number;
  failed: number;
  ms: number;
  errors: string[];
}

/** runSessions runs at once, `batches` times after one warm batch: runs/s of each, and the tool rounds seen. */
async function batches(ctx: Ctx, toolsEnv: Record<string, string>, label: string) {
  const { sizes } = ctx;
  await ctx.flushRedis();
  const gateway = await ctx.startMaws('gateway', MAWS_ENV);
  const worker = await ctx.startMaws('worker', { ...MAWS_ENV, ...toolsEnv });
  const client = await ctx.fork(`tools-client-${label}`, 'client.js');
  try {
    const open = (group: string, n: number): Promise<void> => openSockets(client, gateway.proc.wsUrl!, group, n);
    await open('warm', sizes.runSessions);
    await open('runs', sizes.runSessions);
    await open('single', sizes.singles);
    const batch = (group: string): Promise<BatchResult> =>
      client.call<BatchResult>(
        'runsBatch',
        { group, event: 'task.start', text: QUERY, timeoutMs: 120_000 } satisfies BatchArgs,
        200_000,
      );
    await batch('warm');
    await sleep(500);
    // Idle rounds first: one run at a time.
    await client.call('toolRounds');
    const singles = await client.call<{ errors: string[] }>(
      'singleRuns',
      { group: 'single', text: QUERY, pauseMs: 20, timeoutMs: 30_000 } satisfies SingleRunsArgs,
      600_000,
    );
    if (singles.errors.length) ctx.log(`  tools ${label}: single runs: ${singles.errors.join('; ')}`);
    const idleRounds = (await client.call<{ ms: number[] }>('toolRounds')).ms;
    const rates: number[] = [];
    let failed = 0;
    for (let b = 0; b < sizes.batches; b++) {
      const res = await batch('runs');
      failed += res.failed;
      const rate = round(res.completed / Math.max(1e-6, res.ms / 1000), 1);
      rates.push(rate);
      ctx.log(`tools ${label}: batch ${b + 1}: ${res.completed}/${res.runs} runs = ${rate} runs/s`);
      if (res.failed > 0) ctx.log(`  ${res.failed} failed: ${res.errors.join('; ')}`);
      await sleep(300);
    }
    const loadRounds = (await client.call<{ ms: number[] }>('toolRounds')).ms;
    return {
      rates,
      runsPerSec: median(rates),
      failed,
      idleRounds: summarize(idleRounds),
      loadRounds: summarize(loadRounds),
    };
  } finally {
    await client.stop();
    await ctx.stopMaws(worker.proc);
    await ctx.stopMaws(gateway.proc);
  }
}

/** The floor of one round: the calculator through runTool, in this process, one call at a time. */
async function directCalls(n: number): Promise<Summary> {
  const signal = new AbortController().signal;
  const options = { signal, timeoutMs: 30_000, maxOutputChars: 20_000 };
  for (let i = 0; i < 200; i++) await runTool(calculator, { expression: EXPRESSIONS[i % 3] }, options);
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = hrUs();
    const outcome = await runTool(calculator, { expression: EXPRESSIONS[i % 3] }, options);
    ms.push((hrUs() - t0) / 1000);
    if (!outcome.ok) throw new Error(`the calculator failed on ${EXPRESSIONS[i % 3]}: ${outcome.error?.message}`);
  }
  return summarize(ms);
}

export async function toolsWorkload(ctx: Ctx): Promise<void> {
  const details: Record<string, unknown> = {};
  ctx.details.tools = details;
  ctx.log(`tools: runs whose executors make 3 calculator calls each ("${QUERY}")`);
  const withTools = await batches(ctx, {}, 'on');
  const without = await batches(ctx, { TOOLS: 'none' }, 'off');
  const floor = await directCalls(FLOOR_CALLS[ctx.opts.mode]);
  Object.assign(details, { withTools, without, floor });
  const n = ctx.sizes.runSessions;
  const p = (s: Summary, k: 'p50' | 'p99'): number | null => (s.n ? s[k] : null);
  const rows: Row[] = [
    makeRow(
      'tools',
      'idle: tool.called → tool.result (calculator) p50',
      'ms',
      p(withTools.idleRounds, 'p50'),
      p(floor, 'p50'),
      { kind: 'added<', value: 1 },
      `${withTools.idleRounds.n} rounds; floor: the same call through runTool in-process`,
    ),
    makeRow(
      'tools',
      'idle: tool.called → tool.result (calculator) p99',
      'ms',
      p(withTools.idleRounds, 'p99'),
      p(floor, 'p99'),
    ),
    makeRow(
      'tools',
      `during ${n} runs: tool.called → tool.result p50`,
      'ms',
      p(withTools.loadRounds, 'p50'),
      p(floor, 'p50'),
    ),
    makeRow(
      'tools',
      `${n} runs at once, 3 calculator calls per executor: runs/s`,
      'runs/s',
      withTools.runsPerSec,
      without.runsPerSec,
      undefined,
      `floor: the same runs with TOOLS=none${withTools.failed + without.failed > 0 ? `; ${withTools.failed + without.failed} runs failed` : ''}`,
    ),
  ];
  ctx.report('Tools: a calculator round, and runs that call tools vs the same runs without', rows);
}
