/** Test support: tear down everything the support modules started. */
import { stopAllMaws } from './maws-process';
import { stopAllRedis } from './redis-server';
import { closeAllClients } from './ws-client';

/**
 * Closes all WebSocket clients, then stops all MAWS processes, then all redis servers.
 * Never throws (use it in afterAll / afterEach).
 */
export async function cleanupAll(): Promise<void> {
  for (const step of [closeAllClients, stopAllMaws, stopAllRedis]) {
    try {
      await step();
    } catch (err) {
      // Cleanup must not mask the real test failure.
      console.warn(`cleanupAll: ${step.name} failed:`, err);
    }
  }
}
