import type { WebSocket } from 'ws';
import { SocketWriter } from './socket-writer';

const OPEN = 1;
const CLOSED = 3;
const LIMIT = 1_000;

/**
 * A stand-in for a ws WebSocket and its TCP socket. Bytes written while the TCP socket is
 * corked count in bufferedAmount until it is uncorked; `peerHolds` are bytes the peer has not
 * taken (they stay counted).
 */
class FakeSocket {
  readyState = OPEN;
  readonly sent: string[] = [];
  closedWith: number[] = [];
  peerHolds = 0;
  corkedBytes = 0;
  readonly _socket = {
    corks: 0,
    uncorks: 0,
    corked: false,
    cork: () => {
      this._socket.corks++;
      this._socket.corked = true;
    },
    uncork: () => {
      this._socket.uncorks++;
      this._socket.corked = false;
      this.corkedBytes = 0;
    },
  };

  get bufferedAmount(): number {
    return this.peerHolds + this.corkedBytes;
  }
  send(frame: string, options: { binary: boolean }): void {
    if (options.binary) throw new Error('frames go out as text');
    this.sent.push(frame);
    if (this._socket.corked) this.corkedBytes += frame.length;
  }
  close(code: number): void {
    this.closedWith.push(code);
    this.readyState = 2;
  }
  get ws(): WebSocket {
    return this as unknown as WebSocket;
  }
}

const nextTick = () => new Promise<void>((resolve) => process.nextTick(resolve));

describe('SocketWriter', () => {
  afterEach(() => jest.useRealTimers());

  it('sends text frames to an open socket, nothing to one that is not open', () => {
    const writer = new SocketWriter(LIMIT);
    const open = new FakeSocket();
    const closed = new FakeSocket();
    closed.readyState = CLOSED;
    expect(writer.send(open.ws, 'a')).toBe(true);
    expect(writer.send(closed.ws, 'b')).toBe(false);
    expect([open.sent, closed.sent]).toEqual([['a'], []]);
  });

  it('corks a socket at its first send in a tick and uncorks every corked socket on the next', async () => {
    const writer = new SocketWriter(LIMIT);
    const [a, b] = [new FakeSocket(), new FakeSocket()];
    writer.send(a.ws, 'a1');
    writer.send(b.ws, 'b1');
    writer.send(a.ws, 'a2');
    expect([a._socket.corks, b._socket.corks, a._socket.uncorks, b._socket.uncorks]).toEqual([1, 1, 0, 0]);
    await nextTick();
    expect([a._socket.uncorks, b._socket.uncorks]).toEqual([1, 1]);
    writer.send(a.ws, 'a3');
    expect(a._socket.corks).toBe(2);
    await nextTick();
    expect(a._socket.uncorks).toBe(2);
  });

  it('closes a slow consumer with 1013 instead of buffering past the limit', () => {
    const writer = new SocketWriter(LIMIT);
    const socket = new FakeSocket();
    socket.peerHolds = LIMIT + 1;
    expect(writer.send(socket.ws, 'x')).toBe(false);
    expect(socket.sent).toEqual([]);
    expect(socket.closedWith).toEqual([1013]);
  });

  it('does not count its own corked bytes against the peer: it flushes them and looks again', () => {
    const writer = new SocketWriter(LIMIT);
    const socket = new FakeSocket();
    const big = 'x'.repeat(LIMIT / 2 + 1);
    writer.send(socket.ws, big);
    writer.send(socket.ws, big); // corked: bufferedAmount is now over the limit, all of it ours
    expect(writer.send(socket.ws, big)).toBe(true);
    expect(socket.closedWith).toEqual([]);
    expect(socket._socket.uncorks).toBe(1);
  });

  it('makes a replay wait past half the limit until a quarter, and closes 1013 if it never drains', async () => {
    jest.useFakeTimers();
    const writer = new SocketWriter(LIMIT);
    const draining = new FakeSocket();
    draining.peerHolds = LIMIT / 2;
    expect(writer.replayShouldWait(draining.ws)).toBe(false);
    draining.peerHolds = LIMIT / 2 + 1;
    expect(writer.replayShouldWait(draining.ws)).toBe(true);
    let drained: boolean | undefined;
    void writer.drained(draining.ws).then((ok) => (drained = ok));
    await jest.advanceTimersByTimeAsync(1_000);
    expect(drained).toBeUndefined();
    draining.peerHolds = LIMIT / 4;
    await jest.advanceTimersByTimeAsync(10);
    expect(drained).toBe(true);

    const stuck = new FakeSocket();
    stuck.peerHolds = LIMIT;
    let gaveUp: boolean | undefined;
    void writer.drained(stuck.ws).then((ok) => (gaveUp = ok));
    await jest.advanceTimersByTimeAsync(29_000);
    expect([gaveUp, stuck.closedWith]).toEqual([undefined, []]);
    await jest.advanceTimersByTimeAsync(1_100);
    expect([gaveUp, stuck.closedWith]).toEqual([false, [1013]]);
  });
});
