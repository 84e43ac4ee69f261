/** Shared pieces of the end-to-end scenarios: the seed's query and frame bookkeeping. */
import { randomBytes } from 'node:crypto';
import type { Frame } from './ws-client';

export const QUERY =
  'Analyze the stock performance of Apple, Google, and Tesla over the last month and summarize the key findings.';

export const TERMINAL = ['run.completed', 'run.failed', 'run.cancelled'];

/** A name no other test (or earlier run against the same Redis) uses. */
export function unique(prefix: string): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

/** The seqs of the durable frames, in arrival order. */
export function seqs(frames: Frame[]): number[] {
  return frames.filter((f) => typeof f?.seq === 'number').map((f) => f.seq as number);
}

/** from, from+1, ..., to. */
export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

/** Waits until `check` resolves true (a rejection counts as not yet), polling every 100 ms. */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > until) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
