/**
 * The client's token: asked of `getToken` (with a deadline), then reused while it stays valid
 * for more than `marginMs` (its JWT `exp`); asked again after the server refused it.
 */
export class TokenCache {
  private token: string | undefined;
  private expiresAt = 0;

  constructor(
    private readonly getToken: () => string | Promise<string>,
    private readonly timeoutMs: number,
    private readonly marginMs = 30_000,
  ) {}

  async get(): Promise<string> {
    if (this.token && this.expiresAt - this.marginMs > Date.now()) return this.token;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const token = await Promise.race([
        Promise.resolve(this.getToken()),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`getToken gave no token within ${this.timeoutMs} ms`)),
            this.timeoutMs,
          );
        }),
      ]);
      if (typeof token !== 'string' || !token) throw new Error('getToken gave no token');
      this.token = token;
      this.expiresAt = expiryOf(token);
      return token;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The server refused it (or it expired): the next `get` asks again. */
  invalidate(): void {
    this.token = undefined;
    this.expiresAt = 0;
  }
}

/** A JWT's `exp` in ms; 0 (ask every time) when it has none or is not a JWT. */
function expiryOf(token: string): number {
  const exp = claimsOf(token).exp;
  return typeof exp === 'number' ? exp * 1000 : 0;
}

/** A JWT's claims, not verified (what a client may read of its own token); {} when it is not a JWT. */
export function claimsOf(token: string): Record<string, unknown> {
  try {
    const claims: unknown = JSON.parse(decodeBase64Url(token.split('.')[1] ?? ''));
    return claims && typeof claims === 'object' ? (claims as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function decodeBase64Url(part: string): string {
  const base64 = part
    .replace(/-/g, '+')
    .replace(/_/g, '/')
    .padEnd(Math.ceil(part.length / 4) * 4, '=');
  const binary = atob(base64);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}
