import { HttpException } from '@nestjs/common';
import { ClientError } from '../common/client-error';
import type { ClientErrorCode } from '../contract';

/** An AG-UI request refused before any stream: its HTTP status, with the contract's code in the body. */
export class AguiHttpError extends HttpException {
  constructor(status: number, code: ClientErrorCode, message: string) {
    super({ statusCode: status, code, message }, status);
  }
}

/** HTTP status of a command's ClientError, as the AG-UI endpoint answers it. */
const STATUS_OF: Partial<Record<ClientErrorCode, number>> = {
  VALIDATION_FAILED: 400,
  INVALID_STATE: 409,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
};

/** A command's ClientError as an HTTP answer; anything else is rethrown as it is. */
export function httpErrorOf(err: unknown): unknown {
  if (!(err instanceof ClientError)) return err;
  return new AguiHttpError(STATUS_OF[err.code] ?? 500, err.code, err.message);
}
