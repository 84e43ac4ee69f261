/**
 * web_search (issue 14) in runs, against a loopback server that answers as SearXNG's JSON API:
 * the offline model searches for what a task quotes after "search for", and its finding
 * lists what came back. Without a backend the tool is not offered.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FrameOf } from '../../src/contract';
import { runIdOf, TERMINAL } from '../support/frames';
import type { MawsProcess } from '../support/maws-process';
import { outputOf, startRun } from '../support/runs';
import { newSdkSession } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';

jest.setTimeout(90_000);

let withSearch: MawsProcess;
let without: MawsProcess;
let searx: http.Server;
const queries: string[] = [];

setUpSuite(async () => {
  searx = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    queries.push(`${url.pathname}?${url.searchParams.toString()}`);
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        results: [
          { title: 'Apple Q3 results', url: 'https://example.org/aapl', content: 'Revenue <b>up</b> 4%' },
          { title: 'Tesla deliveries', url: 'https://example.org/tsla', content: 'Deliveries down' },
        ],
      }),
    );
  });
  await new Promise<void>((resolve) => searx.listen(0, '127.0.0.1', () => resolve()));
  const searxUrl = `http://127.0.0.1:${(searx.address() as AddressInfo).port}`;
  [[withSearch], [without]] = (
    await Promise.all([
      startStack(['all'], { OFFLINE_TOKEN_DELAY_MS: '0', SEARXNG_URL: searxUrl }),
      startStack(['all'], { OFFLINE_TOKEN_DELAY_MS: '0' }),
    ])
  ).map((stack) => stack.procs);
});

afterAll(async () => {
  searx?.closeAllConnections();
  await new Promise<void>((resolve) => (searx ? searx.close(() => resolve()) : resolve()));
});

async function runTask(maws: MawsProcess, text: string) {
  const { client } = await newSdkSession(maws, 'search');
  const { runId } = await startRun(client, 'task.start', text);
  const terminal = await client.waitForEvent(TERMINAL, (f) => f.data.runId === runId, 60_000);
  expect(terminal.event).toBe('run.completed');
  await client.close();
  return client.durable().filter((f) => runIdOf(f) === runId);
}

describe('web_search in runs', () => {
  it('searches SearXNG for the quoted query and the finding lists the results', async () => {
    const frames = await runTask(withSearch, 'Search for "apple quarterly results" and summarize.');
    const called = frames.filter((f): f is FrameOf<'tool.called'> => f.event === 'tool.called');
    expect(called.length).toBeGreaterThan(0);
    for (const c of called)
      expect(c.data).toMatchObject({ tool: 'web_search', input: { query: 'apple quarterly results' } });
    const result = frames.find((f): f is FrameOf<'tool.result'> => f.event === 'tool.result')!;
    expect(result.data).toMatchObject({
      ok: true,
      output: [
        { title: 'Apple Q3 results', url: 'https://example.org/aapl', snippet: 'Revenue up 4%' },
        { title: 'Tesla deliveries', url: 'https://example.org/tsla', snippet: 'Deliveries down' },
      ],
    });
    expect(queries).toContain('/search?q=apple+quarterly+results&format=json');
    expect((outputOf(frames, 'exec-1') as { text: string }).text).toContain(
      'Searched for "apple quarterly results": Apple Q3 results (https://example.org/aapl); Tesla deliveries (https://example.org/tsla).',
    );
  });

  it('without SEARXNG_URL or BRAVE_API_KEY, web_search is not offered and no search is made', async () => {
    const before = queries.length;
    const frames = await runTask(without, 'Search for "apple quarterly results" and summarize.');
    expect(frames.filter((f) => f.event === 'tool.called')).toEqual([]);
    expect(queries.length).toBe(before);
  });
});
