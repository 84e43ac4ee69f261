import type { ClientErrorCode } from '../contract';

/** An error the client caused or can act on; answered as an `error` frame with its code. */
export class ClientError extends Error {
  override readonly name = 'ClientError';

  constructor(
    readonly code: ClientErrorCode,
    message: string,
    /** The id of the frame this answers, when it is known where the error is raised. */
    readonly replyTo?: string,
  ) {
    super(message);
  }
}
