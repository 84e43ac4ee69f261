/** web_search against loopback servers that answer as SearXNG's JSON API and Brave Search's do. */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { runTool } from '../tool-runner';
import { createWebSearch } from './web-search';

let server: http.Server;
let base: string;
const seen: { url: string; token?: string }[] = [];
let next: { status: number; body: string } | null = null;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', token: req.headers['x-subscription-token'] as string | undefined });
    if (next) {
      const { status, body } = next;
      next = null;
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    const q = url.searchParams.get('q');
    if (url.pathname === '/searx/search') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          query: q,
          results: Array.from({ length: 8 }, (_, i) => ({
            title: `Result ${i + 1} for ${q}`,
            url: `https://example.org/${i + 1}`,
            content: `Snippet <b>${i + 1}</b> &amp; more`,
            engine: 'fake',
          })),
        }),
      );
    } else if (url.pathname === '/brave/res/v1/web/search') {
      const count = Number(url.searchParams.get('count'));
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          type: 'search',
          web: {
            results: Array.from({ length: count }, (_, i) => ({
              title: `Brave ${i + 1}`,
              url: `https://example.com/${i + 1}`,
              description: `About <strong>${q}</strong>`,
            })),
          },
        }),
      );
    } else res.writeHead(404).end('{"error":"not found"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const options = () => ({ signal: new AbortController().signal, timeoutMs: 5_000, maxOutputChars: 20_000 });

describe('web_search', () => {
  it('SearXNG: asks its JSON API and returns {title, url, snippet} up to the limit, snippets as plain text', async () => {
    const tool = createWebSearch({ kind: 'searxng', url: `${base}/searx` }, 5_000);
    const outcome = await runTool(tool, { query: 'apple stock', limit: 2 }, options());
    expect(outcome.output).toEqual([
      { title: 'Result 1 for apple stock', url: 'https://example.org/1', snippet: 'Snippet 1 & more' },
      { title: 'Result 2 for apple stock', url: 'https://example.org/2', snippet: 'Snippet 2 & more' },
    ]);
    expect(seen[seen.length - 1].url).toBe('/searx/search?q=apple+stock&format=json');
    expect((await runTool(tool, { query: 'x' }, options())).output).toHaveLength(5);
  });

  it('Brave: sends the key and the count, and reads web.results', async () => {
    const tool = createWebSearch({ kind: 'brave', apiKey: 'brave-key', url: `${base}/brave/res/v1/web/search` }, 5_000);
    const outcome = await runTool(tool, { query: 'tesla', limit: 3 }, options());
    expect(outcome.output).toEqual(
      [1, 2, 3].map((i) => ({ title: `Brave ${i}`, url: `https://example.com/${i}`, snippet: 'About tesla' })),
    );
    expect(seen[seen.length - 1]).toEqual({ url: '/brave/res/v1/web/search?q=tesla&count=3', token: 'brave-key' });
  });

  it('an HTTP error, an answer that is not JSON, or one without results: TOOL_FAILED saying what came back', async () => {
    const tool = createWebSearch({ kind: 'searxng', url: `${base}/searx` }, 5_000);
    next = { status: 429, body: '{"error":"Too many requests"}' };
    expect((await runTool(tool, { query: 'q' }, options())).error).toEqual({
      code: 'TOOL_FAILED',
      message: 'the searxng search answered HTTP 429: {"error":"Too many requests"}',
    });
    next = { status: 200, body: '<html>not json</html>' };
    expect((await runTool(tool, { query: 'q' }, options())).error?.message).toBe(
      'the searxng search did not answer JSON',
    );
    next = { status: 200, body: '{"answers": []}' };
    expect((await runTool(tool, { query: 'q' }, options())).error?.message).toMatch(/has no results list/);
    // A loopback port nothing listens on (bound, read, closed).
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', () => resolve()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const nowhere = createWebSearch({ kind: 'searxng', url: `http://127.0.0.1:${port}` }, 5_000);
    expect((await runTool(nowhere, { query: 'q' }, options())).error?.message).toMatch(
      /did not answer: .*ECONNREFUSED/,
    );
  });

  it('an empty query or a limit past 10 is TOOL_INVALID_INPUT', async () => {
    const tool = createWebSearch({ kind: 'searxng', url: `${base}/searx` }, 5_000);
    expect((await runTool(tool, { query: '  ' }, options())).error?.code).toBe('TOOL_INVALID_INPUT');
    expect((await runTool(tool, { query: 'q', limit: 50 }, options())).error?.code).toBe('TOOL_INVALID_INPUT');
  });
});
