/**
 * Workload cluster (issue 18, v2 "Redis Cluster"): the relay on a three-master Redis Cluster
 * (three local nodes; and, informational, with a replica each) beside the relay on one Redis, in the same run, with the
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
  fixedRate,
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
  // Three masters and no replicas: on two cores a replica per master would double Redis's
  // writes on the same cores (measured beside it, informational, with one replica each).
  const cluster = await startRedisCluster({ replicas: 0 });
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
    {},
    { coalesceWrites: true },
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
    // Neither side is measured cold: a short unmeasured pass through each warms the JIT of
    // its gateway, the publisher and the clients (as the relay workload does).
    for (const target of ['maws', 'floor'] as const) {
      const group = `clusterwarm${target}`;
      const warmSessions = Math.min(...sizes.relaySessions);
      await openAll(ctx, clients, group, gateways[target].proc.wsUrl!, warmSessions, true);
      const pub = mawsPublisher(logs[target], group, warmSessions);
      await fixedRate(ctx, clients, pub, warmSessions, sizes.latencyRate, {}, gateways[target].probe, {
        warmMs: 200,
        measureMs: sizes.warmMs,
      });
      await Promise.all(clients.map((c) => c.call('close', { group })));
    }
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
    // The same cluster with a replica per master: every write also replicated, on the same
    // cores (not in a smoke run, which only shows the workload works).
    const replicated =
      ctx.opts.mode === 'smoke' ? undefined : await saturateReplicated(ctx, clients, sessions, clientPids);
    details.replicated = replicated;
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
    if (replicated) {
      rows.push(
        makeRow(
          'cluster',
          `S=${sessions}: delivered events/s, 3 masters + 3 replicas vs one Redis`,
          'ev/s',
          replicated.eventsPerSec,
          throughput.floor.eventsPerSec,
          undefined,
          lossNote(replicated),
        ),
      );
    }
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

/** The relay saturated on a cluster of three masters with a replica each (its own gateway). */
async function saturateReplicated(
  ctx: Ctx,
  clients: ChildProc[],
  sessions: number,
  clientPids: Record<string, number | undefined>,
): Promise<ThroughputResult> {
  const cluster = await startRedisCluster({ replicas: 1 });
  const gateway = await ctx.startMaws('gateway', {
    MAX_SOCKETS: '60000',
    MAX_SOCKETS_PER_USER: '60000',
    REDIS_URL: undefined,
    REDIS_CLUSTER_NODES: cluster.nodeList,
  });
  const redis = openRedis(
    { clusterNodes: cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })) },
    'bench-publisher',
    {},
    { coalesceWrites: true },
  );
  try {
    const group = `clusterreplicated${sessions}`;
    await openAll(ctx, clients, group, gateway.proc.wsUrl!, sessions, true);
    const pub = mawsPublisher(new EventLog(redis, { maxEvents: 10_000, ttlSeconds: 24 * 3600 }), group, sessions);
    const pids = {
      server: gateway.proc.pid,
      ...Object.fromEntries(cluster.nodes.map((n, i) => [`redis${i + 1}`, n.pid])),
      bench: process.pid,
      ...clientPids,
    };
    ctx.log(`cluster S=${sessions} on 3 masters + 3 replicas: saturating`);
    const thr = await saturate(ctx, clients, pub, sessions, ctx.opts.batch, pids);
    ctx.log(
      `  ${thr.eventsPerSec} events/s, cores ${JSON.stringify(Object.fromEntries(Object.entries(thr.cpu).map(([k, v]) => [k, v.cores])))}`,
    );
    await Promise.all(clients.map((c) => c.call('close', { group })));
    return thr;
  } finally {
    redis.disconnect();
    await ctx.stopMaws(gateway.proc);
    await Promise.all(cluster.nodes.map((n) => n.stop()));
  }
}
