import { isIP } from 'node:net';
import { ToolError } from '../tool';
import { addressKind } from './address-policy';

/**
 * Which URLs http_fetch may ask for (v2 "Tools"): only GET, only http(s), only origins in
 * TOOLS_FETCH_ALLOW; a target whose address is loopback, private, link-local or reserved is
 * refused unless its origin is listed with that IP literally (`http://127.0.0.1:8080`). A
 * name is always refused when it resolves to such an address: a listed name cannot be used to
 * reach the inside. URLs are compared as the WHATWG URL parser normalises them, so a disguised
 * address (`http://2130706433/`, `http://0x7f.1/`, `http://[::ffff:127.0.0.1]/`) is the address
 * it stands for.
 */
export class FetchPolicy {
  private readonly origins: Set<string>;

  constructor(allow: string[]) {
    this.origins = new Set(allow.map((origin) => normalizedOrigin(origin)));
  }

  /** The origins as configured, normalised (for messages and the docs). */
  get allowed(): string[] {
    return [...this.origins];
  }

  /** The URL to fetch, checked before anything is sent; a ToolError (TOOL_DENIED) says why not. */
  checkUrl(raw: string): URL {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ToolError('TOOL_INVALID_INPUT', `not a URL: ${JSON.stringify(raw.slice(0, 200))}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ToolError('TOOL_DENIED', `only http and https URLs are fetched, not ${url.protocol}`);
    }
    if (url.username || url.password) throw new ToolError('TOOL_DENIED', 'URLs with credentials are not fetched');
    if (!this.origins.has(url.origin)) {
      throw new ToolError('TOOL_DENIED', `${url.origin} is not an allowed origin (TOOLS_FETCH_ALLOW)`);
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    // An IP literal is connected to as it is: checked here (a listed literal is allowed).
    if (isIP(host) !== 0) this.checkAddress(url, host, true);
    return url;
  }

  /**
   * An address the URL's host resolved to (or is): refused when it is not public, unless the
   * URL's host is that very IP and its origin is listed (`literal`).
   */
  checkAddress(url: URL, address: string, literal = false): void {
    const kind = addressKind(address);
    if (kind === 'public' || literal) return;
    throw new ToolError(
      'TOOL_DENIED',
      `${url.hostname} resolves to a ${kind} address (${address}): refused (list the origin with the IP itself to allow it)`,
    );
  }
}

function normalizedOrigin(origin: string): string {
  let url: URL;
  try {
    url = new URL(origin.trim());
  } catch {
    throw new Error(`TOOLS_FETCH_ALLOW: ${JSON.stringify(origin)} is not an origin such as https://example.com`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.search || url.hash) {
    throw new Error(`TOOLS_FETCH_ALLOW: ${JSON.stringify(origin)} is not an origin such as https://example.com`);
  }
  return url.origin;
}
