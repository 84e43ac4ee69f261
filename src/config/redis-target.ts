import type { ClusterNode } from 'ioredis';

/** Where Redis is: one server (`REDIS_URL`) or a Redis Cluster (`REDIS_CLUSTER_NODES`). */
export type RedisTarget = { url: string } | { clusterNodes: ClusterNode[] };

/** One server, or the cluster's nodes from `host:port,...` (its shape checked by AppConfig). */
export function redisTargetOf(redisUrl: string, clusterNodes: string | undefined): RedisTarget {
  if (clusterNodes === undefined) return { url: redisUrl };
  return {
    clusterNodes: clusterNodes.split(',').map((node) => {
      const [host, port] = node.trim().split(':');
      return { host, port: Number(port) };
    }),
  };
}
