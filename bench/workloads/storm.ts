/**
 * Workload: storm (issue 18). Gateway A holds N sockets (10,000 in the full bench), runs
 * streaming to some of them; A is SIGKILLed; every client comes back by itself with
 * @maws/client's backoff and jitter, to gateway B, with its lastSeq. Measured: the time from
 * the kill until every socket is resumed (snapshot and every seq up to it on B), a fresh
 * client's ping on B meanwhile, B's memory at the peak and after; audited: every socket gap-
 * and duplicate-free, each streaming session's last seq equal to its log's. The floor: two bare
 * `ws` servers and the same clients, the first SIGKILLed (resumed = open again).
 */
import { getFreePort } from '../../test/support/redis-server';
import { QUERY } from '../../test/support/scenario';
import { signToken } from '../../test/support/tokens';
import { Ctx, probe } from '../lib/context';
import type { ChildProc } from '../lib/ipc';
import { names } from '../lib/names';
import { makeRow, type Row } from '../lib/table';
import { round, sleep, summarize, type Summary } from '../lib/util';

/** Streaming runs at a model's pace (ms per token) long enough to span the storm; smoke: quick. */
const SIZES = {
  full: { sockets: 10_000, streaming: 50, tokenDelayMs: 5 },
  quick: { sockets: 2_000, streaming: 20, tokenDelayMs: 5 },
  smoke: { sockets: 200, streaming: 4, tokenDelayMs: 1 },
} as const;
const GROUP = 'storm';
/** Under the gateway's default rate limit (20 frames a second per socket). */
const PROBE_INTERVAL_MS = 60;
const WARM_SOCKETS = 500;
const STORM_TIMEOUT_MS = 120_000;

interface Mem {
  rss: number;
  heapUsed: number;
}

interface Status {
  sockets: number;
  resumed: number;
  resumeMs: number[];
  gaps: number;
  dups: number;
  unavailable: number;
  connects: number;
  refusals: Record<string, number>;
  onSecond: number;
}

interface Stalls {
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  gcMaxMs: number;
}

interface StormResult {
  resumed: number;
  /** From the kill until the last socket was resumed. */
  allMs: number;
  resumeMs: Summary;
  ping: Summary & { unanswered: number };
  /** The surviving server: RSS before the storm (collected), at its peak during it (as it stood), after (collected). */
  mem: { before: Mem; peakRss: number; after: Mem };
  /** B's event loop from the kill until all were resumed. */
  stalls: Stalls;
  status: Status;
  audit?: { sessions: number; matched: number; mismatches: string[] };
}

interface Server {
  url: string;
  probe: number;
  kill: () => void;
  stop: () => Promise<void>;
}

async function mawsServers(ctx: Ctx, sockets: number): Promise<Server[]> {
  const env = {
    MAX_SOCKETS: String(sockets + 10_000),
    MAX_SOCKETS_PER_USER: String(sockets + 10_000),
    OFFLINE_TOKEN_DELAY_MS: String(SIZES[ctx.opts.mode].tokenDelayMs),
    WORKER_CONCURRENCY: '64',
  };
  const servers: Server[] = [];
  for (let i = 0; i < 2; i++) {
    const { proc, probe: port } = await ctx.startMaws('gateway', env);
    servers.push({ url: proc.wsUrl!, probe: port, kill: () => proc.kill('SIGKILL'), stop: () => ctx.stopMaws(proc) });
  }
  const worker = await ctx.startMaws('worker', env);
  servers.push({ url: '', probe: worker.probe, kill: () => undefined, stop: () => ctx.stopMaws(worker.proc) });
  return servers;
}

async function floorServers(ctx: Ctx): Promise<Server[]> {
  const servers: Server[] = [];
  for (let i = 0; i < 2; i++) {
    const port = await getFreePort();
    const child = await ctx.fork(`storm-bare-${i}`, 'bare-server.js', ['idle', String(port)], true);
    await child.call('sockets');
    servers.push({
      url: `ws://127.0.0.1:${port}`,
      probe: child.probe!,
      kill: () => child.kill(),
      stop: () => child.stop(),
    });
  }
  return servers;
}

