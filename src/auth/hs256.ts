import { createHmac, timingSafeEqual } from 'node:crypto';
import { JwtHeaderError, jwtHeaderOf } from './jwt-header';

export class Hs256Error extends Error {
  override readonly name = 'Hs256Error';
}

export interface ClaimChecks {
  issuer?: string;
  audience?: string;
}

/** The claims of a verified token (what MAWS reads of them). */
export interface Hs256Claims {
  sub?: unknown;
  exp?: number;
  [claim: string]: unknown;
}

/**
 * Verifies an HS256 JWT with node:crypto, synchronously: WebCrypto's asynchronous HMAC (which
 * jose uses) cost a gateway about a sixth of its CPU while 10,000 sockets opened, most of it
 * the job around the hash, not the hash. The checks are jose's for these claims: the header's
 * `alg` is HS256 and it names no `crit` extension, the signature matches (compared in constant
 * time), `exp` (if present) is a number and not past, `nbf` (if present) is a number and not
 * ahead, `iat` (if present) is a number, and `iss` / `aud` match when asked for.
 */
export function verifyHs256(token: string, key: Buffer, checks: ClaimChecks = {}, nowMs = Date.now()): Hs256Claims {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Hs256Error('the token is not a JWS in compact form');
  const [headerPart, payloadPart, signaturePart] = parts;
  let header;
  try {
    header = jwtHeaderOf(token);
  } catch (err) {
    throw new Hs256Error(err instanceof JwtHeaderError ? err.message : 'the token has no header');
  }
  if (header.alg !== 'HS256') throw new Hs256Error('the token is not signed with HS256');
  if (header.crit !== undefined) throw new Hs256Error('the token names extensions (crit) that are not supported');
  const expected = createHmac('sha256', key).update(`${headerPart}.${payloadPart}`).digest();
  const given = Buffer.from(signaturePart, 'base64url');
  // Node decodes base64url leniently (it skips what is not base64url): only the canonical form counts.
  const canonical = given.toString('base64url') === signaturePart;
  if (!canonical || given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new Hs256Error('signature verification failed');
  }
  const claims = parseJson(payloadPart, 'payload') as Hs256Claims;
  const now = Math.floor(nowMs / 1000);
  for (const name of ['exp', 'nbf', 'iat'] as const) {
    if (claims[name] !== undefined && typeof claims[name] !== 'number') {
      throw new Hs256Error(`"${name}" claim must be a number`);
    }
  }
  if (typeof claims.exp === 'number' && claims.exp <= now) throw new Hs256Error('"exp" claim timestamp check failed');
  if (typeof claims.nbf === 'number' && claims.nbf > now) throw new Hs256Error('"nbf" claim timestamp check failed');
  if (checks.issuer !== undefined && claims.iss !== checks.issuer) {
    throw new Hs256Error('unexpected "iss" claim value');
  }
  if (checks.audience !== undefined) {
    const aud = claims.aud;
    const audiences = Array.isArray(aud) ? aud : [aud];
    if (!audiences.includes(checks.audience)) throw new Hs256Error('unexpected "aud" claim value');
  }
  return claims;
}

function parseJson(part: string, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new Hs256Error(`the token's ${what} is not JSON`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Hs256Error(`the token's ${what} is not a JSON object`);
  }
  return parsed as Record<string, unknown>;
}
