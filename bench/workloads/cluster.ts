/**
 * Workload cluster (issue 18, v2 "Redis Cluster"): the relay on a three-master Redis Cluster
 * (six local nodes, a replica each) beside the relay on one Redis, in the same run, with the
 * same clients, sessions and load: events appended through MAWS's EventLog (the worker's path:
 * one script per append, SPUBLISH inside it) and received on authenticated sockets of a MAWS
 * gateway, one gateway on each. Saturated throughput and latency at a fixed rate, windows
 * alternating between the two so machine drift falls on both alike.
 */
import { startRedisCluster } from '../../test/support/redis-cluster';
import { EventLog, openRedis } from '../lib/built';
import type { Ctx } from '../lib/context';
import type { ChildProc } from '../lib/ipc';
import { topCommands } from '../lib/redis-stats';
import { makeRow, type Row } from '../lib/table';
import { round } from '../lib/util';
import {
  alternatingLatency,
  mawsPublisher,
  openAll,
  saturate,
  type Target,
  type TargetSetup,
  type ThroughputResult,
} from './relay';

/** In the relay's tables `maws` is the measured side and `floor` the one it is held against. */
const ON = { maws: 'cluster', floor: 'one Redis' } as const;

export async function clusterWorkload(ctx: Ctx): Promise<void> {
  const { sizes, opts } = ctx;
  const sessions = Math.max(...sizes.relaySessions);
  const cluster = await startRedisCluster();
  const limits = { MAX_SOCKETS: '60000', MAX_SOCKETS_PER_USER: '60000' };
  const single = await ctx.startMaws('gateway', limits);
  const onCluster = await ctx.startMaws('gateway', {
    ...limits,
    REDIS_URL: undefined,
    REDIS_CLUSTER_NODES: cluster.nodeList,
  });
  const clients: ChildProc[] = [];
  for (let j = 0; j < opts.clients; j++) clients.push(await ctx.fork(`cluster-client-${j}`, 'client.js'));
  const singleRedis = openRedis({ url: ctx.redis.url }, 'bench-publisher', {}, { coalesceWrites: true });
  const clusterRedis = openRedis(
    { clusterNodes: cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })) },
    'bench-publisher',
  );
  const logs = {
    maws: new EventLog(clusterRedis, { maxEvents: 10_000, ttlSeconds: 24 * 3600 }),
    floor: new EventLog(singleRedis, { maxEvents: 10_000, ttlSeconds: 24 * 3600 }),
  };
  const gateways = { maws: onCluster, floor: single };
  const masters = await cluster.masters();
  const clientPids = Object.fromEntries(clients.map((c, j) => [`client${j}`, c.pid]));
  const rows: Row[] = [];
  const details: Record<string, unknown> = { sessions, batch: opts.batch, masters: masters.length };
  try {
    await ctx.flushRedis();
    const targets = {} as Record<Target, TargetSetup>;
    for (const target of ['maws', 'floor'] as const) {
      const group = `cluster${sessions}${target}`;
      const openMs = await openAll(ctx, clients, group, gateways[target].proc.wsUrl!, sessions, true);
      ctx.log(`cluster S=${sessions} on ${ON[target]}: ${sessions} sockets open in ${openMs.toFixed(0)} ms`);
      targets[target] = {
        group,
        openMs,
        pub: mawsPublisher(logs[target], group, sessions),
        probe: gateways[target].probe,
        pids: {
          server: gateways[target].proc.pid,
          ...(target === 'maws'
            ? Object.fromEntries(masters.map((m, i) => [`redis${i + 1}`, m.pid]))
            : { redis: ctx.redis.pid }),
          bench: process.pid,
          ...clientPids,
        },
      };
    }
    const latency = await alternatingLatency(ctx, clients, targets, sessions);
    const throughput = {} as Record<Target, ThroughputResult>;
    for (const target of ['floor', 'maws'] as const) {
      ctx.log(`cluster S=${sessions} on ${ON[target]}: saturating`);
      const thr = await saturate(ctx, clients, targets[target].pub, sessions, opts.batch, targets[target].pids);
      ctx.log(
        `  ${thr.eventsPerSec} events/s, server ${thr.serverUsPerEvent} µs/event, ` +
          `cores ${JSON.stringify(Object.fromEntries(Object.entries(thr.cpu).map(([k, v]) => [k, v.cores])))}; ` +
          `lost ${thr.lost}, gaps ${thr.gaps}${target === 'floor' ? `; redis ${topCommands(thr.redis)}` : ''}`,
      );
      throughput[target] = thr;
      await Promise.all(clients.map((c) => c.call('close', { group: targets[target].group })));
    }
    // Where the sessions' keys went: every master holds its share.
    const keysPerMaster = await Promise.all(masters.map(async (m) => Number((await cluster.cli(m, 'DBSIZE')).trim())));
    details.keysPerMaster = keysPerMaster;
    details.cluster = { openMs: round(targets.maws.openMs), throughput: throughput.maws, latency: latency.maws };
    details.single = { openMs: round(targets.floor.openMs), throughput: throughput.floor, latency: latency.floor };
    const lossNote = (t: ThroughputResult): string | undefined =>
      t.lost > 0 || t.gaps > 0 || t.closes > 0
        ? `${t.lost} events lost, ${t.gaps} seq gaps, ${t.closes} sockets closed`
        : undefined;
    const rate = sizes.latencyRate;
    rows.push(
      makeRow(
        'cluster',
        `S=${sessions}: delivered events/s, 3 masters vs one Redis`,
        'ev/s',
        throughput.maws.eventsPerSec,
        throughput.floor.eventsPerSec,
        { kind: 'ratio>=', value: 0.8 },
        lossNote(throughput.maws) ?? lossNote(throughput.floor),
      ),
      makeRow('cluster', `S=${sessions} @${rate}/s: p50 latency`, 'ms', latency.maws.ms.p50, latency.floor.ms.p50),
      makeRow('cluster', `S=${sessions} @${rate}/s: p99 latency`, 'ms', latency.maws.ms.p99, latency.floor.ms.p99),
      makeRow('cluster', `sockets opened (${sessions})`, 'ms', targets.maws.openMs, targets.floor.openMs),
    );
  } finally {
    ctx.details.cluster = details;
    singleRedis.disconnect();
    clusterRedis.disconnect();
    for (const c of clients) await c.stop();
    await ctx.stopMaws(single.proc);
    await ctx.stopMaws(onCluster.proc);
    await Promise.all(cluster.nodes.map((n) => n.stop()));
  }
  ctx.report('Cluster: the relay on a 3-master Redis Cluster vs one Redis', rows);
}
