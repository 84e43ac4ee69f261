import { EventEmitter, once } from 'node:events';
import Redis from 'ioredis';
import type { WebSocket } from 'ws';
import { RedisServer, startRedis, stopAllRedis } from '../../test/support/redis-server';
import { setErrorSink } from '../common/error-log';
import { EventLog } from '../events/event-log';
import { durable } from '../events/frames';
import type { GatewayMetrics } from '../ops/gateway-metrics';
import { SessionKeys, sessionKeyOf } from '../store/redis-keys';
import { SessionHub } from './session-hub';

/**
 * The relay's ordering rules on a real Redis: the real EventLog appends (numbers, stores and
 * publishes) and a real ioredis subscriber hands the hub what was published. The sockets are
 * stand-ins that record what they are sent. To catch the hub mid-fill, a read of the real log
 * can be held (gateLog) while events are appended, as a slow Redis reply would.
 */

const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** A stand-in for a ws WebSocket: records what it is sent, and how it is closed. */
class FakeSocket extends EventEmitter {
  readyState = OPEN;
  bufferedAmount = 0;
  readonly sent: string[] = [];
  closedWith?: { code: number; reason: string };
  terminated = false;
  pings = 0;

  /** With autoPong, it answers every ping (at once). */
  constructor(private readonly autoPong = false) {
    super();
  }

  send(frame: Buffer | string): void {
    this.sent.push(frame.toString());
  }
  close(code: number, reason: string): void {
    this.closedWith = { code, reason };
    this.readyState = CLOSING;
  }
  terminate(): void {
    this.terminated = true;
    this.readyState = CLOSED;
  }
  ping(): void {
    this.pings++;
    if (this.autoPong) this.emit('pong');
  }
  get ws(): WebSocket {
    return this as unknown as WebSocket;
  }
  /** What it was sent, in order: a durable event as its seq, a reply as a short label. */
  get received(): (number | string)[] {
    return this.sent.map((raw) => {
      const f = JSON.parse(raw) as { seq?: number; event: string; data: Record<string, unknown> };
      if (f.seq !== undefined) return f.seq;
      const to = typeof f.data.replyTo === 'string' ? `/${f.data.replyTo}` : '';
      if (f.event === 'session.snapshot') return `snapshot@${String(f.data.lastSeq)}`;
      if (f.event === 'error') return `error:${String(f.data.code)}${to}`;
      return `${f.event}${to}`;
    });
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(2);
  }
}

const metrics = {
  socketsConnected: { inc: () => undefined, dec: () => undefined },
  framesRejected: { inc: () => undefined },
  relayedCount: 0,
} as unknown as GatewayMetrics;

