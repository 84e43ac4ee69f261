import { promises as dns, type LookupAddress } from 'node:dns';
import * as http from 'node:http';
import * as https from 'node:https';
import type { LookupFunction } from 'node:net';
import { convert } from 'html-to-text';
import { z } from 'zod';
import { abortError } from '../../common/abort';
import { ToolError, type ToolDefinition } from '../tool';
import type { FetchPolicy } from './fetch-policy';

/** Resolves a host name to every address it has (the OS resolver by default; tests bring their own). */
export type Resolve = (hostname: string) => Promise<LookupAddress[]>;

export interface HttpFetchOptions {
  policy: FetchPolicy;
  /** The most of a response body read; the rest is not downloaded. */
  maxBytes: number;
  timeoutMs: number;
  resolve?: Resolve;
}

const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Media types read as text; anything else is refused as binary. */
const TEXT_TYPES = /^(text\/|application\/(json|xml|xhtml\+xml|javascript|[\w.+-]+\+(json|xml))\b)/i;

const input = z.object({
  url: z.string().min(1).max(4000).describe('An http(s) URL on an allowed origin'),
});

const osResolve: Resolve = (hostname) => dns.lookup(hostname, { all: true, verbatim: true });

/**
 * The built-in `http_fetch`: `{url}` → the page as text (HTML reduced to readable text).
 * Only GET, no cookies, no credentials; each redirect is checked again as a new URL (at most
 * five); every address a name resolves to is checked, and the connection goes to the checked
 * address (no second lookup a DNS rebinding could answer differently); the body is read up to
 * `maxBytes`; binary or undecodable bodies are refused.
 */
export function createHttpFetch(options: HttpFetchOptions): ToolDefinition<z.infer<typeof input>> {
  const { policy, maxBytes, timeoutMs } = options;
  const resolve = options.resolve ?? osResolve;
  return {
    name: 'http_fetch',
    description: `Fetches a web page (GET) and returns it as readable text. Only these origins: ${policy.allowed.join(', ')}.`,
    input,
    timeoutMs,
    run: async ({ url }, signal) => {
      let target = policy.checkUrl(url);
      for (let redirects = 0; ; redirects++) {
        const response = await get(target, policy, resolve, signal);
        if (REDIRECTS.has(response.status) && response.location) {
          response.discard();
          if (redirects >= MAX_REDIRECTS) throw new ToolError('TOOL_FAILED', `more than ${MAX_REDIRECTS} redirects`);
          target = policy.checkUrl(new URL(response.location, target).href);
          continue;
        }
        if (response.status < 200 || response.status >= 300) {
          response.discard();
          throw new ToolError('TOOL_FAILED', `HTTP ${response.status} from ${target.href}`);
        }
        return readText(response, target, maxBytes);
      }
    },
  };
}

interface Response {
  status: number;
  location?: string;
  contentType: string;
  body: http.IncomingMessage;
  discard(): void;
}

function get(url: URL, policy: FetchPolicy, resolve: Resolve, signal: AbortSignal): Promise<Response> {
  return new Promise<Response>((done, fail) => {
    let refused: Error | undefined;
    // Every address the name has must be allowed; the connection goes to one of them.
    const lookup: LookupFunction = (hostname, lookupOptions, callback) => {
      resolve(hostname).then(
        (addresses) => {
          try {
            if (addresses.length === 0) throw new ToolError('TOOL_FAILED', `${hostname} has no address`);
            for (const a of addresses) policy.checkAddress(url, a.address);
          } catch (err) {
            refused = err as Error;
            callback(refused, '', 0);
            return;
          }
          if (lookupOptions.all) callback(null, addresses);
          else callback(null, addresses[0].address, addresses[0].family);
        },
        (err: NodeJS.ErrnoException) => callback(err, '', 0),
      );
    };
    const transport = url.protocol === 'https:' ? https : http;
    const request = transport.request(
      url,
      {
        method: 'GET',
        agent: false,
        lookup,
        signal,
        headers: {
          'user-agent': 'MAWS-http_fetch/1',
          accept: 'text/html,text/plain;q=0.9,application/json;q=0.8,*/*;q=0.1',
          'accept-encoding': 'identity',
        },
      },
      (body) =>
        done({
          status: body.statusCode ?? 0,
          location: typeof body.headers.location === 'string' ? body.headers.location : undefined,
          contentType: body.headers['content-type'] ?? '',
          body,
          discard: () => body.destroy(),
        }),
    );
    request.on('error', (err) => {
      if (signal.aborted) fail(abortError(signal));
      else if (refused) fail(refused);
      else fail(new ToolError('TOOL_FAILED', `could not fetch ${url.href}: ${err.message}`));
    });
    request.end();
  });
}

async function readText(response: Response, url: URL, maxBytes: number): Promise<string> {
  const type = response.contentType.split(';')[0].trim() || 'text/plain';
  if (!TEXT_TYPES.test(type)) {
    response.discard();
    throw new ToolError('TOOL_FAILED', `${url.href} is ${type}, not text: not fetched`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let cut = false;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    const room = maxBytes - size;
    if (chunk.length >= room) {
      chunks.push(chunk.subarray(0, room));
      size += room;
      cut = true;
      break;
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  response.discard();
  const bytes = Buffer.concat(chunks);
  if (bytes.includes(0)) throw new ToolError('TOOL_FAILED', `${url.href} sent binary data (a NUL byte), not text`);
  const charset = /charset=["']?([\w.:-]+)/i.exec(response.contentType)?.[1] ?? 'utf-8';
  let text: string;
  try {
    // A cut may split a character: only a complete body must decode cleanly.
    text = new TextDecoder(labelOr(charset), { fatal: !cut }).decode(bytes);
  } catch {
    throw new ToolError('TOOL_FAILED', `${url.href} is not valid ${charset} text`);
  }
  const readable = /html/i.test(type)
    ? convert(text, {
        wordwrap: false,
        selectors: [
          { selector: 'img', format: 'skip' },
          { selector: 'a', options: { hideLinkHrefIfSameAsText: true } },
        ],
      })
    : text;
  return cut ? `${readable}\n\n(cut: the page is longer than ${maxBytes} bytes)` : readable;
}

/** A charset label TextDecoder knows, else utf-8. */
function labelOr(charset: string): string {
  try {
    new TextDecoder(charset);
    return charset;
  } catch {
    return 'utf-8';
  }
}
