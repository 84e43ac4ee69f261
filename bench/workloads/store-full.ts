/**
 * Workload 5, store-full: MAWS while Redis refuses writes (OOM under `noeviction`), on one
 * gateway and one worker on the bench's own redis-server, held full with `maxmemory 1`.
 *
 *  1. Held full (after part 2's runs: there is real state): how long a `message` takes to be
 *     answered `error` UNAVAILABLE. Each session's first `message`, from an idle session, is
 *     sent apart and its answer counted, not timed: Redis takes the run-starting script (its
 *     first write, a ZREMRANGEBYSCORE, is one Redis allows when out of memory, and a script
 *     that has written is let go on), so it is acknowledged. The timed ones find that run
 *     queued, so MAWS takes them as chat questions, whose writes Redis refuses. Floor: a bare
 *     `ws` server (bench/children/bare-server.ts, mode refuse) that answers each frame after one refused
 *     Redis `SET`: the least any WebSocket server needs to learn that the write is refused and
 *     say so, over the same sockets from the same client process. A refused `SET` alone (no
 *     socket) is in the row's note.
 *  2. Recovery (measured first): runs streaming, Redis held full for holdMs, then freed: the
 *     time from freeing memory to each waiting run's first durable frame on its socket. Floor:
 *     a raw client that wrote when Redis was filled and retries after each refusal with MAWS's own probe backoff
 *     (100 ms, doubling, at most 2 s): the time from freeing memory to its write being taken.
 *     MAWS cannot beat its own schedule; what it adds on top is the worker's buffered writes
 *     and the relay to the socket.
 * Redis is freed (maxmemory 0) in every outcome: here, and by the bench's cleanup.
 */
import { getFreePort } from '../../test/support/redis-server';
import type { CommandLatencyArgs } from '../children/client';
import { Ctx } from '../lib/context';
import type { ChildProc } from '../lib/ipc';
import { makeRow, type Row } from '../lib/table';
import { hrUs, round, sleep, summarize, type Summary } from '../lib/util';

const QUERY =
  'Analyze the stock performance of Apple, Google, and Tesla over the last month and summarize the key findings.';
/** Refused commands each session sends first, MAWS and floor alike, not measured (warm code paths). */
const WARM_COMMANDS = 5;
/** Pause after each answer before a session's next `message`. */
const PAUSE_MS = 10;

const MAWS_ENV = {
  // Runs stream a token every 5 ms: streaming when Redis fills and still going after it is freed.
  OFFLINE_TOKEN_DELAY_MS: '5',
  MAX_ACTIVE_RUNS_PER_USER: '1000',
  MAX_RUNS_PER_MINUTE_PER_USER: '100000',
  // A session sends up to ~100 frames a second here (MAWS's default allows 20).
  MESSAGES_PER_SECOND: '100000',
};

interface Latency {
  latMs: number[];
  answers: Record<string, number>;
}

interface HeldFull {
  maws: Latency;
  floor: Latency;
  refusedSet: Summary;
  /**
   * The answers to each session's first `message` while Redis is full, sent from an idle
   * session (so it starts a run); the measured ones follow, with that run queued.
   */
  firstAnswers: Record<string, number>;
}

interface StreamState {
  started: boolean;
  ended: boolean;
  end?: string;
  durable: number;
  refusedNotices: number;
}

interface FirstAfter {
  ms: number | null;
  refusedNotices: number;
  writableNotices: number;
}

interface Trial {
  /** Runs not ended when Redis was freed. */
  waiting: number;
  /** Free → each waiting run's first durable frame on its socket (null: none within the timeout). */
  firstEventMs: (number | null)[];
  /** Free → the floor's retried write taken. */
  floorMs: number | null;
  floorAttempts: number;
  /** Runs that got the store.status notice that they wait. */
  toldWaiting: number;
  ends: Record<string, number>;
}

function addAnswers(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n;
}

