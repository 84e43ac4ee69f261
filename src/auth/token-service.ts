import { createRemoteJWKSet, JWTVerifyGetKey, jwtVerify, SignJWT } from 'jose';
import { verifyHs256 } from './hs256';
import { jwtHeaderOf } from './jwt-header';

export interface VerifiedToken {
  sub: string;
  /** Expiry, seconds since the epoch, when the token has one. */
  exp?: number;
}

export class TokenError extends Error {
  override readonly name = 'TokenError';
}

export interface TokenOptions {
  /** HS256 secret. */
  secret?: string;
  /** RS256/ES256 keys, fetched and cached by jose (refreshed when an unknown kid appears). */
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
}

/** Verifies client tokens and, where enabled, signs dev tokens. */
export class TokenService {
  /** The HS256 secret: verified with node:crypto (see verifyHs256), dev tokens signed by jose. */
  private readonly key?: Buffer;
  private readonly jwks?: JWTVerifyGetKey;

  constructor(private readonly options: TokenOptions) {
    if (options.secret) this.key = Buffer.from(options.secret, 'utf8');
    if (options.jwksUrl) {
      this.jwks = createRemoteJWKSet(new URL(options.jwksUrl), { cacheMaxAge: 10 * 60_000, cooldownDuration: 30_000 });
    }
  }

  async verify(token: string): Promise<VerifiedToken> {
    const checks = {
      ...(this.options.issuer ? { issuer: this.options.issuer } : {}),
      ...(this.options.audience ? { audience: this.options.audience } : {}),
    };
    try {
      const alg = headerAlg(token);
      let payload;
      if (alg === 'HS256' && this.key) {
        payload = verifyHs256(token, this.key, checks);
      } else if (this.jwks && (alg === 'RS256' || alg === 'ES256')) {
        ({ payload } = await jwtVerify(token, this.jwks, { ...checks, algorithms: ['RS256', 'ES256'] }));
      } else {
        throw new TokenError(`tokens signed with ${alg} are not accepted`);
      }
      if (typeof payload.sub !== 'string' || payload.sub.length === 0) {
        throw new TokenError('the token has no sub');
      }
      return { sub: payload.sub, exp: payload.exp };
    } catch (err) {
      if (err instanceof TokenError) throw err;
      throw new TokenError(err instanceof Error ? err.message : 'invalid token');
    }
  }

  async signDevToken(user: string, ttlSeconds = 24 * 3600): Promise<string> {
    if (!this.key) throw new Error('dev tokens need an HS256 secret');
    return new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(user)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
      .sign(this.key);
  }
}

function headerAlg(token: string): string {
  let alg;
  try {
    alg = jwtHeaderOf(token).alg;
  } catch {
    throw new TokenError('the token is not a JWT');
  }
  return typeof alg === 'string' ? alg : 'none';
}