/** Each streaming session's seqs as the client saw them, against its log (over B's HTTP API). */
async function audit(client: ChildProc, httpUrl: string, streaming: number): Promise<StormResult['audit']> {
  const finals = await client.call<
    { sessionId: string; lastSeq: number; gaps: number; dups: number; runEnded: boolean }[]
  >('finals', { count: streaming });
  const mismatches: string[] = [];
  for (const [i, f] of finals.entries()) {
    const { user } = names(GROUP, i);
    const res = await fetch(`${httpUrl}/sessions/${f.sessionId}/events?afterSeq=${f.lastSeq}&limit=1`, {
      headers: { authorization: `Bearer ${signToken(user)}` },
    });
    const body = (await res.json()) as { events: unknown[]; lastSeq: number };
    if (!f.runEnded || f.gaps || f.dups || body.lastSeq !== f.lastSeq || body.events.length > 0) {
      mismatches.push(
        `${f.sessionId}: client at ${f.lastSeq} (gaps ${f.gaps}, dups ${f.dups}, run ended ${f.runEnded}), log at ${body.lastSeq}`,
      );
    }
  }
  return { sessions: finals.length, matched: finals.length - mismatches.length, mismatches: mismatches.slice(0, 5) };
}

async function storm(ctx: Ctx, target: 'maws' | 'floor', sockets: number, streaming: number): Promise<StormResult> {
  const maws = target === 'maws';
  if (maws) await ctx.flushRedis();
  const servers = maws ? await mawsServers(ctx, sockets) : await floorServers(ctx);
  const [a, b] = servers;
  const client = await ctx.fork(`storm-${target}-client`, 'storm-client.js');
  // The fresh client is a process of its own: the storm's clients' work must not delay its pings.
  const prober = await ctx.fork(`storm-${target}-probe`, 'storm-client.js');
  try {
    // Both gateways' code is warm (JIT, pools), as a gateway that has served a while is.
    for (const s of [a, b]) await client.call('warm', { url: s.url, maws, count: WARM_SOCKETS });
    const opened = await client.call<{ ms: number }>(
      'open',
      { urls: [a.url, b.url], count: sockets, maws, concurrency: 200, group: GROUP },
      300_000,
    );
    ctx.log(`storm: ${sockets} sockets open on ${target} A in ${opened.ms.toFixed(0)} ms`);
    if (maws) {
      await client.call('startRuns', { count: streaming, text: QUERY });
      // The runs are under way (each socket has some of its run's frames) before A goes.
      const deadline = Date.now() + 60_000;
      while ((await client.call<{ minLastSeq: number }>('streamed', { count: streaming })).minLastSeq < 30) {
        if (Date.now() > deadline) throw new Error('the streaming runs did not get going within 60 s');
        await sleep(50);
      }
    }
    await prober.call('probeStart', { url: b.url, maws, group: GROUP, intervalMs: PROBE_INTERVAL_MS });
    await sleep(500);
    const before = await probe<Mem>(b.probe, '/mem');
    await probe(b.probe, '/stalls'); // from here: B's event loop during the storm
    const { at } = await client.call<{ at: number }>('mark');
    a.kill();
    let peakRss = before.rss;
    let status!: Status;
    const deadline = Date.now() + STORM_TIMEOUT_MS;
    for (;;) {
      status = await client.call<Status>('status');
      peakRss = Math.max(peakRss, (await probe<Mem>(b.probe, '/rss')).rss);
      if (status.resumed === sockets) break;
      if (Date.now() > deadline) {
        throw new Error(`${target}: ${status.resumed} of ${sockets} sockets resumed within ${STORM_TIMEOUT_MS} ms`);
      }
      await sleep(100);
    }
    const ping = await prober.call<{ ms: number[]; unanswered: number; closed: boolean }>('probeStop', { fromUs: at });
    // The fresh client's figure stands only if B answered it throughout (the last ping may still be out).
    if (ping.closed || ping.ms.length === 0 || ping.unanswered > 1) {
      throw new Error(
        `${target}: the fresh client on B was not answered throughout the storm (${ping.ms.length} answers, ${ping.unanswered} unanswered, socket closed: ${ping.closed})`,
      );
    }
    const stalls = await probe<Stalls>(b.probe, '/stalls');
    const after = await probe<Mem>(b.probe, '/mem');
    let auditResult: StormResult['audit'];
    if (maws) {
      // The streaming runs end on B; then each session's client and log must agree.
      const runsDeadline = Date.now() + STORM_TIMEOUT_MS;
      while (
        (await client.call<{ runEnded: boolean }[]>('finals', { count: streaming })).some((f) => !f.runEnded) &&
        Date.now() < runsDeadline
      ) {
        await sleep(200);
      }
      auditResult = await audit(client, b.url.replace(/^ws/, 'http'), streaming);
      status = await client.call<Status>('status');
    }
    const result: StormResult = {
      resumed: status.resumed,
      allMs: round(Math.max(...status.resumeMs), 1),
      resumeMs: summarize(status.resumeMs),
      ping: { ...summarize(ping.ms), unanswered: ping.unanswered },
      mem: { before, peakRss, after },
      stalls,
      status: { ...status, resumeMs: [] },
      audit: auditResult,
    };
    const bad =
      status.gaps + status.dups + status.unavailable > 0 ||
      status.onSecond !== sockets ||
      (auditResult && auditResult.matched !== auditResult.sessions);
    if (bad) {
      throw new Error(
        `${target}: not all resumed gap-free on B: gaps ${status.gaps}, dups ${status.dups}, ` +
          `RESUME_UNAVAILABLE ${status.unavailable}, open on B ${status.onSecond} of ${sockets}; ` +
          `audit ${JSON.stringify(auditResult)}`,
      );
    }
    return result;
  } finally {
    await client.call('closeAll').catch(() => undefined);
    await client.stop();
    await prober.stop();
    for (const s of servers) await s.stop().catch(() => s.kill());
  }
}

