/**
 * http_fetch's safety, against a loopback fixture server that counts its connections. Every
 * request of these tests goes to 127.0.0.1: private and link-local targets are names that a
 * resolver the test controls maps to such addresses, and each must be refused before any
 * connection is made, so no packet ever leaves this machine.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { runTool } from '../tool-runner';
import { FetchPolicy } from './fetch-policy';
import { createHttpFetch, type Resolve } from './http-fetch';
import { addressKind } from './address-policy';

let server: http.Server;
let port: number;
let connections = 0;
const requests: string[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url} cookie=${req.headers.cookie ?? ''}`);
    const route = req.url ?? '/';
    if (route === '/page') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(
        '<html><head><title>T</title><script>steal()</script><style>p{}</style></head><body><h1>Quarterly figures</h1><p>Revenue rose <b>4%</b>.</p><img src="x.png"></body></html>',
      );
    } else if (route === '/plain') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('just text');
    } else if (route === '/latin1') {
      res
        .writeHead(200, { 'content-type': 'text/plain; charset=iso-8859-1' })
        .end(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
    } else if (route === '/bad-utf8') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(Buffer.from([0x61, 0xff, 0xfe, 0x62]));
    } else if (route === '/binary') {
      res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.alloc(64, 1));
    } else if (route === '/nul') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(Buffer.from('a\0b'));
    } else if (route === '/huge') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('x'.repeat(5_000_000));
    } else if (route.startsWith('/redirect?to=')) {
      res.writeHead(302, { location: decodeURIComponent(route.slice('/redirect?to='.length)) }).end();
    } else if (route === '/loop') {
      res.writeHead(302, { location: '/loop' }).end();
    } else if (route === '/slow') {
      setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('late'), 3_000);
    } else if (route === '/missing') {
      res.writeHead(404).end();
    } else res.writeHead(500).end();
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** The test's resolver: names it knows, nothing else (the OS resolver is never asked). */
const NAMES: Record<string, string[]> = {
  'fixture.test': ['127.0.0.1'],
  'intranet.test': ['10.1.2.3'],
  'metadata.test': ['169.254.169.254'],
  'mixed.test': ['127.0.0.1', '192.168.1.10'],
  'v6private.test': ['fd00::1'],
};
const resolve: Resolve = (hostname) => {
  const addresses = NAMES[hostname];
  if (!addresses)
    return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
  return Promise.resolve(addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
};

function fetchTool(allow: string[], maxBytes = 1_000_000, timeoutMs = 5_000) {
  return createHttpFetch({ policy: new FetchPolicy(allow), maxBytes, timeoutMs, resolve });
}

const listed = (): string => `http://127.0.0.1:${port}`;

async function fetchOutcome(url: string, allow = [listed()], maxOutputChars = 100_000) {
  return runTool(
    fetchTool(allow),
    { url },
    { signal: new AbortController().signal, timeoutMs: 10_000, maxOutputChars },
  );
}

/** Runs `fn` and says how many connections the fixture got meanwhile. */
async function counting<T>(fn: () => Promise<T>): Promise<{ result: T; connected: number }> {
  const before = connections;
  const result = await fn();
  return { result, connected: connections - before };
}

describe('http_fetch', () => {
  it('fetches an allowed page (listed with its IP) and reduces HTML to readable text, without cookies', async () => {
    const outcome = await fetchOutcome(`${listed()}/page`);
    expect(outcome.ok).toBe(true);
    expect(outcome.output).toContain('QUARTERLY FIGURES');
    expect(outcome.output).toContain('Revenue rose 4%.');
    expect(outcome.output).not.toMatch(/steal|<|x\.png/);
    expect(requests[requests.length - 1]).toBe('GET /page cookie=');
    expect((await fetchOutcome(`${listed()}/plain`)).output).toBe('just text');
  });

  it.each([
    ['an origin not listed', () => `http://127.0.0.1:${port + 1}/page`, 'TOOL_DENIED', /not an allowed origin/],
    [
      'a decimal address in disguise',
      () => `http://2130706433/page`,
      'TOOL_DENIED',
      /http:\/\/127\.0\.0\.1 is not an allowed origin/,
    ],
    ['a hex address in disguise', () => `http://0x7f.1/page`, 'TOOL_DENIED', /not an allowed origin/],
    [
      'an IPv4-mapped IPv6 address',
      () => `http://[::ffff:127.0.0.1]:${port}/page`,
      'TOOL_DENIED',
      /not an allowed origin/,
    ],
    ['a scheme other than http(s)', () => 'file:///etc/passwd', 'TOOL_DENIED', /only http and https/],
    ['credentials in the URL', () => `http://user:pw@127.0.0.1:${port}/page`, 'TOOL_DENIED', /credentials/],
    ['not a URL at all', () => 'not a url', 'TOOL_INVALID_INPUT', /not a URL/],
  ])('refuses %s before connecting', async (_what, url, code, message) => {
    const { result, connected } = await counting(() => fetchOutcome(url()));
    expect(result.error).toEqual({ code, message: expect.stringMatching(message) });
    expect(connected).toBe(0);
  });

  it('a decimal address in disguise is the same origin as its literal (and fetched only because that is listed)', async () => {
    // 2130706433 is 127.0.0.1: listed literally, it is allowed; the disguise changes nothing.
    expect((await fetchOutcome(`http://2130706433:${port}/plain`)).output).toBe('just text');
  });

  it.each([
    ['a listed name that resolves to 127.0.0.1', 'fixture.test', /loopback address \(127\.0\.0\.1\)/],
    ['a name that resolves to a private address', 'intranet.test', /private address \(10\.1\.2\.3\)/],
    ['a name that resolves to the metadata service', 'metadata.test', /link-local address \(169\.254\.169\.254\)/],
    ['a name with one public-looking and one private address', 'mixed.test', /address/],
    ['a name that resolves to a private IPv6 address', 'v6private.test', /private address \(fd00::1\)/],
  ])('refuses %s, with no connection made', async (_what, host, message) => {
    const origin = `http://${host}:${port}`;
    const { result, connected } = await counting(() => fetchOutcome(`${origin}/page`, [origin]));
    expect(result.error).toEqual({ code: 'TOOL_DENIED', message: expect.stringMatching(message) });
    expect(connected).toBe(0);
  });

  it('checks every redirect again: to an origin not listed, or to a name that resolves inside, is refused', async () => {
    const other = `http://127.0.0.1:${port + 1}/page`;
    const { result, connected } = await counting(() =>
      fetchOutcome(`${listed()}/redirect?to=${encodeURIComponent(other)}`),
    );
    expect(result.error).toEqual({ code: 'TOOL_DENIED', message: expect.stringMatching(/not an allowed origin/) });
    expect(connected).toBe(1); // the redirect itself, nothing after it
    const inside = `http://metadata.test:${port}/page`;
    const refused = await fetchOutcome(`${listed()}/redirect?to=${encodeURIComponent(inside)}`, [
      listed(),
      `http://metadata.test:${port}`,
    ]);
    expect(refused.error?.code).toBe('TOOL_DENIED');
    expect((await fetchOutcome(`${listed()}/redirect?to=%2Fplain`)).output).toBe('just text');
    expect((await fetchOutcome(`${listed()}/loop`)).error).toEqual({
      code: 'TOOL_FAILED',
      message: 'more than 5 redirects',
    });
  });

  it('binary, NUL bytes or invalid UTF-8 are refused with TOOL_FAILED; a declared charset is decoded', async () => {
    expect((await fetchOutcome(`${listed()}/binary`)).error).toEqual({
      code: 'TOOL_FAILED',
      message: expect.stringMatching(/image\/png, not text/),
    });
    expect((await fetchOutcome(`${listed()}/nul`)).error?.message).toMatch(/binary data/);
    expect((await fetchOutcome(`${listed()}/bad-utf8`)).error?.message).toMatch(/not valid utf-8 text/);
    expect((await fetchOutcome(`${listed()}/latin1`)).output).toBe('café');
    expect((await fetchOutcome(`${listed()}/missing`)).error?.message).toMatch(/HTTP 404/);
  });

  it('a huge body is read only up to the size cap, and the output is cut to the output cap', async () => {
    const outcome = await runTool(
      fetchTool([listed()], 100_000),
      { url: `${listed()}/huge` },
      {
        signal: new AbortController().signal,
        timeoutMs: 10_000,
        maxOutputChars: 50_000,
      },
    );
    expect(outcome).toMatchObject({ ok: true, truncated: true });
    expect((outcome.output as string).length).toBe(50_000);
    const whole = await runTool(
      fetchTool([listed()], 100_000),
      { url: `${listed()}/huge` },
      {
        signal: new AbortController().signal,
        timeoutMs: 10_000,
        maxOutputChars: 200_000,
      },
    );
    expect(whole.output).toMatch(/^x{100000}\n\n\(cut: the page is longer than 100000 bytes\)$/);
  });

  it('a slow page ends with TOOL_TIMEOUT at the time cap', async () => {
    const outcome = await runTool(
      fetchTool([listed()], 1000, 300),
      { url: `${listed()}/slow` },
      {
        signal: new AbortController().signal,
        timeoutMs: 10_000,
        maxOutputChars: 1000,
      },
    );
    expect(outcome.error).toEqual({ code: 'TOOL_TIMEOUT', message: 'http_fetch took longer than 300 ms' });
  });
});

describe('addressKind', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.0.1', 'private'],
    ['100.64.0.1', 'private'],
    ['fd12::1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['0.0.0.0', 'reserved'],
    ['::', 'reserved'],
    ['64:ff9b::7f00:1', 'reserved'],
    ['224.0.0.1', 'reserved'],
    ['93.184.216.34', 'public'],
    ['2606:4700::1111', 'public'],
    ['172.32.0.1', 'public'],
  ])('%s is %s', (ip, kind) => {
    expect(addressKind(ip)).toBe(kind);
  });
});
