/**
 * Logs (issue 17, v2 "Observability"): a MAWS process writes one JSON object per line
 * (LOG_FORMAT=json, the default), each with `level`, `time`, `role` and `pid`; the lines of a
 * run carry its `runId` and `session` without anyone passing them, and the lines of a step its
 * `stepId`, `agent` and `attempt` too, in the gateway and the worker alike; HTTP requests get an
 * access line (path and status, never the query), but not the probes. What the person wrote,
 * what the model answered and the tokens sent never reach stdout or stderr. LOG_FORMAT=pretty
 * is for people.
 */
import { logLines, type LogLine } from '../support/log-lines';
import type { MawsProcess } from '../support/maws-process';
import { startMaws } from '../support/maws-process';
import { startRun, waitForRunEnd } from '../support/runs';
import { unique } from '../support/scenario';
import { connect, newSession } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';
import { eventually } from '../support/timing';
import { decodeTokenPayload, signToken } from '../support/tokens';

jest.setTimeout(120_000);

let gateway: MawsProcess;
let worker: MawsProcess;
let redisUrl: string;

setUpSuite(async () => {
  const stack = await startStack(['gateway', 'worker'], { LOG_LEVEL: 'log', OFFLINE_TOKEN_DELAY_MS: '1' });
  [gateway, worker] = stack.procs;
  redisUrl = stack.redis.url;
});

const linesOf = (proc: MawsProcess): LogLine[] => logLines(proc.output());

describe('JSON logs', () => {
  it("every line is JSON; a run's and a step's lines carry their ids; user text and tokens appear nowhere", async () => {
    const marker = unique('MARKER');
    const { client, sessionId, token } = await newSession(gateway, 'logs');
    // A second token for the same user, sent in a frame.
    const refreshed = signToken(decodeTokenPayload(token).sub as string, undefined, { expiresInSec: 7200 });
    await client.request('auth.refresh', { token: refreshed });
    const { runId } = await startRun(client, 'task.start', `${marker}: what is 17*23, and why does it matter?`);
    await waitForRunEnd(client, runId, 60_000);
    await client.request('chat.send', { text: `${marker} how did it go?` });
    await client.waitForEvent('chat.response', undefined, 30_000);
    // Access lines: asked with a token in the query, logged without it; probes not at all.
    await fetch(`${gateway.url}/sessions?token=${token}`, { headers: { authorization: `Bearer ${token}` } });
    await fetch(`${gateway.url}/health/live`);
    await fetch(`${gateway.url}/metrics`);
    await eventually(
      () => Promise.resolve(linesOf(gateway).some((l) => l.context === 'HTTP' && l.msg === 'GET /sessions 200')),
      10_000,
      'the access line',
    );

    for (const proc of [gateway, worker]) {
      const lines = linesOf(proc); // throws on a line that is not JSON
      expect(lines.length).toBeGreaterThan(3);
      for (const l of lines) {
        expect({ level: typeof l.level, time: Number.isNaN(Date.parse(l.time)), role: l.role, pid: l.pid }).toEqual({
          level: 'string',
          time: false,
          role: proc.role,
          pid: proc.pid,
        });
        // A step's lines are a run's lines.
        if (l.stepId !== undefined) expect(l).toMatchObject({ runId: expect.any(String), session: expect.any(String) });
      }
      const output = proc.output();
      expect(output).not.toContain(marker);
      expect(output).not.toContain(token);
      expect(output).not.toContain(refreshed);
      expect(output).not.toContain(token.split('.')[2]); // not even the signature
    }
    const run = linesOf(worker).filter((l) => l.runId === runId);
    expect(run.map((l) => l.msg)).toEqual(expect.arrayContaining([expect.stringMatching(/^run activated \(task\)/)]));
    expect(run.every((l) => l.session === run[0].session && l.session?.endsWith(`.${sessionId}`))).toBe(true);
    const steps = run.filter((l) => l.stepId !== undefined);
    expect(steps.map((l) => [l.stepId, l.agent, l.attempt])).toEqual(
      expect.arrayContaining([
        ['plan', 'planner', 1],
        ['exec-1', 'executor', 1],
        ['aggregate', 'aggregator', 1],
      ]),
    );
    const access = linesOf(gateway).filter((l) => l.context === 'HTTP');
    expect(access.map((l) => l.msg)).toContain('GET /sessions 200');
    expect(access.map((l) => (l.req as { path: string }).path)).not.toEqual(
      expect.arrayContaining([expect.stringMatching(/^\/(health\/live|metrics)/)]),
    );
    await client.close();
    // The session's socket, reconnected: still nothing of the user's.
    const again = await connect(gateway, sessionId, token);
    await again.client.close();
    expect(gateway.output()).not.toContain(marker);
  });

  it('LOG_FORMAT=pretty writes lines for people instead', async () => {
    const pretty = await startMaws('gateway', { REDIS_URL: redisUrl, LOG_FORMAT: 'pretty', LOG_LEVEL: 'log' });
    await eventually(() => Promise.resolve(pretty.output().includes('MAWS ready')), 10_000, 'the ready line');
    const readyLine = pretty
      .output()
      .split('\n')
      .find((l) => l.includes('MAWS ready'))!;
    expect(() => JSON.parse(readyLine) as unknown).toThrow();
    expect(readyLine).toMatch(/INFO/);
    await pretty.stop();
  });
});
