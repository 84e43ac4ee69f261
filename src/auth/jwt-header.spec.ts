import { JwtHeaderError, jwtHeaderOf } from './jwt-header';

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('jwtHeaderOf', () => {
  it("parses a token's header once: tokens with the same header share the parsed object", () => {
    const header = b64({ alg: 'HS256', typ: 'JWT' });
    const first = jwtHeaderOf(`${header}.${b64({ sub: 'a' })}.sig`);
    expect(first).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(jwtHeaderOf(`${header}.${b64({ sub: 'b' })}.sig2`)).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
  });

  it('refuses a header that is not JSON, or not an object', () => {
    expect(() => jwtHeaderOf('!!.x.y')).toThrow(new JwtHeaderError("the token's header is not JSON"));
    expect(() => jwtHeaderOf(`${b64([1])}.x.y`)).toThrow(new JwtHeaderError("the token's header is not a JSON object"));
  });
});
