/**
 * Security e2e: which tokens open a socket (issue 4, "Tokens").
 *
 * - HS256 with JWT_SECRET: good → accepted; wrong secret, expired, tampered → 401.
 * - RS256 and ES256 through JWKS_URL (a local JWKS server, keys made with node:crypto), on a
 *   gateway with no JWT_SECRET at all; the key set is cached (not fetched per upgrade) and a
 *   key rotated in on the JWKS server (new kid) is picked up.
 * - JWT_ISSUER / JWT_AUDIENCE enforced when set (wrong or missing iss/aud → 401), for HS256 and
 *   for JWKS tokens alike.
 * - With only JWKS configured: alg none, HS256 (even one keyed with the public key, the
 *   classic algorithm confusion), unknown kid, a key that is not in the set → 401.
 * - A JWKS endpoint that cannot be reached: 401, and the gateway keeps serving.
 */
import { createHmac } from 'node:crypto';
import { httpJson } from '../support/http';
import { generateSigningKey, JwksServer, signAsymmetricToken, type SigningKey } from '../support/jwks-server';
import { startMaws, TEST_JWT_SECRET, type MawsProcess } from '../support/maws-process';
import { getFreePort, startRedis } from '../support/redis-server';
import { connect, upgradeStatus as upgradeStatusOf } from '../support/session';
import { setUpSuite } from '../support/suite';
import { sleep } from '../support/timing';
import { base64url, signToken } from '../support/tokens';

jest.setTimeout(60_000);

const ISSUER = 'https://issuer.maws.test/';
const AUDIENCE = 'maws-gateway';

let jwks: JwksServer;
let rsa: SigningKey;
let ec: SigningKey;
/** JWT_SECRET (harness default) only. */
let hs: MawsProcess;
/** JWKS_URL only: no JWT_SECRET. */
let jwksOnly: MawsProcess;
/** JWT_SECRET + JWKS_URL + JWT_ISSUER + JWT_AUDIENCE. */
let strict: MawsProcess;
/** JWKS_URL pointing at a port where nothing listens. */
let unreachable: MawsProcess;

setUpSuite(async () => {
  try {
    rsa = generateSigningKey('RS256');
    ec = generateSigningKey('ES256');
    jwks = await JwksServer.start([rsa, ec]);
    const redis = await startRedis();
    const deadPort = await getFreePort();
    [hs, jwksOnly, strict, unreachable] = await Promise.all([
      startMaws('gateway', { REDIS_URL: redis.url }),
      startMaws('gateway', { REDIS_URL: redis.url, JWT_SECRET: undefined, JWKS_URL: jwks.url }),
      startMaws('gateway', {
        REDIS_URL: redis.url,
        JWKS_URL: jwks.url,
        JWT_ISSUER: ISSUER,
        JWT_AUDIENCE: AUDIENCE,
      }),
      startMaws('gateway', {
        REDIS_URL: redis.url,
        JWT_SECRET: undefined,
        JWKS_URL: `http://127.0.0.1:${deadPort}/jwks.json`,
      }),
    ]);
  } catch (err) {
    await jwks?.close();
    throw err;
  }
});

afterAll(async () => {
  await jwks?.close();
});

let counter = 0;
const sid = (prefix: string): string => `${prefix}-${++counter}-${Date.now().toString(36)}`;

/** Opens a socket, checks it is really served (snapshot, ping → pong), closes it. */
async function expectAccepted(gw: MawsProcess, token: string, headerToken = false): Promise<void> {
  const { client, snapshot: snap } = await connect(gw, sid('ok'), token, { headerToken });
  expect(snap.data.state).toBe('IDLE');
  await client.flush();
  await client.close();
}

function upgradeStatus(gw: MawsProcess, token: string | null, headerToken = false): Promise<number> {
  return upgradeStatusOf(gw, sid('no'), token, { headerToken });
}

async function expectRejected(gw: MawsProcess, token: string | null, headerToken = false): Promise<void> {
  expect(await upgradeStatus(gw, token, headerToken)).toBe(401);
}

