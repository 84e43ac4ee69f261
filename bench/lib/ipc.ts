/**
 * Request/reply over Node's IPC channel between the bench and the processes it forks
 * (socket clients, the bare servers, the BullMQ floor worker), plus one-way notes.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { errorText } from './util';

interface Request {
  id: number;
  cmd: string;
  args: unknown;
}
type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };
interface Note {
  note: string;
  data: unknown;
}

export type Handlers = Record<string, (args: any) => unknown>;

/** Child side: answers requests with `handlers`; exits when the parent goes away. */
export function serve(handlers: Handlers): void {
  process.on('message', (msg: Request) => {
    void (async () => {
      let reply: Reply;
      try {
        const handler = handlers[msg.cmd];
        if (!handler) throw new Error(`unknown command ${msg.cmd}`);
        reply = { id: msg.id, ok: true, result: await handler(msg.args) };
      } catch (err) {
        reply = { id: msg.id, ok: false, error: errorText(err) };
      }
      process.send?.(reply);
    })();
  });
  // The bench died or let go of us: never outlive it.
  process.on('disconnect', () => process.exit(0));
}

/** Child side: a one-way message to the parent. */
export function notify(note: string, data: unknown): void {
  if (process.connected) process.send?.({ note, data });
}

/** The bench's compiled folder (build-tools/bench). */
export const BENCH_DIR = path.resolve(__dirname, '..');
/** The preload that serves memory figures and CPU profiles of any process it is loaded in. */
export const PROBE_JS = path.join(BENCH_DIR, 'probe.js');

const live = new Set<ChildProc>();

/** Parent side: a forked bench child process. */
export class ChildProc {
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Map<string, ((data: unknown) => void)[]>();
  private out = '';
  readonly exited: Promise<void>;
  private alive = true;

  constructor(
    readonly name: string,
    script: string,
    args: string[],
    env: Record<string, string> = {},
    probePort?: number,
  ) {
    const execArgv = probePort ? ['--require', PROBE_JS] : [];
    this.child = fork(path.join(BENCH_DIR, 'children', script), args, {
      execArgv,
      env: { ...process.env, ...env, ...(probePort ? { BENCH_PROBE_PORT: String(probePort) } : {}) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    live.add(this);
    const keep = (c: Buffer): void => {
      this.out = (this.out + c.toString()).slice(-64 * 1024);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.child.on('message', (msg: Reply | Note) => {
      if ('note' in msg) {
        for (const fn of this.listeners.get(msg.note) ?? []) fn(msg.data);
        return;
      }
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(`${this.name}: ${msg.error}`));
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.alive = false;
        live.delete(this);
        for (const p of this.pending.values()) {
          p.reject(new Error(`${this.name} exited (code ${code}, signal ${signal}):\n${this.out.slice(-4000)}`));
        }
        this.pending.clear();
        resolve();
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  output(): string {
    return this.out;
  }

  call<T>(cmd: string, args: unknown = {}, timeoutMs = 120_000): Promise<T> {
    if (!this.alive) return Promise.reject(new Error(`${this.name} is not running:\n${this.out.slice(-4000)}`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: ${cmd} took longer than ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ id, cmd, args } satisfies Request);
    });
  }

  on(note: string, fn: (data: unknown) => void): void {
    this.listeners.set(note, [...(this.listeners.get(note) ?? []), fn]);
  }

  off(note: string): void {
    this.listeners.delete(note);
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.kill(), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.alive) this.child.kill('SIGKILL');
  }
}

/** Every forked child still running (for the bench's cleanup). */
export function liveChildren(): ChildProc[] {
  return [...live];
}
