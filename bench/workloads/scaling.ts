/**
 * Workload: scaling (issue 18). Where work is concurrent, more worker processes finish it
 * sooner: `runs` runs of the seed's question at once (each its own user and session) with a
 * real model's pace (OFFLINE_TOKEN_DELAY_MS=20; 1 in smoke mode), on 1, 2 and 4 worker
 * processes at the same WORKER_CONCURRENCY, beside the ideal (one worker's time over the
 * workers). On a 2-core machine zero-delay runs are CPU-bound and cannot scale; runs that
 * wait on their model can, until the cores are busy.
 */
import type { BatchArgs } from '../children/client';
import { Ctx } from '../lib/context';
import { openSockets } from '../lib/sockets';
import { CpuMeter } from '../lib/system';
import { makeRow, type Row } from '../lib/table';
import { round } from '../lib/util';
import { QUERY } from '../../test/support/scenario';

const SIZES = {
  full: { runs: 1000, concurrency: 64 },
  quick: { runs: 128, concurrency: 32 },
  smoke: { runs: 24, concurrency: 4 },
} as const;
const WORKERS = [1, 2, 4] as const;

interface Outcome {
  workers: number;
  seconds: number;
  completed: number;
  failed: number;
  errors: string[];
  cores: Record<string, number>;
}

export async function scalingWorkload(ctx: Ctx): Promise<void> {
  const { runs, concurrency } = SIZES[ctx.opts.mode];
  const delay = ctx.opts.mode === 'smoke' ? '1' : '20';
  const env = {
    OFFLINE_TOKEN_DELAY_MS: delay,
    WORKER_CONCURRENCY: String(concurrency),
    MAX_ACTIVE_RUNS_PER_USER: '100000',
    MAX_RUNS_PER_MINUTE_PER_USER: '100000',
    MAX_SOCKETS: '60000',
    MAX_SOCKETS_PER_USER: '60000',
  };
  const outcomes: Outcome[] = [];
  for (const n of WORKERS) {
    await ctx.flushRedis();
    const gateway = await ctx.startMaws('gateway', env);
    const workers = [];
    for (let i = 0; i < n; i++) workers.push(await ctx.startMaws('worker', env));
    const client = await ctx.fork(`scaling-${n}-client`, 'client.js');
    try {
      await openSockets(client, gateway.proc.wsUrl!, 'scale', runs);
      const cpu = new CpuMeter({
        gateway: gateway.proc.pid,
        ...Object.fromEntries(workers.map((w, i) => [`worker${i + 1}`, w.proc.pid])),
        redis: ctx.redis.pid,
      });
      cpu.start();
      const t0 = performance.now();
      const res = await client.call<{ completed: number; failed: number; errors: string[] }>(
        'runsBatch',
        { group: 'scale', event: 'task.start', text: QUERY, timeoutMs: 1_800_000 } satisfies BatchArgs,
        1_900_000,
      );
      const seconds = (performance.now() - t0) / 1000;
      const cores = Object.fromEntries(Object.entries(cpu.stop()).map(([k, v]) => [k, v.cores]));
      outcomes.push({
        workers: n,
        seconds: round(seconds, 2),
        completed: res.completed,
        failed: res.failed,
        errors: res.errors.slice(0, 3),
        cores,
      });
      ctx.log(
        `scaling: ${n} worker(s): ${res.completed}/${runs} runs in ${seconds.toFixed(1)} s; cores ${JSON.stringify(cores)}`,
      );
    } finally {
      await client.stop();
      for (const w of workers) await ctx.stopMaws(w.proc);
      await ctx.stopMaws(gateway.proc);
    }
  }
  ctx.details.scaling = { runs, concurrency, delayMs: Number(delay), outcomes };
  const one = outcomes[0].seconds;
  const rows: Row[] = outcomes.map((o) =>
    makeRow(
      'scaling',
      `${runs} runs at once, ${o.workers} worker${o.workers > 1 ? 's' : ''} × ${concurrency}: total time (ideal as floor)`,
      's',
      o.seconds,
      round(one / o.workers, 2),
      undefined,
      o.failed > 0 ? `${o.failed} runs failed: ${o.errors.join('; ')}` : undefined,
    ),
  );
  ctx.report(`Scaling: ${runs} runs at ${delay} ms/token on 1, 2 and 4 workers`, rows);
}
