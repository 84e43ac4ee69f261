/** HS256 verification with node:crypto: the checks jose made, each refusal named. */
import { createHmac } from 'node:crypto';
import { Hs256Error, verifyHs256 } from './hs256';

const SECRET = 'a-secret-of-sixteen-chars-or-more';
const KEY = Buffer.from(SECRET);
const NOW = 1_800_000_000_000;
const now = NOW / 1000;

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

function token(
  claims: Record<string, unknown>,
  header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' },
  secret = SECRET,
): string {
  const signing = `${b64(header)}.${b64(claims)}`;
  return `${signing}.${createHmac('sha256', secret).update(signing).digest('base64url')}`;
}

const refusal = (t: string, checks = {}): string => {
  try {
    verifyHs256(t, KEY, checks, NOW);
  } catch (err) {
    if (err instanceof Hs256Error) return err.message;
    throw err;
  }
  return 'accepted';
};

describe('verifyHs256', () => {
  it('accepts a well-signed token and returns its claims', () => {
    const claims = verifyHs256(token({ sub: 'alice', iat: now - 10, exp: now + 60 }), KEY, {}, NOW);
    expect(claims).toMatchObject({ sub: 'alice', exp: now + 60 });
  });

  it('refuses another secret, a changed payload, a cut signature', () => {
    expect(refusal(token({ sub: 'alice' }, undefined, 'another-secret-of-sixteen-chars'))).toBe(
      'signature verification failed',
    );
    const [h, , s] = token({ sub: 'alice' }).split('.');
    expect(refusal(`${h}.${b64({ sub: 'mallory' })}.${s}`)).toBe('signature verification failed');
    expect(refusal(`${h}.${b64({ sub: 'alice' })}.${s.slice(0, 10)}`)).toBe('signature verification failed');
    // The same bytes with a character Node's decoder would skip: not the token that was signed.
    expect(refusal(`${token({ sub: 'alice' })}!`)).toBe('signature verification failed');
  });

  it('refuses other algorithms, none, crit extensions, and what is not a JWS', () => {
    expect(refusal(token({ sub: 'a' }, { alg: 'HS512' }))).toBe('the token is not signed with HS256');
    expect(refusal(`${b64({ alg: 'none' })}.${b64({ sub: 'a' })}.`)).toBe('the token is not signed with HS256');
    expect(refusal(token({ sub: 'a' }, { alg: 'HS256', crit: ['b64'], b64: false }))).toMatch(/crit/);
    expect(refusal('not-a-token')).toBe('the token is not a JWS in compact form');
    expect(refusal(`!!.${b64({})}.x`)).toBe("the token's header is not JSON");
    const signing = `${b64({ alg: 'HS256' })}.${Buffer.from('[1]').toString('base64url')}`;
    const arrayPayload = `${signing}.${createHmac('sha256', SECRET).update(signing).digest('base64url')}`;
    expect(refusal(arrayPayload)).toBe("the token's payload is not a JSON object");
  });

  it('checks exp, nbf and iat as jose does', () => {
    expect(refusal(token({ sub: 'a', exp: now }))).toBe('"exp" claim timestamp check failed');
    expect(refusal(token({ sub: 'a', exp: now + 1 }))).toBe('accepted');
    expect(refusal(token({ sub: 'a', exp: String(now + 60) }))).toBe('"exp" claim must be a number');
    expect(refusal(token({ sub: 'a', nbf: now + 1 }))).toBe('"nbf" claim timestamp check failed');
    expect(refusal(token({ sub: 'a', nbf: now }))).toBe('accepted');
    expect(refusal(token({ sub: 'a', iat: 'yesterday' }))).toBe('"iat" claim must be a number');
  });

  it('checks iss and aud when asked (aud a string or a list)', () => {
    const checks = { issuer: 'https://id.example', audience: 'maws' };
    expect(refusal(token({ sub: 'a', iss: 'https://id.example', aud: 'maws' }), checks)).toBe('accepted');
    expect(refusal(token({ sub: 'a', iss: 'https://id.example', aud: ['other', 'maws'] }), checks)).toBe('accepted');
    expect(refusal(token({ sub: 'a', iss: 'https://evil.example', aud: 'maws' }), checks)).toBe(
      'unexpected "iss" claim value',
    );
    expect(refusal(token({ sub: 'a', iss: 'https://id.example', aud: 'other' }), checks)).toBe(
      'unexpected "aud" claim value',
    );
    expect(refusal(token({ sub: 'a', iss: 'https://id.example' }), checks)).toBe('unexpected "aud" claim value');
  });
});
