/**
 * Test support: a real, throw-away Redis Cluster: six local `redis-server --cluster-enabled
 * yes` processes (three masters, a replica each; or other counts of replicas) joined by `redis-cli --cluster create`, in
 * about two seconds, no Docker. Its nodes are ordinary RedisServers: stopAllRedis (run by
 * cleanupAll) stops them by pid, also when a test fails.
 *
 * Only node built-ins and other test support are imported here, nothing from src/.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startRedis, type RedisServer } from './redis-server';
import { sleep } from './timing';

const run = promisify(execFile);
export const REDIS_CLI_BIN = process.env.REDIS_CLI_BIN || '/usr/bin/redis-cli';
const READY_TIMEOUT_MS = 20_000;

export interface RedisCluster {
  /** Every node, masters and replicas (which is which changes with a failover). */
  readonly nodes: RedisServer[];
  /** `127.0.0.1:port,...` of every node: MAWS's REDIS_CLUSTER_NODES. */
  readonly nodeList: string;
  /** `redis-cli` against one node, e.g. `cli(node, 'CLUSTER', 'INFO')`; resolves with its stdout. */
  cli(node: RedisServer, ...args: string[]): Promise<string>;
  /** Resolves once every node says `cluster_state:ok` and every slot is served. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** The master serving a key's slot, and that slot. */
  masterOf(key: string): Promise<{ node: RedisServer; slot: number }>;
  /** The current masters (nodes whose role is master and that are running). */
  masters(): Promise<RedisServer[]>;
  /** A running replica of `master`. */
  replicaOf(master: RedisServer): Promise<RedisServer>;
  /**
   * `CLUSTER FAILOVER` on `replica` (a manual failover: its master hands over, no write lost);
   * resolves once it is master and the cluster is healthy again.
   */
  failover(replica: RedisServer): Promise<void>;
  /**
   * Moves one slot, with its keys, from one master to another, the way `redis-cli --cluster
   * reshard` does (IMPORTING/MIGRATING, MIGRATE in batches, then SETSLOT NODE on every master),
   * while clients keep using it (they are sent ASK, or TRYAGAIN for a multi-key command).
   * Resolves with how many keys moved.
   */
  migrateSlot(slot: number, from: RedisServer, to: RedisServer): Promise<number>;
}

