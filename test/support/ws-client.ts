/**
 * Test support: a recording WebSocket client for the MAWS wire protocol (docs/protocol.md),
 * typed by the wire contract (src/contract, `import type` only: nothing of src/ is loaded).
 *
 * What it receives is a `ServerFrame`, narrowed by its `event`; what waits for an event takes
 * its name as a `ServerEventName`, and what sends a command takes a `ClientCommandName` and
 * that command's data, so a misspelt event or a wrong payload is a compile error. The escape
 * hatches for tests that send bad input on purpose are `sendRaw` and `requestUnchecked`.
 * Imports only `ws`, node built-ins, ./frames and ./frame-log.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import type { ClientCommandMap, ClientCommandName, ReplyFrame, ServerFrame } from '../../src/contract';
import { FrameLog } from './frame-log';
import { isEvent } from './frames';

/** The answer to a command sent with an id: its `ack` or its `error`. */
export type CommandReply = ReplyFrame<'ack'> | ReplyFrame<'error'>;

/** `data` may be left out only for a command whose data is empty (`ping`, `task.cancel`). */
export type DataArg<C extends ClientCommandName> =
  Record<string, never> extends ClientCommandMap[C] ? [data?: ClientCommandMap[C]] : [data: ClientCommandMap[C]];

export interface CloseInfo {
  code: number;
  reason: string;
}

export interface ConnectOptions {
  /** Adds `&lastSeq=N` to the URL. */
  lastSeq?: number;
  /** Send the token as `Authorization: Bearer` instead of `?token=`. */
  headerToken?: boolean;
  /** Extra query parameters. */
  query?: Record<string, string>;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Do not URI-encode sessionId (to send a deliberately odd path). */
  rawSessionId?: boolean;
  /** Handshake timeout (default 10 s). */
  timeoutMs?: number;
}

/** Error for a refused upgrade: carries the HTTP status (and body) the server answered with. */
export class UpgradeRejectedError extends Error {
  constructor(
    readonly statusCode: number,
    readonly body: string,
    readonly headers: IncomingMessage['headers'],
  ) {
    super(`WebSocket upgrade rejected with HTTP ${statusCode}${body ? `: ${body.slice(0, 500)}` : ''}`);
    this.name = 'UpgradeRejectedError';
  }
}

const clients = new Set<TestClient>();

export function buildWsUrl(
  wsUrl: string,
  sessionId: string,
  token: string | null | undefined,
  opts: ConnectOptions = {},
): string {
  const base = wsUrl.replace(/\/+$/, '');
  const sid = opts.rawSessionId ? sessionId : encodeURIComponent(sessionId);
  const params = new URLSearchParams();
  if (token && !opts.headerToken) params.set('token', token);
  if (opts.lastSeq !== undefined) params.set('lastSeq', String(opts.lastSeq));
  for (const [k, v] of Object.entries(opts.query ?? {})) params.set(k, v);
  const qs = params.toString();
  return `${base}/ws/${sid}${qs ? `?${qs}` : ''}`;
}

export class TestClient extends FrameLog {
  /** Resolves when the socket has closed (never rejects). */
  readonly closed: Promise<CloseInfo>;
  private closeInfo: CloseInfo | undefined;
  private idCounter = 0;

