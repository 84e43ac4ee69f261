/**
 * http_fetch (issue 14) in runs: the offline model fetches the URL a task holds. An allowed
 * page comes back as readable text; a target in disguise, or a redirect off the allow-list, is
 * refused with TOOL_DENIED before any connection to it, and the run completes. Only loopback
 * is ever connected to (the fixture counts its connections).
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

let maws: MawsProcess;
let fixture: http.Server;
let origin: string;
const seen: string[] = [];

setUpSuite(async () => {
  fixture = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    if (req.url === '/figures') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body><h2>Figures</h2><p>Apple closed the month up 4.2%.</p><script>x()</script></body></html>');
    } else if (req.url === '/away') {
      res.writeHead(302, { location: 'http://127.0.0.2:9/secret' }).end();
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => fixture.listen(0, '127.0.0.1', () => resolve()));
  origin = `http://127.0.0.1:${(fixture.address() as AddressInfo).port}`;
  [maws] = (await startStack(['all'], { OFFLINE_TOKEN_DELAY_MS: '0', TOOLS_FETCH_ALLOW: origin })).procs;
});

afterAll(async () => {
  fixture?.closeAllConnections();
  await new Promise<void>((resolve) => (fixture ? fixture.close(() => resolve()) : resolve()));
});

async function fetchIn(text: string) {
  const { client } = await newSdkSession(maws, 'fetch');
  const { runId } = await startRun(client, 'task.start', text);
  const terminal = await client.waitForEvent(TERMINAL, (f) => f.data.runId === runId, 60_000);
  expect(terminal.event).toBe('run.completed');
  await client.close();
  const frames = client.durable().filter((f) => runIdOf(f) === runId);
  const results = frames.filter((f): f is FrameOf<'tool.result'> => f.event === 'tool.result').map((f) => f.data);
  expect(results.length).toBeGreaterThan(0);
  return { frames, results };
}

describe('http_fetch in runs', () => {
  it('fetches an allowed page as readable text, and the finding quotes it', async () => {
    const { frames, results } = await fetchIn(`Summarize ${origin}/figures for the team.`);
    for (const r of results) {
      expect(r).toMatchObject({ tool: 'http_fetch', ok: true });
      expect(r.output).toMatch(/FIGURES\s+Apple closed the month up 4\.2%\./);
      expect(r.output).not.toContain('x()');
    }
    expect((outputOf(frames, 'exec-1') as { text: string }).text).toContain(`Fetched ${origin}/figures: FIGURES Apple`);
  });

  it('an address in disguise is not the listed origin: TOOL_DENIED, nothing connected', async () => {
    const before = seen.length;
    const port = origin.split(':')[2];
    const { results } = await fetchIn(`Summarize http://[::ffff:127.0.0.1]:${port}/figures for the team.`);
    for (const r of results) {
      expect(r.error).toEqual({ code: 'TOOL_DENIED', message: expect.stringMatching(/is not an allowed origin/) });
    }
    expect(seen.length).toBe(before);
  });

  it('a redirect off the allow-list is refused at the redirect', async () => {
    const { results } = await fetchIn(`Summarize ${origin}/away for the team.`);
    for (const r of results) {
      expect(r.error).toEqual({
        code: 'TOOL_DENIED',
        message: 'http://127.0.0.2:9 is not an allowed origin (TOOLS_FETCH_ALLOW)',
      });
    }
  });
});
