/**
 * Test support: run the built MAWS (`node dist/main.js ROLE`) as a real child process.
 *
 * Only node built-ins and other support modules are imported (never src/): the tests exercise
 * the build output the way an operator runs it, and can signal the node process itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { getFreePort, type ExitInfo } from './redis-server';
import { stopEach } from './stop-all';
import { TEST_JWT_SECRET } from './tokens';

export type { ExitInfo } from './redis-server';

export type MawsRole = 'all' | 'gateway' | 'worker';

/** Environment for a MAWS process; a value of `undefined` removes that variable (even a default). */
export type MawsEnv = Record<string, string | undefined>;

/** The built entry point; MAWS_MAIN_JS in the test runner's env overrides it (harness self-tests). */
export const MAWS_MAIN = process.env.MAWS_MAIN_JS || path.resolve(__dirname, '../../dist/main.js');
export { TEST_JWT_SECRET } from './tokens';

export const MAWS_DEFAULT_ENV: Readonly<Record<string, string>> = {
  HOST: '127.0.0.1',
  JWT_SECRET: TEST_JWT_SECRET,
  OFFLINE_TOKEN_DELAY_MS: '0',
  LOG_LEVEL: 'warn',
};

/** Parent variables that must never leak into a child (they would point it at the wrong place). */
const STRIPPED_PARENT_VARS = ['REDIS_URL', 'REDIS_CLUSTER_NODES', 'PORT', 'JWT_SECRET'];

const READY_MARKER = 'MAWS ready';
const READY_TIMEOUT_MS = 20_000;
const OUTPUT_CAP = 2 * 1024 * 1024;
const RUN_ONCE_TIMEOUT_MS = 15_000;

export interface StartMawsOptions {
  /** Gateway port for roles all/gateway; a free one is picked when not given (nor in env.PORT). */
  port?: number;
  /** Wait for the `MAWS ready` line (default true). When false, await `proc.ready` yourself. */
  waitReady?: boolean;
  /** Readiness timeout (default 20 s). */
  readyTimeoutMs?: number;
}

export interface MawsProcess {
  readonly role: MawsRole;
  readonly pid: number | undefined;
  /** Gateway port (roles all/gateway only). */
  readonly port: number | undefined;
  /** `http://127.0.0.1:PORT` (roles all/gateway only). */
  readonly url: string | undefined;
  /** `ws://127.0.0.1:PORT` (roles all/gateway only). */
  readonly wsUrl: string | undefined;
  /** The environment the child was started with. */
  readonly env: Readonly<Record<string, string>>;
  /** true until the process has exited. */
  readonly running: boolean;
  /** Resolves once `MAWS ready` was printed; rejects (with the output) on early exit or timeout. */
  readonly ready: Promise<void>;
  /** Resolves when the process exits (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** Sends `signal` (default SIGTERM), waits for exit, SIGKILLs after `timeoutMs` (default 10 s). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ExitInfo>;
  /** Sends a signal (default SIGKILL: a crash) without waiting. */
  kill(signal?: NodeJS.Signals): void;
  /** stdout and stderr interleaved as received (last 2 MB). */
  output(): string;
}

/** Builds a child environment: parent env minus REDIS_URL/PORT/JWT_SECRET, then defaults, then `env`. */
export function buildMawsEnv(env: MawsEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !STRIPPED_PARENT_VARS.includes(k)) out[k] = v;
  }
  Object.assign(out, MAWS_DEFAULT_ENV);
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out;
}

const processes = new Set<MawsProcessImpl>();

class MawsProcessImpl implements MawsProcess {
  readonly url: string | undefined;
  readonly wsUrl: string | undefined;
  readonly ready: Promise<void>;
  readonly exited: Promise<ExitInfo>;
  private readonly child: ChildProcess;
  private out = '';
  private alive = true;
  private readySeen = false;
  private stdoutTail = '';

  constructor(
    readonly role: MawsRole,
    readonly env: Readonly<Record<string, string>>,
    readonly port: number | undefined,
    readyTimeoutMs: number,
  ) {
    if (port !== undefined) {
      this.url = `http://127.0.0.1:${port}`;
      this.wsUrl = `ws://127.0.0.1:${port}`;
    }
    this.child = spawn(process.execPath, [MAWS_MAIN, role], {
      env: { ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });

    let onReady: () => void = () => undefined;
    let onNotReady: (err: Error) => void = () => undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onNotReady = reject;
    });
    // Nobody may be listening (waitReady: false and never awaited): avoid unhandled rejections.
    this.ready.catch(() => undefined);

    this.child.stdout?.on('data', (c: Buffer) => {
      const text = c.toString();
      this.append(text);
      if (!this.readySeen) {
        // Keep a small tail so a marker split across chunks is still found.
        const scan = this.stdoutTail + text;
        if (scan.includes(READY_MARKER)) {
          this.readySeen = true;
          onReady();
        } else {
          this.stdoutTail = scan.slice(-READY_MARKER.length);
        }
      }
    });
    this.child.stderr?.on('data', (c: Buffer) => this.append(c.toString()));

