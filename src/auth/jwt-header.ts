/**
 * A JWT's protected header, parsed once per distinct header: a deployment's tokens carry one
 * header or a few (one per signing key), so on a gateway opening thousands of sockets the
 * base64url decode and JSON parse of the same header happen once, not once per token.
 */
const parsed = new Map<string, Readonly<Record<string, unknown>>>();
/** Distinct headers kept; past this the cache starts over (a flood of made-up headers cannot grow it). */
const KEPT = 64;

export class JwtHeaderError extends Error {
  override readonly name = 'JwtHeaderError';
}

/** The header of `token` (its part before the first dot) as a JSON object, or JwtHeaderError. */
export function jwtHeaderOf(token: string): Readonly<Record<string, unknown>> {
  const dot = token.indexOf('.');
  const part = dot < 0 ? token : token.slice(0, dot);
  const known = parsed.get(part);
  if (known) return known;
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new JwtHeaderError("the token's header is not JSON");
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) {
    throw new JwtHeaderError("the token's header is not a JSON object");
  }
  if (parsed.size >= KEPT) parsed.clear();
  const frozen = Object.freeze(header as Record<string, unknown>);
  parsed.set(part, frozen);
  return frozen;
}