/** Polls until `done` says so; throws after timeoutMs. */
async function until(what: string, timeoutMs: number, done: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`store-full: ${what} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Redis refuses a write now (so it really is held full). */
async function assertRefusing(ctx: Ctx): Promise<void> {
  const refused = await ctx.admin.set('bench:full-check', '1').then(
    () => false,
    (err: Error) => /OOM/.test(err.message),
  );
  if (!refused) throw new Error('store-full: Redis took a write with maxmemory 1');
}

export async function storeFullWorkload(ctx: Ctx): Promise<void> {
  const { sizes } = ctx;
  const details: Record<string, unknown> = {};
  ctx.details['store-full'] = details;
  await ctx.flushRedis();
  const gateway = await ctx.startMaws('gateway', MAWS_ENV);
  const worker = await ctx.startMaws('worker', MAWS_ENV);
  const client = await ctx.fork('full-client', 'client.js');
  const floorPort = await getFreePort();
  const floor = await ctx.fork('refuse-floor', 'bare-server.js', ['refuse', String(floorPort), ctx.redis.url]);
  let unavailable: HeldFull | undefined;
  const trials: Trial[] = [];
  try {
    await floor.call('sockets');
    const open = async (group: string, n: number, maws: boolean): Promise<void> => {
      const r = await client.call<{ failed: number; errors: string[] }>('open', {
        group,
        url: maws ? gateway.proc.wsUrl! : `ws://127.0.0.1:${floorPort}`,
        from: 0,
        to: n,
        auth: maws,
        waitFirst: maws,
        concurrency: 50,
      });
      if (r.failed > 0) throw new Error(`${r.failed} sockets did not open: ${r.errors.join('; ')}`);
    };
    await open('stream', sizes.recoveryRuns, true);
    await open('full', sizes.fullSessions, true);
    await open('fullfloor', sizes.fullSessions, false);

    // The recovery trials first: their runs are the real state Redis holds when it is held
    // full afterwards (and the runs that held-full `message`s record cannot disturb them).
    for (let t = 0; t < sizes.recoveryTrials; t++) trials.push(await recoveryTrial(ctx, client, floor, t));
    unavailable = await heldFull(ctx, client, floor);
  } finally {
    await ctx.freeRedis().catch(() => undefined);
    await client.stop();
    await floor.stop();
    await ctx.stopMaws(worker.proc);
    await ctx.stopMaws(gateway.proc);
    details.unavailable = unavailable && {
      maws: { ms: summarize(unavailable.maws.latMs), answers: unavailable.maws.answers },
      floor: { ms: summarize(unavailable.floor.latMs), answers: unavailable.floor.answers },
      refusedSet: unavailable.refusedSet,
      firstAnswers: unavailable.firstAnswers,
    };
    details.recovery = trials;
  }
  ctx.report(
    'Redis full: commands answered UNAVAILABLE, and runs going on once it has room',
    rows(ctx, unavailable, trials),
  );
}

/** Part 1: Redis held full; `message` → UNAVAILABLE on MAWS and on the floor, alternating windows. */
async function heldFull(ctx: Ctx, client: ChildProc, floor: ChildProc): Promise<HeldFull> {
  const { sizes } = ctx;
  await ctx.holdRedisFull();
  await assertRefusing(ctx);
  ctx.log(
    `store-full: Redis held full; ${sizes.fullSessions} sessions × ${sizes.fullCommands * 2} \`message\`s on MAWS and on the floor`,
  );
  const window = (group: string, perSession: number): Promise<Latency> =>
    client.call<Latency>(
      'commandLatency',
      { group, perSession, pauseMs: PAUSE_MS, text: 'Are you there?', timeoutMs: 10_000 } satisfies CommandLatencyArgs,
      300_000,
    );
  // Each session's first `message` (its session idle) is answered apart: see firstAnswers.
  const first = await window('full', 1);
  await window('full', WARM_COMMANDS);
  await window('fullfloor', WARM_COMMANDS);
  const maws: Latency = { latMs: [], answers: {} };
  const bare: Latency = { latMs: [], answers: {} };
  // MAWS, floor, floor, MAWS: drift of the machine falls on both alike.
  for (const target of ['maws', 'floor', 'floor', 'maws'] as const) {
    const into = target === 'maws' ? maws : bare;
    const r = await window(target === 'maws' ? 'full' : 'fullfloor', sizes.fullCommands);
    into.latMs.push(...r.latMs);
    addAnswers(into.answers, r.answers);
  }
  const refused = await floor.call<{ latMs: number[]; taken: number }>(
    'refusedWrites',
    { n: sizes.refusedWrites, pauseMs: 1 },
    120_000,
  );
  if (refused.taken > 0) throw new Error(`store-full: Redis took ${refused.taken} writes while held full`);
  const m = summarize(maws.latMs);
  const f = summarize(bare.latMs);
  const s = summarize(refused.latMs);
  ctx.log(
    `  MAWS p50/p99 ${m.p50.toFixed(2)}/${m.p99.toFixed(2)} ms ${JSON.stringify(maws.answers)}; ` +
      `floor ${f.p50.toFixed(2)}/${f.p99.toFixed(2)} ms ${JSON.stringify(bare.answers)}; refused SET ${s.p50.toFixed(3)}/${s.p99.toFixed(3)} ms`,
  );
  return { maws, floor: bare, refusedSet: s, firstAnswers: first.answers };
}