    this.exited = new Promise<ExitInfo>((resolve) => {
      let done = false;
      const finish = (info: ExitInfo): void => {
        if (done) return;
        done = true;
        resolve(info);
      };
      this.child.once('exit', (code, signal) => {
        this.alive = false;
        const info: ExitInfo = { code, signal };
        // Give the pipes a moment to drain so output() is complete, without depending on it.
        const t = setTimeout(() => finish(info), 1_000);
        this.child.once('close', () => {
          clearTimeout(t);
          finish(info);
        });
      });
      this.child.once('error', (err) => {
        this.alive = false;
        this.append(`\n[spawn error] ${err.message}\n`);
        finish({ code: null, signal: null });
      });
    });

    const timer = setTimeout(() => {
      if (!this.readySeen) {
        onNotReady(
          new Error(`MAWS ${role} did not print "${READY_MARKER}" within ${readyTimeoutMs} ms. Output:\n${this.out}`),
        );
      }
    }, readyTimeoutMs);
    this.ready.then(
      () => clearTimeout(timer),
      () => clearTimeout(timer),
    );
    void this.exited.then((info) => {
      clearTimeout(timer);
      if (!this.readySeen) {
        onNotReady(
          new Error(
            `MAWS ${role} exited before "${READY_MARKER}" (code ${info.code}, signal ${info.signal}). Output:\n${this.out}`,
          ),
        );
      }
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.alive;
  }

  output(): string {
    return this.out;
  }

  private append(text: string): void {
    this.out += text;
    if (this.out.length > OUTPUT_CAP) this.out = this.out.slice(-OUTPUT_CAP);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.alive) this.child.kill(signal);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<ExitInfo> {
    if (!this.alive) return this.exited;
    this.child.kill(signal);
    const timer = setTimeout(() => {
      if (this.alive) this.child.kill('SIGKILL');
    }, timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

function isAddrInUse(text: string): boolean {
  return /EADDRINUSE|address already in use/i.test(text);
}

/**
 * Spawns `node dist/main.js ROLE`. For all/gateway a free PORT is picked unless given
 * (opts.port, else env.PORT). Resolves once `MAWS ready` is printed (unless waitReady is false).
 */
export async function startMaws(role: MawsRole, env: MawsEnv = {}, opts: StartMawsOptions = {}): Promise<MawsProcess> {
  const needsPort = role === 'all' || role === 'gateway';
  const envPort = env.PORT !== undefined && /^\d+$/.test(env.PORT) ? Number(env.PORT) : undefined;
  const waitReady = opts.waitReady ?? true;
  const readyTimeoutMs = opts.readyTimeoutMs ?? READY_TIMEOUT_MS;
  // A picked port can be taken by someone else before the child binds it: retry then.
  const attempts = needsPort && opts.port === undefined && env.PORT === undefined && waitReady ? 3 : 1;

  let lastErr: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    let port: number | undefined;
    let childEnv: Record<string, string>;
    if (opts.port !== undefined) {
      port = opts.port;
      childEnv = buildMawsEnv({ ...env, PORT: String(port) });
    } else if (env.PORT !== undefined) {
      // Passed through verbatim (it may be deliberately invalid); url/wsUrl only if numeric.
      port = needsPort ? envPort : undefined;
      childEnv = buildMawsEnv(env);
    } else if (needsPort) {
      port = await getFreePort();
      childEnv = buildMawsEnv({ ...env, PORT: String(port) });
    } else {
      childEnv = buildMawsEnv(env);
    }
    const proc = new MawsProcessImpl(role, childEnv, port, readyTimeoutMs);
    processes.add(proc);
    if (!waitReady) return proc;
    try {
      await proc.ready;
      return proc;
    } catch (err) {
      lastErr = err;
      await proc.stop('SIGKILL', 1_000);
      if (!isAddrInUse(proc.output())) break;
    }
  }
  throw lastErr;
}

/** SIGKILLs every MAWS process still running and waits for them to exit. Never throws. */
export async function stopAllMaws(): Promise<void> {
  await stopEach(processes, async (p) => {
    p.kill('SIGKILL');
    await p.exited;
  });
}

export interface RunOnceResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node dist/main.js ...args` expecting it to exit by itself (e.g. config validation).
 * Env is built like startMaws (no PORT is picked). Rejects after 15 s (the child is SIGKILLed).
 */
export function runMawsOnce(
  args: string[],
  env: MawsEnv = {},
  timeoutMs = RUN_ONCE_TIMEOUT_MS,
): Promise<RunOnceResult> {
  return new Promise<RunOnceResult>((resolve, reject) => {
    const child = spawn(process.execPath, [MAWS_MAIN, ...args], {
      env: buildMawsEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.on('data', (c: Buffer) => {
      if (stdout.length < OUTPUT_CAP) stdout += c.toString();
    });
    child.stderr?.on('data', (c: Buffer) => {
      if (stderr.length < OUTPUT_CAP) stderr += c.toString();
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(
          new Error(
            `node dist/main.js ${args.join(' ')} did not exit within ${timeoutMs} ms.\n` +
              `stdout:\n${stdout}\nstderr:\n${stderr}`,
          ),
        );
      } else {
        resolve({ code, signal, stdout, stderr });
      }
    });
  });
}
