/** How long to wait before reconnect attempt `attempt` (0 first): doubling from `minMs` to `maxMs`, ± `jitter`. */
export function backoffDelay(
  attempt: number,
  opts: { minMs: number; maxMs: number; jitter: number },
  random: () => number = Math.random,
): number {
  const base = Math.min(opts.maxMs, opts.minMs * 2 ** attempt);
  // Jitter, so that the many clients one gateway dropped do not all come back in the same instant.
  return Math.max(0, Math.min(opts.maxMs, Math.round(base * (1 - opts.jitter + random() * 2 * opts.jitter))));
}
