/** What every workload shares: options, sizes, the Redis server, started processes, results. */
import Redis from 'ioredis';
import { startMaws, stopAllMaws, type MawsProcess, type MawsRole } from '../../test/support/maws-process';
import { getFreePort, stopAllRedis, type RedisServer } from '../../test/support/redis-server';
import { ChildProc, liveChildren, PROBE_JS } from './ipc';
import type { Row } from './table';
import { consoleTable } from './table';
import { errorText } from './util';

export type Mode = 'full' | 'quick' | 'smoke';
export const WORKLOADS = [
  'relay',
  'connections',
  'runs',
  'store-full',
  'tools',
  'mcp',
  'replanning',
  'waiting',
  'steering',
  'sessions',
  'client',
  'agui',
  'tracing',
  'storage',
  'scaling',
  'cluster',
  'storm',
] as const;
export type Workload = (typeof WORKLOADS)[number];

export interface Options {
  mode: Mode;
  only: Set<Workload>;
  out: string;
  docs: boolean;
  /** CPU profiles and heap snapshots; 'alloc': sampled allocations instead of the CPU profile. */
  profile: false | 'cpu' | 'alloc';
  /** Events per EventLog.append call in the saturating relay (the worker's batching). */
  batch: number;
  /** Client processes for the relay (sockets are split between them). */
  clients: number;
  workerConcurrency?: number;
}

export interface Sizes {
  relaySessions: number[];
  warmMs: number;
  measureMs: number;
  latencyRate: number;
  /** Also measure MAWS with one event per append (informational row). */
  perEventRow: boolean;
  connections: number[];
  idleSettleMs: number;
  runSessions: number;
  batches: number;
  singles: number;
  chatSessions: number;
  chatIntervalMs: number;
  idleChats: number;
  /** store-full: sessions sending `message` while Redis is held full (MAWS and floor alike). */
  fullSessions: number;
  /** store-full: `message`s per session in each measured window (two windows per target). */
  fullCommands: number;
  /** store-full: refused `SET`s timed alone. */
  refusedWrites: number;
  /** store-full: runs streaming when Redis is filled, per recovery trial. */
  recoveryRuns: number;
  recoveryTrials: number;
  /** store-full: how long Redis is held full in a recovery trial. */
  holdMs: number;
}

export const SIZES: Record<Mode, Sizes> = {
  full: {
    relaySessions: [100, 1000],
    warmMs: 1000,
    measureMs: 5000,
    latencyRate: 5000,
    perEventRow: true,
    connections: [1000, 10_000],
    idleSettleMs: 1500,
    runSessions: 200,
    batches: 5,
    singles: 100,
    chatSessions: 20,
    chatIntervalMs: 200,
    idleChats: 50,
    fullSessions: 10,
    fullCommands: 25,
    refusedWrites: 500,
    recoveryRuns: 6,
    recoveryTrials: 5,
    holdMs: 2000,
  },
  quick: {
    relaySessions: [100, 1000],
    warmMs: 400,
    measureMs: 1500,
    latencyRate: 5000,
    perEventRow: false,
    connections: [1000, 10_000],
    idleSettleMs: 500,
    runSessions: 200,
    batches: 1,
    singles: 20,
    chatSessions: 20,
    chatIntervalMs: 200,
    idleChats: 20,
    fullSessions: 10,
    fullCommands: 15,
    refusedWrites: 300,
    recoveryRuns: 6,
    recoveryTrials: 2,
    holdMs: 2000,
  },
  smoke: {
    relaySessions: [10, 50],
    warmMs: 200,
    measureMs: 600,
    latencyRate: 1000,
    perEventRow: false,
    connections: [100, 300],
    idleSettleMs: 200,
    runSessions: 10,
    batches: 1,
    singles: 3,
    chatSessions: 2,
    chatIntervalMs: 200,
    idleChats: 3,
    fullSessions: 3,
    fullCommands: 3,
    refusedWrites: 20,
    recoveryRuns: 2,
    recoveryTrials: 1,
    holdMs: 2000,
  },
};

export class Ctx {
  readonly rows: Row[] = [];
  readonly details: Record<string, unknown> = {};
  readonly failures: { workload: string; error: string }[] = [];
  private readonly maws = new Set<MawsProcess>();
  readonly admin: Redis;
  /** Set once cleanup began: nothing new may start after it. */
  private stopping = false;
  /** Redis is held full (maxmemory 1) by holdRedisFull: cleanup frees it. */
  private redisHeldFull = false;

