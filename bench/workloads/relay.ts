/**
 * Workload 1, relay: events appended through MAWS's own EventLog (the worker's code path,
 * one atomic script per call: INCRBY, XADD, PUBLISH) and received by clients holding
 * authenticated sockets on a spawned MAWS gateway; beside it the floor, a bare `ws` +
 * ioredis relay fed by one PUBLISH per event, with the same clients, bytes and load.
 */
import type { RedisClient } from '../../src/store/redis-connection';
import { getFreePort } from '../../test/support/redis-server';
import { durable, EventLog, frameTail, openRedis, sessionKeyOf, type PendingEvent } from '../lib/built';
import { Ctx, probe } from '../lib/context';
import { formatProfile, summarizeProfile, type ProfileSummary } from '../lib/cpu-profile';
import type { ChildProc } from '../lib/ipc';
import { bareChannel, names } from '../lib/names';
import { redisInterval, topCommands, type RedisInterval } from '../lib/redis-stats';
import { CpuMeter } from '../lib/system';
import { makeRow, type Row } from '../lib/table';
import { collectGarbage, hrUs, round, sleep, summarize, type Summary } from '../lib/util';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** Makes a delta-sized event (about 200 bytes framed) carrying its send time. */
const FILLER = 'lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor';
function event(sentUs: number): PendingEvent {
  return durable('agent.delta', {
    runId: 'r_benchrelay0',
    agent: 'executor',
    stepId: 'exec-1',
    attempt: 1,
    text: `t${sentUs} ${FILLER}`,
  });
}

export interface Publisher {
  name: 'maws' | 'floor';
  /** Publishes `count` events to session `i` (one append for MAWS; one PUBLISH each for the floor). */
  publish(i: number, count: number): Promise<unknown>;
}

export function mawsPublisher(log: EventLog, prefix: string, sessions: number): Publisher {
  // The Redis session key MAWS derives for socket i's user and session.
  const keys = Array.from({ length: sessions }, (_, i) => {
    const { user, sessionId } = names(prefix, i);
    return sessionKeyOf(user, sessionId);
  });
  return {
    name: 'maws',
    publish: (i, count) => {
      const t = hrUs();
      const events: PendingEvent[] = [];
      for (let k = 0; k < count; k++) events.push(event(t));
      return log.append(keys[i], events);
    },
  };
}

function floorPublisher(pub: RedisClient, prefix: string, sessions: number): Publisher {
  const channels = Array.from({ length: sessions }, (_, i) => bareChannel(names(prefix, i).sessionId));
  const seqs = new Array<number>(sessions).fill(0);
  return {
    name: 'floor',
    publish: (i, count) => {
      const t = hrUs();
      const now = new Date();
      const sends: Promise<unknown>[] = [];
      for (let k = 0; k < count; k++)
        sends.push(pub.spublish(channels[i], `{"seq":${++seqs[i]},${frameTail(event(t), now)}`));
      return Promise.all(sends);
    },
  };
}

interface Progress {
  received: number;
  t: number;
}

interface StopResult {
  received: number;
  gaps: number;
  dups: number;
  closes: number;
  samplesUs: number[];
}

export interface ThroughputResult {
  eventsPerSec: number;
  batch: number;
  published: number;
  received: number;
  /** Published but never received (after a drain of up to 5 s). */
  lost: number;
  gaps: number;
  closes: number;
  cpu: Record<string, { cpuSeconds: number; cores: number }>;
  /** Server CPU per delivered event, µs. */
  serverUsPerEvent: number;
  redis: RedisInterval;
  profile?: ProfileSummary;
}

export interface LatencyResult {
  rate: number;
  /** Publish → receive of every event in the window, ms (kept out of the JSON). */
  samplesMs: number[];
  achievedRate: number;
  ms: Summary;
  received: number;
  gaps: number;
  cpu: Record<string, { cpuSeconds: number; cores: number }>;
  redis: RedisInterval;
  /** The server's GC pauses and event-loop delay over the window. */
  stalls: Stalls;
  /** The publisher's (this process's) event-loop delay over the window. */
  publisherLoopMs: { p99: number; max: number };
}

