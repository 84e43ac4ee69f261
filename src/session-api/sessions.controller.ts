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
  UnauthorizedException,
} from '@nestjs/common';
import { TokenService } from '../auth/token-service';
import { isValidSessionId } from '../store/redis-keys';
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
    return { sessions: await this.directory.list(await this.userOf(authorization)) };
  }

  @Get(':id/events')
  async events(
    @Param('id') id: string,
    @Query('afterSeq') afterSeq?: string,
    @Query('limit') limit?: string,
    @Headers('authorization') authorization?: string,
  ): Promise<SessionEvents> {
    const sub = await this.userOf(authorization);
    const after = wholeNumber('afterSeq', afterSeq, 0, Number.MAX_SAFE_INTEGER, 0);
    const page = wholeNumber('limit', limit, 1, MAX_EVENTS_PAGE, DEFAULT_EVENTS_PAGE);
    const found = await this.directory.events(sub, sessionIdOf(id), after, page);
    if (!found) throw new NotFoundException('no such session');
    return found;
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@Param('id') id: string, @Headers('authorization') authorization?: string): Promise<void> {
    const sub = await this.userOf(authorization);
    if (!(await this.directory.delete(sub, sessionIdOf(id)))) throw new NotFoundException('no such session');
  }

  /** The caller's `sub` from `Authorization: Bearer <JWT>`; 401 without a valid one. */
  private async userOf(authorization: string | undefined): Promise<string> {
    const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
    if (!token) throw new UnauthorizedException('send Authorization: Bearer <token>');
    try {
      return (await this.tokens.verify(token)).sub;
    } catch (err) {
      throw new UnauthorizedException(`token refused: ${err instanceof Error ? err.message : 'invalid'}`);
    }
  }
}

/** A path's session id, checked as the contract allows it (400 otherwise). */
function sessionIdOf(id: string): string {
  if (!isValidSessionId(id)) throw new BadRequestException('a sessionId is 1 to 64 of A-Z a-z 0-9 _ -');
  return id;
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
