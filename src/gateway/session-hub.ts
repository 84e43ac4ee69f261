import type { RedisClient } from '../store/redis-connection';
import type { WebSocket } from 'ws';
import { ThrottledErrorLog } from '../common/error-log';
import type { EventLog, ReadResult, SessionSnapshot } from '../events/event-log';
import { SESSION_DELETED_CLOSE, type ClientErrorCode, type ReplyEventMap, type ReplyEventName } from '../contract';
import { replyFrame, seqOfFrame } from '../events/frames';
import type { GatewayMetrics } from '../ops/gateway-metrics';
import { userKeyOf } from '../store/redis-keys';
import { Heartbeat, type HeartbeatState } from './heartbeat';
import { SocketWriter } from './socket-writer';

interface HeldFrame {
  seq: number;
  frame: Buffer;
}

/** One socket's place in its session's stream (and its heartbeat's state: no second record). */
interface Connection extends HeartbeatState {
  sessionKey: string;
  /** Highest seq this socket has been sent. */
  lastSeq: number;
  /** Non-null while the socket is being filled from the log: live frames wait here. */
  held: HeldFrame[] | null;
  /** Held frames were dropped (too many): the fill reads the log once more for them. */
  heldDropped: boolean;
  /** Serialises fills of this socket. */
  work: Promise<void>;
}

/**
 * A socket whose upgrade waits for its session's snapshot: it is a member of the session
 * (subscribed, live frames held for it) before it exists, so nothing published between the
 * subscribe and the snapshot read is lost.
 */
export interface PendingSocket {
  readonly pending: true;
  readonly sessionKey: string;
  held: HeldFrame[];
  /** Held frames were dropped, or the subscriber reconnected: the log is read once more on accept. */
  heldDropped: boolean;
  /** The session was deleted meanwhile: the socket is closed as soon as it opens. */
  deleted: boolean;
}

type Member = Connection | PendingSocket;

/** What the upgrade of a socket read before its 101: sent in the same write as the 101 (see accept). */
export interface PreparedSocket {
  readonly member: PendingSocket;
  readonly snap: SessionSnapshot;
  readonly resumeAfter?: number;
  /** With resumeAfter below the snapshot's lastSeq: the first page of what follows it. */
  readonly page?: ReadResult;
}

/**
 * A session with sockets on this gateway, kept under its channel's name (what pub/sub hands
 * back). One record for what were four maps: an idle socket's memory is mostly bookkeeping.
 */
interface SessionEntry {
  /** Its sockets, usually one. Replaced rather than changed, so a delivery loop never sees it move. */
  conns: readonly Member[];
  /** Settles once this gateway is subscribed to the session's channel. */
  subscribed: Promise<unknown>;
}

/** Shared by every settled subscription and idle socket, instead of one promise each. */
const SETTLED: Promise<void> = Promise.resolve();

const NEWLINE = 10;
const READ_BATCH = 500;
/** Live frames held for one socket while it is filled; past this the log is read again instead. */
const HELD_MAX = 2000;

/**
 * Relays a session's events to its sockets. Live frames come from Redis pub/sub as the
 * exact bytes to send; the stored log fills any gap (a resume, a dropped subscriber, a
 * frame out of order), so every socket sees every seq once, in order. The writing itself
 * (corking, the buffer limit) is SocketWriter's; pings and token expiry are Heartbeat's.
 */
export class SessionHub {
  /** Every socket here, by socket. The heartbeat sweeps this same map. */
  private readonly connections = new Map<WebSocket, Connection>();
  /** Sessions with sockets here, by channel. */
  private readonly sessions = new Map<string, SessionEntry>();
  private readonly heartbeat = new Heartbeat(this.connections);
  private readonly writer: SocketWriter;
  private readonly userSockets = new Map<string, number>();
  /** Sockets whose upgrade waits for their snapshot (counted against the limits already). */
  private readonly pending = new Set<PendingSocket>();
  /** Set by closeAll (shutdown): no socket opens any more. */
  private closing = false;
  private readonly attaching = new WeakMap<WebSocket, Promise<void>>();
  private readonly unsubscribeErrors = new ThrottledErrorLog('SessionHub', 'unsubscribing from a session channel');

