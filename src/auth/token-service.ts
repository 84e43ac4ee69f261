import { jwtVerify, SignJWT } from 'jose';

export interface VerifiedToken {
  sub: string;
  exp?: number;
}

export class TokenError extends Error {}

/** Verifies client tokens (HS256 with JWT_SECRET) and, where enabled, signs dev tokens. */
export class TokenService {
  private readonly key: Uint8Array;

  constructor(secret: string) {
    this.key = new TextEncoder().encode(secret);
  }

  async verify(token: string): Promise<VerifiedToken> {
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'] });
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
    return new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(user)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
      .sign(this.key);
  }
}
