/**
 * Workload 9, runs that wait on the person (issue 15, plan review): what waking a parked run
 * costs, and what a parked run holds.
 *
 *  1. Wake: single reviewed runs at zero model delay; each request is answered 20 ms after it
 *     arrives (its job parked by then); the time from sending `run.respond` to the first
 *     executor's `agent.started`. That holds the gateway storing the answer (one script),
 *     promoting the job, a worker taking it, activating the run, reading its record and
 *     starting the step. Floor: a bare BullMQ job parked the same way (moveToDelayed and
 *     DelayedError) and promoted, timed from `promote()` to its processor starting again.
 *     Targets (issue 15): p50 under 20 ms, p99 under 100 ms.
 *  2. Parked: two batches of `parked` reviewed runs, waiting at once; for the second, Redis
 *     memory per parked run (INFO used_memory, before and after, divided by the runs: their
 *     records, histories and jobs) and the worker's resident memory before and after (a
 *     parked run must cost it nothing; the first batch warms the worker).
 */
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import type { ReviewRunsArgs } from '../children/client';
import { Ctx } from '../lib/context';
import { openSockets } from '../lib/sockets';
import { rssBytes } from '../lib/system';
import { makeRow, type Row } from '../lib/table';
import { hrUs, sleep, summarize, type Summary } from '../lib/util';
import { QUERY } from '../../test/support/scenario';

const MAWS_ENV = {
  OFFLINE_TOKEN_DELAY_MS: '0',
  MAX_ACTIVE_RUNS_PER_USER: '100000',
  MAX_RUNS_PER_MINUTE_PER_USER: '100000',
  MAX_SOCKETS: '60000',
  MAX_SOCKETS_PER_USER: '60000',
};
const PARKED = { full: 1000, quick: 300, smoke: 50 } as const;
const FLOOR_WAKES = { full: 300, quick: 100, smoke: 20 } as const;

/** A bare BullMQ job parked (delayed) and promoted, `n` times: promote() → its processor running again. */
async function bareWakes(ctx: Ctx, n: number): Promise<Summary> {
  const url = new URL(ctx.redis.url);
  const connection = { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null };
  const queue = new Queue('wake-floor', { connection, prefix: 'bench:w' });
  const woken = new Map<string, (t: number) => void>();
  const parked = new Map<string, () => void>();
  const worker = new Worker(
    'wake-floor',
    async (job: Job, token?: string) => {
      const wake = woken.get(job.id ?? '');
      if (wake) return wake(hrUs());
      await job.moveToDelayed(Date.now() + 3_600_000, token);
      parked.get(job.id ?? '')?.();
      throw new DelayedError();
    },
    { connection, prefix: 'bench:w', concurrency: 8 },
  );
  worker.on('error', () => undefined);
  const ms: number[] = [];
  try {
    await worker.waitUntilReady();
    for (let i = 0; i < n; i++) {
      const id = `w${i}`;
      const isParked = new Promise<void>((resolve) => parked.set(id, resolve));
      const job = await queue.add('wake', {}, { jobId: id, removeOnComplete: true });
      await isParked;
      await sleep(20);
      const started = new Promise<number>((resolve) => woken.set(id, resolve));
      const t0 = hrUs();
      await job.promote();
      ms.push(((await started) - t0) / 1000);
    }
  } finally {
    await worker.close();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  }
  return summarize(ms);
}

async function usedMemory(ctx: Ctx): Promise<number> {
  const info = await ctx.admin.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
}

