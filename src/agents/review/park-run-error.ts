/**
 * The run waits on the person (v2 "People in the loop"): its job is parked until `until` (the
 * request's expiry) or until the answer wakes it, holding no worker slot meanwhile.
 */
export class ParkRunError extends Error {
  override readonly name = 'ParkRunError';

  constructor(
    readonly requestId: string,
    readonly until: number,
  ) {
    super(`waiting on input request ${requestId}`);
  }
}
