import { ArgumentsHost, Catch, WsExceptionFilter } from '@nestjs/common';

/**
 * Hands handler errors back to MawsWsAdapter, which answers each with the contract's
 * `error` frame and the frame's id. (Nest's default filter would drop them for plain ws.)
 */
@Catch()
export class RethrowWsFilter implements WsExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    void host;
    throw exception;
  }
}
