/**
 * Workload 2, connections: what an idle authenticated socket costs a MAWS gateway (RSS and
 * V8 heap, after full GCs, per socket), and how long opening them takes; beside a bare
 * `ws` server holding the same number of sockets from the same client process.
 */
import { getFreePort } from '../../test/support/redis-server';
import * as path from 'node:path';
import { formatProfile, summarizeProfile } from '../lib/cpu-profile';
import { Ctx, probe } from '../lib/context';
import { diffCensus, formatDiff, heapCensus, type CensusDiff } from '../lib/heap-snapshot';
import type { ChildProc } from '../lib/ipc';
import { makeRow, type Row } from '../lib/table';
import { round, sleep } from '../lib/util';

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
  perSocket: { rssBytes: number; heapBytes: number; externalBytes: number };
  before: Mem;
  after: Mem;
  /** With --profile at the largest size: what one idle socket holds, object by object. */
  heapPerSocket?: CensusDiff[];
}

const WARM_SOCKETS = 100;

async function measure(ctx: Ctx, client: ChildProc, target: 'maws' | 'floor', sockets: number): Promise<Measured> {
  let server: { url: string; probe: number; stop: () => Promise<void> };
  if (target === 'maws') {
    const { proc, probe: port } = await ctx.startMaws('gateway', {
      MAX_SOCKETS: String(sockets + 10_000),
      MAX_SOCKETS_PER_USER: String(sockets + 10_000),
    });
    server = { url: proc.wsUrl!, probe: port, stop: () => ctx.stopMaws(proc) };
  } else {
    const port = await getFreePort();
    const child = await ctx.fork('bare-ws', 'bare-server.js', ['idle', String(port)], true);
    await child.call('sockets');
    server = { url: `ws://127.0.0.1:${port}`, probe: child.probe!, stop: () => child.stop() };
  }
  try {
    const auth = target === 'maws';
    const base = { url: server.url, auth, waitFirst: auth, concurrency: 200, timeoutMs: 60_000 };
    // Warm the code paths (JIT, pools) so the baseline is not a cold process.
    await client.call('open', { ...base, group: `warm${target}${sockets}`, from: 0, to: WARM_SOCKETS });
    await client.call('close', { group: `warm${target}${sockets}`, terminate: true });
    await sleep(300);
    const snapshots = ctx.opts.profile && sockets === Math.max(...ctx.sizes.connections);
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
    if (snapshots) await probe(server.probe, '/cpu/start?us=250');
    const opened = await client.call<OpenResult>('open', { ...base, group, from: 0, to: sockets }, 300_000);
    if (snapshots) {
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
      // Alternate the order so neither side always runs on a warmer machine.
      const order = n === sizes[0] ? (['maws', 'floor'] as const) : (['floor', 'maws'] as const);
      for (const target of order) {
        ctx.log(`connections: ${n} idle sockets on ${target}`);
        res[target] = await measure(ctx, client, target, n);
        const r = res[target];
        ctx.log(
          `  opened in ${r.openMs.toFixed(0)} ms; per socket RSS ${(r.perSocket.rssBytes / 1024).toFixed(1)} KB, heap ${(r.perSocket.heapBytes / 1024).toFixed(1)} KB`,
        );
      }
      details[`N=${n}`] = res;
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
