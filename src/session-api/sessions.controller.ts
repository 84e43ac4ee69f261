import {
  BadRequestException,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  Query,
} from '@nestjs/common';
import { bearerSub, sessionIdParam } from '../auth/bearer';
import { TokenService } from '../auth/token-service';
import { SessionDirectory, type SessionEvents, type SessionSummary } from './session-directory';

/** Events one `GET /sessions/{id}/events` returns at most (and by default). */
const MAX_EVENTS_PAGE = 1000;
const DEFAULT_EVENTS_PAGE = 200;

/**
 * v2 "Sessions over HTTP": a user's sessions, with the same Bearer tokens as the socket. A
 * session of another user is not found (404, never 403): sessions are looked up by the
 * caller's own key.
 */
@Controller('sessions')
export class SessionsController {
  constructor(
    @Inject(TokenService) private readonly tokens: TokenService,
    @Inject(SessionDirectory) private readonly directory: SessionDirectory,
  ) {}

  @Get()
  async list(@Headers('authorization') authorization?: string): Promise<{ sessions: SessionSummary[] }> {
    return { sessions: await this.directory.list(await bearerSub(this.tokens, authorization)) };
  }

  @Get(':id/events')
  async events(
    @Param('id') id: string,
    @Query('afterSeq') afterSeq?: string,
    @Query('limit') limit?: string,
    @Headers('authorization') authorization?: string,
  ): Promise<SessionEvents> {
    const sub = await bearerSub(this.tokens, authorization);
    const after = wholeNumber('afterSeq', afterSeq, 0, Number.MAX_SAFE_INTEGER, 0);
    const page = wholeNumber('limit', limit, 1, MAX_EVENTS_PAGE, DEFAULT_EVENTS_PAGE);
    const found = await this.directory.events(sub, sessionIdParam(id), after, page);
    if (!found) throw new NotFoundException('no such session');
    return found;
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@Param('id') id: string, @Headers('authorization') authorization?: string): Promise<void> {
    const sub = await bearerSub(this.tokens, authorization);
    if (!(await this.directory.delete(sub, sessionIdParam(id)))) throw new NotFoundException('no such session');
  }
}

/** A whole-number query parameter in [min, max], `fallback` when absent; 400 otherwise. */
function wholeNumber(name: string, raw: string | undefined, min: number, max: number, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const value = /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new BadRequestException(`${name} must be a whole number from ${min} to ${max}`);
  }
  return value;
}