interface Stalls {
  gcCount: number;
  gcTotalMs: number;
  gcMaxMs: number;
  majorGcCount: number;
  majorGcMaxMs: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

/** Events in calls not yet answered by Redis (pipelining depth), and published but not yet received. */
const MAX_INFLIGHT_EVENTS = 640;
const WINDOW_EVENTS = 8000;

/** Closed loop: keeps at most WINDOW_EVENTS published and not yet delivered. */
export async function saturate(
  ctx: Ctx,
  clients: ChildProc[],
  pub: Publisher,
  sessions: number,
  batch: number,
  pids: Record<string, number | undefined>,
  profilePort?: { port: number; file: string },
): Promise<ThroughputResult> {
  const latest: Progress[] = clients.map(() => ({ received: 0, t: hrUs() }));
  let delivered = 0;
  let wake: (() => void) | null = null;
  const poke = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };
  clients.forEach((c, j) =>
    c.on('progress', (d) => {
      latest[j] = d as Progress;
      delivered = latest.reduce((n, p) => n + p.received, 0);
      poke();
    }),
  );
  await Promise.all(clients.map((c) => c.call('relayStart', { latency: false, progressMs: 20 })));
  let published = 0;
  let inflight = 0;
  let stop = false;
  let failures = 0;
  let idx = 0;
  const loop = (async () => {
    while (!stop) {
      if (inflight + batch > MAX_INFLIGHT_EVENTS || published - delivered >= WINDOW_EVENTS) {
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      inflight += batch;
      published += batch;
      pub.publish(idx, batch).then(
        () => {
          inflight -= batch;
          poke();
        },
        () => {
          inflight -= batch;
          failures++;
          poke();
        },
      );
      idx = (idx + 1) % sessions;
    }
  })();
  await sleep(ctx.sizes.warmMs);
  if (profilePort) await probe(profilePort.port, '/cpu/start?us=250');
  const cpu = new CpuMeter(pids);
  const redisStats = await redisInterval(ctx.admin);
  const before = latest.map((p) => ({ ...p }));
  cpu.start();
  await sleep(ctx.sizes.measureMs);
  const after = latest.map((p) => ({ ...p }));
  const cpuUse = cpu.stop();
  const redis = await redisStats.end();
  let profile: ProfileSummary | undefined;
  if (profilePort) {
    const { file } = await probe<{ file: string }>(
      profilePort.port,
      `/cpu/stop?file=${encodeURIComponent(profilePort.file)}`,
    );
    profile = summarizeProfile(file);
  }
  stop = true;
  poke();
  await loop;
  const drainUntil = Date.now() + 5000;
  while ((inflight > 0 || delivered < published) && Date.now() < drainUntil) await sleep(25);
  const stops = await Promise.all(clients.map((c) => c.call<StopResult>('relayStop')));
  for (const c of clients) c.off('progress');
  const eventsPerSec = before.reduce(
    (sum, b, j) => sum + (after[j].received - b.received) / Math.max(1e-6, (after[j].t - b.t) / 1e6),
    0,
  );
  const received = stops.reduce((n, s) => n + s.received, 0);
  if (failures > 0) ctx.log(`  ${failures} publish calls failed`);
  return {
    eventsPerSec: Math.round(eventsPerSec),
    batch,
    published,
    received,
    lost: published - received,
    gaps: stops.reduce((n, s) => n + s.gaps, 0),
    closes: stops.reduce((n, s) => n + s.closes, 0),
    cpu: cpuUse,
    serverUsPerEvent: round(((cpuUse.server?.cores ?? 0) * 1e6) / Math.max(1, eventsPerSec), 2),
    redis,
    profile,
  };
}

/** Open loop at a fixed rate, one event per call, spread round-robin over the sessions. */
export async function fixedRate(
  ctx: Ctx,
  clients: ChildProc[],
  pub: Publisher,
  sessions: number,
  rate: number,
  pids: Record<string, number | undefined>,
  serverProbe: number,
  durations: { warmMs: number; measureMs: number } = ctx.sizes,
): Promise<LatencyResult> {
  // Every process of the path starts from a clean heap (MAWS and floor alike): earlier phases
  // (the warm-up, the previous session count's saturating run) leave garbage whose collection
  // is not what this window measures.
  collectGarbage();
  await probe(serverProbe, '/mem');
  await Promise.all(clients.map((c) => c.call('gc')));
  await Promise.all(clients.map((c) => c.call('relayStart', { latency: true, progressMs: 500 })));
  let sent = 0;
  let idx = 0;
  let errors = 0;
  const t0 = hrUs();
  const timer = setInterval(() => {
    const due = Math.floor(((hrUs() - t0) * rate) / 1e6);
    while (sent < due) {
      pub.publish(idx, 1).catch(() => errors++);
      sent++;
      idx = (idx + 1) % sessions;
    }
  }, 1);
  await sleep(durations.warmMs);
  await Promise.all(clients.map((c) => c.call('relayMark')));
  await probe(serverProbe, '/stalls');
  // The publisher's own loop: a stall here delays events before they reach Redis.
  const publisherLoop = monitorEventLoopDelay({ resolution: 1 });
  publisherLoop.enable();
  const sentAtMark = sent;
  const tMark = hrUs();
  const cpu = new CpuMeter(pids);
  const redisStats = await redisInterval(ctx.admin);
  cpu.start();
  await sleep(durations.measureMs);
  clearInterval(timer);
  const cpuUse = cpu.stop();
  const redis = await redisStats.end();
  const stalls = await probe<Stalls>(serverProbe, '/stalls');
  publisherLoop.disable();
  const publisherLoopMs = { p99: round(publisherLoop.percentile(99) / 1e6), max: round(publisherLoop.max / 1e6) };
  const achievedRate = ((sent - sentAtMark) * 1e6) / (hrUs() - tMark);
  await sleep(300);
  const stops = await Promise.all(clients.map((c) => c.call<StopResult>('relayStop')));
  for (const c of clients) c.off('progress');
  if (errors > 0) ctx.log(`  ${errors} publish calls failed`);
  const samples = stops.flatMap((s) => s.samplesUs.map((us) => us / 1000));
  return {
    rate,
    samplesMs: samples,
    achievedRate: Math.round(achievedRate),
    ms: summarize(samples),
    received: stops.reduce((n, s) => n + s.received, 0),
    gaps: stops.reduce((n, s) => n + s.gaps, 0),
    cpu: cpuUse,
    redis,
    stalls,
    publisherLoopMs,
  };
}

const TARGETS = ['maws', 'floor'] as const;
export type Target = (typeof TARGETS)[number];

export interface TargetSetup {
  group: string;
  openMs: number;
  pub: Publisher;
  probe: number;
  pids: Record<string, number | undefined>;
}

/** A target's latency windows pooled: percentiles over every sample, each window's details. */
export interface PooledLatency {
  rate: number;
  /** The slowest window's achieved publish rate. */
  achievedRate: number;
  ms: Summary;
  received: number;
  gaps: number;
  windows: Omit<LatencyResult, 'samplesMs'>[];
}

/** The order of the latency windows: each target's mean position is the same. */
const WINDOW_ORDER: Target[] = ['maws', 'floor', 'floor', 'maws'];

export async function alternatingLatency(
  ctx: Ctx,
  clients: ChildProc[],
  targets: Record<Target, TargetSetup>,
  sessions: number,
): Promise<Record<Target, PooledLatency>> {
  const rate = ctx.sizes.latencyRate;
  // Two windows a target, each half the measuring time, so each target is measured as long as before.
  const durations = { warmMs: ctx.sizes.warmMs, measureMs: Math.round(ctx.sizes.measureMs / 2) };
  const windows: Record<Target, LatencyResult[]> = { maws: [], floor: [] };
  for (const target of WINDOW_ORDER) {
    const t = targets[target];
    // The idle target's server collects its garbage too, so that none of its collecting falls
    // into the window (the measured one collects in fixedRate).
    await probe(targets[target === 'maws' ? 'floor' : 'maws'].probe, '/mem');
    const lat = await fixedRate(ctx, clients, t.pub, sessions, rate, t.pids, t.probe, durations);
    windows[target].push(lat);
    ctx.log(
      `relay S=${sessions} ${target} @${rate}/s: p50 ${lat.ms.p50.toFixed(2)} ms, p99 ${lat.ms.p99.toFixed(2)} ms, max ${lat.ms.max.toFixed(2)} ms (${lat.ms.n} samples, ${lat.achievedRate}/s); ` +
        `cores ${JSON.stringify(Object.fromEntries(Object.entries(lat.cpu).map(([k, v]) => [k, v.cores])))}; ` +
        `server GC ${lat.stalls.gcCount}× max ${lat.stalls.gcMaxMs} ms (${lat.stalls.majorGcCount} major, max ${lat.stalls.majorGcMaxMs} ms), ` +
        `loop delay p99 ${lat.stalls.loopDelayP99Ms} ms max ${lat.stalls.loopDelayMaxMs} ms; ` +
        `publisher loop p99 ${lat.publisherLoopMs.p99} max ${lat.publisherLoopMs.max} ms; redis ${topCommands(lat.redis)}`,
    );
  }
  const pool = (list: LatencyResult[]): PooledLatency => ({
    rate,
    achievedRate: Math.min(...list.map((l) => l.achievedRate)),
    ms: summarize(list.flatMap((l) => l.samplesMs)),
    received: list.reduce((n, l) => n + l.received, 0),
    gaps: list.reduce((n, l) => n + l.gaps, 0),
    windows: list.map(({ samplesMs: _samples, ...rest }) => rest),
  });
  const pooled = { maws: pool(windows.maws), floor: pool(windows.floor) };
  for (const target of TARGETS) {
    const { ms } = pooled[target];
    ctx.log(
      `relay S=${sessions} ${target} @${rate}/s pooled: p50 ${ms.p50.toFixed(2)} ms, p99 ${ms.p99.toFixed(2)} ms (${ms.n} samples)`,
    );
  }
  return pooled;
}

export async function openAll(
  ctx: Ctx,
  clients: ChildProc[],
  group: string,
  url: string,
  sessions: number,
  auth: boolean,
): Promise<number> {
  const t0 = hrUs();
  const per = Math.ceil(sessions / clients.length);
  const results = await Promise.all(
    clients.map((c, j) =>
      c.call<{ opened: number; failed: number; errors: string[] }>('open', {
        group,
        url,
        from: j * per,
        to: Math.min(sessions, (j + 1) * per),
        auth,
        waitFirst: true,
        concurrency: 100,
      }),
    ),
  );
  const failed = results.reduce((n, r) => n + r.failed, 0);
  if (failed > 0)
    throw new Error(`${failed} of ${sessions} sockets did not open: ${results.flatMap((r) => r.errors).join('; ')}`);
  return (hrUs() - t0) / 1000;
}

export async function relayWorkload(ctx: Ctx): Promise<void> {
  const { sizes, opts } = ctx;
  const gateway = await ctx.startMaws('gateway', { MAX_SOCKETS: '60000', MAX_SOCKETS_PER_USER: '60000' });
  const barePort = await getFreePort();
  const bare = await ctx.fork('bare-relay', 'bare-server.js', ['relay', String(barePort), ctx.redis.url], true);
  await bare.call('sockets');
  const clients: ChildProc[] = [];
  for (let j = 0; j < opts.clients; j++) clients.push(await ctx.fork(`relay-client-${j}`, 'client.js'));
  // The publisher writes as a worker does (its command connection: one write per tick, any
  // number of calls in flight), MAWS and floor alike. ioredis autopipelining, used here at
  // first, keeps one pipeline in flight, so each tick's events waited for the last reply.
  const pubRedis = openRedis({ url: ctx.redis.url }, 'bench-publisher', {}, { coalesceWrites: true });
  const log = new EventLog(pubRedis, { maxEvents: 10_000, ttlSeconds: 24 * 3600 });
  const clientPids = Object.fromEntries(clients.map((c, j) => [`client${j}`, c.pid]));
  const rows: Row[] = [];
  const details: Record<string, unknown> = { batch: opts.batch, clients: opts.clients };
  try {
    // Neither side is measured cold: a short unmeasured run through each warms the JIT of the
    // server, the publisher and the clients.
    for (const target of ['maws', 'floor'] as const) {
      const isMaws = target === 'maws';
      const sessions = Math.min(...sizes.relaySessions);
      await openAll(
        ctx,
        clients,
        'relaywarm',
        isMaws ? gateway.proc.wsUrl! : `ws://127.0.0.1:${barePort}`,
        sessions,
        isMaws,
      );
      const pub = isMaws ? mawsPublisher(log, 'relaywarm', sessions) : floorPublisher(pubRedis, 'relaywarm', sessions);
      const probePort = isMaws ? gateway.probe : bare.probe!;
      await fixedRate(ctx, clients, pub, sessions, sizes.latencyRate, {}, probePort, {
        warmMs: 200,
        measureMs: sizes.warmMs,
      });
      await Promise.all(clients.map((c) => c.call('close', { group: 'relaywarm' })));
    }
    for (const sessions of sizes.relaySessions) {
      await ctx.flushRedis();
      // Both targets' sockets stay open through the latency windows, which alternate
      // (MAWS, floor, floor, MAWS): drift of the machine over the minute falls on both alike.
      const targets = {} as Record<Target, TargetSetup>;
      for (const target of TARGETS) {
        const isMaws = target === 'maws';
        const group = `relay${sessions}${target}`;
        const url = isMaws ? gateway.proc.wsUrl! : `ws://127.0.0.1:${barePort}`;
        const openMs = await openAll(ctx, clients, group, url, sessions, isMaws);
        ctx.log(`relay S=${sessions} ${target}: ${sessions} sockets open in ${openMs.toFixed(0)} ms`);
        targets[target] = {
          group,
          openMs,
          pub: isMaws ? mawsPublisher(log, group, sessions) : floorPublisher(pubRedis, group, sessions),
          probe: isMaws ? gateway.probe : bare.probe!,
          pids: {
            server: isMaws ? gateway.proc.pid : bare.pid,
            redis: ctx.redis.pid,
            bench: process.pid,
            ...clientPids,
          },
        };
      }
      const latency = await alternatingLatency(ctx, clients, targets, sessions);
      const res: Record<string, unknown> = {};
      // The floor saturates first, so it does not meet a Redis full of MAWS's saturating streams.
      for (const target of ['floor', 'maws'] as const) {
        const isMaws = target === 'maws';
        const { pub, pids, group, openMs } = targets[target];
        const profilePort =
          opts.profile && sessions === Math.max(...sizes.relaySessions)
            ? {
                port: targets[target].probe,
                file: path.join(ctx.profileDir, `relay-S${sessions}-${target}.cpuprofile`),
              }
            : undefined;
        ctx.log(`relay S=${sessions} ${target}: saturating`);
        // The floor gets the same calls (one PUBLISH per event) so both pipeline equally deep.
        const batch = opts.batch;
        const thr = await saturate(ctx, clients, pub, sessions, batch, pids, profilePort);
        ctx.log(
          `  ${thr.eventsPerSec} events/s (${isMaws ? `${batch}/append` : 'PUBLISH each'}), server ${thr.serverUsPerEvent} µs/event, ` +
            `cores ${JSON.stringify(Object.fromEntries(Object.entries(thr.cpu).map(([k, v]) => [k, v.cores])))}; lost ${thr.lost}, gaps ${thr.gaps}; ` +
            `redis ${topCommands(thr.redis)}`,
        );
        if (thr.profile) console.log(formatProfile(`cpu profile of the ${target} relay at S=${sessions}`, thr.profile));
        let perEvent: ThroughputResult | undefined;
        if (isMaws && sizes.perEventRow && opts.batch !== 1) {
          perEvent = await saturate(ctx, clients, pub, sessions, 1, pids);
          ctx.log(`  per-event appends: ${perEvent.eventsPerSec} events/s; redis ${topCommands(perEvent.redis)}`);
        }
        res[target] = {
          openMs: round(openMs),
          throughput: thr,
          perEventThroughput: perEvent,
          latency: latency[target],
        };
        await Promise.all(clients.map((c) => c.call('close', { group })));
      }
      details[`S=${sessions}`] = res;
      const m = res.maws as {
        throughput: ThroughputResult;
        perEventThroughput?: ThroughputResult;
        latency: PooledLatency;
      };
      const f = res.floor as { throughput: ThroughputResult; latency: PooledLatency };
      const lossNote = (t: ThroughputResult): string | undefined =>
        t.lost > 0 || t.gaps > 0 || t.closes > 0
          ? `${t.lost} events lost, ${t.gaps} seq gaps, ${t.closes} sockets closed`
          : undefined;
      rows.push(
        makeRow(
          'relay',
          `S=${sessions}: delivered events/s (${opts.batch}/append)`,
          'ev/s',
          m.throughput.eventsPerSec,
          f.throughput.eventsPerSec,
          { kind: 'ratio>=', value: 0.8 },
          lossNote(m.throughput) ?? lossNote(f.throughput),
        ),
      );
      if (m.perEventThroughput) {
        rows.push(
          makeRow(
            'relay',
            `S=${sessions}: events/s, 1 event/append`,
            'ev/s',
            m.perEventThroughput.eventsPerSec,
            f.throughput.eventsPerSec,
          ),
        );
      }
      const rate = sizes.latencyRate;
      rows.push(
        makeRow('relay', `S=${sessions} @${rate}/s: p50 latency`, 'ms', m.latency.ms.p50, f.latency.ms.p50),
        makeRow(
          'relay',
          `S=${sessions} @${rate}/s: p99 latency`,
          'ms',
          m.latency.ms.p99,
          f.latency.ms.p99,
          { kind: 'ratio<=', value: 1.5 },
          [m.latency, f.latency].some((l) => l.achievedRate < rate * 0.95)
            ? `the publisher fell behind (${m.latency.achievedRate} and ${f.latency.achievedRate} events/s sent)`
            : undefined,
        ),
        makeRow('relay', `S=${sessions} @${rate}/s: max latency`, 'ms', m.latency.ms.max, f.latency.ms.max),
      );
    }
  } finally {
    ctx.details.relay = details;
    pubRedis.disconnect();
    for (const c of clients) await c.stop();
    await bare.stop();
    await ctx.stopMaws(gateway.proc);
  }
  ctx.report('Relay: MAWS gateway vs bare ws + pub/sub relay', rows);
}
