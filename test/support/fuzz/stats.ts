/**
 * Fuzz support: what a fuzz round counts (frames, answers, closes, reconnects) and records
 * (every frame that did not get the contract's answer), and the figures printed afterwards.
 */

export interface Stats {
  framesSent: number;
  byLabel: Map<string, number>;
  answers: Map<string, number>;
  closes: Map<string, number>;
  reconnects: number;
  voluntaryReconnects: number;
  mismatches: string[];
  floodFrames: number;
  floodRateLimited: number;
}

export function newStats(): Stats {
  return {
    framesSent: 0,
    byLabel: new Map(),
    answers: new Map(),
    closes: new Map(),
    reconnects: 0,
    voluntaryReconnects: 0,
    mismatches: [],
    floodFrames: 0,
    floodRateLimited: 0,
  };
}

export const bump = (m: Map<string, number>, k: string, n = 1): void => void m.set(k, (m.get(k) ?? 0) + n);

/** `k=v, ...`, the largest count first. */
export function sorted(m: Map<string, number>): string {
  return [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

export const mb = (kb: number): string => `${(kb / 1024).toFixed(1)} MB`;

export interface Figures {
  seed: number;
  connections: number;
  fuzzMs: number;
  stats: Stats;
  warm: Stats;
  normal: { completed: number; maxPingMs: number; pings: number };
  /** RSS in kB, heap used in bytes. */
  before: { rss: number; heap: number };
  after: { rss: number; heap: number };
}

/** The figures of a fuzz run, for the log. */
export function formatFigures(f: Figures): string {
  const { stats, warm, before, after } = f;
  const groups = new Map<string, number>();
  for (const [label, n] of stats.byLabel) bump(groups, label.split(':')[0], n);
  return [
    `fuzz figures (seed ${f.seed}):`,
    `  frames sent: ${stats.framesSent} fuzz frames over ${f.connections} connections in ${f.fuzzMs} ms, plus ${stats.floodFrames} flood frames (warm-up: ${warm.framesSent} + ${warm.floodFrames})`,
    `  frames by kind: ${sorted(groups)}`,
    `  answers by code: ${sorted(stats.answers)}`,
    `  closes by code: ${sorted(stats.closes)} (reconnects after a close: ${stats.reconnects}; voluntary: ${stats.voluntaryReconnects})`,
    `  flood: ${stats.floodRateLimited} RATE_LIMITED before the 1008 closes`,
    `  normal session: ${f.normal.completed} task(s) completed during the fuzz, ${f.normal.pings} pings, slowest pong ${f.normal.maxPingMs} ms`,
    `  gateway RSS: ${mb(before.rss)} before → ${mb(after.rss)} after (${((after.rss / before.rss - 1) * 100).toFixed(1)}%)`,
    `  gateway heap used: ${mb(before.heap / 1024)} before → ${mb(after.heap / 1024)} after (${((after.heap / before.heap - 1) * 100).toFixed(1)}%)`,
    `  mismatches: ${stats.mismatches.length} (warm-up: ${warm.mismatches.length})`,
  ].join('\n');
}

/** Mismatches counted by kind (numbers blurred), then the first ones. */
export function formatMismatches(all: readonly string[]): string {
  const byKind = new Map<string, number>();
  for (const m of all) {
    const kind = m
      .replace(/^(warm-up )?(conn|flooder) \d+: /, '')
      .split(';')[0]
      .replace(/\d+/g, 'N')
      .slice(0, 160);
    bump(byKind, kind);
  }
  return `mismatches by kind:\n  ${sorted(byKind).split(', ').join('\n  ')}\nfirst ones:\n  ${all.slice(0, 15).join('\n  ')}`;
}
