/**
 * Test support: a local JWKS endpoint (`GET /.well-known/jwks.json`) and the RS256/ES256 keys
 * it publishes, generated with node:crypto, plus a signer for tokens made with those keys.
 *
 * Only node built-ins are imported (jest here cannot load ESM-only packages such as jose), so
 * the JWS signatures are made by hand: RS256 is RSASSA-PKCS1-v1_5 with SHA-256, ES256 is ECDSA
 * P-256 with SHA-256 in the raw (r || s, "ieee-p1363") encoding JWS asks for.
 */
import { generateKeyPairSync, randomBytes, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { base64url } from './tokens';

export type AsymmetricAlg = 'RS256' | 'ES256';

export interface SigningKey {
  readonly kid: string;
  readonly alg: AsymmetricAlg;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** The public JWK as published (kid, alg and use added). */
  readonly jwk: JsonWebKey & { kid: string; alg: string; use: string };
}

/** A fresh RS256 (RSA 2048) or ES256 (P-256) key pair with a random kid. */
export function generateSigningKey(
  alg: AsymmetricAlg,
  kid = `${alg.toLowerCase()}-${randomBytes(6).toString('hex')}`,
): SigningKey {
  const { privateKey, publicKey } =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicKey, jwk };
}

export interface SignJwtOptions {
  /** Lifetime relative to now; default 3600 s. Ignored when `claims.exp` is given. */
  expiresInSec?: number;
  /** Claims merged after sub/iat/exp (so they may override them, or remove them with undefined). */
  claims?: Record<string, unknown>;
  /** Header fields merged after {alg, typ, kid} (e.g. a different kid, or none). */
  header?: Record<string, unknown>;
}

/** A JWT signed with `key` (RS256 or ES256 per the key), `kid` in the header. */
export function signAsymmetricToken(sub: string, key: SigningKey, opts: SignJwtOptions = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: key.alg, typ: 'JWT', kid: key.kid, ...opts.header };
  const payload = { sub, iat: now, exp: now + (opts.expiresInSec ?? 3600), ...opts.claims };
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
  const signature =
    key.alg === 'RS256'
      ? sign('sha256', Buffer.from(input), key.privateKey)
      : sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${base64url(signature)}`;
}

export const JWKS_PATH = '/.well-known/jwks.json';

/** An HTTP server publishing a JWKS whose key set can be changed (rotated) while it runs. */
export class JwksServer {
  /** Every request received: path and time (to see caching and refreshes). */
  readonly requests: { path: string; at: number }[] = [];
  private keys: SigningKey[] = [];
  private readonly sockets = new Set<import('node:net').Socket>();

  private constructor(
    private readonly server: http.Server,
    readonly port: number,
  ) {}

  static async start(keys: SigningKey[] = []): Promise<JwksServer> {
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const jwks = new JwksServer(server, (server.address() as AddressInfo).port);
    jwks.keys = [...keys];
    server.on('request', (req, res) => jwks.handle(req, res));
    server.on('connection', (socket) => {
      jwks.sockets.add(socket);
      socket.once('close', () => jwks.sockets.delete(socket));
    });
    return jwks;
  }

  /** What JWKS_URL points at. */
  get url(): string {
    return `http://127.0.0.1:${this.port}${JWKS_PATH}`;
  }

  /** Requests for the JWKS document so far. */
  get fetches(): number {
    return this.requests.filter((r) => r.path === JWKS_PATH).length;
  }

  /** The keys published from now on (a rotation replaces or extends them). */
  setKeys(keys: SigningKey[]): void {
    this.keys = [...keys];
  }

  get published(): readonly SigningKey[] {
    return this.keys;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '').split('?')[0];
    this.requests.push({ path, at: Date.now() });
    if (req.method !== 'GET' || path !== JWKS_PATH) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const body = JSON.stringify({ keys: this.keys.map((k) => k.jwk) });
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body);
  }
}