describe('SessionHub ordering on a real Redis', () => {
  let server: RedisServer;
  let redis: Redis;
  let subscriber: Redis;
  let log: EventLog;
  let hub: SessionHub;
  let session: string;
  let sessions = 0;

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    redis.disconnect();
    await stopAllRedis();
  });
  beforeEach(async () => {
    subscriber = new Redis(server.url);
    // The hub fills every socket on the subscriber's 'ready': it starts after the first one.
    await once(subscriber, 'ready');
    log = new EventLog(redis, { maxEvents: 100_000, ttlSeconds: 3600 });
    hub = new SessionHub(log, subscriber, metrics, 1 << 20);
    session = sessionKeyOf('alice', `S${++sessions}`);
  });
  afterEach(() => {
    jest.restoreAllMocks();
    // A second disconnect would leave ioredis a 2 s timer on a stream already closed.
    if (subscriber.status !== 'end') subscriber.disconnect();
  });

  /** Appends `count` events (one append, so one publish). */
  async function append(count = 1): Promise<void> {
    const events = Array.from({ length: count }, (_, i) => durable('chat.response', { text: `e${i}` }));
    await log.append(session, events);
  }

  /**
   * Appends, and waits until the hub's subscriber has handed the hub the published frames
   * (this listener was added after the hub's, so the hub has seen them when it runs).
   */
  async function appendLive(count = 1): Promise<void> {
    const channel = log.channel(session);
    let onMessage!: (c: Buffer) => void;
    const delivered = new Promise<void>((resolve) => {
      onMessage = (c: Buffer) => {
        if (c.toString() === channel) resolve();
      };
      subscriber.on('smessageBuffer', onMessage);
    });
    await append(count);
    await delivered;
    subscriber.off('smessageBuffer', onMessage);
  }

  /**
   * Holds the next call of the real log's `method` (for which `which` is true): `before` the
   * read, it sees what is appended while held; `after`, it does not. `reached` resolves once
   * the call is held; `release` lets it go on.
   */
  function gateLog(
    method: 'readAfter' | 'snapshot',
    when: 'before' | 'after',
    which: (...args: unknown[]) => boolean = () => true,
  ) {
    const real = (log[method] as (...args: unknown[]) => Promise<unknown>).bind(log);
    let release!: () => void;
    const opened = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const reached = new Promise<void>((resolve) => (entered = resolve));
    let used = false;
    jest.spyOn(log, method).mockImplementation((async (...args: unknown[]) => {
      if (used || !which(...args)) return real(...args);
      used = true;
      if (when === 'before') {
        entered();
        await opened;
        return real(...args);
      }
      const result = await real(...args);
      entered();
      await opened;
      return result;
    }) as never);
    return { reached, release };
  }

  /** The fill's reads (a batch), not resumeFrom's one-frame check of what the log still holds. */
  const fillRead = (...args: unknown[]) => args[2] !== 1;

  /** Reserved and read as the upgrade does it (subscribed, snapshot, first page). */
  const prepare = (resumeAfter?: number) => hub.prepare(hub.reserve(session), resumeAfter);

  /** Opens a socket as the upgrade does: prepared, accepted, then filled. */
  async function attach(ws: FakeSocket['ws'], resumeAfter?: number, expiresAt?: number): Promise<void> {
    hub.accept(await prepare(resumeAfter), ws, expiresAt);
    await hub.attached(ws);
  }

  async function attached(resumeAfter?: number): Promise<FakeSocket> {
    const socket = new FakeSocket();
    await attach(socket.ws, resumeAfter);
    return socket;
  }

  describe('a notice (no seq)', () => {
    it('is sent to every socket of the session as it comes, in between the durable frames, and leaves the seqs alone', async () => {
      const first = await attached();
      const second = await attached();
      await appendLive(); // 1
      const channel = log.channel(session);
      const delivered = new Promise<void>((resolve) => {
        const onMessage = (c: Buffer): void => {
          if (c.toString() !== channel) return;
          subscriber.off('smessageBuffer', onMessage);
          resolve();
        };
        subscriber.on('smessageBuffer', onMessage);
      });
      await log.notify(session, 'store.status', { writable: false, runId: 'r_1', reason: 'OOM', message: 'full' });
      await delivered;
      await appendLive(); // 2: follows 1 directly, no gap seen
      for (const socket of [first, second]) {
        expect(socket.received).toEqual(['snapshot@0', 1, 'store.status', 2]);
      }
    });
  });

  describe('a live frame after a gap', () => {
    /** The hub's subscriber misses seqs 2..3 (it is off the channel while they are published). */
    async function missTwo(): Promise<void> {
      await subscriber.sunsubscribe(log.channel(session));
      await append(2);
      await subscriber.ssubscribe(log.channel(session));
    }

    it('is held while the log fills the gap; then held frames follow in order, none twice', async () => {
      const socket = await attached();
      await appendLive(); // 1
      await missTwo(); // 2, 3
      const read = gateLog('readAfter', 'after');
      await appendLive(); // 4: past a gap, so held, and the fill reads the log (2, 3, 4)
      await read.reached;
      await appendLive(2); // 5, 6 arrive while the fill's read is out: held
      expect(socket.received).toEqual(['snapshot@0', 1]);
      read.release();
      await until('6 is sent', () => socket.received.includes(6));
      await appendLive(); // 7: live again
      expect(socket.received).toEqual(['snapshot@0', 1, 2, 3, 4, 5, 6, 7]);
    });

    it('drops held frames that the fill already sent from the log', async () => {
      const socket = await attached();
      await appendLive(); // 1
      await missTwo(); // 2, 3
      const read = gateLog('readAfter', 'before');
      await appendLive(); // 4
      await read.reached;
      await appendLive(2); // 5, 6: held, and in the log the fill is about to read
      read.release();
      await until('6 is sent', () => socket.received.includes(6));
      await appendLive(); // 7
      expect(socket.received).toEqual(['snapshot@0', 1, 2, 3, 4, 5, 6, 7]);
    });

    it('past HELD_MAX held frames, the fill reads the log again: nothing lost, nothing twice', async () => {
      await append(3);
      const read = gateLog('readAfter', 'after', fillRead);
      const socket = new FakeSocket();
      const attaching = attach(socket.ws, 1);
      await read.reached; // the fill has read 2..3
      await appendLive(2500); // 4..2503 while held: more than the 2000 held at most
      read.release();
      await attaching;
      await until('2503 is sent', () => socket.received.includes(2503));
      await appendLive(); // 2504
      const seqs = socket.received.slice(1);
      expect(socket.received[0]).toBe('snapshot@3');
      expect(seqs).toEqual(Array.from({ length: 2503 }, (_, i) => i + 2));
    });
  });

  describe('frames published while a socket is being filled', () => {
    it('past HELD_MAX while a new socket waits for its snapshot, the log fills the rest: nothing lost', async () => {
      const snap = gateLog('snapshot', 'after');
      const socket = new FakeSocket();
      const attaching = attach(socket.ws);
      await snap.reached; // the snapshot says lastSeq 0
      await appendLive(2500); // 1..2500 while held: more than the 2000 held at most
      snap.release();
      await attaching;
      await until('2500 is sent', () => socket.received.includes(2500));
      await appendLive(); // 2501
      expect(socket.received[0]).toBe('snapshot@0');
      expect(socket.received.slice(1)).toEqual(Array.from({ length: 2501 }, (_, i) => i + 1));
    });

    // A new session's first frames: seq 1 follows the socket's initial lastSeq 0, so only the
    // hold keeps them from going out before the snapshot.
    it('wait for its snapshot on attach, then go out after it', async () => {
      const snap = gateLog('snapshot', 'after');
      const socket = new FakeSocket();
      const attaching = attach(socket.ws);
      await snap.reached; // the snapshot says lastSeq 0
      await appendLive(2); // 1, 2
      expect(socket.received).toEqual([]);
      snap.release();
      await attaching;
      await appendLive(); // 3
      expect(socket.received).toEqual(['snapshot@0', 1, 2, 3]);
    });

    it('are dropped by seq on attach when the snapshot already counts them', async () => {
      const snap = gateLog('snapshot', 'before');
      const socket = new FakeSocket();
      const attaching = attach(socket.ws);
      await snap.reached;
      await appendLive(2); // 1, 2: held, and the snapshot read next says lastSeq 2
      expect(socket.received).toEqual([]);
      snap.release();
      await attaching;
      await appendLive(); // 3
      expect(socket.received).toEqual(['snapshot@2', 3]);
    });

    it('wait for the replay of an attach with lastSeq, then follow it in order', async () => {
      await append(5);
      const read = gateLog('readAfter', 'after', fillRead);
      const socket = new FakeSocket();
      const attaching = attach(socket.ws, 2);
      await read.reached; // the replay's first page (3..5) is read before the socket opens
      await appendLive(2); // 6, 7: held
      expect(socket.received).toEqual([]);
      read.release();
      await attaching;
      await appendLive(); // 8
      expect(socket.received).toEqual(['snapshot@5', 3, 4, 5, 6, 7, 8]);
    });

    it('wait for the replay of a resume command, deduplicated by seq', async () => {
      await append(5);
      const socket = await attached();
      const read = gateLog('readAfter', 'before', fillRead);
      const resuming = hub.resume(socket.ws, 2, 'r1');
      await read.reached;
      await appendLive(2); // 6, 7: held, and in the log the replay reads
      expect(socket.received).toEqual(['snapshot@5', 'ack/r1']);
      read.release();
      await resuming;
      await appendLive(); // 8
      expect(socket.received).toEqual(['snapshot@5', 'ack/r1', 3, 4, 5, 6, 7, 8]);
    });
  });

  describe('resume', () => {
    it('holds frames published while it reads the snapshot: they follow the ack and the replay, once', async () => {
      await append(5);
      const socket = await attached();
      const snap = gateLog('snapshot', 'after');
      const resuming = hub.resume(socket.ws, 2, 'r1');
      await snap.reached;
      await appendLive(); // 6: next after the socket's 5, but the resume has begun
      expect(socket.received).toEqual(['snapshot@5']);
      snap.release();
      await resuming;
      await appendLive(); // 7
      expect(socket.received).toEqual(['snapshot@5', 'ack/r1', 3, 4, 5, 6, 7]);
    });

    it('after N acks, replays exactly seq > N, then goes live', async () => {
      await append(5);
      const socket = await attached();
      await hub.resume(socket.ws, 2, 'r1');
      await appendLive(); // 6
      expect(socket.received).toEqual(['snapshot@5', 'ack/r1', 3, 4, 5, 6]);
      await hub.resume(socket.ws, 0, 'r2');
      await appendLive(); // 7
      expect(socket.received.slice(6)).toEqual(['ack/r2', 1, 2, 3, 4, 5, 6, 7]);
    });

    it('on attach with lastSeq N, sends the snapshot, then exactly seq > N, then live', async () => {
      await append(5);
      const socket = await attached(3);
      await appendLive(); // 6
      expect(socket.received).toEqual(['snapshot@5', 4, 5, 6]);
    });

    it('answers RESUME_UNAVAILABLE and a snapshot when the history no longer holds N, then goes live', async () => {
      await append(10);
      await redis.xtrim(new SessionKeys(session).log, 'MAXLEN', 3); // only 8, 9, 10 are kept
      const socket = await attached(2);
      await appendLive(); // 11
      expect(socket.received).toEqual(['snapshot@10', 'error:RESUME_UNAVAILABLE', 'snapshot@10', 11]);

      await hub.resume(socket.ws, 7, 'kept'); // 8.. is still there
      await hub.resume(socket.ws, 5, 'gone');
      await hub.resume(socket.ws, 99, 'ahead'); // after the session's last seq: not this session's history
      await appendLive(); // 12
      expect(socket.received.slice(4)).toEqual([
        'ack/kept',
        8,
        9,
        10,
        11,
        'error:RESUME_UNAVAILABLE/gone',
        'snapshot@11',
        'error:RESUME_UNAVAILABLE/ahead',
        'snapshot@11',
        12,
      ]);
    });
  });

  describe('an opening socket (prepared before its upgrade is answered)', () => {
    const subscribedTo = async (): Promise<string[]> =>
      (await redis.call('PUBSUB', 'SHARDCHANNELS', log.channel(session))) as string[];

    it('counts against the limits while pending; abandoned, it leaves no subscription and no count', async () => {
      const prepared = await prepare();
      expect([hub.socketCount, hub.socketsOfUser(session)]).toEqual([1, 1]);
      expect(await subscribedTo()).toEqual([log.channel(session)]);
      hub.abandon(prepared.member);
      expect([hub.socketCount, hub.socketsOfUser(session)]).toEqual([0, 0]);
      // The SUNSUBSCRIBE went out on the hub's subscriber; this PING on it comes back after it.
      await subscriber.ping();
      expect(await subscribedTo()).toEqual([]);
    });

    it('is counted the moment it is reserved: a batch of upgrades cannot pass a limit together', () => {
      const members = [hub.reserve(session), hub.reserve(session)];
      expect(hub.roomFor(session, 100, 2)).toBe('user');
      expect(hub.roomFor(session, 2, 100)).toBe('full');
      hub.abandon(members[0]);
      hub.abandon(members[0]); // once only
      expect(hub.roomFor(session, 2, 2)).toBe('ok');
      hub.abandon(members[1]);
      expect([hub.socketCount, hub.socketsOfUser(session)]).toEqual([0, 0]);
    });

    it('let go of before it opens (its peer left): the socket that opens anyway is closed, counted nowhere', async () => {
      const prepared = await prepare();
      hub.abandon(prepared.member);
      const socket = new FakeSocket();
      hub.accept(prepared, socket.ws);
      expect(socket.closedWith?.code).toBe(1011);
      expect(socket.sent).toEqual([]);
      expect([hub.socketCount, hub.socketsOfUser(session)]).toEqual([0, 0]);
    });

    it('while the gateway shuts down: new ones are refused, one still opening is closed with 1001 as it opens', async () => {
      const prepared = await prepare();
      await hub.closeAll(1001, 'server shutting down', 10);
      expect(hub.roomFor(session, 100, 100)).toBe('closing');
      const socket = new FakeSocket();
      hub.accept(prepared, socket.ws);
      expect(socket.closedWith?.code).toBe(1001);
    });

    it('is closed with 4404 as it opens when its session was deleted meanwhile', async () => {
      const prepared = await prepare();
      const channel = log.channel(session);
      const relayed = new Promise<void>((resolve) =>
        subscriber.on('smessageBuffer', (c: Buffer) => c.toString() === channel && resolve()),
      );
      await log.deleteSession(session);
      await log.announceDeleted(session);
      await relayed; // the hub's listener came first: it has seen the deletion
      const socket = new FakeSocket();
      hub.accept(prepared, socket.ws);
      expect(socket.closedWith?.code).toBe(4404);
    });

    it('reads nothing after the snapshot when the client already has everything', async () => {
      await append(3);
      const reads = jest.spyOn(log, 'readAfter');
      const socket = await attached(3);
      await appendLive(); // 4
      expect(socket.received).toEqual(['snapshot@3', 4]);
      expect(reads).not.toHaveBeenCalled();
    });
  });

  describe('replies', () => {
    it("are sent after an opening socket's fill, not in the middle of it", async () => {
      await append(2);
      const snap = gateLog('snapshot', 'after');
      const socket = new FakeSocket();
      const prepared = prepare();
      await snap.reached; // the snapshot says lastSeq 2
      await subscriber.sunsubscribe(log.channel(session));
      await append(); // 3: missed
      await subscriber.ssubscribe(log.channel(session));
      await appendLive(); // 4: held, after a gap the fill reads from the log
      snap.release();
      hub.accept(await prepared, socket.ws);
      hub.reply(socket.ws, 'pong', {});
      await hub.attached(socket.ws);
      await until('the pong is sent', () => socket.received.includes('pong'));
      expect(socket.received).toEqual(['snapshot@2', 3, 4, 'pong']);
    });

    it("are sent after the socket's replay, not in the middle of it", async () => {
      await append(3);
      const socket = await attached();
      const read = gateLog('readAfter', 'after', fillRead);
      const resuming = hub.resume(socket.ws, 0, 'r1');
      await read.reached;
      hub.reply(socket.ws, 'pong', {});
      read.release();
      await resuming;
      await until('the pong is sent', () => socket.received.includes('pong'));
      expect(socket.received).toEqual(['snapshot@3', 'ack/r1', 1, 2, 3, 'pong']);
    });

    it('go out at once to a live socket', async () => {
      const socket = await attached();
      hub.reply(socket.ws, 'pong', {});
      expect(socket.received).toEqual(['snapshot@0', 'pong']);
    });
  });

  describe('heartbeat, through the hub (fake timers)', () => {
    afterEach(() => {
      hub.stopHeartbeat();
      jest.useRealTimers();
    });

    it("watches an attached socket's pongs and closes it with 4401 at its token's expiry", async () => {
      const answering = new FakeSocket(true);
      const expiresAt = Date.now() + 3_000;
      await attach(answering.ws, undefined, expiresAt);
      const silent = await attached();
      jest.useFakeTimers({ now: Date.now() });
      hub.startHeartbeat(1_000, 500);

      jest.advanceTimersByTime(1_000);
      expect([answering.pings, silent.pings]).toEqual([1, 1]);
      jest.advanceTimersByTime(500);
      expect([answering.terminated, silent.terminated]).toEqual([false, true]);

      hub.refreshExpiry(answering.ws, expiresAt + 5_000);
      jest.advanceTimersByTime(2_000); // past the first expiry
      expect(answering.closedWith).toBeUndefined();
      expect(answering.pings).toBe(3);
      jest.advanceTimersByTime(5_000); // past the refreshed one
      expect(answering.closedWith?.code).toBe(4401);
    });
  });

  describe('leaving', () => {
    it('logs (throttled) a failed unsubscribe when the last socket of a session leaves', async () => {
      const lines: string[] = [];
      setErrorSink((context, message) => lines.push(`[${context}] ${message}`));
      const socket = await attached();
      const ended = once(subscriber, 'end');
      subscriber.disconnect();
      await ended;
      hub.detach(socket.ws);
      await until('the error is logged', () => lines.length > 0);
      expect(lines).toEqual(['[SessionHub] unsubscribing from a session channel: Connection is closed.']);
    });
  });
});
