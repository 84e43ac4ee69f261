/**
 * Fuzz support: the seeded PRNG every fuzz choice is drawn from (mulberry32), and the seed of
 * a run: FUZZ_SEED when set, else one made from the clock and the pid.
 */

export class Rng {
  constructor(private s: number) {}

  /** A float in [0, 1). */
  next(): number {
    // mulberry32
    this.s = (this.s + 0x6d2b79f5) | 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** true with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

/** FUZZ_SEED when set, else a fresh seed (print it: FUZZ_SEED=N replays the frame stream). */
export function fuzzSeed(env: NodeJS.ProcessEnv = process.env): number {
  return env.FUZZ_SEED ? Number(env.FUZZ_SEED) : (Date.now() ^ (process.pid << 8)) >>> 0;
}
