/**
 * Fault tolerance (issue 3): heartbeat. With HEARTBEAT_INTERVAL_MS=300 and
 * HEARTBEAT_TIMEOUT_MS=300 a client that never answers the gateway's pings is terminated
 * (no close frame: 1006 on its side) within about a second, while a client that answers
 * stays connected and keeps working.
 */
import WebSocket from 'ws';
import { expectEvent } from '../support/frames';
import type { MawsProcess } from '../support/maws-process';
import { unique } from '../support/scenario';
import { connect } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';
import { sleep } from '../support/timing';
import { signToken } from '../support/tokens';
import { buildWsUrl } from '../support/ws-client';

jest.setTimeout(60_000);

let gateway: MawsProcess;

setUpSuite(async () => {
  [gateway] = (await startStack(['gateway'], { HEARTBEAT_INTERVAL_MS: '300', HEARTBEAT_TIMEOUT_MS: '300' })).procs;
});

interface Silent {
  ws: WebSocket;
  openedAt: number;
  pings: number;
  closed: Promise<{ code: number; at: number }>;
}

/** A raw ws client that does not answer pings (autoPong: false). */
function connectSilent(url: string): Promise<Silent> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { autoPong: false });
    const silent: Silent = {
      ws,
      openedAt: 0,
      pings: 0,
      closed: new Promise((r) => ws.once('close', (code: number) => r({ code, at: Date.now() }))),
    };
    ws.on('ping', () => (silent.pings += 1));
    ws.on('error', () => undefined);
    ws.once('open', () => {
      silent.openedAt = Date.now();
      resolve(silent);
    });
    ws.once('unexpected-response', () => reject(new Error('upgrade refused')));
    ws.once('close', () => reject(new Error('closed before open')));
  });
}

describe('heartbeat spread', () => {
  it('sockets that connect together get their first pings spread over the interval, not in one sweep', async () => {
    const {
      procs: [spread],
    } = await startStack(['gateway'], { HEARTBEAT_INTERVAL_MS: '4000', HEARTBEAT_TIMEOUT_MS: '10000' });
    const firstPings: number[] = [];
    const clients = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const url = buildWsUrl(spread.wsUrl!, unique(`spread${i}`), signToken(unique('spreader')));
        const ws = new WebSocket(url);
        ws.on('error', () => undefined);
        await new Promise<void>((resolve, reject) => {
          ws.once('open', () => resolve());
          ws.once('unexpected-response', () => reject(new Error('upgrade refused')));
        });
        const openedAt = Date.now();
        ws.once('ping', () => firstPings.push(Date.now() - openedAt));
        return ws;
      }),
    );
    const until = Date.now() + 6_000;
    while (firstPings.length < clients.length && Date.now() < until) await sleep(100);
    for (const ws of clients) ws.close();
    expect(firstPings).toHaveLength(clients.length);
    // Unspread, every socket's first ping would come 4-5 s after it opened, in one sweep.
    // Spread, they fall across the interval: half of them in its first half, give or take.
    expect(Math.min(...firstPings)).toBeLessThan(2_000);
    expect(Math.max(...firstPings) - Math.min(...firstPings)).toBeGreaterThan(1_500);
  });
});

describe('heartbeat', () => {
  it('terminates a client that does not answer pings (1006 within ~1 s); an answering one stays', async () => {
    const sessionId = unique('hb');
    const token = signToken(unique('hal'));
    const { client: normal } = await connect(gateway, sessionId, token);
    let normalPings = 0;
    normal.ws.on('ping', () => (normalPings += 1));

    const silent = await connectSilent(buildWsUrl(gateway.wsUrl!, sessionId, token));
    let timer: NodeJS.Timeout | undefined;
    const closed = await Promise.race([
      silent.closed,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('the silent client was not terminated within 10 s')), 10_000);
      }),
    ]).finally(() => clearTimeout(timer));
    expect(closed.code).toBe(1006);
    expect(silent.pings).toBeGreaterThanOrEqual(1);
    // interval 300 ms + timeout 300 ms (+ the gateway's check tick): about 0.75 s. Generous
    // for a loaded machine, but well under the defaults' 35 s.
    expect(closed.at - silent.openedAt).toBeLessThan(2_000);

    // The answering client is still there a good while later and still served.
    await sleep(2_000);
    expect(normal.isOpen).toBe(true);
    expect(normal.closeResult).toBeUndefined();
    expect(normalPings).toBeGreaterThanOrEqual(3);
    const reply = expectEvent(await normal.request('task.cancel', {}), 'error');
    expect(reply.data.code).toBe('INVALID_STATE');
    await normal.flush(5_000);

    // The gateway lets go of the dead socket: only the answering one is counted.
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(/^maws_connected_sockets (\d+)/m.exec(metrics)?.[1]).toBe('1');
    expect(gateway.running).toBe(true);
  });
});
