/**
 * Test support: HS256 JWTs built with node:crypto only (jose is ESM-only and cannot be loaded
 * by jest here).
 */
import { createHmac } from 'node:crypto';

export const TEST_JWT_SECRET = 'test-secret-0123456789abcdef0123456789';

export interface SignTokenOptions {
  /** Lifetime relative to now (may be negative for an already expired token). Default 3600. */
  expiresInSec?: number;
  /** Absolute `exp` (seconds since the epoch); wins over expiresInSec. */
  exp?: number;
  /** Absolute `iat`; default now. */
  iat?: number;
  /** Extra claims merged into the payload (after sub/iat/exp, so they can override them). */
  claims?: Record<string, unknown>;
}

export function base64url(input: Buffer | string): string {
  return Buffer.from(input).toString('base64url');
}

/** An HS256 JWT `{alg:'HS256',typ:'JWT'}.{sub,iat,exp}.signature`. */
export function signToken(sub: string, secret: string = TEST_JWT_SECRET, opts: SignTokenOptions = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const iat = opts.iat ?? now;
  const exp = opts.exp ?? now + (opts.expiresInSec ?? 3600);
  const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = base64url(JSON.stringify({ sub, iat, exp, ...opts.claims }));
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

/** Decodes (without verifying) the payload of a JWT. */
export function decodeTokenPayload(token: string): Record<string, unknown> {
  const part = token.split('.')[1];
  if (part === undefined) throw new Error('not a JWT');
  const parsed: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  if (typeof parsed !== 'object' || parsed === null) throw new Error('JWT payload is not an object');
  return parsed as Record<string, unknown>;
}
