/**
 * BullMQ reported this worker's lock on a run's job lost (its renewal failed, or the job was
 * found stalled): another worker may hold the run now, so this one stops at once.
 */
export class RunLockLostError extends Error {
  override readonly name = 'RunLockLostError';

  constructor(runId: string, why: string) {
    super(`this worker lost its lock on run ${runId} (${why})`);
  }
}
