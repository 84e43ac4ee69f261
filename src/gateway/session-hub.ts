import type Redis from 'ioredis';
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { EventLog, SessionSnapshot } from '../events/event-log';
import type { ClientErrorCode, ReplyEventMap, ReplyEventName } from '../contract';
import { replyFrame, seqOfFrame } from '../events/frames';
import type { GatewayMetrics } from '../ops/gateway-metrics';
import { userKeyOf } from '../store/redis-keys';

/** One socket's place in its session's stream. */
interface Connection {
  ws: WebSocket;
  sessionKey: string;
  /** Highest seq this socket has been sent. */
  lastSeq: number;
  /** Non-null while the socket is being filled from the log: live frames wait here. */
  held: { seq: number; frame: Buffer }[] | null;
  /** Held frames were dropped (too many): the fill reads the log once more for them. */
  heldDropped: boolean;
  /** Serialises fills of this socket. */
  work: Promise<void>;
  /** Heartbeat: when the last ping went out, and whether its pong is still owed. */
  pingSentAt: number;
  awaitingPong: boolean;
  /** When the socket's token expires (ms); it is closed with 4401 then unless refreshed. */
  expiresAt?: number;
}

/**
 * A session with sockets on this gateway, kept under its channel's name (what pub/sub hands
 * back). One record for what were four maps: an idle socket's memory is mostly bookkeeping.
 */
interface SessionEntry {
  /** Its sockets, usually one. Replaced rather than changed, so a delivery loop never sees it move. */
  conns: readonly Connection[];
  /** Settles once this gateway is subscribed to the session's channel. */
  subscribed: Promise<unknown>;
}

/** Shared by every settled subscription and idle socket, instead of one promise each. */
const SETTLED: Promise<void> = Promise.resolve();

const NEWLINE = 10;
const TEXT_FRAME = { binary: false };
const READ_BATCH = 500;
/** Live frames held for one socket while it is filled; past this the log is read again instead. */
const HELD_MAX = 2000;
/** A socket being filled waits this long at most for its buffer to drain. */
const DRAIN_TIMEOUT_MS = 30_000;

/**
 * Relays a session's events to its sockets. Live frames come from Redis pub/sub as the
 * exact bytes to send; the stored log fills any gap (a resume, a dropped subscriber, a
 * frame out of order), so every socket sees every seq once, in order.
 */
export class SessionHub {
  private readonly connections = new Map<WebSocket, Connection>();
  /** Sessions with sockets here, by channel. */
  private readonly sessions = new Map<string, SessionEntry>();
  private heartbeat?: NodeJS.Timeout;
  private heartbeatIntervalMs = 0;
  private readonly userSockets = new Map<string, number>();
  private readonly attaching = new WeakMap<WebSocket, Promise<void>>();
  private readonly corked = new Set<Socket>();

  constructor(
    private readonly log: EventLog,
    private readonly subscriber: Redis,
    private readonly metrics: GatewayMetrics,
    private readonly maxBufferedBytes: number,
  ) {
    subscriber.on('messageBuffer', (channel: Buffer, payload: Buffer) => this.onPublished(channel, payload));
    // After a reconnect ioredis resubscribes by itself, but frames published meanwhile are
    // gone from pub/sub: fill every socket from the log.
    subscriber.on('ready', () => {
      for (const conn of this.connections.values()) void this.schedule(conn, () => this.fill(conn));
    });
  }

  /** One listener for every socket (`this` is the socket): no closure per connection. */
  private readonly onPong = ((hub: SessionHub) =>
    function (this: WebSocket): void {
      const conn = hub.connections.get(this);
      if (conn) conn.awaitingPong = false;
    })(this);

  /**
   * One shared timer pings every socket each `intervalMs` and terminates one whose pong is
   * `timeoutMs` late (a half-open TCP connection would otherwise hold its slot forever).
   */
  startHeartbeat(intervalMs: number, timeoutMs: number): void {
    // The same sweep closes sockets whose token has expired. It runs at least four times a second, so
    // that with first pings spread (see attach) each sweep pings a small share of the sockets.
    const tick = Math.max(50, Math.min(250, Math.floor(Math.min(intervalMs, timeoutMs) / 2)));
    this.heartbeatIntervalMs = intervalMs;
    this.heartbeat = setInterval(() => {
      const now = Date.now();
      for (const conn of this.connections.values()) {
        if (conn.expiresAt !== undefined && now >= conn.expiresAt) {
          conn.expiresAt = undefined;
          conn.ws.close(4401, 'token expired: reconnect with a fresh token');
        } else if (conn.awaitingPong) {
          if (now - conn.pingSentAt >= timeoutMs) conn.ws.terminate();
        } else if (now - conn.pingSentAt >= intervalMs && conn.ws.readyState === WebSocket.OPEN) {
          conn.awaitingPong = true;
          conn.pingSentAt = now;
          try {
            conn.ws.ping();
          } catch {
            conn.ws.terminate();
          }
        }
      }
    }, tick);
    this.heartbeat.unref();
  }

  stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
  }

  /** `auth.refresh`: a fresh token for the same user moves the socket's expiry. */
  refreshExpiry(ws: WebSocket, expiresAt: number | undefined): void {
    const conn = this.connections.get(ws);
    if (conn) conn.expiresAt = expiresAt;
  }

  /** Sockets this gateway holds for the user of `sessionKey`. */
  socketsOfUser(sessionKey: string): number {
    return this.userSockets.get(userKeyOf(sessionKey)) ?? 0;
  }

  get socketCount(): number {
    return this.connections.size;
  }

  /** Registers a socket: snapshot first, then history after `resumeAfter` if asked, then live. */
  async attach(ws: WebSocket, sessionKey: string, resumeAfter?: number, expiresAt?: number): Promise<void> {
    const conn: Connection = {
      ws,
      sessionKey,
      lastSeq: 0,
      held: [],
      heldDropped: false,
      work: SETTLED,
      // The first ping comes at a random point of the first interval: sockets that connected
      // together (clients coming back after a restart) are then not all pinged in one sweep,
      // which would hold up every session's events while it ran.
      pingSentAt: Date.now() - Math.floor(Math.random() * this.heartbeatIntervalMs),
      awaitingPong: false,
      expiresAt,
    };
    const user = userKeyOf(sessionKey);
    this.userSockets.set(user, (this.userSockets.get(user) ?? 0) + 1);
    ws.on('pong', this.onPong);
    this.connections.set(ws, conn);
    const session = this.joinSession(conn);
    this.metrics.socketsConnected.inc();
    const setup = this.schedule(conn, async () => {
      await session.subscribed;
      const snap = await this.log.snapshot(sessionKey);
      this.replyNow(ws, 'session.snapshot', snapshotData(snap));
      if (resumeAfter === undefined) {
        conn.lastSeq = snap.lastSeq;
        this.drainHeld(conn);
      } else {
        await this.resumeFrom(conn, resumeAfter, snap);
      }
    });
    this.attaching.set(ws, setup);
    await setup;
    this.attaching.delete(ws);
  }

  /**
   * Resolves once the socket has its snapshot. Commands wait for it, so the events a
   * command causes always reach the socket that sent it.
   */
  attached(ws: WebSocket): Promise<void> {
    return this.attaching.get(ws) ?? SETTLED;
  }

  detach(ws: WebSocket): void {
    const conn = this.connections.get(ws);
    if (!conn) return;
    this.connections.delete(ws);
    this.metrics.socketsConnected.dec();
    const user = userKeyOf(conn.sessionKey);
    const left = (this.userSockets.get(user) ?? 1) - 1;
    if (left > 0) this.userSockets.set(user, left);
    else this.userSockets.delete(user);
    const channel = this.log.channel(conn.sessionKey);
    const session = this.sessions.get(channel);
    if (!session) return;
    session.conns = session.conns.filter((c) => c !== conn);
    if (session.conns.length === 0) {
      this.sessions.delete(channel);
      this.subscriber.unsubscribe(channel).catch(() => undefined);
    }
  }

  sessionKeyOf(ws: WebSocket): string | undefined {
    return this.connections.get(ws)?.sessionKey;
  }

  /** The `resume` command: ack, replay after `afterSeq`, then live; or RESUME_UNAVAILABLE. */
  async resume(ws: WebSocket, afterSeq: number, replyTo?: string): Promise<void> {
    const conn = this.connections.get(ws);
    if (!conn) return;
    await this.schedule(conn, async () => {
      conn.held ??= [];
      const snap = await this.log.snapshot(conn.sessionKey);
      await this.resumeFrom(conn, afterSeq, snap, { replyTo });
    });
  }

  /** Sends a reply after whatever this socket is being sent now (its snapshot, a replay). */
  reply<E extends ReplyEventName>(ws: WebSocket, event: E, data: ReplyEventMap[E]): void {
    const conn = this.connections.get(ws);
    const frame = replyFrame(event, data);
    if (conn?.held) void this.schedule(conn, () => Promise.resolve(void this.send(ws, frame)));
    else this.send(ws, frame);
  }

  error(ws: WebSocket, code: ClientErrorCode, message: string, replyTo?: string): void {
    this.metrics.framesRejected.inc({ code });
    this.reply(ws, 'error', errorData(code, message, replyTo));
  }

  private replyNow<E extends ReplyEventName>(ws: WebSocket, event: E, data: ReplyEventMap[E]): void {
    this.send(ws, replyFrame(event, data));
  }

  /**
   * Closes every socket (graceful shutdown: 1001, going away) and waits, at most
   * `waitMs`, for the close handshakes, so clients see the code before the server stops.
   */
  async closeAll(code: number, reason: string, waitMs = 2000): Promise<void> {
    const closing = [...this.connections.keys()].map((ws) => {
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      try {
        ws.close(code, reason);
      } catch {
        ws.terminate();
      }
      return closed;
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(closing), new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
  }

  /**
   * Replays after `afterSeq` when the log still holds everything after it; otherwise
   * RESUME_UNAVAILABLE and a snapshot. A `resume` command is acked once the replay is sure.
   */
  private async resumeFrom(
    conn: Connection,
    afterSeq: number,
    snap: SessionSnapshot,
    command?: { replyTo?: string },
  ): Promise<void> {
    const available = afterSeq <= snap.lastSeq && (await this.log.readAfter(conn.sessionKey, afterSeq, 1)).complete;
    if (!available) {
      this.unavailable(conn, snap, `events after seq ${afterSeq} are not kept for this session`, command?.replyTo);
    } else {
      if (command) this.replyNow(conn.ws, 'ack', command.replyTo !== undefined ? { replyTo: command.replyTo } : {});
      conn.lastSeq = afterSeq;
    }
    await this.fill(conn);
  }

  private unavailable(conn: Connection, snap: SessionSnapshot, message: string, replyTo?: string): void {
    this.replyNow(conn.ws, 'error', errorData('RESUME_UNAVAILABLE', message, replyTo));
    this.replyNow(conn.ws, 'session.snapshot', snapshotData(snap));
    conn.lastSeq = snap.lastSeq;
  }

  /** Sends stored frames after the socket's lastSeq, then what was held meanwhile. */
  private async fill(conn: Connection): Promise<void> {
    conn.held ??= [];
    for (let round = 0; round < 100; round++) {
      for (let reads = 0; reads < 10_000; reads++) {
        conn.heldDropped = false;
        const { frames, complete } = await this.log.readAfter(conn.sessionKey, conn.lastSeq, READ_BATCH);
        if (!complete) {
          const snap = await this.log.snapshot(conn.sessionKey);
          this.unavailable(conn, snap, `events after seq ${conn.lastSeq} are no longer kept`);
          continue;
        }
        for (const frame of frames) {
          // A replay waits for the client to read, rather than cut off a client that is
          // merely catching up (1013 is for one that does not drain at all).
          if (this.overBufferLimit(conn.ws, this.maxBufferedBytes / 2) && !(await this.drained(conn.ws))) return;
          this.sendSeq(conn, frame, seqOfFrame(frame));
        }
        if (frames.length < READ_BATCH && !conn.heldDropped) break;
      }
      if (this.drainHeld(conn)) return;
    }
  }

  /** Resolves true once the socket's unsent bytes are low again; closes it (1013) if they never are. */
  private async drained(ws: WebSocket): Promise<boolean> {
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    while (ws.readyState === WebSocket.OPEN && ws.bufferedAmount > this.maxBufferedBytes / 4) {
      if (Date.now() > deadline) {
        ws.close(1013, 'slow consumer: reconnect with lastSeq');
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return ws.readyState === WebSocket.OPEN;
  }

  /** Sends held frames in order; returns false (still holding) when a gap remains. */
  private drainHeld(conn: Connection): boolean {
    const held = (conn.held ?? []).sort((a, b) => a.seq - b.seq);
    conn.held = null;
    for (let i = 0; i < held.length; i++) {
      const { seq, frame } = held[i];
      if (seq <= conn.lastSeq) continue;
      if (seq !== conn.lastSeq + 1) {
        conn.held = held.slice(i);
        return false;
      }
      this.sendSeq(conn, frame, seq);
    }
    return true;
  }

  private onPublished(channel: Buffer, payload: Buffer): void {
    const session = this.sessions.get(channel.toString());
    if (!session) return;
    const { conns } = session;
    let start = 0;
    while (start < payload.length) {
      let end = payload.indexOf(NEWLINE, start);
      if (end < 0) end = payload.length;
      const frame = payload.subarray(start, end);
      const seq = seqOfFrame(frame);
      for (const conn of conns) this.deliver(conn, frame, seq);
      start = end + 1;
    }
  }

  private deliver(conn: Connection, frame: Buffer, seq: number): void {
    if (conn.held) {
      if (conn.held.length >= HELD_MAX) {
        // Every frame is in the log too: drop what is held, and let the fill read it from there.
        conn.held.length = 0;
        conn.heldDropped = true;
      }
      conn.held.push({ seq, frame });
    } else if (seq === conn.lastSeq + 1) {
      this.sendSeq(conn, frame, seq);
    } else if (seq > conn.lastSeq) {
      // A gap: something published was missed. Hold live frames and fill from the log.
      conn.held = [{ seq, frame }];
      void this.schedule(conn, () => this.fill(conn));
    }
  }

  private sendSeq(conn: Connection, frame: Buffer | string, seq: number): void {
    if (seq <= conn.lastSeq) return;
    conn.lastSeq = seq;
    if (this.send(conn.ws, frame)) this.metrics.relayedCount++;
  }

  /** Never throws: a closing socket just misses the frame (it resumes by seq). */
  private send(ws: WebSocket, frame: Buffer | string): boolean {
    if (ws.readyState !== WebSocket.OPEN) return false;
    if (this.overBufferLimit(ws, this.maxBufferedBytes)) {
      // A slow consumer is cut off rather than grow this process's memory; it resumes by seq.
      ws.close(1013, 'slow consumer: reconnect with lastSeq');
      return false;
    }
    this.cork(ws);
    try {
      ws.send(frame, TEXT_FRAME);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Frames sent to one socket in the same tick (a batch of published events, a replay)
   * leave in one write: the socket is corked at its first send and uncorked on the next
   * tick. One syscall per frame was most of the relay's CPU.
   */
  private cork(ws: WebSocket): void {
    const socket = (ws as unknown as { _socket?: Socket })._socket;
    if (!socket || this.corked.has(socket)) return;
    socket.cork();
    this.corked.add(socket);
    if (this.corked.size === 1) process.nextTick(this.uncorkAll);
  }

  /**
   * Whether the peer has left more than `limit` bytes untaken. Corked bytes count in
   * bufferedAmount but are ours, so only a figure over the limit is checked again after a
   * flush: flushing at every send would undo the corking.
   */
  private overBufferLimit(ws: WebSocket, limit: number): boolean {
    if (ws.bufferedAmount <= limit) return false;
    const socket = (ws as unknown as { _socket?: Socket })._socket;
    if (socket && this.corked.delete(socket)) socket.uncork();
    return ws.bufferedAmount > limit;
  }

  private readonly uncorkAll = (): void => {
    for (const socket of this.corked) socket.uncork();
    this.corked.clear();
  };

  private schedule(conn: Connection, task: () => Promise<void>): Promise<void> {
    const next = conn.work.then(task).catch((err: unknown) => {
      this.replyNow(conn.ws, 'error', errorData('INTERNAL', `could not read the session's events: ${String(err)}`));
    });
    conn.work = next;
    // An idle socket keeps the shared settled promise, not its last task's.
    void next.then(() => {
      if (conn.work === next) conn.work = SETTLED;
    });
    return next;
  }

  /** Adds the socket to its session's record, subscribing to the channel for the first one. */
  private joinSession(conn: Connection): SessionEntry {
    const channel = this.log.channel(conn.sessionKey);
    const existing = this.sessions.get(channel);
    if (existing) {
      existing.conns = [...existing.conns, conn];
      return existing;
    }
    const session: SessionEntry = { conns: [conn], subscribed: SETTLED };
    const subscribing = this.subscriber.subscribe(channel).then(() => {
      if (session.subscribed === subscribing) session.subscribed = SETTLED;
    });
    session.subscribed = subscribing;
    this.sessions.set(channel, session);
    return session;
  }
}

function errorData(code: ClientErrorCode, message: string, replyTo?: string): ReplyEventMap['error'] {
  return { code, message, ...(replyTo !== undefined ? { replyTo } : {}) };
}

function snapshotData(snap: SessionSnapshot): ReplyEventMap['session.snapshot'] {
  return {
    state: snap.state,
    lastSeq: snap.lastSeq,
    ...(snap.runId ? { runId: snap.runId } : {}),
    ...(snap.report ? { report: snap.report } : {}),
  };
}
