/**
 * Workloads 3 and 4, runs and chat: zero-delay offline runs through a MAWS gateway and one
 * worker, then two; single runs on an idle system; Clarifier answers while the runs execute.
 * Floor: bare BullMQ, one job of five no-op steps per run, with the same concurrency.
 */
import * as path from 'node:path';
import { Queue } from 'bullmq';
import type { BatchArgs, ChatIdleArgs, SingleRunsArgs } from '../children/client';
import { Ctx, probe } from '../lib/context';
import { formatProfile, summarizeProfile, type ProfileSummary } from '../lib/cpu-profile';
import type { ChildProc } from '../lib/ipc';
import { redisInterval, topCommands, type RedisInterval } from '../lib/redis-stats';
import { CpuMeter } from '../lib/system';
import { openSockets } from '../lib/sockets';
import { makeRow, type Row } from '../lib/table';
import { hrUs, median, round, sleep, summarize, type Summary } from '../lib/util';

const QUERY =
  'Analyze the stock performance of Apple, Google, and Tesla over the last month and summarize the key findings.';
const CHAT = 'What is the current status?';
/** After the unmeasured warm-up batch, the system idles this long before the single runs. */
const WARM_PAUSE_MS = 500;
/** MAWS's default WORKER_CONCURRENCY; the floor worker gets the same. */
const DEFAULT_CONCURRENCY = 8;

interface BatchResult {
  runs: number;
  completed: number;
  failed: number;
  events: number;
  ms: number;
  runMs: number[];
  errors: string[];
  chat: { latMs: number[]; missing: number; errors: string[] } | null;
}

interface BatchSummary {
  workers: number;
  runsPerSec: number;
  eventsPerSec: number;
  completed: number;
  failed: number;
  ms: number;
  runMs: Summary;
  errors: string[];
  cpu?: Record<string, { cpuSeconds: number; cores: number }>;
  redis?: RedisInterval;
  /** GC pauses and event-loop delay of the gateway and each worker over the batch. */
  stalls?: Record<string, Stalls>;
}