  private constructor(
    readonly ws: WebSocket,
    readonly url: string,
  ) {
    super();
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => this.onMessage(data, isBinary));
    this.closed = new Promise<CloseInfo>((resolve) => {
      ws.once('close', (code: number, reason: Buffer) => {
        this.closeInfo = { code, reason: reason.toString() };
        clients.delete(this);
        resolve(this.closeInfo);
        this.end(`socket closed (code ${code}, reason ${JSON.stringify(this.closeInfo.reason)})`);
      });
    });
    // Errors after open surface as a close; keep them from becoming uncaught exceptions.
    ws.on('error', () => undefined);
  }

  /**
   * Connects to `${wsUrl}/ws/${sessionId}` with the token in the query (default) or in an
   * Authorization header. Resolves on open. A refused upgrade rejects with
   * UpgradeRejectedError (`statusCode`). `token` null/'' sends no token at all.
   */
  static connect(
    wsUrl: string,
    sessionId: string,
    token: string | null | undefined,
    opts: ConnectOptions = {},
  ): Promise<TestClient> {
    const url = buildWsUrl(wsUrl, sessionId, token, opts);
    const headers: Record<string, string> = { ...opts.headers };
    if (token && opts.headerToken) headers.Authorization = `Bearer ${token}`;
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise<TestClient>((resolve, reject) => {
      const ws = new WebSocket(url, { headers, handshakeTimeout: timeoutMs });
      // Construct before open so no early frame (the snapshot) can be missed.
      const client = new TestClient(ws, url);
      clients.add(client);
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        clients.delete(client);
        reject(err);
      };
      ws.once('open', () => {
        if (settled) return;
        settled = true;
        resolve(client);
      });
      ws.once('unexpected-response', (_req, res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let finished = false;
        const finish = (): void => {
          if (finished) return;
          finished = true;
          fail(new UpgradeRejectedError(res.statusCode ?? 0, Buffer.concat(chunks).toString(), res.headers));
          try {
            ws.terminate(); // aborts the handshake request; 'close' follows
          } catch {
            res.destroy();
          }
        };
        const cap = setTimeout(finish, 2_000); // do not hang on a body that never ends
        res.once('close', () => clearTimeout(cap));
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('end', finish);
        res.once('error', finish);
        res.once('close', finish);
      });
      ws.once('error', (err: Error) => fail(err));
      ws.once('close', (code: number, reason: Buffer) =>
        fail(new Error(`socket closed before open (code ${code}, reason ${reason.toString()})`)),
      );
    });
  }

  private onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    const text = buf.toString('utf8');
    let frame: ServerFrame;
    try {
      frame = JSON.parse(text) as ServerFrame;
    } catch {
      frame = { __raw: text, __parseError: true, __binary: isBinary } as unknown as ServerFrame;
    }
    this.record(text, frame);
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** The close code/reason once closed, else undefined. */
  get closeResult(): CloseInfo | undefined {
    return this.closeInfo;
  }

  /** Sends the command `{event, data, id?}` as a text frame. */
  send<C extends ClientCommandName>(event: C, ...args: [...DataArg<C>, id?: string]): void {
    const [data, id] = args as unknown as [ClientCommandMap[C] | undefined, string | undefined];
    this.sendUnchecked(event, data ?? {}, id);
  }

  /**
   * Escape hatch: sends anything as-is, unchecked; `binary` forces a binary frame (default:
   * text for strings). For tests that send malformed frames on purpose.
   */
  sendRaw(data: string | Buffer, binary?: boolean): void {
    this.ws.send(data, { binary: binary ?? Buffer.isBuffer(data) });
  }

  /**
   * Sends a command with a fresh id and resolves with the `ack` or `error` whose
   * data.replyTo is that id.
   */
  request<C extends ClientCommandName>(event: C, ...args: [...DataArg<C>, timeoutMs?: number]): Promise<CommandReply> {
    const [data, timeoutMs] = args as unknown as [ClientCommandMap[C] | undefined, number | undefined];
    return this.requestUnchecked(event, data ?? {}, timeoutMs);
  }

  /**
   * Escape hatch: `request` with an event name and data the contract does not check (an
   * unknown event, data of the wrong shape). For tests that send bad commands on purpose.
   */
  requestUnchecked(event: string, data: unknown, timeoutMs = 15_000): Promise<CommandReply> {
    const id = this.nextId();
    const since = this.frames.length;
    const reply = this.waitFor(
      (f): f is CommandReply => isEvent(f, ['ack', 'error']) && f.data.replyTo === id,
      timeoutMs,
      since,
    );
    this.sendUnchecked(event, data, id);
    return reply;
  }

  private sendUnchecked(event: string, data: unknown, id: string | undefined): void {
    const frame: Record<string, unknown> = { event, data };
    if (id !== undefined) frame.id = id;
    this.ws.send(JSON.stringify(frame));
  }

  /** A fresh frame id for `send`. */
  nextId(): string {
    this.idCounter += 1;
    return `t${this.idCounter}-${randomBytes(4).toString('hex')}`;
  }

  /** Sends a ping and waits for its pong: everything this socket was sent before it is in. */
  flush(timeoutMs = 10_000): Promise<ReplyFrame<'pong'>> {
    const since = this.frames.length;
    this.send('ping', {}, this.nextId());
    return this.waitForEvent('pong', undefined, timeoutMs, since);
  }

  /** The close (and when it came) if the socket closes within `ms`, else null. */
  async closedWithin(ms: number): Promise<{ info: CloseInfo; at: number } | null> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.closed.then((info) => ({ info, at: Date.now() })),
        new Promise<null>((r) => (timer = setTimeout(() => r(null), ms))),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Starts a normal close (default 1000) and resolves once closed; terminates after 3 s. */
  close(code = 1000, reason = ''): Promise<CloseInfo> {
    if (this.closeInfo) return Promise.resolve(this.closeInfo);
    try {
      if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
      else this.ws.close(code, reason);
    } catch {
      this.ws.terminate();
    }
    const t = setTimeout(() => this.ws.terminate(), 3_000);
    return this.closed.finally(() => clearTimeout(t));
  }

  /** Drops the TCP connection without a close handshake. */
  terminate(): Promise<CloseInfo> {
    this.ws.terminate();
    return this.closed;
  }
}

/** Closes every TestClient still open and waits for them. Never throws. */
export async function closeAllClients(): Promise<void> {
  const all = [...clients];
  clients.clear();
  await Promise.all(all.map((c) => c.close().catch(() => undefined)));
}