  constructor(
    private readonly log: EventLog,
    private readonly subscriber: RedisClient,
    private readonly metrics: GatewayMetrics,
    maxBufferedBytes: number,
  ) {
    this.writer = new SocketWriter(maxBufferedBytes);
    subscriber.on('smessageBuffer', (channel: Buffer, payload: Buffer) => this.onPublished(channel, payload));
    // After a reconnect ioredis resubscribes by itself, but frames published meanwhile are
    // gone from pub/sub: fill every socket from the log. On a cluster, the sharded subscribers
    // are set up again (a master failed over, slots moved) and say so with `subscribersReady`.
    const fillAll = (): void => {
      for (const conn of this.connections.values()) void this.schedule(conn, () => this.fill(conn));
      for (const member of this.pending) member.heldDropped = true;
    };
    subscriber.on('ready', fillAll);
    subscriber.on('subscribersReady', fillAll);
  }

  /**
   * Pings every socket each `intervalMs` and terminates one whose pong is `timeoutMs` late;
   * closes a socket whose token has expired with 4401 (see Heartbeat).
   */
  startHeartbeat(intervalMs: number, timeoutMs: number): void {
    this.heartbeat.start(intervalMs, timeoutMs);
  }

  stopHeartbeat(): void {
    this.heartbeat.stop();
  }

  /** `auth.refresh`: a fresh token for the same user moves the socket's expiry. */
  refreshExpiry(ws: WebSocket, expiresAt: number | undefined): void {
    this.heartbeat.refreshExpiry(ws, expiresAt);
  }

  /** Sockets this gateway holds for the user of `sessionKey`. */
  socketsOfUser(sessionKey: string): number {
    return this.userSockets.get(userKeyOf(sessionKey)) ?? 0;
  }

  /** Open sockets and sockets whose upgrade is being answered. */
  get socketCount(): number {
    return this.connections.size + this.pending.size;
  }

  /**
   * The first half of opening a socket, before its upgrade is answered, taken at once: the
   * socket counts against the limits (`roomFor` was checked in the same turn) and joins its
   * session (subscribing for the first socket), so live frames are held for it from now on.
   */
  reserve(sessionKey: string): PendingSocket {
    const member: PendingSocket = { pending: true, sessionKey, held: [], heldDropped: false, deleted: false };
    this.pending.add(member);
    this.countUser(sessionKey, 1);
    this.joinSession(member);
    return member;
  }

  /**
   * Then its reads: once subscribed, the snapshot and, with `resumeAfter`, the first page
   * after it. While Redis is away this waits (commands wait for a reconnect); a failed read
   * throws. Either way, a socket that will not open is let go with `abandon`.
   */
  async prepare(member: PendingSocket, resumeAfter?: number): Promise<PreparedSocket> {
    const { sessionKey } = member;
    await this.sessions.get(this.log.channel(sessionKey))?.subscribed;
    const snap = await this.log.snapshot(sessionKey);
    // A client that has everything (the usual reconnect of an idle session) needs no read.
    const page =
      resumeAfter !== undefined && resumeAfter < snap.lastSeq
        ? await this.log.readAfter(sessionKey, resumeAfter, READ_BATCH)
        : undefined;
    return { member, snap, resumeAfter, page };
  }

  /** Whether one more socket of this user fits (counting the ones still being opened), and why not. */
  roomFor(sessionKey: string, maxSockets: number, maxSocketsPerUser: number): 'ok' | 'closing' | 'full' | 'user' {
    if (this.closing) return 'closing';
    if (this.socketCount >= maxSockets) return 'full';
    return this.socketsOfUser(sessionKey) >= maxSocketsPerUser ? 'user' : 'ok';
  }

