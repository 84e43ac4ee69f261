/**
 * @maws/client through what a client lives through (issue 16): one session, a task and its
 * refinement (500+ events), while the test closes the client's socket, terminates it, SIGKILLs
 * its gateway and sends it to the other one: `events()` yields seqs 1..N exactly once, in
 * order, and the reducer's view equals the view of the uninterrupted history (read over HTTP).
 * Two `task.start` at once: one ack, one INVALID_STATE. A token that expires mid-session: the
 * gateway closes 4401, `getToken` is asked again and the client goes on from where it was.
 */
import WebSocket from 'ws';
import {
  createMawsClient,
  initialView,
  MawsError,
  reduce,
  type AnyDurableFrame,
  type MawsClient,
  type SocketConstructor,
} from '../../packages/client/src';
import { httpJson } from '../support/http';
import type { MawsProcess } from '../support/maws-process';
import { QUERY, REFINE, unique } from '../support/scenario';
import { setUpSuite, startStack } from '../support/suite';
import { eventually } from '../support/timing';
import { signToken } from '../support/tokens';

jest.setTimeout(180_000);

let gateways: MawsProcess[];
const clients: MawsClient[] = [];

setUpSuite(async () => {
  const { procs } = await startStack(['gateway', 'gateway', 'worker'], { OFFLINE_TOKEN_DELAY_MS: '15' });
  gateways = procs.slice(0, 2);
});

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

/** `ws`, with every socket the client opens kept, so the test can cut them. */
function trackedSockets(): { Socket: SocketConstructor; sockets: WebSocket[] } {
  const sockets: WebSocket[] = [];
  class Tracked extends WebSocket {
    constructor(url: string) {
      super(url);
      sockets.push(this);
    }
  }
  return { Socket: Tracked as unknown as SocketConstructor, sockets };
}

/** The durable frames of the session's whole history, over HTTP, page by page (the uninterrupted log). */
async function storedHistory(gateway: MawsProcess, sessionId: string, token: string): Promise<AnyDurableFrame[]> {
  const all: AnyDurableFrame[] = [];
  for (;;) {
    const res = await httpJson(
      'GET',
      `${gateway.url}/sessions/${sessionId}/events?afterSeq=${all.length ? all[all.length - 1].seq : 0}&limit=1000`,
      undefined,
      { authorization: `Bearer ${token}` },
    );
    expect(res.status).toBe(200);
    const { events } = res.body as { events: AnyDurableFrame[] };
    all.push(...events);
    if (events.length < 1000) return all;
  }
}

const openSockets = (sockets: WebSocket[]): WebSocket[] => sockets.filter((s) => s.readyState === WebSocket.OPEN);

