/**
 * Workload: storage (issue 18). What Redis holds for a run and for a session, and that a busy
 * session's run records are bounded by count, not only by time.
 *
 *  1. Runs at the default model delay (OFFLINE_TOKEN_DELAY_MS=20, docker-compose's default; 1
 *     in smoke mode): `runs` sessions, one task each, at once. Redis bytes per run (INFO
 *     used_memory after less before, over the runs: histories, records, indexes, the finished
 *     jobs BullMQ keeps an hour), and the parts (MEMORY USAGE of each session's keys). Floor:
 *     the stream entries' own bytes (the frames as MAWS wrote them) per run.
 *  2. The same sessions, idle now: Redis bytes per session (its keys) beside its frames' bytes.
 *  3. One session, `many` zero-delay runs (a task, then refinements) with RUN_RECORDS_KEPT=5:
 *     the bytes of its run records after them, beside after `mid` runs (the floor): flat, since
 *     only five are kept (a refinement's record is larger than the task's, as it carries the
 *     findings so far, up to 40, so the first five are no floor).
 */
import type { RedisClient } from '../../src/store/redis-connection';
import type { BatchArgs, SingleRunsArgs } from '../children/client';
import { SessionKeys, sessionKeyOf } from '../lib/built';
import { Ctx } from '../lib/context';
import { names } from '../lib/names';
import { openSockets } from '../lib/sockets';
import { makeRow } from '../lib/table';
import { round } from '../lib/util';
import { QUERY } from '../../test/support/scenario';

const KEPT = 5;
const SIZES = {
  full: { runs: 50, mid: 15, many: 30 },
  quick: { runs: 20, mid: 10, many: 20 },
  smoke: { runs: 3, mid: 6, many: 8 },
} as const;

const LIMITS = {
  MAX_ACTIVE_RUNS_PER_USER: '100000',
  MAX_RUNS_PER_MINUTE_PER_USER: '100000',
  MAX_SOCKETS: '60000',
  MAX_SOCKETS_PER_USER: '60000',
  RUN_RECORDS_KEPT: String(KEPT),
};

async function usedMemory(redis: RedisClient): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
}