  /** A socket that will not open (its peer left, the read failed, the handshake was bad): let go of it. Idempotent. */
  abandon(member: PendingSocket): void {
    if (!this.pending.delete(member)) return;
    this.countUser(member.sessionKey, -1);
    this.leaveSession(member);
  }

  /**
   * The second half, in the upgrade's callback: the socket takes its pending place, and its
   * snapshot (and the replay's first page) is sent at once, so that it leaves in the same
   * write as the 101. Then live frames; a gap, or a replay longer than a page, is filled
   * from the log, and commands wait for that (see attached).
   */
  accept(prepared: PreparedSocket, ws: WebSocket, expiresAt?: number): void {
    const { member, snap, resumeAfter, page } = prepared;
    if (!this.pending.delete(member)) {
      // Let go of meanwhile (its peer's connection closed first): nothing is set up for it.
      ws.close(1011, 'the socket was let go while it opened');
      return;
    }
    const conn: Connection = {
      ws,
      sessionKey: member.sessionKey,
      lastSeq: snap.lastSeq,
      held: member.held,
      heldDropped: member.heldDropped,
      work: SETTLED,
      pingSentAt: this.heartbeat.firstPingSentAt(),
      awaitingPong: false,
      expiresAt,
    };
    const session = this.sessions.get(this.log.channel(member.sessionKey));
    if (session) session.conns = session.conns.map((m) => (m === member ? conn : m));
    this.heartbeat.watch(ws);
    this.connections.set(ws, conn);
    this.metrics.socketsConnected.inc();
    if (member.deleted) {
      ws.close(SESSION_DELETED_CLOSE, 'session deleted');
      return;
    }
    if (this.closing) {
      ws.close(1001, 'server shutting down');
      return;
    }
    this.replyNow(ws, 'session.snapshot', snapshotData(snap));
    // Held frames were dropped (or the subscriber came back) while it opened: the log is read again.
    let more = conn.heldDropped;
    if (resumeAfter !== undefined) {
      if (resumeAfter > snap.lastSeq || (page && !page.complete)) {
        this.unavailable(conn, snap, `events after seq ${resumeAfter} are not kept for this session`);
      } else {
        conn.lastSeq = resumeAfter;
        // The page, unless the log is to be read again anyway; a full page (or a socket to wait for) leaves the rest to the fill.
        if (!more && !this.sendPage(conn, page?.frames ?? [])) more = true;
      }
    }
    // A gap among the held frames (more arrived meanwhile than are held): the log fills it.
    if (more || !this.drainHeld(conn)) {
      const filled = this.schedule(conn, () => this.fill(conn));
      this.attaching.set(ws, filled);
      void filled.then(() => this.attaching.delete(ws));
    }
  }

  /** Sends a replay page; false when the rest must come from a fill (a full page, a socket to wait for). */
  private sendPage(conn: Connection, frames: string[]): boolean {
    for (const frame of frames) {
      if (this.writer.replayShouldWait(conn.ws)) return false;
      this.sendSeq(conn, frame, seqOfFrame(frame));
    }
    return frames.length < READ_BATCH;
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
    this.countUser(conn.sessionKey, -1);
    this.leaveSession(conn);
  }

  private countUser(sessionKey: string, by: 1 | -1): void {
    const user = userKeyOf(sessionKey);
    const count = (this.userSockets.get(user) ?? 0) + by;
    if (count > 0) this.userSockets.set(user, count);
    else this.userSockets.delete(user);
  }

