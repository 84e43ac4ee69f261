/**
 * @maws/client (issue 16, v2 "Client SDK") against a real gateway, worker and Redis, with
 * Node 20's `ws` injected: events in seq order once each, requests answered by their ack or a
 * typed MawsError, commands refused at once while offline, the reducer's view of a whole run;
 * a half-open connection (a TCP proxy that stops moving bytes, no FIN) noticed by the client's
 * own ping and left for a new connection, which resumes gap-free once the network heals; a
 * refused token reported once, with no retry; a history that moved on is a reset to the
 * snapshot. And the built package (dist/index.mjs) imported by name from a plain Node process.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import {
  createMawsClient,
  initialView,
  MawsError,
  reduce,
  type AnyDurableFrame,
  type MawsClient,
  type MawsClientOptions,
  type SocketConstructor,
} from '../../packages/client/src';
import type { MawsProcess } from '../support/maws-process';
import { QUERY, unique } from '../support/scenario';
import { setUpSuite, startStack } from '../support/suite';
import { startTcpProxy } from '../support/tcp-proxy';
import { eventually } from '../support/timing';
import { signToken } from '../support/tokens';

jest.setTimeout(120_000);

let gateway: MawsProcess;
const clients: MawsClient[] = [];

setUpSuite(async () => {
  [gateway] = (await startStack(['gateway', 'worker'], { OFFLINE_TOKEN_DELAY_MS: '2' })).procs;
});

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

function client(opts: Partial<MawsClientOptions> = {}): MawsClient {
  const token = signToken(unique('sdk-user'));
  const c = createMawsClient({
    url: gateway.wsUrl!,
    sessionId: unique('sdk'),
    getToken: () => token,
    WebSocket: WebSocket as unknown as SocketConstructor,
    ...opts,
  });
  clients.push(c);
  return c;
}

/** Collects the client's durable frames until the session.state after the run's terminal event. */
async function untilRunEnds(c: MawsClient, frames: AnyDurableFrame[] = []): Promise<AnyDurableFrame[]> {
  let ended = false;
  for await (const frame of c.events()) {
    frames.push(frame);
    if (['run.completed', 'run.failed', 'run.cancelled'].includes(frame.event)) ended = true;
    else if (ended && frame.event === 'session.state') break;
  }
  return frames;
}

