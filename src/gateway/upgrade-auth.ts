import type { IncomingMessage } from 'node:http';
import { TokenError, TokenService } from '../auth/token-service';
import { isValidSessionId, sessionKeyOf } from '../store/redis-keys';

export interface ConnectionContext {
  sub: string;
  sessionId: string;
  sessionKey: string;
  /** `?lastSeq=N`: resume after N. */
  resumeAfter?: number;
  /** The token's expiry in ms since the epoch; the socket is closed (4401) then. */
  expiresAt?: number;
}

export interface UpgradeRefusal {
  ok: false;
  status: 400 | 401 | 403 | 404 | 429 | 503;
  message: string;
}

export type UpgradeDecision = { ok: true; context: ConnectionContext } | UpgradeRefusal;

const WS_PATH = /^\/ws\/([^/]*)$/;

/**
 * Decides an upgrade before any socket exists: wrong path 404, bad sessionId 400, no or
 * bad or expired token 401. Nothing is accepted and then closed.
 */
export async function authorizeUpgrade(req: IncomingMessage, tokens: TokenService): Promise<UpgradeDecision> {
  // The request target split by hand: a WHATWG URL per upgrade was a visible share of the
  // gateway's time while thousands of sockets opened at once.
  const target = req.url ?? '/';
  const queryAt = target.indexOf('?');
  const pathname = queryAt < 0 ? target : target.slice(0, queryAt);
  const query = new URLSearchParams(queryAt < 0 ? '' : target.slice(queryAt + 1));
  const match = WS_PATH.exec(pathname);
  if (!match) return { ok: false, status: 404, message: 'WebSocket path is /ws/{sessionId}' };
  let sessionId: string;
  try {
    sessionId = decodeURIComponent(match[1]);
  } catch {
    return { ok: false, status: 400, message: 'bad sessionId' };
  }
  if (!isValidSessionId(sessionId)) {
    return { ok: false, status: 400, message: 'sessionId must be 1 to 64 of A-Z a-z 0-9 _ -' };
  }
  let resumeAfter: number | undefined;
  const lastSeq = query.get('lastSeq');
  if (lastSeq !== null) {
    if (!/^\d{1,15}$/.test(lastSeq)) return { ok: false, status: 400, message: 'lastSeq must be a whole number' };
    resumeAfter = Number(lastSeq);
  }
  const header = req.headers.authorization;
  const bearer = header && /^Bearer\s+(.+)$/i.exec(header)?.[1];
  const token = query.get('token') || bearer;
  if (!token) return { ok: false, status: 401, message: 'a token is required' };
  try {
    const { sub, exp } = await tokens.verify(token);
    const context: ConnectionContext = { sub, sessionId, sessionKey: sessionKeyOf(sub, sessionId), resumeAfter };
    if (exp !== undefined) context.expiresAt = exp * 1000;
    return { ok: true, context };
  } catch (err) {
    const reason = err instanceof TokenError ? err.message : 'invalid token';
    return { ok: false, status: 401, message: `invalid token: ${reason}` };
  }
}

/**
 * Cross-site WebSocket hijacking guard: a browser always sends Origin, so an upgrade that
 * carries one must come from an allowed origin (by default, the gateway's own). Clients
 * that send no Origin are not browsers and still need a valid token.
 */
export function originAllowed(req: IncomingMessage, allowed: string[] | undefined): boolean {
  const origin = req.headers.origin;
  if (!origin) return true;
  if (allowed === undefined) {
    try {
      return new URL(origin).host === req.headers.host;
    } catch {
      return false;
    }
  }
  return allowed.includes('*') || allowed.includes(origin.replace(/\/$/, ''));
}