/** Part 2: runs streaming; Redis full for holdMs, then freed; free → each run's next event. */
async function recoveryTrial(ctx: Ctx, client: ChildProc, floor: ChildProc, t: number): Promise<Trial> {
  const { sizes } = ctx;
  ctx.log(`store-full: recovery ${t + 1}: ${sizes.recoveryRuns} runs streaming, Redis full for ${sizes.holdMs} ms`);
  await client.call('streamStart', { group: 'stream', text: QUERY });
  // Streaming: every run started and has written a few events since.
  await until('every run streams', 60_000, async () => {
    const state = await client.call<StreamState[]>('streamState', { group: 'stream' });
    return state.every((s) => s.ended || (s.started && s.durable >= 5));
  });
  await sleep(200);
  let freedUs: number;
  try {
    await ctx.holdRedisFull();
    // The floor's first write goes now, when Redis is full; MAWS's worker meets its first
    // refusal at its next write (within a token's 20 ms and a write's round trip).
    await floor.call('retryStart');
    await sleep(sizes.holdMs);
    await assertRefusing(ctx);
  } finally {
    // Measured from just before the command that frees it: its round trip counts, for both.
    freedUs = hrUs();
    await ctx.freeRedis();
  }
  const [firsts, retried] = await Promise.all([
    client.call<FirstAfter[]>('streamFirstAfter', { group: 'stream', afterUs: freedUs, timeoutMs: 30_000 }, 60_000),
    floor.call<{ succeededUs: number | null; attempts: number }>('retryResult', { timeoutMs: 10_000 }),
  ]);
  const ended = await client.call<{ ends: Record<string, number> }>(
    'streamEnd',
    { group: 'stream', timeoutMs: 180_000 },
    200_000,
  );
  const trial: Trial = {
    waiting: firsts.length,
    firstEventMs: firsts.map((f) => (f.ms === null ? null : round(f.ms, 3))),
    floorMs: retried.succeededUs === null ? null : round((retried.succeededUs - freedUs) / 1000, 3),
    floorAttempts: retried.attempts,
    toldWaiting: firsts.filter((f) => f.refusedNotices > 0).length,
    ends: ended.ends,
  };
  ctx.log(
    `  free → first event of ${trial.waiting} waiting runs (ms): ${trial.firstEventMs.map((x) => (x === null ? '—' : x.toFixed(0))).join(', ')}; ` +
      `floor ${trial.floorMs?.toFixed(0) ?? '—'} ms (${trial.floorAttempts} writes); runs ended ${JSON.stringify(trial.ends)}`,
  );
  return trial;
}

function rows(ctx: Ctx, unavailable: HeldFull | undefined, trials: Trial[]): Row[] {
  const m = unavailable && summarize(unavailable.maws.latMs);
  const f = unavailable && summarize(unavailable.floor.latMs);
  const s = unavailable?.refusedSet;
  const answered = unavailable?.maws.answers ?? {};
  const answers = (a: Record<string, number>): string =>
    Object.entries(a)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ');
  const answeredNote = unavailable
    ? `${m!.n} answers (${answers(answered)}); a refused SET alone: p50 ${s!.p50.toFixed(3)} ms, p99 ${s!.p99.toFixed(3)} ms; ` +
      `each idle session's first message (not measured): ${answers(unavailable.firstAnswers)}`
    : undefined;
  const firsts = trials.flatMap((t) => t.firstEventMs);
  const got = firsts.filter((x): x is number => x !== null);
  const floors = trials.map((t) => t.floorMs).filter((x): x is number => x !== null);
  const e = summarize(got);
  const fl = summarize(floors);
  const waiting = trials.reduce((n, t) => n + t.waiting, 0);
  const completed = trials.reduce((n, t) => n + (t.ends['run.completed'] ?? 0), 0);
  const runs = trials.length * ctx.sizes.recoveryRuns;
  const told = trials.reduce((n, t) => n + t.toldWaiting, 0);
  // Per trial: MAWS's median minus the floor's (the two backoff schedules start a few ms apart).
  const diffs = trials
    .map((t) => {
      const own = t.firstEventMs.filter((x): x is number => x !== null);
      return own.length && t.floorMs !== null ? summarize(own).p50 - t.floorMs : null;
    })
    .filter((x): x is number => x !== null);
  const signed = (x: number): string => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(1)}`;
  const recoveryNote =
    `${waiting} waiting runs over ${trials.length} trial(s) (${told} told so by store.status), ` +
    `${got.length} with an event after the free, ${completed}/${runs} completed; ` +
    `MAWS − floor per trial: ${diffs.map(signed).join(', ')} ms`;
  const held = `held full, ${ctx.sizes.fullSessions} sessions`;
  const hold = `full ${(ctx.sizes.holdMs / 1000).toFixed(0)} s`;
  return [
    makeRow(
      'store-full',
      `${held}: message → UNAVAILABLE p50`,
      'ms',
      m?.n ? m.p50 : null,
      f?.n ? f.p50 : null,
      undefined,
      answeredNote,
    ),
    makeRow('store-full', `${held}: message → UNAVAILABLE p99`, 'ms', m?.n ? m.p99 : null, f?.n ? f.p99 : null),
    makeRow(
      'store-full',
      `${hold}, then freed: → first event of each waiting run p50`,
      'ms',
      e.n ? e.p50 : null,
      fl.n ? fl.p50 : null,
      undefined,
      trials.length ? recoveryNote : undefined,
    ),
    makeRow(
      'store-full',
      `${hold}, then freed: → first event of each waiting run max`,
      'ms',
      e.n ? e.max : null,
      fl.n ? fl.max : null,
    ),
  ];
}
