/** Test support: tear down everything the support modules started. */
import { stopAllMaws } from './maws-process';
import { stopAllRedis } from './redis-server';
import { closeAllClients } from './ws-client';

/** Extra steps (browsers, a test's own Redis connections), run first; registered once each. */
const registered = new Set<() => Promise<void>>();

/**
 * Adds a step to cleanupAll, run before the built-in ones, once per call of cleanupAll; a
 * support module registers its own (a function registered twice runs once). It must not throw.
 */
export function registerCleanup(step: () => Promise<void>): void {
  registered.add(step);
}

/**
 * Runs the registered steps, then closes all WebSocket clients, then stops all MAWS processes,
 * then all redis servers. Never throws (use it in afterAll / afterEach).
 */
export async function cleanupAll(): Promise<void> {
  for (const step of [...registered, closeAllClients, stopAllMaws, stopAllRedis]) {
    try {
      await step();
    } catch (err) {
      // Cleanup must not mask the real test failure.
      console.warn(`cleanupAll: ${step.name} failed:`, err);
    }
  }
}
