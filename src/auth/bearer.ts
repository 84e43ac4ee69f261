import { BadRequestException, UnauthorizedException } from '@nestjs/common';
import { isValidSessionId } from '../store/redis-keys';
import type { TokenService } from './token-service';

/**
 * The caller's `sub` from `Authorization: Bearer <JWT>` (the socket's tokens): 401 without a
 * valid one. For MAWS's HTTP APIs (sessions, AG-UI).
 */
export async function bearerSub(tokens: TokenService, authorization: string | undefined): Promise<string> {
  const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
  if (!token) throw new UnauthorizedException('send Authorization: Bearer <token>');
  try {
    return (await tokens.verify(token)).sub;
  } catch (err) {
    throw new UnauthorizedException(`token refused: ${err instanceof Error ? err.message : 'invalid'}`);
  }
}

/** A path's session id, checked as the contract allows it (400 otherwise). */
export function sessionIdParam(id: string): string {
  if (!isValidSessionId(id)) throw new BadRequestException('a sessionId is 1 to 64 of A-Z a-z 0-9 _ -');
  return id;
}
