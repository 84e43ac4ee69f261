/**
 * Workload 2, connections: what an idle authenticated socket costs a MAWS gateway (RSS and
 * V8 heap, after full GCs, per socket), and how long opening them takes; beside a bare
 * `ws` server holding the same number of sockets from the same client process.
 */
import { getFreePort } from '../../test/support/redis-server';
import * as path from 'node:path';
import { formatAllocations, formatProfile, summarizeProfile } from '../lib/cpu-profile';
import { Ctx, probe } from '../lib/context';
import { diffCensus, formatDiff, heapCensus, type CensusDiff } from '../lib/heap-snapshot';
import type { ChildProc } from '../lib/ipc';
import { CpuMeter, writeSyscalls } from '../lib/system';
import { makeRow, type Row } from '../lib/table';
import { median, round, sleep } from '../lib/util';

interface Mem {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

interface OpenResult {
  opened: number;
  failed: number;
  ms: number;
  errors: string[];
}

interface Measured {
  sockets: number;
  openMs: number;
  /** Cores busy while the sockets opened: the server, the client process, Redis. */
  cores: Record<string, number>;
  /** The server's write syscalls (to its sockets and to Redis) per socket opened. */
  writesPerSocket: number;
  perSocket: { rssBytes: number; heapBytes: number; externalBytes: number };
  before: Mem;
  after: Mem;
  /** With --profile at the largest size: what one idle socket holds, object by object. */
  heapPerSocket?: CensusDiff[];
}

const WARM_SOCKETS = 100;

const OPEN_TRIALS = 3;

async function measure(
  ctx: Ctx,
  client: ChildProc,
  target: 'maws' | 'floor',
  sockets: number,
  firstTrial: boolean,
): Promise<Measured> {
  let server: { url: string; probe: number; pid?: number; stop: () => Promise<void> };
  if (target === 'maws') {
    const { proc, probe: port } = await ctx.startMaws('gateway', {
      MAX_SOCKETS: String(sockets + 10_000),
      MAX_SOCKETS_PER_USER: String(sockets + 10_000),
    });
    server = { url: proc.wsUrl!, probe: port, pid: proc.pid, stop: () => ctx.stopMaws(proc) };
  } else {
    const port = await getFreePort();
    const child = await ctx.fork('bare-ws', 'bare-server.js', ['idle', String(port)], true);
    await child.call('sockets');
    server = { url: `ws://127.0.0.1:${port}`, probe: child.probe!, pid: child.pid, stop: () => child.stop() };
  }
  try {
    const auth = target === 'maws';
    const base = { url: server.url, auth, waitFirst: auth, concurrency: 200, timeoutMs: 60_000 };
    // Warm the code paths (JIT, pools) so the baseline is not a cold process.
    await client.call('open', { ...base, group: `warm${target}${sockets}`, from: 0, to: WARM_SOCKETS });
    await client.call('close', { group: `warm${target}${sockets}`, terminate: true });
    await sleep(300);
    const snapshots = ctx.opts.profile && firstTrial && sockets === Math.max(...ctx.sizes.connections);
    const snapshot = async (when: string): Promise<string> => {
      const file = path.join(ctx.profileDir, `idle-${target}-${sockets}-${when}.heapsnapshot`);
      await probe(server.probe, `/heap/snapshot?file=${encodeURIComponent(file)}`);
      return file;
    };
    // A snapshot grows the heap and RSS for a while: take it before the baseline reading.
    const snapBefore = snapshots ? await snapshot('before') : undefined;
    const before = await probe<Mem>(server.probe, '/mem');
    const group = `idle${target}${sockets}`;
    // With --profile: where the server's CPU goes while the sockets open (the upgrade path).
    if (snapshots) await probe(server.probe, ctx.opts.profile === 'alloc' ? '/alloc/start' : '/cpu/start?us=250');
    // Who was busy while they opened (on 2 cores the client and the server share the machine).
    const cpu = new CpuMeter({ server: server.pid, client: client.pid, redis: ctx.redis.pid });
    cpu.start();
    const writesBefore = writeSyscalls(server.pid);
    const opened = await client.call<OpenResult>('open', { ...base, group, from: 0, to: sockets }, 300_000);
    const writes = writeSyscalls(server.pid) - writesBefore;
    const cores = Object.fromEntries(Object.entries(cpu.stop()).map(([k, v]) => [k, v.cores]));
    if (snapshots && ctx.opts.profile === 'alloc') {
      const file = path.join(ctx.profileDir, `open-${target}-${sockets}.heapprofile`);
      await probe(server.probe, `/alloc/stop?file=${encodeURIComponent(file)}`);
      console.log(formatAllocations(`allocations of ${target} while ${sockets} sockets open`, file, sockets));
    } else if (snapshots) {
      const file = path.join(ctx.profileDir, `open-${target}-${sockets}.cpuprofile`);
      await probe(server.probe, `/cpu/stop?file=${encodeURIComponent(file)}`);
      console.log(formatProfile(`cpu profile of ${target} while ${sockets} sockets open`, summarizeProfile(file)));
    }
    if (opened.failed > 0) {
      throw new Error(`${opened.failed} of ${sockets} sockets did not open: ${opened.errors.join('; ')}`);
    }
    await sleep(ctx.sizes.idleSettleMs);
    const after = await probe<Mem>(server.probe, '/mem');
    let heapPerSocket: CensusDiff[] | undefined;
    if (snapBefore) {
      heapPerSocket = diffCensus(heapCensus(snapBefore), heapCensus(await snapshot('after')), sockets);
      console.log(formatDiff(`heap growth per idle socket on ${target} at ${sockets} sockets`, heapPerSocket));
    }
    await client.call('close', { group, terminate: true }, 120_000);
    return {
      sockets,
      openMs: round(opened.ms),
      cores,
      writesPerSocket: round(writes / sockets, 2),
      perSocket: {
        rssBytes: Math.round((after.rss - before.rss) / sockets),
        heapBytes: Math.round((after.heapUsed - before.heapUsed) / sockets),
        externalBytes: Math.round((after.external - before.external) / sockets),
      },
      before,
      after,
      heapPerSocket,
    };
  } finally {
    await server.stop();
  }
}

export async function connectionsWorkload(ctx: Ctx, sizes: number[], note?: string): Promise<void> {
  const client = await ctx.fork('conn-client', 'client.js');
  const rows: Row[] = [];
  const details: Record<string, unknown> = {};
  try {
    for (const n of sizes) {
      const res: Record<string, Measured> = {};
      const openMs: Record<string, number[]> = { maws: [], floor: [] };
      // The open time at the target size is the median of a few trials: one trial's figure
      // moved by up to 1.5× between runs on this machine (a busy neighbour, a major GC).
      const trials = n === Math.max(...sizes) && ctx.opts.mode === 'full' ? OPEN_TRIALS : 1;
      for (let trial = 0; trial < trials; trial++) {
        // Alternate the order so neither side always runs on a warmer machine.
        const mawsFirst = (n === sizes[0]) === (trial % 2 === 0);
        for (const target of mawsFirst ? (['maws', 'floor'] as const) : (['floor', 'maws'] as const)) {
          ctx.log(
            `connections: ${n} idle sockets on ${target}${trials > 1 ? ` (trial ${trial + 1} of ${trials})` : ''}`,
          );
          const r = await measure(ctx, client, target, n, trial === 0);
          openMs[target].push(r.openMs);
          // Memory is read in the first trial (a heap snapshot, with --profile, once).
          res[target] ??= r;
          ctx.log(
            `  opened in ${r.openMs.toFixed(0)} ms (cores ${JSON.stringify(r.cores)}, ${r.writesPerSocket} writes each); per socket RSS ${(r.perSocket.rssBytes / 1024).toFixed(1)} KB, heap ${(r.perSocket.heapBytes / 1024).toFixed(1)} KB`,
          );
        }
      }
      for (const target of ['maws', 'floor'] as const) res[target].openMs = median(openMs[target]);
      details[`N=${n}`] = { ...res, openTrialsMs: openMs };
      const kb = (b: number): number => b / 1024;
      const isTarget = n === Math.max(...sizes) && n >= 10_000;
      rows.push(
        makeRow(
          'connections',
          `${n} sockets: RSS per idle socket`,
          'KB',
          kb(res.maws.perSocket.rssBytes),
          kb(res.floor.perSocket.rssBytes),
          isTarget ? { kind: 'ratio<=', value: 1.3 } : undefined,
          isTarget ? undefined : note,
        ),
        makeRow(
          'connections',
          `${n} sockets: heap per idle socket`,
          'KB',
          kb(res.maws.perSocket.heapBytes),
          kb(res.floor.perSocket.heapBytes),
        ),
        makeRow(
          'connections',
          `${n} sockets: time to open all`,
          'ms',
          res.maws.openMs,
          res.floor.openMs,
          isTarget ? { kind: 'ratio<=', value: 1.5 } : undefined,
        ),
      );
    }
  } finally {
    ctx.details.connections = details;
    await client.stop();
  }
  ctx.report('Connections: idle authenticated sockets on a MAWS gateway vs a bare ws server', rows);
}
