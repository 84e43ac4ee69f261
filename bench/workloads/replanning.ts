/**
 * Workload 8, replanning (issue 14): what a step that fails for good costs a run.
 *
 * Single runs of the seed's question at zero model delay, with the offline model's fault
 * switch failing the Google step (`[offline-fail: of Google]`): agent.failed, the planner's
 * replan-1, plan.updated, then the rest. Rows: the time from agent.failed to plan.updated
 * (the replan step: checkpoint, the planner's call, the new version stored and relayed)
 * beside the planner's own first step in the same runs (agent.started → agent.finished of
 * `plan`, the same kind of call); and the whole run beside the same run without the fault.
 */
import type { SingleRunsArgs } from '../children/client';
import { Ctx } from '../lib/context';
import { openSockets } from '../lib/sockets';
import { makeRow, type Row } from '../lib/table';
import { sleep, summarize, type Summary } from '../lib/util';
import { QUERY } from '../../test/support/scenario';

const MAWS_ENV = {
  OFFLINE_TOKEN_DELAY_MS: '0',
  MAX_ACTIVE_RUNS_PER_USER: '1000',
  MAX_RUNS_PER_MINUTE_PER_USER: '100000',
};
const MARKS = ['agent.started:plan', 'agent.finished:plan', 'agent.failed', 'plan.updated'];

interface Singles {
  wholeMs: number[];
  marksMs: Record<string, number>[];
  errors: string[];
}

export async function replanningWorkload(ctx: Ctx): Promise<void> {
  const details: Record<string, unknown> = {};
  ctx.details.replanning = details;
  await ctx.flushRedis();
  const gateway = await ctx.startMaws('gateway', MAWS_ENV);
  const worker = await ctx.startMaws('worker', MAWS_ENV);
  const client = await ctx.fork('replanning-client', 'client.js');
  const runs: Record<string, Singles> = {};
  try {
    for (const [label, text] of [
      ['plain', QUERY],
      ['replanned', `[offline-fail: of Google] ${QUERY}`],
    ] as const) {
      await openSockets(client, gateway.proc.wsUrl!, label, ctx.sizes.singles);
      runs[label] = await client.call<Singles>(
        'singleRuns',
        { group: label, text, pauseMs: 20, timeoutMs: 30_000, marks: MARKS } satisfies SingleRunsArgs,
        600_000,
      );
      if (runs[label].errors.length) ctx.log(`  replanning ${label}: ${runs[label].errors.join('; ')}`);
      await sleep(300);
    }
  } finally {
    await client.stop();
    await ctx.stopMaws(worker.proc);
    await ctx.stopMaws(gateway.proc);
  }
  const between = (singles: Singles, from: string, to: string): Summary =>
    summarize(singles.marksMs.filter((m) => m[from] !== undefined && m[to] !== undefined).map((m) => m[to] - m[from]));
  const replan = between(runs.replanned, 'agent.failed', 'plan.updated');
  const planner = between(runs.replanned, 'agent.started:plan', 'agent.finished:plan');
  const whole = { replanned: summarize(runs.replanned.wholeMs), plain: summarize(runs.plain.wholeMs) };
  Object.assign(details, { replan, planner, whole });
  const p = (s: Summary, k: 'p50' | 'p99'): number | null => (s.n ? s[k] : null);
  const rows: Row[] = [
    makeRow(
      'replanning',
      'agent.failed → plan.updated (the replan step) p50',
      'ms',
      p(replan, 'p50'),
      p(planner, 'p50'),
      undefined,
      `${replan.n} runs; floor: the planner's first step in the same runs`,
    ),
    makeRow('replanning', 'agent.failed → plan.updated p99', 'ms', p(replan, 'p99'), p(planner, 'p99')),
    makeRow(
      'replanning',
      'whole run with one step failed and replanned p50',
      'ms',
      p(whole.replanned, 'p50'),
      p(whole.plain, 'p50'),
      undefined,
      'floor: the same question with no fault (4 executor steps, no replan)',
    ),
  ];
  ctx.report('Replanning: a failed step, the revised plan, and the whole run', rows);
}