/** Starts the nodes and creates the cluster: three masters, `replicas` (default 1) each. */
export async function startRedisCluster({ replicas = 1 }: { replicas?: number } = {}): Promise<RedisCluster> {
  const nodes = await Promise.all(Array.from({ length: 3 * (1 + replicas) }, () => startRedis({ clusterNode: true })));
  const nodeList = nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  const cli = async (node: RedisServer, ...args: string[]): Promise<string> =>
    (await run(REDIS_CLI_BIN, ['-h', '127.0.0.1', '-p', String(node.port), ...args])).stdout;
  await run(REDIS_CLI_BIN, [
    '--cluster',
    'create',
    ...nodes.map((n) => `127.0.0.1:${n.port}`),
    '--cluster-replicas',
    String(replicas),
    '--cluster-yes',
  ]);
  const cluster: RedisCluster = {
    nodes,
    nodeList,
    cli,
    async waitHealthy(timeoutMs = READY_TIMEOUT_MS) {
      const deadline = Date.now() + timeoutMs;
      let last = '';
      while (Date.now() < deadline) {
        const running = nodes.filter((n) => n.running);
        const infos = await Promise.all(running.map((n) => cli(n, 'CLUSTER', 'INFO').catch(() => '')));
        const healthy = infos.every((info) => /cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info));
        if (healthy && infos.length > 0) return;
        last = infos.join('\n');
        await sleep(100);
      }
      throw new Error(`the cluster did not become healthy within ${timeoutMs} ms:\n${last}`);
    },
    async masterOf(key) {
      const slot = Number(
        (
          await cli(
            nodes.find((n) => n.running)!,
            'CLUSTER',
            'KEYSLOT',
            key,
          )
        ).trim(),
      );
      const owner = await ownerOfSlot(cli, nodes, slot);
      return { node: owner, slot };
    },
    async replicaOf(master) {
      for (const node of nodes.filter((n) => n.running && n !== master)) {
        const [role, , port] = (await cli(node, 'ROLE').catch(() => '')).split('\n');
        if (role === 'slave' && Number(port) === master.port) return node;
      }
      throw new Error(`no replica of 127.0.0.1:${master.port}`);
    },
    async failover(replica) {
      const said = (await cli(replica, 'CLUSTER', 'FAILOVER')).trim();
      if (said !== 'OK') throw new Error(`CLUSTER FAILOVER on 127.0.0.1:${replica.port} said ${said}`);
      const deadline = Date.now() + READY_TIMEOUT_MS;
      while (!(await cli(replica, 'ROLE')).startsWith('master')) {
        if (Date.now() > deadline) throw new Error(`127.0.0.1:${replica.port} did not become master`);
        await sleep(50);
      }
      await cluster.waitHealthy();
    },
    async migrateSlot(slot, from, to) {
      const idOf = async (node: RedisServer): Promise<string> => (await cli(node, 'CLUSTER', 'MYID')).trim();
      const [fromId, toId] = await Promise.all([idOf(from), idOf(to)]);
      const expectOk = (said: string, what: string): void => {
        if (said.trim() !== 'OK') throw new Error(`${what}: ${said}`);
      };
      expectOk(await cli(to, 'CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', fromId), 'IMPORTING');
      expectOk(await cli(from, 'CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', toId), 'MIGRATING');
      let moved = 0;
      for (;;) {
        const keys = (await cli(from, 'CLUSTER', 'GETKEYSINSLOT', String(slot), '50')).split('\n').filter(Boolean);
        if (keys.length === 0) break;
        const said = await cli(from, 'MIGRATE', '127.0.0.1', String(to.port), '', '0', '5000', 'KEYS', ...keys);
        if (!/OK|NOKEY/.test(said)) throw new Error(`MIGRATE: ${said}`);
        moved += keys.length;
      }
      // The new owner first, then the old one, then every other master (as redis-cli does).
      const others = (await cluster.masters()).filter((n) => n !== to && n !== from);
      for (const node of [to, from, ...others]) {
        expectOk(await cli(node, 'CLUSTER', 'SETSLOT', String(slot), 'NODE', toId), `SETSLOT NODE on ${node.port}`);
      }
      await cluster.waitHealthy();
      return moved;
    },
    async masters() {
      const out: RedisServer[] = [];
      for (const node of nodes.filter((n) => n.running)) {
        const role = await cli(node, 'ROLE').catch(() => '');
        if (role.startsWith('master')) out.push(node);
      }
      return out;
    },
  };
  await cluster.waitHealthy();
  return cluster;
}

/** The running node that masters `slot`, from a node's CLUSTER NODES view. */
async function ownerOfSlot(
  cli: (node: RedisServer, ...args: string[]) => Promise<string>,
  nodes: RedisServer[],
  slot: number,
): Promise<RedisServer> {
  const view = await cli(
    nodes.find((n) => n.running)!,
    'CLUSTER',
    'NODES',
  );
  for (const line of view.trim().split('\n')) {
    const [, address, flags, , , , , , ...ranges] = line.split(' ');
    if (!flags.includes('master') || flags.includes('fail')) continue;
    const port = Number(address.split('@')[0].split(':')[1]);
    const serves = ranges.some((range) => {
      if (range.startsWith('[')) return false; // a slot being migrated
      const [from, to = from] = range.split('-').map(Number);
      return slot >= from && slot <= to;
    });
    if (serves) {
      const node = nodes.find((n) => n.port === port);
      if (node) return node;
    }
  }
  throw new Error(`no master serves slot ${slot}:\n${view}`);
}
