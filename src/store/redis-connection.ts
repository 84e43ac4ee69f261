import type { RedisOptions as BullRedisOptions } from 'bullmq';
import Redis, { Cluster, type ClusterNode, type RedisOptions } from 'ioredis';
import type { RedisTarget } from '../config/redis-target';
import type { Socket } from 'node:net';
import { logErrorsOf } from '../common/error-log';

export type { RedisTarget };

/** A connection to either: both speak the same commands (a cluster routes each by its key). */
export type RedisClient = Redis | Cluster;

export function isCluster(redis: RedisClient): redis is Cluster {
  return redis instanceof Cluster;
}

const COMMON: RedisOptions = {
  // Commands wait for a reconnect instead of failing at once while Redis restarts.
  maxRetriesPerRequest: null,
  enableReadyCheck: true,
  retryStrategy: (times) => Math.min(50 * times, 2000),
};

/** One place that opens Redis connections, so every role connects the same way. */
export function openRedis(
  target: RedisTarget,
  purpose: string,
  extra: RedisOptions = {},
  { coalesceWrites = false, subscriber = false }: { coalesceWrites?: boolean; subscriber?: boolean } = {},
): RedisClient {
  const options: RedisOptions = { connectionName: `maws:${purpose}`, ...COMMON, ...extra };
  const redis =
    'url' in target ? new Redis(target.url, options) : openCluster(target.clusterNodes, options, subscriber);
  // The listener keeps a dropped connection from crashing the process (ioredis reconnects);
  // what it says is logged, throttled, so an outage shows in the logs without flooding them.
  logErrorsOf(redis, 'Redis', `redis connection "${purpose}"`);
  if (coalesceWrites) {
    // On a cluster, each master's connection coalesces its own writes.
    if (isCluster(redis)) redis.on('+node', (node: Redis) => coalesceCommandWrites(node));
    else coalesceCommandWrites(redis);
  }
  return redis;
}

function openCluster(nodes: ClusterNode[], options: RedisOptions, subscriber: boolean): Cluster {
  return new Cluster(nodes, {
    redisOptions: options,
    // Sharded pub/sub: a subscriber per master, moved with its slots (failover, reshard).
    shardedSubscribers: true,
    clusterRetryStrategy: options.retryStrategy,
    enableReadyCheck: options.enableReadyCheck,
    lazyConnect: options.lazyConnect,
    maxRedirections: 32,
    // A subscriber learns of a failover or a slot moved within a second: a sharded subscriber
    // is told nothing usable when its slots go (Redis unsubscribes it), and only a refreshed
    // slot map has ioredis subscribe again on the new owner (then `subscribersReady`, on which
    // the gateway fills its sockets from the log). Command connections learn from MOVED and ASK
    // (and refresh at ioredis's default pace) rather than ask every second.
    ...(subscriber ? { slotsRefreshInterval: 1000 } : {}),
  });
}

/**
 * A connection for pub/sub only. Its ready check is off: ioredis sends the check (INFO) only
 * once the connect's CLIENT commands are answered, and a SUBSCRIBE, which ioredis lets through
 * before ready, can be answered first when Redis stalled while the connection was being made;
 * the connection is then in subscriber mode, the INFO is refused, and the subscription was
 * lost for good (a gateway started during a Redis stall relayed nothing).
 */
export function openSubscriber(target: RedisTarget, purpose: string): RedisClient {
  // Its writes coalesce too (on a single Redis; a cluster's sharded subscribers are ioredis's
  // own connections): a reconnect storm's thousands of SSUBSCRIBEs left one write each.
  return openRedis(target, purpose, { enableReadyCheck: false }, { coalesceWrites: true, subscriber: true });
}

/**
 * Commands issued in one turn of the event loop leave in one write: the socket is corked at
 * the first and uncorked once the turn's callbacks and promise continuations are done (a
 * run-starting script and its job, a burst of frames' commands). A write per command was a
 * fifth of a busy gateway's CPU. Order is unchanged: one socket, one buffer.
 */
function coalesceCommandWrites(redis: Redis): void {
  let corked: Socket | undefined;
  const uncork = (): void => {
    const socket = corked;
    corked = undefined;
    socket?.uncork();
  };
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = (command, stream) => {
    const socket = (redis as unknown as { stream?: Socket }).stream;
    if (!corked && !stream && socket && redis.status === 'ready') {
      socket.cork();
      corked = socket;
      process.nextTick(uncork);
    }
    return send(command, stream);
  };
}

/**
 * BullMQ's connection: options it can duplicate for its blocking connections, or on a cluster
 * a Cluster (BullMQ duplicates that too), which whoever made it closes.
 */
export function bullConnection(target: RedisTarget, purpose: string): BullRedisOptions | Cluster {
  if ('clusterNodes' in target) return openRedis(target, purpose);
  const u = new URL(target.url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null,
  };
}

/** Closes a connection bullConnection made (options need nothing). */
export function closeBullConnection(connection: BullRedisOptions | Cluster): void {
  if (connection instanceof Cluster) connection.disconnect();
}