  /** Takes a socket out of its session's record, unsubscribing with the last one. */
  private leaveSession(member: Member): void {
    const channel = this.log.channel(member.sessionKey);
    const session = this.sessions.get(channel);
    if (!session) return;
    session.conns = session.conns.filter((c) => c !== member);
    if (session.conns.length === 0) {
      this.sessions.delete(channel);
      // A failed unsubscribe leaves this gateway listening to a channel it no longer relays
      // (onPublished drops its frames): harmless, but a sign of trouble with Redis, so it is logged.
      this.subscriber.sunsubscribe(channel).catch(this.unsubscribeErrors.report);
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
    if (conn?.held) void this.schedule(conn, () => Promise.resolve(void this.writer.send(ws, frame)));
    else this.writer.send(ws, frame);
  }

  error(ws: WebSocket, code: ClientErrorCode, message: string, replyTo?: string): void {
    this.metrics.framesRejected.inc({ code });
    this.reply(ws, 'error', errorData(code, message, replyTo));
  }

  private replyNow<E extends ReplyEventName>(ws: WebSocket, event: E, data: ReplyEventMap[E]): void {
    this.writer.send(ws, replyFrame(event, data));
  }

  /**
   * Closes every socket (graceful shutdown: 1001, going away) and waits, at most
   * `waitMs`, for the close handshakes, so clients see the code before the server stops.
   */
  async closeAll(code: number, reason: string, waitMs = 2000): Promise<void> {
    // Sockets still being opened are closed as they open; new upgrades are refused (roomFor).
    this.closing = true;
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
          if (this.writer.replayShouldWait(conn.ws) && !(await this.writer.drained(conn.ws))) return;
          this.sendSeq(conn, frame, seqOfFrame(frame));
        }
        if (frames.length < READ_BATCH && !conn.heldDropped) break;
      }
      if (this.drainHeld(conn)) return;
    }
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
    // The session was deleted (DELETE /sessions/{id}): its sockets are closed, saying so.
    if (payload[0] === 0) {
      for (const m of conns) {
        if (isPending(m)) m.deleted = true;
        else m.ws.close(SESSION_DELETED_CLOSE, 'session deleted');
      }
      return;
    }
    let start = 0;
    while (start < payload.length) {
      let end = payload.indexOf(NEWLINE, start);
      if (end < 0) end = payload.length;
      const frame = payload.subarray(start, end);
      const seq = seqOfFrame(frame);
      // A notice (seq 0: not a durable frame) has no place in the history: sent as it comes
      // (a socket not open yet misses it, as one that is away does).
      if (seq === 0) {
        for (const m of conns) if (!isPending(m)) this.writer.send(m.ws, frame);
      } else {
        for (const m of conns) {
          if (isPending(m)) hold(m.held, m, frame, seq);
          else this.deliver(m, frame, seq);
        }
      }
      start = end + 1;
    }
  }

  private deliver(conn: Connection, frame: Buffer, seq: number): void {
    if (conn.held) {
      hold(conn.held, conn, frame, seq);
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
    if (this.writer.send(conn.ws, frame)) this.metrics.relayedCount++;
  }

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
  private joinSession(member: Member): SessionEntry {
    const channel = this.log.channel(member.sessionKey);
    const existing = this.sessions.get(channel);
    if (existing) {
      existing.conns = [...existing.conns, member];
      return existing;
    }
    const session: SessionEntry = { conns: [member], subscribed: SETTLED };
    const subscribing = this.subscriber.ssubscribe(channel).then(() => {
      if (session.subscribed === subscribing) session.subscribed = SETTLED;
    });
    session.subscribed = subscribing;
    this.sessions.set(channel, session);
    return session;
  }
}

function isPending(member: Member): member is PendingSocket {
  return 'pending' in member;
}

/** Keeps a live frame for a socket being set up or filled. */
function hold(held: HeldFrame[], of: { heldDropped: boolean }, frame: Buffer, seq: number): void {
  if (held.length >= HELD_MAX) {
    // Every frame is in the log too: drop what is held, and let the fill read it from there.
    held.length = 0;
    of.heldDropped = true;
  }
  held.push({ seq, frame });
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
    ...(snap.pendingInput ? { pendingInput: snap.pendingInput } : {}),
  };
}