export async function stormWorkload(ctx: Ctx): Promise<void> {
  const { sockets, streaming } = SIZES[ctx.opts.mode];
  const res: Record<string, StormResult> = {};
  for (const target of ['floor', 'maws'] as const) {
    ctx.log(`storm: ${sockets} sockets on ${target}, gateway A SIGKILLed`);
    res[target] = await storm(ctx, target, sockets, streaming);
    const r = res[target];
    ctx.log(
      `  all ${r.resumed} resumed ${r.allMs.toFixed(0)} ms after the kill (p50 ${r.resumeMs.p50.toFixed(0)} ms); loop delay max ${r.stalls.loopDelayMaxMs} ms; ` +
        `ping p99 ${r.ping.p99.toFixed(1)} ms; B's RSS ${(r.mem.before.rss / 2 ** 20).toFixed(0)} → peak ${(r.mem.peakRss / 2 ** 20).toFixed(0)} MB`,
    );
  }
  ctx.details.storm = { sockets, streaming, probeIntervalMs: PROBE_INTERVAL_MS, ...res };
  const { maws, floor } = res;
  const mb = (b: number): number => round(b / 2 ** 20, 1);
  const audit = maws.audit!;
  const rows: Row[] = [
    makeRow(
      'storm',
      `${sockets} sockets resumed gap-free on B (${streaming} of them mid-run; audited against the log)`,
      'sockets',
      audit.matched === audit.sessions ? maws.resumed : 0,
      floor.resumed,
      { kind: 'abs>=', value: sockets },
    ),
    makeRow('storm', `${sockets} sockets: time from SIGKILL until all resumed`, 'ms', maws.allMs, floor.allMs),
    makeRow('storm', `${sockets} sockets: median time until resumed`, 'ms', maws.resumeMs.p50, floor.resumeMs.p50),
    makeRow(
      'storm',
      `fresh client's ping on B during the storm: p99 (${maws.ping.n} vs ${floor.ping.n} pings)`,
      'ms',
      maws.ping.p99,
      floor.ping.p99,
    ),
    makeRow(
      'storm',
      "B's longest event-loop delay during the storm",
      'ms',
      maws.stalls.loopDelayMaxMs,
      floor.stalls.loopDelayMaxMs,
    ),
    makeRow('storm', "B's peak RSS during the storm", 'MB', mb(maws.mem.peakRss), mb(floor.mem.peakRss)),
    makeRow(
      'storm',
      "B's RSS after, per resumed socket (collected)",
      'KB',
      round((maws.mem.after.rss - maws.mem.before.rss) / sockets / 1024, 2),
      round((floor.mem.after.rss - floor.mem.before.rss) / sockets / 1024, 2),
    ),
  ];
  ctx.report(`Reconnect storm: ${sockets} sockets, gateway A SIGKILLed, all back on B`, rows);
}