describe('@maws/client through cuts, a killed gateway and a switch', () => {
  it('yields every seq once, in order, and folds to the view of the uninterrupted history', async () => {
    const sessionId = unique('sdk-chaos');
    const token = signToken(unique('sdk-chaos-user'));
    const { Socket, sockets } = trackedSockets();
    let target = 0;
    const c = createMawsClient({
      url: () => gateways[target].wsUrl!,
      sessionId,
      getToken: () => token,
      WebSocket: Socket,
      backoff: { minMs: 100, maxMs: 1_000 },
    });
    clients.push(c);
    const opens: number[] = [];
    c.on('open', ({ lastSeq }) => opens.push(lastSeq));
    const received: AnyDurableFrame[] = [];
    let completed = 0;
    const reading = (async () => {
      for await (const frame of c.events()) {
        received.push(frame);
        if (frame.event === 'run.completed') completed += 1;
        if (completed === 2 && frame.event === 'session.state' && frame.data.state === 'REFINEMENT_READY') return;
      }
    })();
    await eventually(() => Promise.resolve(c.status === 'open'), 10_000, 'the first connection');
    await c.request('task.start', { text: QUERY });

    const cutAt = async (count: number, cut: () => void, what: string): Promise<void> => {
      await eventually(() => Promise.resolve(received.length >= count), 60_000, `${count} events before ${what}`);
      cut();
      await eventually(
        () => Promise.resolve(c.status === 'open' && openSockets(sockets).length === 1),
        30_000,
        `back after ${what}`,
      );
    };
    await cutAt(40, () => openSockets(sockets)[0].close(1000, 'test closes'), 'a close');
    await cutAt(90, () => openSockets(sockets)[0].terminate(), 'a terminate');
    // The gateway dies; the client's next attempts go to the other one.
    await cutAt(
      150,
      () => {
        target = 1;
        gateways[0].kill('SIGKILL');
      },
      'a killed gateway',
    );
    await eventually(() => Promise.resolve(completed === 1), 60_000, 'the task to complete');
    await eventually(() => Promise.resolve(c.snapshot() !== undefined && c.status === 'open'), 10_000, 'open');
    await c.request('task.refine', { text: REFINE });
    await cutAt(received.length + 60, () => openSockets(sockets)[0].terminate(), 'a terminate during the refinement');
    await reading;

    const stored = await storedHistory(gateways[1], sessionId, token);
    expect(stored.length).toBeGreaterThanOrEqual(500);
    expect(received.map((f) => f.seq)).toEqual(stored.map((f) => f.seq));
    expect(received.map((f) => f.seq)).toEqual(Array.from({ length: stored.length }, (_, i) => i + 1));
    expect(received).toEqual(stored);
    const view = received.reduce(reduce, initialView);
    expect(view).toEqual(stored.reduce(reduce, initialView));
    expect(view.runs.map((r) => r.status)).toEqual(['completed', 'completed']);
    // Five connections: the first, and one after each cut; every one resumed where the last left off.
    expect(opens).toHaveLength(5);
    expect(opens[0]).toBe(0);
    expect(opens.slice(1).every((seq) => seq > 0)).toBe(true);
  });

  it('two task.start at once: one ack, one INVALID_STATE', async () => {
    const token = signToken(unique('sdk-race-user'));
    const c = createMawsClient({
      url: gateways[1].wsUrl!,
      sessionId: unique('sdk-race'),
      getToken: () => token,
      WebSocket: WebSocket as unknown as SocketConstructor,
    });
    clients.push(c);
    await eventually(() => Promise.resolve(c.status === 'open'), 10_000, 'open');
    const results = await Promise.allSettled([
      c.request('task.start', { text: QUERY }),
      c.request('task.start', { text: 'Another task at the same moment' }),
    ]);
    const acks = results.filter((r) => r.status === 'fulfilled');
    const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    expect(acks).toHaveLength(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(MawsError);
    expect(errors[0]).toMatchObject({ code: 'INVALID_STATE' });
  });

  it('a token that expires: the gateway closes 4401, getToken is asked again, the client goes on', async () => {
    const user = unique('sdk-exp-user');
    const tokens = [
      signToken(user, undefined, { expiresInSec: 4 }),
      signToken(user, undefined, { expiresInSec: 3600 }),
    ];
    let asked = 0;
    const closes: number[] = [];
    const c = createMawsClient({
      url: gateways[1].wsUrl!,
      sessionId: unique('sdk-exp'),
      getToken: () => tokens[Math.min(asked++, 1)],
      WebSocket: WebSocket as unknown as SocketConstructor,
      backoff: { minMs: 50, maxMs: 200 },
    });
    clients.push(c);
    c.on('disconnect', ({ code }) => closes.push(code));
    const frames: AnyDurableFrame[] = [];
    const reading = (async () => {
      for await (const f of c.events()) {
        frames.push(f);
        if (f.event === 'run.completed') return;
      }
    })();
    await eventually(() => Promise.resolve(c.status === 'open'), 10_000, 'open');
    const { runId } = await c.request('task.start', { text: QUERY });
    await eventually(() => Promise.resolve(closes.includes(4401)), 15_000, 'the close for the expired token');
    await eventually(() => Promise.resolve(c.status === 'open'), 10_000, 'back with a fresh token');
    expect(asked).toBe(2);
    // The run goes on for the same client, with nothing missed.
    await reading;
    expect(frames.map((f) => f.seq)).toEqual(Array.from({ length: frames.length }, (_, i) => i + 1));
    expect(frames.at(-1)).toMatchObject({ event: 'run.completed', data: { runId } });
    expect(closes).toEqual([4401]);
  });
});