const seqs = (frames: AnyDurableFrame[]): number[] => frames.map((f) => f.seq);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('@maws/client', () => {
  it('runs a task: events in seq order once each, the ack, and the reducer builds the view', async () => {
    const c = client();
    const frames = untilRunEnds(c);
    await eventually(() => Promise.resolve(c.status === 'open'), 10_000, 'the client to connect');
    expect(c.snapshot()).toMatchObject({ state: 'IDLE', lastSeq: 0 });
    const ack = await c.request('task.start', { text: QUERY });
    expect(ack.runId).toMatch(/^r_/);
    const seen = await frames;
    expect(seqs(seen)).toEqual(range(1, seen.length));
    const view = seen.reduce(reduce, initialView);
    const [run] = view.runs;
    expect(run).toMatchObject({ runId: ack.runId, status: 'completed', mode: 'task' });
    const completed = seen.find((f) => f.event === 'run.completed') as AnyDurableFrame & { data: { report: string } };
    expect(run.report).toBe(completed.data.report);
    expect(run.plan?.steps.map((s) => s.stepId)).toEqual(['exec-1', 'exec-2', 'exec-3', 'exec-4']);
    expect(run.steps.map((s) => [s.stepId, s.status])).toEqual([
      ['plan', 'done'],
      ['exec-1', 'done'],
      ['exec-2', 'done'],
      ['exec-3', 'done'],
      ['exec-4', 'done'],
      ['aggregate', 'done'],
    ]);
    // Each step's text is what it streamed, and what it finished with.
    const exec1 = run.steps[1];
    expect(exec1.text).toBe((exec1.output as { text: string }).text);
    expect(view).toMatchObject({ state: 'REFINEMENT_READY', lastSeq: seen.at(-1)!.seq, report: run.report });
    // A ping is answered by a pong that names no ping: each settles the oldest ping, in order.
    await expect(Promise.all([c.request('ping', {}), c.request('ping', {})])).resolves.toEqual([{}, {}]);
    // Typed errors: the server's code; a command while offline is refused at once, never queued.
    await expect(c.request('task.cancel', {})).rejects.toMatchObject({ name: 'MawsError', code: 'INVALID_STATE' });
    c.close();
    await expect(c.request('message', { text: 'hello' })).rejects.toEqual(
      new MawsError('CLOSED', 'the client is closed'),
    );
  });

  it('a half-open connection: noticed by its own ping, left, and resumed gap-free on a new one once the network heals', async () => {
    const proxy = await startTcpProxy(Number(new URL(gateway.url!).port), { holdCloses: true });
    const statuses: string[] = [];
    const c = client({
      url: proxy.url.replace('redis://', 'ws://'),
      pingAfterMs: 400,
      pongTimeoutMs: 400,
      dialTimeoutMs: 1_000,
      backoff: { minMs: 100, maxMs: 400 },
      onStatus: (s) => statuses.push(s),
    });
    await eventually(() => Promise.resolve(c.status === 'open'), 10_000, 'the client to connect');
    const frames: AnyDurableFrame[] = [];
    const ended = untilRunEnds(c, frames);
    const { runId } = await c.request('task.start', { text: QUERY });
    await eventually(() => Promise.resolve(frames.some((f) => f.event === 'agent.delta')), 10_000, 'a delta');
    proxy.cut(); // no FIN: the socket looks open, nothing moves
    const cutAt = Date.now();
    await eventually(() => Promise.resolve(c.status === 'reconnecting'), 5_000, 'the client to notice the silence');
    const noticedMs = Date.now() - cutAt;
    expect(noticedMs).toBeLessThan(3_000);
    // While cut, new connections cannot open either (the dial deadline gives each up).
    await new Promise((r) => setTimeout(r, 1_500));
    expect(c.status).toBe('reconnecting');
    proxy.heal();
    const all = await ended;
    expect(all.find((f) => f.event === 'run.completed')).toMatchObject({ data: { runId } });
    expect(seqs(frames)).toEqual(range(frames[0].seq, frames.at(-1)!.seq));
    expect(statuses).toContain('reconnecting');
    expect(c.status).toBe('open');
    await proxy.close();
  });

  it('a refused token is reported once (onAuthError), with no retry', async () => {
    let asked = 0;
    const refusals: string[] = [];
    const c = client({
      getToken: () => {
        asked += 1;
        return signToken('someone', 'a-different-secret-of-32-chars!!!');
      },
      backoff: { minMs: 50, maxMs: 50 },
      onAuthError: (why) => refusals.push(why),
    });
    await eventually(() => Promise.resolve(c.status === 'auth-failed'), 10_000, 'the refusal');
    await new Promise((r) => setTimeout(r, 500));
    expect(refusals).toEqual(['the server refused the connection (HTTP 401)']);
    expect(asked).toBe(1);
    await expect(c.request('ping', {})).rejects.toMatchObject({ code: 'OFFLINE' });
  });

  it('a history that moved on (lastSeq beyond it): RESUME_UNAVAILABLE, then a reset to the snapshot', async () => {
    const resets: unknown[] = [];
    const c = client({ lastSeq: 500 });
    c.on('reset', (snapshot) => resets.push(snapshot));
    await eventually(() => Promise.resolve(resets.length > 0), 10_000, 'the reset');
    await new Promise((r) => setTimeout(r, 300));
    expect(resets).toHaveLength(1);
    expect(resets[0]).toMatchObject({ state: 'IDLE', lastSeq: 0 });
    expect(c.lastSeq).toBe(0);
    // And it goes on from there.
    const frames = untilRunEnds(c);
    await c.request('task.start', { text: 'Compare solar and wind power for a small town.' });
    expect(seqs(await frames)[0]).toBe(1);
  });

  it('the built package, imported by name in a plain Node process, runs a task', async () => {
    const script = `
      import { createMawsClient, reduce, initialView } from '@maws/client';
      import WebSocket from 'ws';
      const c = createMawsClient({ url: process.env.URL, sessionId: process.env.SESSION, getToken: () => process.env.TOKEN, WebSocket });
      let view = initialView;
      c.on('session.snapshot', () => {});
      const done = (async () => { for await (const f of c.events()) { view = reduce(view, f); if (f.event === 'run.completed') break; } })();
      while (c.status !== 'open') await new Promise((r) => setTimeout(r, 20));
      await c.request('task.start', { text: process.env.TEXT });
      await done;
      c.close();
      console.log(JSON.stringify({ status: view.runs[0].status, steps: view.runs[0].steps.length, lastSeq: view.lastSeq }));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      cwd: process.cwd(),
      timeout: 60_000,
      env: {
        ...process.env,
        URL: gateway.wsUrl!,
        SESSION: unique('sdk-node'),
        TOKEN: signToken(unique('sdk-node-user')),
        TEXT: QUERY,
      },
    });
    expect(JSON.parse(stdout.trim())).toEqual({ status: 'completed', steps: 6, lastSeq: expect.any(Number) });
  });
});
