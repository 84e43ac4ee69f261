/**
 * Workload: tracing (issue 17). What OpenTelemetry traces cost: the relay's delivered events/s
 * and, on an idle system, a run's `message` → `run.started` and whole run, for a gateway and a
 * worker with tracing on (exporting every span over OTLP/HTTP to a sink in this process, on
 * loopback) beside the same with tracing off, the floor, measured in the same run. The relay
 * itself is not traced per event; a run is (about 40 spans at zero token delay).
 */
import { startOtlpSink } from '../../test/support/otlp-sink';
import { EventLog, openRedis } from '../lib/built';
import { Ctx } from '../lib/context';
import { openSockets } from '../lib/sockets';
import { makeRow } from '../lib/table';
import { round, sleep, summarize, type Summary } from '../lib/util';
import type { SingleRunsArgs } from '../children/client';
import { mawsPublisher, openAll, saturate, type ThroughputResult } from './relay';

const QUERY =
  'Analyze the stock performance of Apple, Google, and Tesla over the last month and summarize the key findings.';
const LIMITS = {
  OFFLINE_TOKEN_DELAY_MS: '0',
  MAX_ACTIVE_RUNS_PER_USER: '1000',
  MAX_RUNS_PER_MINUTE_PER_USER: '100000',
  MAX_SOCKETS: '60000',
  MAX_SOCKETS_PER_USER: '60000',
};
/** Unmeasured runs first, so neither side is measured cold. */
const WARM_RUNS = 10;

type Mode = 'off' | 'on';

interface ModeResult {
  relay: ThroughputResult;
  startedMs: Summary;
  wholeMs: Summary;
  errors: string[];
}

async function measure(ctx: Ctx, mode: Mode, endpoint: string, sessions: number): Promise<ModeResult> {
  const { sizes, opts } = ctx;
  await ctx.flushRedis();
  const env = { ...LIMITS, ...(mode === 'on' ? { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint } : {}) };
  const gateway = await ctx.startMaws('gateway', env);
  const worker = await ctx.startMaws('worker', env);
  const client = await ctx.fork(`tracing-${mode}-client`, 'client.js');
  const pubRedis = openRedis({ url: ctx.redis.url }, 'bench-publisher', {}, { coalesceWrites: true });
  try {
    const wsUrl = gateway.proc.wsUrl!;
    const group = `trace${mode}`;
    await openAll(ctx, [client], group, wsUrl, sessions, true);
    const log = new EventLog(pubRedis, { maxEvents: 10_000, ttlSeconds: 24 * 3600 });
    const pids = { server: gateway.proc.pid, redis: ctx.redis.pid, bench: process.pid, client: client.pid };
    const relay = await saturate(ctx, [client], mawsPublisher(log, group, sessions), sessions, opts.batch, pids);
    await client.call('close', { group });
    ctx.log(`tracing ${mode}: relay ${relay.eventsPerSec} events/s, server ${relay.serverUsPerEvent} µs/event`);

    await openSockets(client, wsUrl, 'warm', WARM_RUNS);
    await client.call('singleRuns', {
      group: 'warm',
      text: QUERY,
      pauseMs: 0,
      timeoutMs: 30_000,
    } satisfies SingleRunsArgs);
    await sleep(500);
    await openSockets(client, wsUrl, 'single', sizes.singles);
    const singles = await client.call<{ startedMs: number[]; wholeMs: number[]; errors: string[] }>(
      'singleRuns',
      { group: 'single', text: QUERY, pauseMs: 20, timeoutMs: 30_000 } satisfies SingleRunsArgs,
      600_000,
    );
    const result = {
      relay,
      startedMs: summarize(singles.startedMs),
      wholeMs: summarize(singles.wholeMs),
      errors: singles.errors,
    };
    ctx.log(
      `tracing ${mode}: run.started p50 ${result.startedMs.p50.toFixed(2)} ms, whole run p50 ${result.wholeMs.p50.toFixed(2)} ms`,
    );
    return result;
  } finally {
    pubRedis.disconnect();
    await client.stop();
    await ctx.stopMaws(gateway.proc);
    await ctx.stopMaws(worker.proc);
  }
}

export async function tracingWorkload(ctx: Ctx): Promise<void> {
  const sink = await startOtlpSink();
  const sessions = Math.min(...ctx.sizes.relaySessions);
  const res = {} as Record<Mode, ModeResult>;
  try {
    for (const mode of ['off', 'on'] as const) res[mode] = await measure(ctx, mode, sink.url, sessions);
  } finally {
    await sink.close();
  }
  const runs = ctx.sizes.singles + WARM_RUNS;
  ctx.details.tracing = {
    sessions,
    batch: ctx.opts.batch,
    off: res.off,
    on: res.on,
    spansExported: sink.spans.length,
    spansPerRun: round(sink.spans.length / runs, 1),
    exportRequests: sink.requests,
  };
  const { on, off } = res;
  const errors = [...off.errors, ...on.errors];
  ctx.report('Tracing: MAWS with OpenTelemetry traces on (OTLP/HTTP to a loopback sink) vs off', [
    makeRow(
      'tracing',
      `relay S=${sessions}: delivered events/s, tracing on`,
      'ev/s',
      on.relay.eventsPerSec,
      off.relay.eventsPerSec,
      { kind: 'ratio>=', value: 0.9 },
    ),
    makeRow(
      'tracing',
      'idle: message → run.started p50, tracing on',
      'ms',
      on.startedMs.p50,
      off.startedMs.p50,
      undefined,
      errors.length > 0 ? `${errors.length} runs failed: ${errors.slice(0, 2).join('; ')}` : undefined,
    ),
    makeRow('tracing', 'idle: message → run.started p99, tracing on', 'ms', on.startedMs.p99, off.startedMs.p99),
    makeRow('tracing', 'idle: whole run p50, tracing on', 'ms', on.wholeMs.p50, off.wholeMs.p50),
    makeRow('tracing', 'spans exported per run (tracing on)', 'spans', round(sink.spans.length / runs, 1), null),
  ]);
}