async function memoryOf(redis: RedisClient, key: string): Promise<number> {
  return Number((await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
}

interface SessionBytes {
  stream: number;
  state: number;
  runRecords: number;
  runCount: number;
  /** The frames' own bytes, as written. */
  frames: number;
  events: number;
}

/** What one session holds in Redis, key by key. */
async function sessionBytes(redis: RedisClient, sessionKey: string): Promise<SessionBytes> {
  const k = new SessionKeys(sessionKey);
  const runIds = await redis.zrange(k.runs, 0, -1);
  const runKeys = runIds.flatMap((id) => [k.run(id), k.runTrace(id)]);
  const entries = (await redis.xrange(k.log, '-', '+')) as [string, string[]][];
  const [stream, state, seq, index, ...runs] = await Promise.all(
    [k.log, k.state, k.seq, k.runs, ...runKeys].map((key) => memoryOf(redis, key)),
  );
  return {
    stream,
    state: state + seq + index,
    runRecords: runs.reduce((a, b) => a + b, 0),
    runCount: runIds.length,
    frames: entries.reduce((n, [, fields]) => n + fields.reduce((m, f) => m + Buffer.byteLength(f), 0), 0),
    events: entries.length,
  };
}

const keyOf = (group: string, i: number): string => {
  const { user, sessionId } = names(group, i);
  return sessionKeyOf(user, sessionId);
};

export async function storageWorkload(ctx: Ctx): Promise<void> {
  const sizes = SIZES[ctx.opts.mode];
  const delay = ctx.opts.mode === 'smoke' ? '1' : '20';
  await ctx.flushRedis();
  const env = { ...LIMITS, OFFLINE_TOKEN_DELAY_MS: delay, WORKER_CONCURRENCY: String(sizes.runs) };
  const gateway = await ctx.startMaws('gateway', env);
  const worker = await ctx.startMaws('worker', env);
  const client = await ctx.fork('storage-client', 'client.js');
  try {
    const wsUrl = gateway.proc.wsUrl!;
    // 1. Runs at the default delay, all at once.
    await openSockets(client, wsUrl, 'stored', sizes.runs);
    const before = await usedMemory(ctx.admin);
    const batch = await client.call<{ completed: number; failed: number; errors: string[] }>(
      'runsBatch',
      { group: 'stored', event: 'task.start', text: QUERY, timeoutMs: 300_000 } satisfies BatchArgs,
      400_000,
    );
    // The worker's last writes and the finished jobs settle.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const after = await usedMemory(ctx.admin);
    const sessions = await Promise.all(
      Array.from({ length: sizes.runs }, (_, i) => sessionBytes(ctx.admin, keyOf('stored', i))),
    );
    const sum = (f: (s: SessionBytes) => number): number => sessions.reduce((n, s) => n + f(s), 0);
    const perRun = (after - before) / sizes.runs;
    const perSession = sum((s) => s.stream + s.state + s.runRecords) / sizes.runs;
    const framesPerRun = sum((s) => s.frames) / sizes.runs;
    ctx.log(
      `storage: ${batch.completed}/${sizes.runs} runs at ${delay} ms/token: ${Math.round(perRun)} B per run in Redis, ` +
        `${Math.round(perSession)} B in each session's keys, frames ${Math.round(framesPerRun)} B; ` +
        `${round(sum((s) => s.events) / sizes.runs, 1)} events per run`,
    );

    // 3. One session, many zero-delay runs (a refinement by `message` once a report exists).
    await ctx.stopMaws(worker.proc);
    const fast = await ctx.startMaws('worker', { ...env, OFFLINE_TOKEN_DELAY_MS: '0' });
    await openSockets(client, wsUrl, 'busy', 1);
    const runOnce = () =>
      client.call('singleRuns', { group: 'busy', text: QUERY, pauseMs: 0, timeoutMs: 60_000 } satisfies SingleRunsArgs);
    const busyKey = keyOf('busy', 0);
    for (let i = 0; i < sizes.mid; i++) await runOnce();
    const atMid = await sessionBytes(ctx.admin, busyKey);
    for (let i = sizes.mid; i < sizes.many; i++) await runOnce();
    const atMany = await sessionBytes(ctx.admin, busyKey);
    ctx.log(
      `storage: one session, ${sizes.many} runs: ${atMany.runCount} run records, ${atMany.runRecords} B ` +
        `(after ${sizes.mid}: ${atMid.runCount}, ${atMid.runRecords} B); stream ${atMany.stream} B for ${atMany.events} events`,
    );
    await ctx.stopMaws(fast.proc);

    ctx.details.storage = {
      delayMs: Number(delay),
      runs: sizes.runs,
      completed: batch.completed,
      failed: batch.failed,
      usedMemoryBefore: before,
      usedMemoryAfter: after,
      perRunBytes: Math.round(perRun),
      perSession: {
        stream: Math.round(sum((s) => s.stream) / sizes.runs),
        stateAndIndexes: Math.round(sum((s) => s.state) / sizes.runs),
        runRecords: Math.round(sum((s) => s.runRecords) / sizes.runs),
        frames: Math.round(framesPerRun),
        events: round(sum((s) => s.events) / sizes.runs, 1),
      },
      busySession: { kept: KEPT, runs: sizes.many, mid: sizes.mid, atMid, atMany },
    };
    const note = batch.failed > 0 ? `${batch.failed} runs failed: ${batch.errors.slice(0, 2).join('; ')}` : undefined;
    ctx.report('Storage: what Redis holds per run and per session, and a busy session bounded by count', [
      makeRow(
        'storage',
        `bytes per run in Redis (${delay} ms/token)`,
        'KB',
        round(perRun / 1024, 1),
        round(framesPerRun / 1024, 1),
        undefined,
        note,
      ),
      makeRow('storage', 'events per run', 'events', round(sum((s) => s.events) / sizes.runs, 1), null),
      makeRow(
        'storage',
        'bytes per idle session (one finished run)',
        'KB',
        round(perSession / 1024, 1),
        round(framesPerRun / 1024, 1),
      ),
      makeRow(
        'storage',
        `run records of one session after ${sizes.many} runs, beside after ${sizes.mid} (RUN_RECORDS_KEPT=${KEPT})`,
        'KB',
        round(atMany.runRecords / 1024, 1),
        round(atMid.runRecords / 1024, 1),
        { kind: 'ratio<=', value: 1.2 },
      ),
    ]);
  } finally {
    await client.stop();
    await ctx.stopMaws(gateway.proc);
    await ctx.stopMaws(worker.proc).catch(() => undefined);
  }
}
