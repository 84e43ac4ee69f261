/**
 * Test support: run a real, throw-away `redis-server` per test (file).
 *
 * Only node built-ins (and ./stop-all, ./timing) are imported here (jest in this repo cannot load the
 * ESM-only runtime dependencies), and nothing from src/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { stopEach } from './stop-all';
import { sleep } from './timing';

export const REDIS_SERVER_BIN = process.env.REDIS_SERVER_BIN || '/usr/bin/redis-server';

const OUTPUT_CAP = 256 * 1024;
const READY_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 3_000;

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StartRedisOptions {
  /** `--appendonly yes|no` (default no). */
  appendonly?: boolean;
  /** Data directory; a fresh temp dir (removed by stopAllRedis) when not given. */
  dir?: string;
  /** Fixed port; a free port is picked when not given. */
  port?: number;
  /** A node of a Redis Cluster (`--cluster-enabled yes`, its nodes.conf in its dir): see redis-cluster.ts. */
  clusterNode?: boolean;
}

export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  readonly dir: string;
  /** true while the redis-server process is alive. */
  readonly running: boolean;
  /** pid of the current redis-server process (undefined when never started). */
  readonly pid: number | undefined;
  /** SIGTERM, SIGKILL after 3 s; resolves once the process has exited. No-op if not running. */
  stop(): Promise<void>;
  /** Send a signal (default SIGKILL: a crash) without waiting. */
  kill(signal?: NodeJS.Signals): void;
  /** stop(), then start again on the same port and dir; resolves when it answers PING. */
  restart(): Promise<void>;
  /** Resolves when the current process exits. */
  exited(): Promise<ExitInfo>;
  /** redis-server's own stdout/stderr (last 256 KiB). */
  output(): string;
}

/** Picks a free TCP port on 127.0.0.1 (bind to port 0, read it, close). */
export function getFreePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('could not read the port of a probe server'));
        return;
      }
      const { port } = addr;
      srv.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/**
 * One raw `PING\r\n` on a fresh TCP connection; true if the reply starts with `+PONG`.
 * Never rejects.
 */
export function pingRedis(port: number, timeoutMs = 1_000, host = '127.0.0.1'): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    let settled = false;
    let buf = '';
    const sock = net.createConnection({ port, host });
    const done = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.setEncoding('utf8');
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
    sock.once('error', () => done(false));
    sock.once('close', () => done(false));
  });
}

const servers = new Set<RedisServerImpl>();

class RedisServerImpl implements RedisServer {
  readonly url: string;
  private child: ChildProcess | undefined;
  private exitPromise: Promise<ExitInfo> = Promise.resolve({ code: null, signal: null });
  private alive = false;
  private out = '';

  constructor(
    readonly port: number,
    readonly dir: string,
    readonly ownsDir: boolean,
    private readonly appendonly: boolean,
    private readonly clusterNode: boolean,
  ) {
    this.url = `redis://127.0.0.1:${port}`;
  }

  get running(): boolean {
    return this.alive;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  output(): string {
    return this.out;
  }

  exited(): Promise<ExitInfo> {
    return this.exitPromise;
  }

  private append(chunk: Buffer | string): void {
    this.out += chunk.toString();
    if (this.out.length > OUTPUT_CAP) this.out = this.out.slice(-OUTPUT_CAP);
  }

  /** Spawns the process and waits for PING; rejects (after killing it) on failure. */
  async start(): Promise<void> {
    if (this.alive) throw new Error(`redis-server on port ${this.port} is already running`);
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      this.appendonly ? 'yes' : 'no',
      '--dir',
      this.dir,
      '--daemonize',
      'no',
      '--maxmemory-policy',
      'noeviction',
      ...(this.clusterNode
        ? ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000']
        : []),
    ];
    const child = spawn(REDIS_SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.alive = true;
    child.stdout?.on('data', (c: Buffer) => this.append(c));
    child.stderr?.on('data', (c: Buffer) => this.append(c));
    this.exitPromise = new Promise<ExitInfo>((resolve) => {
      let resolved = false;
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (resolved) return;
        resolved = true;
        this.alive = false;
        resolve({ code, signal });
      };
      child.once('exit', (code, signal) => finish(code, signal));
      child.once('error', (err) => {
        this.append(`\n[spawn error] ${err.message}\n`);
        finish(null, null);
      });
    });

    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (!this.alive) {
        const info = await this.exitPromise;
        throw new Error(
          `redis-server on port ${this.port} exited before answering PING ` +
            `(code ${info.code}, signal ${info.signal}):\n${this.out}`,
        );
      }
      if (await pingRedis(this.port, 500)) return;
      await sleep(50);
    }
    await this.stop();
    throw new Error(
      `redis-server on port ${this.port} did not answer PING within ${READY_TIMEOUT_MS} ms:\n${this.out}`,
    );
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || !this.alive) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (this.alive) child.kill('SIGKILL');
    }, STOP_GRACE_MS);
    try {
      await this.exitPromise;
    } finally {
      clearTimeout(timer);
    }
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.child && this.alive) this.child.kill(signal);
  }

  async restart(): Promise<void> {
    await this.stop();
    // The port is ours: redis sets SO_REUSEADDR, but retry briefly in case the kernel lags.
    let lastErr: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.start();
        return;
      } catch (err) {
        lastErr = err;
        await sleep(200);
      }
    }
    throw lastErr;
  }
}

/** Starts a fresh redis-server and waits until it answers PING. */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  const ownsDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'maws-redis-'));
  // With a picked port there is a tiny race with other processes; retry with a new port.
  const attempts = opts.port === undefined ? 3 : 1;
  let lastErr: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = opts.port ?? (await getFreePort());
    const server = new RedisServerImpl(port, dir, ownsDir, opts.appendonly ?? false, opts.clusterNode ?? false);
    servers.add(server);
    try {
      await server.start();
      return server;
    } catch (err) {
      lastErr = err;
      await server.stop().catch(() => undefined);
    }
  }
  throw lastErr;
}

/** Stops every server started by startRedis (never throws) and removes temp dirs it created. */
export async function stopAllRedis(): Promise<void> {
  await stopEach(servers, async (s) => {
    await s.stop().catch(() => s.kill('SIGKILL'));
    if (s.ownsDir) rmSync(s.dir, { recursive: true, force: true });
  });
}
