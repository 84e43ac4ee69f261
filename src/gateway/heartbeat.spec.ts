import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { Heartbeat, type HeartbeatState } from './heartbeat';

const OPEN = 1;
const CLOSED = 3;

/** A stand-in for a ws WebSocket: counts pings, records how it is ended. */
class FakeSocket extends EventEmitter {
  readyState = OPEN;
  pings = 0;
  terminated = 0;
  closedWith: number[] = [];
  pingThrows = false;

  ping(): void {
    if (this.pingThrows) throw new Error('not open');
    this.pings++;
  }
  terminate(): void {
    this.terminated++;
    this.readyState = CLOSED;
  }
  close(code: number): void {
    this.closedWith.push(code);
  }
  get ws(): WebSocket {
    return this as unknown as WebSocket;
  }
}

const INTERVAL = 1_000;
const TIMEOUT = 500;
/** The sweep's period for INTERVAL and TIMEOUT: half the shorter, within 50..250 ms. */
const TICK = 250;

describe('Heartbeat (fake timers)', () => {
  let sockets: Map<WebSocket, HeartbeatState>;
  let heartbeat: Heartbeat;

  beforeEach(() => {
    jest.useFakeTimers();
    sockets = new Map();
    heartbeat = new Heartbeat(sockets);
  });
  afterEach(() => {
    heartbeat.stop();
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  /** A socket as SessionHub registers one: a record in the map, its pongs watched. */
  function add(expiresAt?: number): FakeSocket {
    const socket = new FakeSocket();
    sockets.set(socket.ws, { ws: socket.ws, pingSentAt: heartbeat.firstPingSentAt(), awaitingPong: false, expiresAt });
    heartbeat.watch(socket.ws);
    return socket;
  }

  it('pings a socket once its interval has passed, and again an interval after its pong', () => {
    jest.spyOn(Math, 'random').mockReturnValue(0);
    heartbeat.start(INTERVAL, TIMEOUT);
    const socket = add();
    jest.advanceTimersByTime(INTERVAL - TICK);
    expect(socket.pings).toBe(0);
    jest.advanceTimersByTime(TICK);
    expect(socket.pings).toBe(1);
    socket.emit('pong');
    jest.advanceTimersByTime(INTERVAL - TICK);
    expect(socket.pings).toBe(1);
    jest.advanceTimersByTime(TICK);
    expect(socket.pings).toBe(2);
    expect(socket.terminated).toBe(0);
  });

  it('terminates a socket whose pong is the timeout late, and only then', () => {
    jest.spyOn(Math, 'random').mockReturnValue(0);
    heartbeat.start(INTERVAL, TIMEOUT);
    const silent = add();
    const answering = add();
    jest.advanceTimersByTime(INTERVAL);
    expect([silent.pings, answering.pings]).toEqual([1, 1]);
    answering.emit('pong');
    jest.advanceTimersByTime(TIMEOUT - TICK);
    expect(silent.terminated).toBe(0);
    jest.advanceTimersByTime(TICK);
    expect(silent.terminated).toBe(1);
    expect(silent.pings).toBe(1);
    expect(answering.terminated).toBe(0);
  });

  it('terminates a socket whose ping throws, and pings no socket that is not open', () => {
    jest.spyOn(Math, 'random').mockReturnValue(0);
    heartbeat.start(INTERVAL, TIMEOUT);
    const broken = add();
    broken.pingThrows = true;
    const closing = add();
    closing.readyState = 2;
    jest.advanceTimersByTime(INTERVAL);
    expect(broken.terminated).toBe(1);
    expect(closing.pings).toBe(0);
  });

  it('closes a socket with 4401 when its token expires, once; a refresh moves the expiry', () => {
    heartbeat.start(60_000, 60_000); // no ping in the way; the sweep still runs every 250 ms
    const expiring = add(Date.now() + 1_000);
    const refreshed = add(Date.now() + 1_000);
    const forever = add();
    jest.advanceTimersByTime(750);
    heartbeat.refreshExpiry(refreshed.ws, Date.now() + 5_000);
    expect(expiring.closedWith).toEqual([]);
    jest.advanceTimersByTime(250);
    expect(expiring.closedWith).toEqual([4401]);
    expect(refreshed.closedWith).toEqual([]);
    jest.advanceTimersByTime(4_000);
    expect(refreshed.closedWith).toEqual([]);
    jest.advanceTimersByTime(1_000);
    expect(refreshed.closedWith).toEqual([4401]);
    jest.advanceTimersByTime(10_000);
    expect([expiring.closedWith, refreshed.closedWith, forever.closedWith]).toEqual([[4401], [4401], []]);
  });

  it("spreads sockets' first pings over the first interval", () => {
    heartbeat.start(INTERVAL, TIMEOUT);
    const random = jest.spyOn(Math, 'random');
    random.mockReturnValue(0.5);
    const late = add();
    random.mockReturnValue(0.75);
    const early = add();
    jest.advanceTimersByTime(TICK);
    expect([early.pings, late.pings]).toEqual([1, 0]);
    jest.advanceTimersByTime(2 * TICK);
    expect([early.pings, late.pings]).toEqual([1, 1]);
  });

  it('stops sweeping when stopped', () => {
    heartbeat.start(INTERVAL, TIMEOUT);
    const socket = add(Date.now() + 100);
    heartbeat.stop();
    jest.advanceTimersByTime(10 * INTERVAL);
    expect([socket.pings, socket.closedWith]).toEqual([0, []]);
  });
});