interface Stalls {
  gcTotalMs: number;
  gcMaxMs: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

function summarizeBatch(workers: number, b: BatchResult): BatchSummary {
  const seconds = Math.max(1e-6, b.ms / 1000);
  return {
    workers,
    runsPerSec: round(b.completed / seconds, 1),
    eventsPerSec: Math.round(b.events / seconds),
    completed: b.completed,
    failed: b.failed,
    ms: round(b.ms),
    runMs: summarize(b.runMs),
    errors: b.errors,
  };
}

const MAWS_LIMITS = {
  OFFLINE_TOKEN_DELAY_MS: '0',
  MAX_ACTIVE_RUNS_PER_USER: '1000',
  MAX_RUNS_PER_MINUTE_PER_USER: '100000',
  MAX_SOCKETS: '60000',
  MAX_SOCKETS_PER_USER: '60000',
};

async function mawsRuns(ctx: Ctx): Promise<Record<string, unknown>> {
  const { sizes, opts } = ctx;
  await ctx.flushRedis();
  const gateway = await ctx.startMaws('gateway', MAWS_LIMITS);
  const workers = [await ctx.startMaws('worker', MAWS_LIMITS)];
  const client = await ctx.fork('runs-client', 'client.js');
  const out: Record<string, unknown> = {};
  try {
    const open = (group: string, n: number): Promise<void> => openSockets(client, gateway.proc.wsUrl!, group, n);
    await open('single', sizes.singles);
    await open('runs', sizes.runSessions);
    await open('chat', sizes.chatSessions);
    // Measured as a deployment runs, not as a process that has just started: one unmeasured
    // batch first (the floor gets the same), so V8 has compiled the start path, then a pause.
    await open('warm', sizes.runSessions);
    const warm = await client.call<BatchResult>(
      'runsBatch',
      { group: 'warm', event: 'task.start', text: QUERY, timeoutMs: 120_000 } satisfies BatchArgs,
      200_000,
    );
    if (warm.failed > 0) ctx.log(`  warm-up: ${warm.failed} runs failed: ${warm.errors.join('; ')}`);
    await client.call('close', { group: 'warm' });
    await sleep(WARM_PAUSE_MS);

    ctx.log(`runs: ${sizes.singles} single runs on an idle system (message → run.started, → run.completed)`);
    const singles = await client.call<{ startedMs: number[]; wholeMs: number[]; errors: string[] }>(
      'singleRuns',
      { group: 'single', text: QUERY, pauseMs: 20, timeoutMs: 30_000 } satisfies SingleRunsArgs,
      600_000,
    );
    if (singles.errors.length) ctx.log(`  errors: ${singles.errors.join('; ')}`);
    out.single = {
      startedMs: summarize(singles.startedMs),
      wholeMs: summarize(singles.wholeMs),
      errors: singles.errors,
    };
    ctx.log(
      `  run.started p50 ${summarize(singles.startedMs).p50.toFixed(2)} ms; whole run p50 ${summarize(singles.wholeMs).p50.toFixed(2)} ms`,
    );
    const idleChat = await client.call<{ latMs: number[]; missing: number }>('chatIdle', {
      group: 'chat',
      n: sizes.idleChats,
      text: CHAT,
      pauseMs: 20,
    } satisfies ChatIdleArgs);
    out.chatIdle = { ms: summarize(idleChat.latMs), missing: idleChat.missing };

    const chatUnderLoad: number[] = [];
    let chatMissing = 0;
    const chatErrors: string[] = [];
    for (const nWorkers of [1, 2]) {
      if (nWorkers === 2) workers.push(await ctx.startMaws('worker', MAWS_LIMITS));
      const batches: BatchSummary[] = [];
      for (let b = 0; b < sizes.batches; b++) {
        const profiling = opts.profile && nWorkers === 1 && b === 0;
        const profileFiles = {
          gateway: path.join(ctx.profileDir, 'runs-gateway.cpuprofile'),
          worker: path.join(ctx.profileDir, 'runs-worker.cpuprofile'),
        };
        if (profiling) {
          await probe(gateway.probe, '/cpu/start?us=250');
          await probe(workers[0].probe, '/cpu/start?us=250');
        }
        const cpu = new CpuMeter({
          gateway: gateway.proc.pid,
          ...Object.fromEntries(workers.map((w, i) => [`worker${i + 1}`, w.proc.pid])),
          redis: ctx.redis.pid,
          client: client.pid,
        });
        const redisStats = await redisInterval(ctx.admin);
        const probed: [string, number][] = [
          ['gateway', gateway.probe],
          ...workers.map((w, i): [string, number] => [`worker${i + 1}`, w.probe]),
        ];
        await Promise.all(probed.map(([, port]) => probe(port, '/stalls')));
        cpu.start();
        const res = await client.call<BatchResult>(
          'runsBatch',
          {
            group: 'runs',
            event: 'task.start',
            text: QUERY,
            timeoutMs: 120_000,
            chatGroup: 'chat',
            chatIntervalMs: sizes.chatIntervalMs,
            chatText: CHAT,
          } satisfies BatchArgs,
          200_000,
        );
        const summary = summarizeBatch(nWorkers, res);
        summary.cpu = cpu.stop();
        summary.redis = await redisStats.end();
        summary.stalls = Object.fromEntries(
          await Promise.all(probed.map(async ([name, port]) => [name, await probe<Stalls>(port, '/stalls')] as const)),
        );
        if (nWorkers === 1 && res.chat) {
          chatUnderLoad.push(...res.chat.latMs);
          chatMissing += res.chat.missing;
          chatErrors.push(...res.chat.errors.slice(0, 3));
        }
        batches.push(summary);
        ctx.log(
          `runs: ${nWorkers} worker(s), batch ${b + 1}: ${summary.completed}/${res.runs} runs in ${summary.ms.toFixed(0)} ms = ` +
            `${summary.runsPerSec} runs/s, ${summary.eventsPerSec} events/s; cores ${JSON.stringify(Object.fromEntries(Object.entries(summary.cpu).map(([k, v]) => [k, v.cores])))}` +
            `${res.chat ? `; chat p99 ${summarize(res.chat.latMs).p99.toFixed(1)} ms (${res.chat.latMs.length})` : ''}`,
        );
        ctx.log(
          `  event loop delay p99/max (ms): ${Object.entries(summary.stalls)
            .map(([n, st]) => `${n} ${st.loopDelayP99Ms}/${st.loopDelayMaxMs}`)
            .join(', ')}; redis ${topCommands(summary.redis, 6)}`,
        );
        if (summary.failed > 0) ctx.log(`  ${summary.failed} runs failed: ${summary.errors.join('; ')}`);
        if (profiling) {
          await probe(gateway.probe, `/cpu/stop?file=${encodeURIComponent(profileFiles.gateway)}`);
          await probe(workers[0].probe, `/cpu/stop?file=${encodeURIComponent(profileFiles.worker)}`);
          const profiles: Record<string, ProfileSummary> = {
            gateway: summarizeProfile(profileFiles.gateway),
            worker: summarizeProfile(profileFiles.worker),
          };
          for (const [name, p] of Object.entries(profiles))
            console.log(formatProfile(`cpu profile of the ${name} during 200 runs`, p));
          out.profiles = profiles;
        }
        await sleep(300);
      }
      out[`workers=${nWorkers}`] = batches;
    }
    out.chatUnderLoad = { ms: summarize(chatUnderLoad), missing: chatMissing, errors: chatErrors };
  } finally {
    await client.stop();
    for (const w of workers) await ctx.stopMaws(w.proc);
    await ctx.stopMaws(gateway.proc);
  }
  return out;
}

interface Done {
  queuedUs: number;
  startUs: number;
  endUs: number;
}

async function floorRuns(ctx: Ctx): Promise<Record<string, unknown>> {
  const { sizes, opts } = ctx;
  const concurrency = opts.workerConcurrency ?? DEFAULT_CONCURRENCY;
  const queueName = 'floor';
  const u = new URL(ctx.redis.url);
  const queue = new Queue(queueName, {
    connection: { host: u.hostname, port: Number(u.port), maxRetriesPerRequest: null },
    prefix: 'bench:q',
  });
  queue.on('error', () => undefined);
  const workers: ChildProc[] = [];
  let waiting: { need: number; got: Done[]; resolve: () => void } | null = null;
  const onDone = (d: unknown): void => {
    if (!waiting) return;
    waiting.got.push(d as Done);
    if (waiting.got.length >= waiting.need) waiting.resolve();
  };
  const addWorker = async (): Promise<void> => {
    const w = await ctx.fork(`floor-worker-${workers.length + 1}`, 'bullmq-floor.js', [
      ctx.redis.url,
      queueName,
      String(concurrency),
    ]);
    w.on('done', onDone);
    await w.call('ready');
    workers.push(w);
  };
  let seq = 0;
  // The options MAWS's producer gives a run's job.
  const add = (): Promise<unknown> =>
    queue.add(
      'run',
      { queuedUs: hrUs() },
      {
        jobId: `run-${seq++}`,
        attempts: 3,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: { age: 3600, count: 1000 },
        removeOnFail: { age: 24 * 3600 },
      },
    );
  /** One batch: a job for each of the runs' sessions, all at once. */
  const addBatch = (): Promise<unknown> => Promise.all(Array.from({ length: sizes.runSessions }, add));
  const collect = (need: number, timeoutMs: number, start: () => Promise<unknown>): Promise<Done[]> =>
    new Promise<Done[]>((resolve, reject) => {
      const got: Done[] = [];
      const timer = setTimeout(
        () => reject(new Error(`floor: ${got.length}/${need} jobs done in ${timeoutMs} ms`)),
        timeoutMs,
      );
      waiting = {
        need,
        got,
        resolve: () => {
          clearTimeout(timer);
          waiting = null;
          resolve(got);
        },
      };
      start().catch(reject);
    });
  const out: Record<string, unknown> = { concurrency };
  try {
    await addWorker();
    await collect(sizes.runSessions, 120_000, addBatch);
    await sleep(WARM_PAUSE_MS);
    const started: number[] = [];
    const whole: number[] = [];
    for (let i = 0; i < sizes.singles; i++) {
      const [d] = await collect(1, 30_000, add);
      started.push((d.startUs - d.queuedUs) / 1000);
      whole.push((d.endUs - d.queuedUs) / 1000);
      await sleep(20);
    }
    out.single = { startedMs: summarize(started), wholeMs: summarize(whole) };
    for (const nWorkers of [1, 2]) {
      if (nWorkers === 2) await addWorker();
      const batches: { runsPerSec: number; ms: number }[] = [];
      for (let b = 0; b < sizes.batches; b++) {
        const t0 = hrUs();
        const done = await collect(sizes.runSessions, 120_000, addBatch);
        const ms = (Math.max(...done.map((d) => d.endUs)) - t0) / 1000;
        batches.push({ runsPerSec: round(sizes.runSessions / (ms / 1000), 1), ms: round(ms) });
        await sleep(200);
      }
      out[`workers=${nWorkers}`] = batches;
      ctx.log(`runs floor: ${nWorkers} worker(s): ${batches.map((b) => b.runsPerSec).join(', ')} runs/s`);
    }
  } finally {
    for (const w of workers) await w.call('close', {}, 10_000).catch(() => undefined);
    for (const w of workers) await w.stop();
    await queue.close();
  }
  return out;
}

export async function runsWorkload(ctx: Ctx): Promise<void> {
  const details: Record<string, unknown> = {};
  ctx.details.runs = details;
  details.maws = await mawsRuns(ctx);
  details.floor = await floorRuns(ctx);
  const m = details.maws as Record<string, unknown>;
  const f = details.floor as Record<string, unknown>;
  const rate = (batches: unknown, key: 'runsPerSec' | 'eventsPerSec'): number | null => {
    const list = batches as { runsPerSec: number; eventsPerSec?: number }[] | undefined;
    const values = (list ?? []).map((b) => b[key]).filter((v): v is number => typeof v === 'number');
    return values.length ? median(values) : null;
  };
  const n = ctx.sizes.runSessions;
  const one = rate(m['workers=1'], 'runsPerSec');
  const ms = (x: unknown, k: 'startedMs' | 'wholeMs', p: 'p50' | 'p99'): number | null =>
    (x as Record<string, Summary> | undefined)?.[k]?.n ? (x as Record<string, Summary>)[k][p] : null;
  const failed = ((m['workers=1'] as BatchSummary[]) ?? []).reduce((s, b) => s + b.failed, 0);
  const runs: Row[] = [
    makeRow(
      'runs',
      `${n} runs at once, 1 worker: runs/s`,
      'runs/s',
      one,
      rate(f['workers=1'], 'runsPerSec'),
      { kind: 'abs>=', value: 200 },
      failed > 0 ? `${failed} runs failed` : undefined,
    ),
    makeRow(
      'runs',
      `${n} runs at once, 2 workers: runs/s`,
      'runs/s',
      rate(m['workers=2'], 'runsPerSec'),
      rate(f['workers=2'], 'runsPerSec'),
      {
        kind: 'abs>',
        value: one ?? Infinity,
        label: `1 worker (${one ?? '—'})`,
      },
    ),
    makeRow('runs', `${n} runs at once, 1 worker: events/s`, 'ev/s', rate(m['workers=1'], 'eventsPerSec'), null),
    makeRow('runs', `${n} runs at once, 2 workers: events/s`, 'ev/s', rate(m['workers=2'], 'eventsPerSec'), null),
    makeRow(
      'runs',
      'idle: message → run.started p50',
      'ms',
      ms(m.single, 'startedMs', 'p50'),
      ms(f.single, 'startedMs', 'p50'),
      {
        kind: 'abs<',
        value: 3,
      },
    ),
    makeRow(
      'runs',
      'idle: message → run.started p99',
      'ms',
      ms(m.single, 'startedMs', 'p99'),
      ms(f.single, 'startedMs', 'p99'),
      {
        kind: 'abs<',
        value: 15,
      },
    ),
    makeRow('runs', 'idle: whole run p50', 'ms', ms(m.single, 'wholeMs', 'p50'), ms(f.single, 'wholeMs', 'p50')),
    makeRow('runs', 'idle: whole run p99', 'ms', ms(m.single, 'wholeMs', 'p99'), ms(f.single, 'wholeMs', 'p99')),
  ];
  ctx.report('Runs: zero-delay offline runs vs bare BullMQ (one job of five no-op steps)', runs);
  const load = m.chatUnderLoad as { ms: Summary; missing: number } | undefined;
  const idle = m.chatIdle as { ms: Summary; missing: number } | undefined;
  const missing = (load?.missing ?? 0) > 0 ? `${load!.missing} questions got no answer` : undefined;
  const chat: Row[] = [
    makeRow('chat', `during ${n} runs: chat.send → chat.response p50`, 'ms', load?.ms.n ? load.ms.p50 : null, null),
    makeRow(
      'chat',
      `during ${n} runs: chat.send → chat.response p99`,
      'ms',
      load?.ms.n ? load.ms.p99 : null,
      null,
      { kind: 'abs<', value: 50 },
      missing ?? (load ? `${load.ms.n} answers` : undefined),
    ),
    makeRow('chat', 'idle: chat.send → chat.response p50', 'ms', idle?.ms.n ? idle.ms.p50 : null, null),
    makeRow('chat', 'idle: chat.send → chat.response p99', 'ms', idle?.ms.n ? idle.ms.p99 : null, null),
  ];
  ctx.report('Chat: Clarifier answers while the runs execute', chat);
}
