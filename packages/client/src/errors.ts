import type { ClientErrorCode } from '../../../src/contract';

/**
 * Why a request failed: the server's error code (`INVALID_STATE`, `VALIDATION_FAILED`, …), or
 * the client's own: `TIMEOUT` (no answer in time), `OFFLINE` (not connected: commands are
 * never queued), `CONNECTION_LOST` (the socket dropped before the answer came: the command may
 * or may not have been carried out), `CLOSED` (the client was closed).
 */
export type MawsErrorCode = ClientErrorCode | 'TIMEOUT' | 'OFFLINE' | 'CONNECTION_LOST' | 'CLOSED';

export class MawsError extends Error {
  override readonly name = 'MawsError';

  constructor(
    readonly code: MawsErrorCode,
    message: string,
  ) {
    super(message);
  }
}
