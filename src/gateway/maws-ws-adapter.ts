import type { INestApplicationContext } from '@nestjs/common';
import { Logger } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { TokenService } from '../auth/token-service';
import { ClientError } from '../common/client-error';
import { ThrottledErrorLog } from '../common/error-log';
import { redact } from '../common/redact';
import { ConnectionContext, UpgradeDecision, UpgradeRefusal, authorizeUpgrade, originAllowed } from './upgrade-auth';
import type { ClientCommand, ClientCommandName } from '../contract';
import { isClientEvent, parseEnvelope, validateCommand } from './client-frames';
import type { PreparedSocket, SessionHub } from './session-hub';
import { StartAdmission } from './start-admission';
import { UpgradeBatches } from './upgrade-batches';

/** Carries out a validated client frame (the gateway). */
export interface ClientCommands {
  handle(ws: WebSocket, command: ClientCommand): Promise<void>;
}

export interface MawsWsOptions {
  commands: ClientCommands;
  tokens: TokenService;
  hub: SessionHub;
  maxFrameBytes: number;
  maxInputChars: number;
  /** Allowed browser origins; undefined = the gateway's own origin only. */
  allowedOrigins?: string[];
  maxSockets: number;
  maxSocketsPerUser: number;
  messagesPerSecond: number;
  messageBurst: number;
  floodCloseAfter: number;
}

const HTTP_REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

/** A token bucket per connection: frames beyond the rate are answered RATE_LIMITED. */
interface RateState {
  tokens: number;
  at: number;
  /** Rate-limited frames in the current flood window; past the limit the socket is closed (1008). */
  strikes: number;
  windowStart: number;
}

/** Refused frames are counted over this window, so a steady flood is closed, not only a burst. */
const FLOOD_WINDOW_MS = 10_000;

/**
 * A client's socket error (a reset, a bad frame that ws closes with 1002/1009) ends that
 * socket, which the client sees; it is nothing for the operator, so it is not logged.
 * Module-level, so no closure over the upgrade request outlives the upgrade.
 */
const ignore = (): void => undefined;

/**
 * Upgrades are taken in batches (see UpgradeBatches): a burst gathers for this long, so that
 * its Redis commands leave together, and goes on this many per event-loop turn, so that a
 * reconnect storm is taken in slices with the sockets already open served in between.
 */
const UPGRADE_GATHER_MS = 1;
const UPGRADES_PER_TURN = 32;

/** Run starts carried out at once per gateway; more wait their turn (see StartAdmission). */
const START_CONCURRENCY = 16;
const RUN_STARTS = new Set<ClientCommandName>(['message', 'task.start', 'task.refine']);

const NO_ROOM_MESSAGE = { message: 'this gateway is full; try again or another gateway' };

/** Why a socket does not fit (SessionHub.roomFor), as the upgrade's answer. */
const NO_ROOM: Record<'closing' | 'full' | 'user', [UpgradeRefusal['status'], string]> = {
  closing: [503, 'this gateway is shutting down; try another gateway'],
  full: [503, NO_ROOM_MESSAGE.message],
  user: [429, 'too many open sockets for this user'],
};