/** A JWT with any header/payload, HMAC-SHA256-signed with `secret` (or unsigned when null). */
function handMade(header: object, payload: object, secret: string | Buffer | null): string {
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
  if (secret === null) return `${input}.`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

const now = (): number => Math.floor(Date.now() / 1000);

describe('HS256 (JWT_SECRET)', () => {
  it('a good token opens a socket, in the query or as a Bearer header', async () => {
    await expectAccepted(hs, signToken('hs-alice'));
    await expectAccepted(hs, signToken('hs-alice'), true);
  });

  it('a token signed with another secret → 401', async () => {
    await expectRejected(hs, signToken('hs-alice', 'a-different-secret-0123456789abcdef'));
    await expectRejected(hs, signToken('hs-alice', 'a-different-secret-0123456789abcdef'), true);
  });

  it('an expired token → 401 (and one that expired a second ago)', async () => {
    await expectRejected(hs, signToken('hs-alice', TEST_JWT_SECRET, { expiresInSec: -3600 }));
    await expectRejected(hs, signToken('hs-alice', TEST_JWT_SECRET, { expiresInSec: -1 }));
  });

  it('a token not yet valid (nbf in the future) → 401', async () => {
    await expectRejected(hs, signToken('hs-alice', TEST_JWT_SECRET, { claims: { nbf: now() + 3600 } }));
  });

  it('tampered payload or header, alg none, and RS256 claimed on an HS256-only gateway → 401', async () => {
    const good = signToken('hs-alice');
    const [h, , s] = good.split('.');
    const forged = base64url(JSON.stringify({ sub: 'hs-admin', iat: now(), exp: now() + 3600 }));
    await expectRejected(hs, `${h}.${forged}.${s}`);
    await expectRejected(hs, handMade({ alg: 'none', typ: 'JWT' }, { sub: 'hs-alice', exp: now() + 3600 }, null));
    await expectRejected(
      hs,
      handMade({ alg: 'HS512', typ: 'JWT' }, { sub: 'hs-alice', exp: now() + 3600 }, TEST_JWT_SECRET),
    );
    await expectRejected(hs, signAsymmetricToken('hs-alice', rsa));
    await expectRejected(hs, signAsymmetricToken('hs-alice', ec));
  });
});

describe('RS256 and ES256 through JWKS_URL (no JWT_SECRET)', () => {
  it('an RS256 token and an ES256 token from the JWKS are accepted', async () => {
    await expectAccepted(jwksOnly, signAsymmetricToken('jwks-alice', rsa));
    await expectAccepted(jwksOnly, signAsymmetricToken('jwks-alice', ec), true);
  });

  it('the key set is cached, not fetched for every upgrade', async () => {
    const before = jwks.fetches;
    for (let i = 0; i < 5; i++)
      await expectAccepted(jwksOnly, signAsymmetricToken(`jwks-cache-${i}`, i % 2 ? ec : rsa));
    expect(jwks.fetches - before).toBeLessThanOrEqual(1);
  });

  it('expired, tampered, or signed by a key outside the set → 401', async () => {
    await expectRejected(jwksOnly, signAsymmetricToken('jwks-alice', rsa, { expiresInSec: -60 }));
    await expectRejected(jwksOnly, signAsymmetricToken('jwks-alice', ec, { expiresInSec: -60 }));
    const [h, , s] = signAsymmetricToken('jwks-alice', rsa).split('.');
    await expectRejected(jwksOnly, `${h}.${base64url(JSON.stringify({ sub: 'jwks-admin', exp: now() + 3600 }))}.${s}`);
    // A key of the right type whose kid is known, but that is not the published key.
    const impostor = { ...generateSigningKey('RS256'), kid: rsa.kid };
    await expectRejected(jwksOnly, signAsymmetricToken('jwks-alice', impostor));
    const ecImpostor = { ...generateSigningKey('ES256'), kid: ec.kid };
    await expectRejected(jwksOnly, signAsymmetricToken('jwks-alice', ecImpostor));
    // ES256 header on an RSA key's kid (and the reverse): wrong key type.
    await expectRejected(jwksOnly, signAsymmetricToken('jwks-alice', { ...ec, kid: rsa.kid }));
  });

  it('alg none → 401', async () => {
    await expectRejected(
      jwksOnly,
      handMade({ alg: 'none', typ: 'JWT' }, { sub: 'jwks-alice', exp: now() + 3600 }, null),
    );
    await expectRejected(
      jwksOnly,
      handMade({ alg: 'none', typ: 'JWT', kid: rsa.kid }, { sub: 'jwks-alice', exp: now() + 3600 }, null),
    );
  });

  it('HS256 → 401: with the harness secret, and keyed with the public key (algorithm confusion)', async () => {
    await expectRejected(jwksOnly, signToken('jwks-alice'));
    const claims = { sub: 'jwks-alice', iat: now(), exp: now() + 3600 };
    const pem = rsa.publicKey.export({ type: 'spki', format: 'pem' });
    await expectRejected(jwksOnly, handMade({ alg: 'HS256', typ: 'JWT', kid: rsa.kid }, claims, pem));
    await expectRejected(
      jwksOnly,
      handMade({ alg: 'HS256', typ: 'JWT', kid: rsa.kid }, claims, JSON.stringify(rsa.jwk)),
    );
    await expectRejected(jwksOnly, handMade({ alg: 'HS256', typ: 'JWT', kid: ec.kid }, claims, ec.jwk.x!));
  });

  it('an unknown kid (not yet published) → 401', async () => {
    const stranger = generateSigningKey('ES256');
    await expectRejected(jwksOnly, signAsymmetricToken('jwks-alice', stranger));
  });

  it('a JWKS endpoint that cannot be reached → 401, and the gateway keeps serving', async () => {
    await expectRejected(unreachable, signAsymmetricToken('jwks-alice', rsa));
    const live = await httpJson('GET', `${unreachable.url}/health/live`);
    expect(live.status).toBe(200);
    expect(unreachable.running).toBe(true);
  });
});

describe('JWT_ISSUER and JWT_AUDIENCE', () => {
  const good = { iss: ISSUER, aud: AUDIENCE };

  it('HS256 and RS256/ES256 tokens with the right iss and aud are accepted', async () => {
    await expectAccepted(strict, signToken('strict-alice', TEST_JWT_SECRET, { claims: good }));
    await expectAccepted(
      strict,
      signToken('strict-alice', TEST_JWT_SECRET, { claims: { ...good, aud: [AUDIENCE, 'x'] } }),
    );
    await expectAccepted(strict, signAsymmetricToken('strict-alice', rsa, { claims: good }));
    await expectAccepted(strict, signAsymmetricToken('strict-alice', ec, { claims: good }));
  });

  it.each([
    ['wrong iss', { ...good, iss: 'https://evil.example/' }],
    ['wrong aud', { ...good, aud: 'someone-else' }],
    ['no iss', { aud: AUDIENCE }],
    ['no aud', { iss: ISSUER }],
  ])('%s → 401 (HS256, RS256 and ES256)', async (_what, claims) => {
    // The default claims (iss/aud) are replaced wholesale: missing means missing.
    await expectRejected(strict, signToken('strict-alice', TEST_JWT_SECRET, { claims }));
    await expectRejected(strict, signAsymmetricToken('strict-alice', rsa, { claims }));
    await expectRejected(strict, signAsymmetricToken('strict-alice', ec, { claims }));
  });
});

describe('key rotation on the JWKS server', () => {
  it('a new key (new kid) published on the JWKS server is picked up, the old one keeps working', async () => {
    // The JWKS was fetched by the tests above; jose refetches on an unknown kid, at most once
    // per cooldown (30 s), so the new key is accepted within about half a minute.
    expect(jwks.fetches).toBeGreaterThanOrEqual(1);
    const next = generateSigningKey('ES256');
    const nextRsa = generateSigningKey('RS256');
    jwks.setKeys([rsa, ec, next, nextRsa]);
    const started = Date.now();
    let status = 0;
    while (Date.now() - started < 45_000) {
      status = await upgradeStatus(jwksOnly, signAsymmetricToken('jwks-rotated', next));
      if (status === 101) break;
      expect(status).toBe(401);
      await sleep(1_000);
    }
    console.log(`JWKS rotation: new kid accepted after ${Date.now() - started} ms (fetches: ${jwks.fetches})`);
    expect(status).toBe(101);
    await expectAccepted(jwksOnly, signAsymmetricToken('jwks-rotated', nextRsa));
    await expectAccepted(jwksOnly, signAsymmetricToken('jwks-rotated', rsa));
  }, 60_000);
});