  constructor(
    readonly opts: Options,
    readonly sizes: Sizes,
    readonly redis: RedisServer,
    readonly profileDir: string,
  ) {
    this.admin = new Redis(redis.url, { maxRetriesPerRequest: 3 });
    this.admin.on('error', () => undefined);
  }

  log(msg: string): void {
    process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
  }

  /** Adds a workload's rows and prints its table at once. */
  report(title: string, rows: Row[]): void {
    this.rows.push(...rows);
    console.log(consoleTable(title, rows));
  }

  /** Starts `node dist/main.js ROLE` on the bench's Redis, with the probe preloaded. */
  async startMaws(
    role: MawsRole,
    env: Record<string, string | undefined> = {},
  ): Promise<{ proc: MawsProcess; probe: number }> {
    const probe = await getFreePort();
    this.assertRunning();
    const proc = await startMaws(role, {
      REDIS_URL: this.redis.url,
      LOG_LEVEL: 'warn',
      ...(this.opts.workerConcurrency ? { WORKER_CONCURRENCY: String(this.opts.workerConcurrency) } : {}),
      ...env,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${PROBE_JS}`.trim(),
      BENCH_PROBE_PORT: String(probe),
    });
    this.maws.add(proc);
    return { proc, probe };
  }

  async stopMaws(proc: MawsProcess): Promise<void> {
    await proc.stop('SIGTERM', 10_000).catch(() => proc.kill('SIGKILL'));
    this.maws.delete(proc);
  }

  /** Forks a bench child (build-tools/bench/children/SCRIPT). */
  async fork(
    name: string,
    script: string,
    args: string[] = [],
    withProbe = false,
  ): Promise<ChildProc & { probe?: number }> {
    const probe = withProbe ? await getFreePort() : undefined;
    this.assertRunning();
    const child = new ChildProc(name, script, args, {}, probe) as ChildProc & { probe?: number };
    child.probe = probe;
    return child;
  }

  private assertRunning(): void {
    if (this.stopping) throw new Error('the bench is stopping');
  }

  async flushRedis(): Promise<void> {
    await this.admin.flushall();
  }

  /**
   * Holds Redis full: `maxmemory 1` under the bench Redis's `noeviction`, so every write is
   * refused (OOM) whatever is freed, until freeRedis. Cleanup frees it too, also on failure.
   */
  async holdRedisFull(): Promise<void> {
    this.redisHeldFull = true;
    await this.admin.config('SET', 'maxmemory', '1');
  }

  /** `maxmemory 0` again: Redis takes writes. */
  async freeRedis(): Promise<void> {
    await this.admin.config('SET', 'maxmemory', '0');
    this.redisHeldFull = false;
  }

  /** Stops everything the bench started. Never throws. */
  async cleanup(): Promise<void> {
    this.stopping = true;
    if (this.redisHeldFull && this.redis.running) {
      const timeout = new Promise<void>((resolve) => setTimeout(resolve, 2000).unref());
      await Promise.race([this.freeRedis().catch(() => undefined), timeout]);
    }
    for (const c of liveChildren()) await c.stop(2000).catch(() => c.kill());
    this.admin.disconnect();
    await stopAllMaws().catch(() => undefined);
    await stopAllRedis().catch(() => undefined);
  }

  /** Last resort on exit: SIGKILL whatever still runs (synchronous). */
  killSync(): void {
    for (const c of liveChildren()) c.kill();
    for (const p of this.maws) if (p.running) p.kill('SIGKILL');
    if (this.redis.running) this.redis.kill('SIGKILL');
  }
}

/** GET/POST a probe endpoint of a process started with the probe. */
export async function probe<T>(port: number, path: string): Promise<T> {
  const get = path === '/mem' || path === '/rss' || path === '/stalls';
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: get ? 'GET' : 'POST' });
  const body = (await res.json()) as T & { error?: string };
  if (!res.ok) throw new Error(`probe ${path}: ${body.error ?? res.status}`);
  return body;
}

export function describeError(err: unknown): string {
  return errorText(err).split('\n').slice(0, 12).join('\n');
}
