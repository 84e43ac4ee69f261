import { getPriority, setPriority } from 'node:os';

/**
 * Lowers the calling thread's CPU priority to `nice` (Linux keeps nice values per thread, and
 * threads started earlier keep theirs). The worker's main thread runs the runs; its clarifier
 * thread, started before this, keeps the normal priority, so when CPU is short a chat answer,
 * the gateway and Redis go first and the runs take what is left. With a real model the runs
 * mostly wait on the network and this changes nothing. Never raises a priority; returns
 * what it did.
 */
export function lowerThreadPriority(nice: number): string {
  try {
    const current = getPriority();
    if (nice <= current) return `run thread priority left at nice ${current}`;
    setPriority(nice);
    return `run thread at nice ${getPriority()}`;
  } catch (err) {
    return `run thread priority unchanged (${err instanceof Error ? err.message : String(err)})`;
  }
}
