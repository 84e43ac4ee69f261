import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
/** Small helpers shared by the bench's orchestrator and its child processes. */

/** Microseconds on CLOCK_MONOTONIC: one clock for every process on this machine. */
export function hrUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles of `values` (any unit); all zero when empty. */
export function summarize(values: number[]): Summary {
  if (values.length === 0) return { n: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
  const sorted = Float64Array.from(values).sort();
  const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    n: sorted.length,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: sorted[sorted.length - 1],
    mean: sum / sorted.length,
  };
}

export function median(values: number[]): number {
  return summarize(values).p50;
}

/** Runs `fn` over `items` with at most `limit` at once; results in input order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

let gc: (() => void) | undefined;

/**
 * A full garbage collection in this process (the bench, a client, or a server through its
 * probe): measured windows start from a clean heap, and memory is read after one.
 */
export function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}

/** Items per second over `rounds` passes of `items` through `handle` (in this process). */
export function passRate(items: string[], rounds: number, handle: (text: string, round: number) => void): number {
  const t0 = hrUs();
  for (let r = 0; r < rounds; r++) for (const item of items) handle(item, r);
  return Math.round((items.length * rounds) / ((hrUs() - t0) / 1e6));
}

/** `n` GETs of `url` with a Bearer token, one after another, each read to its end: their times (ms). */
export async function timedGets(url: string, n: number, token: string): Promise<Summary> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = hrUs();
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    ms.push((hrUs() - t0) / 1000);
  }
  return summarize(ms);
}

/**
 * Ends a client socket at once with a TCP reset rather than a FIN: no TIME_WAIT is left on
 * this side. Tens of thousands of sockets in TIME_WAIT (a workload's 10,000, run after run)
 * slow every later connect() on the machine, and so the next workload's figures.
 */
export function resetSocket(ws: { terminate(): void }): void {
  const socket = (ws as unknown as { _socket?: { resetAndDestroy?: () => void } })._socket;
  if (socket?.resetAndDestroy) socket.resetAndDestroy();
  else ws.terminate();
}