export async function waitingWorkload(ctx: Ctx): Promise<void> {
  const details: Record<string, unknown> = {};
  ctx.details.waiting = details;
  const parkedRuns = PARKED[ctx.opts.mode];
  await ctx.flushRedis();
  const gateway = await ctx.startMaws('gateway', MAWS_ENV);
  const worker = await ctx.startMaws('worker', MAWS_ENV);
  const client = await ctx.fork('waiting-client', 'client.js');
  let wake: Summary;
  let parked: { runs: number; redisBytesPerRun: number; workerRssBefore: number; workerRssAfter: number };
  try {
    await openSockets(client, gateway.proc.wsUrl!, 'review', ctx.sizes.singles);
    const reviews = await client.call<{ wakeMs: number[]; errors: string[] }>(
      'reviewRuns',
      { group: 'review', text: QUERY, pauseMs: 20, timeoutMs: 30_000 } satisfies ReviewRunsArgs,
      600_000,
    );
    if (reviews.errors.length) ctx.log(`  waiting: reviewed runs: ${reviews.errors.join('; ')}`);
    wake = summarize(reviews.wakeMs);

    // A first batch parked warms the worker (its heap grows to what a thousand planner steps
    // need); a second batch shows what parked runs hold: with nothing held, it adds nothing.
    await openSockets(client, gateway.proc.wsUrl!, 'warm', parkedRuns);
    await openSockets(client, gateway.proc.wsUrl!, 'parked', parkedRuns);
    const warm = await client.call<{ waiting: number; errors: string[] }>(
      'parkMany',
      { group: 'warm', text: QUERY, timeoutMs: 300_000 },
      400_000,
    );
    if (warm.errors.length) ctx.log(`  waiting: parking (warm): ${warm.errors.join('; ')}`);
    await sleep(2_000);
    const memoryBefore = await usedMemory(ctx);
    const rssBefore = rssBytes(worker.proc.pid) ?? 0;
    const parking = await client.call<{ waiting: number; errors: string[] }>(
      'parkMany',
      { group: 'parked', text: QUERY, timeoutMs: 300_000 },
      400_000,
    );
    if (parking.errors.length) ctx.log(`  waiting: parking: ${parking.errors.join('; ')}`);
    await sleep(2_000);
    const memoryAfter = await usedMemory(ctx);
    const rssAfter = rssBytes(worker.proc.pid) ?? 0;
    parked = {
      runs: parking.waiting,
      redisBytesPerRun: Math.round((memoryAfter - memoryBefore) / Math.max(1, parking.waiting)),
      workerRssBefore: rssBefore,
      workerRssAfter: rssAfter,
    };
    ctx.log(
      `waiting: ${warm.waiting} + ${parking.waiting} runs parked; Redis +${parked.redisBytesPerRun} B each; worker RSS ${rssBefore} → ${rssAfter} B`,
    );
    await client.call('cancelAll', { group: 'warm' });
    await client.call('cancelAll', { group: 'parked' });
    await sleep(1_000);
  } finally {
    await client.stop();
    await ctx.stopMaws(worker.proc);
    await ctx.stopMaws(gateway.proc);
  }
  const floor = await bareWakes(ctx, FLOOR_WAKES[ctx.opts.mode]);
  Object.assign(details, { wake, floor, parked });
  const p = (s: Summary, k: 'p50' | 'p99'): number | null => (s.n ? s[k] : null);
  const mb = (bytes: number): number => Math.round((bytes / (1024 * 1024)) * 10) / 10;
  const rows: Row[] = [
    makeRow(
      'waiting',
      'run.respond → next agent.started p50',
      'ms',
      p(wake, 'p50'),
      p(floor, 'p50'),
      { kind: 'abs<', value: 20 },
      `${wake.n} runs; floor: a bare BullMQ job parked (moveToDelayed) and promoted, promote() → processing`,
    ),
    makeRow('waiting', 'run.respond → next agent.started p99', 'ms', p(wake, 'p99'), p(floor, 'p99'), {
      kind: 'abs<',
      value: 100,
    }),
    makeRow(
      'waiting',
      `${parked.runs} runs parked: Redis memory per run`,
      'KiB',
      Math.round(parked.redisBytesPerRun / 102.4) / 10,
      null,
      undefined,
      'each holds its record, its history so far (the plan streamed) and its delayed job',
    ),
    makeRow(
      'waiting',
      `${parked.runs} more runs parked: worker resident memory`,
      'MB',
      mb(parked.workerRssAfter),
      mb(parked.workerRssBefore),
      undefined,
      `floor: the same worker with ${parked.runs} runs parked already (the first batch warms it)`,
    ),
  ];
  ctx.report('Waiting on the person: waking a parked run, and what parked runs hold', rows);
}
