/** Test support: a tiny JSON-ish HTTP helper on Node's global fetch. */

export interface HttpResult {
  status: number;
  headers: Record<string, string>;
  /** Parsed JSON when the body is JSON, else the raw text ('' for an empty body). */
  body: unknown;
  /** The raw response text. */
  text: string;
}

/**
 * `body`: a string or Buffer is sent as-is (handy for malformed input); anything else
 * (object, array, number...) is JSON-encoded with `content-type: application/json`.
 */
export async function httpJson(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
  timeoutMs = 15_000,
): Promise<HttpResult> {
  const reqHeaders: Record<string, string> = { ...headers };
  let payload: string | Uint8Array<ArrayBuffer> | undefined;
  if (body !== undefined) {
    if (typeof body === 'string') {
      payload = body;
    } else if (Buffer.isBuffer(body)) {
      payload = new Uint8Array(body); // a copy backed by a plain ArrayBuffer
    } else {
      payload = JSON.stringify(body);
      const hasType = Object.keys(reqHeaders).some((k) => k.toLowerCase() === 'content-type');
      if (!hasType) reqHeaders['content-type'] = 'application/json';
    }
  }
  const res = await fetch(url, {
    method,
    headers: reqHeaders,
    body: payload,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let parsed: unknown = text;
  if (text.length > 0) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  const outHeaders: Record<string, string> = {};
  res.headers.forEach((value, key) => {
    outHeaders[key] = value;
  });
  return { status: res.status, headers: outHeaders, body: parsed, text };
}

/** Basic-auth header value. */
export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