/** An upgrade refused before any socket exists: an HTTP answer, and the connection closed. */
function refuse(socket: Duplex, status: UpgradeRefusal['status'], message: string): void {
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${HTTP_REASONS[status]}\r\n` +
      'Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** The socket's connection context, attached at upgrade time. */
export const contextOf = new WeakMap<WebSocket, ConnectionContext>();

/**
 * Nest's ws adapter, with the contract's upgrade (auth before any socket exists, a
 * session id in the path) and frame handling (every bad frame answered with a code).
 */
export class MawsWsAdapter extends WsAdapter {
  private readonly log = new Logger('WebSocket');
  private readonly rates = new WeakMap<WebSocket, RateState>();
  private readonly starts = new StartAdmission(START_CONCURRENCY);
  private readonly upgrades = new UpgradeBatches(UPGRADE_GATHER_MS, UPGRADES_PER_TURN);
  private readonly readErrors = new ThrottledErrorLog('WebSocket', "reading a session's snapshot for an upgrade");

  constructor(
    app: INestApplicationContext,
    private readonly options: MawsWsOptions,
  ) {
    super(app);
  }

  override create(port: number, options: Record<string, unknown> = {}): WebSocketServer {
    const httpServer = this.httpServer as HttpServer;
    if (port !== 0 || !httpServer) throw new Error('MAWS serves WebSockets on the HTTP server port only');
    void options;
    const wss = new WebSocketServer({ noServer: true, maxPayload: this.options.maxFrameBytes });
    wss.on('error', (err) => this.log.error(err.message));
    httpServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      void this.upgrade(wss, req, socket, head);
    });
    return wss;
  }

  /**
   * Answers an upgrade: refused with an HTTP status, or subscribed and read first (see
   * SessionHub.reserve and prepare), then accepted with the 101 and the session's snapshot in
   * one write. The socket's whole life is handled here: Nest's per-connection observables are
   * not needed for one shared message listener and one close listener.
   */
  private async upgrade(wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    await this.upgrades.next();
    const decision = await this.decide(req);
    if (!decision.ok) return refuse(socket, decision.status, decision.message);
    const { context } = decision;
    const { hub } = this.options;
    // Checked and counted in the same turn, so a batch of upgrades cannot pass a limit together.
    const room = hub.roomFor(context.sessionKey, this.options.maxSockets, this.options.maxSocketsPerUser);
    if (room !== 'ok') return refuse(socket, ...NO_ROOM[room]);
    const member = hub.reserve(context.sessionKey);
    // A peer that leaves while the session is read (Redis slow, or away) frees its place at once.
    const letGo = (): void => hub.abandon(member);
    socket.once('close', letGo);
    let prepared: PreparedSocket;
    try {
      prepared = await hub.prepare(member, context.resumeAfter);
    } catch (err) {
      socket.off('close', letGo);
      hub.abandon(member);
      this.readErrors.report(err);
      return refuse(socket, 503, "the session's events could not be read; try again in a moment");
    }
    await this.upgrades.next();
    socket.off('close', letGo);
    let accepted = false;
    // The 101 (written by ws) and the snapshot (sent in the callback) leave in one write.
    socket.cork();
    try {
      // ws completes a valid handshake synchronously (no verifyClient, no async extension).
      wss.handleUpgrade(req, socket, head, (ws) => {
        accepted = true;
        contextOf.set(ws, context);
        ws.on('error', ignore);
        ws.on('message', this.onMessage);
        ws.once('close', this.onClose);
        hub.accept(prepared, ws, context.expiresAt);
      });
    } finally {
      socket.uncork();
    }
    // The peer left while the session was read, or ws refused the handshake (and answered it).
    if (!accepted) hub.abandon(member);
  }

  /** The upgrade's answer as far as the request goes: room on the gateway, auth, then origin. */
  private async decide(req: IncomingMessage): Promise<UpgradeDecision> {
    // A full gateway does not check tokens (SessionHub.roomFor decides, counting, after them).
    if (this.options.hub.socketCount >= this.options.maxSockets) {
      return { ok: false, status: 503, ...NO_ROOM_MESSAGE };
    }
    const decision = await authorizeUpgrade(req, this.options.tokens);
    if (!decision.ok) return decision;
    if (!originAllowed(req, this.options.allowedOrigins)) {
      return { ok: false, status: 403, message: 'this Origin may not open MAWS sockets (ALLOWED_ORIGINS)' };
    }
    return decision;
  }

  /** Takes one token from the connection's bucket; false when the frame is over the rate. */
  private admit(client: WebSocket): boolean {
    const now = Date.now();
    let state = this.rates.get(client);
    if (!state) {
      state = { tokens: this.options.messageBurst, at: now, strikes: 0, windowStart: now };
      this.rates.set(client, state);
    }
    state.tokens = Math.min(
      this.options.messageBurst,
      state.tokens + ((now - state.at) / 1000) * this.options.messagesPerSecond,
    );
    state.at = now;
    if (state.tokens >= 1) {
      state.tokens -= 1;
      return true;
    }
    if (now - state.windowStart > FLOOD_WINDOW_MS) {
      state.windowStart = now;
      state.strikes = 0;
    }
    if (++state.strikes >= this.options.floodCloseAfter) client.close(1008, 'message rate exceeded');
    return false;
  }

  /**
   * Frames go through one shared listener (`this` is the socket) to the gateway's command
   * table, rather than a handler object per event per socket, so an idle socket costs only
   * what ws itself needs.
   */
  private readonly onMessage = ((adapter: MawsWsAdapter) =>
    function (this: WebSocket, raw: Buffer, isBinary: boolean): void {
      void adapter.dispatch(this, raw, isBinary);
    })(this);

  private readonly onClose = ((adapter: MawsWsAdapter) =>
    function (this: WebSocket): void {
      adapter.options.hub.detach(this);
    })(this);

  private async dispatch(client: WebSocket, raw: Buffer, isBinary: boolean): Promise<void> {
    let replyTo: string | undefined;
    try {
      // Every frame is counted, garbage too; it is parsed first only to answer its id.
      const admitted = this.admit(client);
      let frame;
      try {
        frame = parseEnvelope(raw, isBinary);
      } catch (err) {
        if (admitted) throw err;
      }
      replyTo = frame?.id;
      if (!admitted || !frame) {
        throw new ClientError('RATE_LIMITED', `more than ${this.options.messagesPerSecond} frames a second; slow down`);
      }
      await this.options.hub.attached(client);
      if (!isClientEvent(frame.event)) {
        throw new ClientError('UNKNOWN_EVENT', `unknown event "${frame.event}"`);
      }
      const command = validateCommand(frame.event, frame, this.options.maxInputChars);
      if (RUN_STARTS.has(frame.event) || this.starts.hasWaiting(client)) {
        await this.starts.run(client, () => this.options.commands.handle(client, command));
      } else {
        await this.options.commands.handle(client, command);
      }
    } catch (err) {
      const known = err instanceof ClientError;
      if (!known) this.log.error(redact(err instanceof Error ? (err.stack ?? err.message) : String(err)));
      this.options.hub.error(
        client,
        known ? err.code : 'INTERNAL',
        known ? err.message : 'something went wrong on the server; the command was not carried out',
        replyTo ?? (known ? err.replyTo : undefined),
      );
    }
  }
}
