import type { ClientErrorCode } from '../events/event-types';

/** An error the client caused or can act on; answered as an `error` frame with its code. */
export class ClientError extends Error {
  constructor(
    readonly code: ClientErrorCode,
    message: string,
  ) {
    super(message);
  }
}
