import type {
  AnyDurableFrame,
  AnyReplyFrame,
  ClientCommandMap,
  ClientCommandName,
  FrameOf,
  ReplyEventMap,
  ServerEventMap,
  ServerEventName,
  ServerFrame,
} from '../../../src/contract';
import { backoffDelay } from './backoff';
import { MawsError } from './errors';
import { TokenCache } from './token-cache';

/** What the client needs of a WebSocket: the browser's, or Node's `ws` (Node 20 has none built in). */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type SocketConstructor = new (url: string) => SocketLike;

export type ClientStatus = 'connecting' | 'open' | 'reconnecting' | 'auth-failed' | 'closed';

export interface MawsClientOptions {
  /**
   * The gateway: `ws://host:port` (or `wss://`); the client adds `/ws/{sessionId}`. A function
   * is asked again for each connection attempt (a list of gateways to spread over or fail over).
   */
  url: string | (() => string);
  sessionId: string;
  /** A token (JWT) for the socket: asked again once the one it gave expires or is refused. */
  getToken: () => string | Promise<string>;
  /** The WebSocket class (default: the global one; on Node 20 pass `ws`'s). */
  WebSocket?: SocketConstructor;
  /** Resume from here (a client that kept `lastSeq` from an earlier life); default 0, the whole history. */
  lastSeq?: number;
  /** Reconnect waits: doubling from `minMs` to `maxMs`, ± `jitter` (a share of it). */
  backoff?: { minMs?: number; maxMs?: number; jitter?: number };
  /** A connection attempt that has not opened by then is given up (and retried). */
  dialTimeoutMs?: number;
  /** A request with no answer by then rejects with TIMEOUT. */
  requestTimeoutMs?: number;
  /** `getToken` must answer by then. */
  tokenTimeoutMs?: number;
  /** Liveness: after this long without a frame the client sends `ping`… */
  pingAfterMs?: number;
  /** …and reconnects when still nothing has come this much later (a frozen gateway, a half-open connection). */
  pongTimeoutMs?: number;
  /** The server refused the client (HTTP 401 or 400 on the upgrade, or close 1008): no retry follows. */
  onAuthError?: (why: string) => void;
  onStatus?: (status: ClientStatus) => void;
}

/** Events besides the server's: `reset` (the history restarted: rebuild from the snapshot), `status`. */
export interface ClientEventMap {
  reset: ReplyEventMap['session.snapshot'];
  status: ClientStatus;
  /** Every frame handed on: durable ones once each in seq order, and every reply. */
  frame: ServerFrame;
  /** A socket opened; `lastSeq` is where it resumes from. */
  open: { lastSeq: number };
  /** A socket closed (`opened`: it had opened before it closed); the next attempt, if any, is scheduled (`retryAt`). */
  disconnect: { code: number; reason: string; opened: boolean };
}

export interface MawsClient {
  /** Calls `fn` with each event of that name (durable ones once each, in seq order); returns an unsubscribe. */
  on<E extends ServerEventName>(event: E, fn: (data: ServerEventMap[E], frame: FrameOf<E>) => void): () => void;
  on<E extends keyof ClientEventMap>(event: E, fn: (data: ClientEventMap[E]) => void): () => void;
  /** Every durable frame accepted from now on, in seq order, once each; ends when the client closes. */
  events(): AsyncIterableIterator<AnyDurableFrame>;
  /** Sends a command; resolves with its ack (a `ping`: with `{}` once its pong comes), rejects with a MawsError (the server's code, TIMEOUT, OFFLINE, …). */
  request<C extends ClientCommandName>(
    command: C,
    data: ClientCommandMap[C],
    opts?: { id?: string },
  ): Promise<ReplyEventMap['ack']>;
  /** Skips the rest of the backoff wait (back online, a tab visible again, "Retry now"). */
  reconnectNow(): void;
  /** When the next reconnect attempt starts (ms since the epoch), while reconnecting. */
  readonly retryAt: number | undefined;
  /** The latest session.snapshot. */
  snapshot(): ReplyEventMap['session.snapshot'] | undefined;
  readonly status: ClientStatus;
  /** The last durable seq accepted. */
  readonly lastSeq: number;
  /** Closes for good: no reconnect; open requests reject with CLOSED; iterators end. */
  close(): void;
}

const OPEN = 1;
/** Close codes after which reconnecting cannot help. */
const REFUSED_CLOSE = new Set([1008]);
/** The server's close when the socket's token expired: a new token, then reconnect. */
const TOKEN_EXPIRED_CLOSE = 4401;
/** Our own close of a socket that went silent. */
const SILENT_CLOSE = 4000;

type Listener = (data: unknown, frame?: unknown) => void;

interface Pending {
  resolve: (ack: ReplyEventMap['ack']) => void;
  reject: (err: MawsError) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * One session's socket, kept open: it reconnects with backoff and jitter (a new token when the
 * old one expired), resumes from the last seq it accepted (no gap, no duplicate; a history
 * that moved on is a `reset` to the snapshot), notices a silent gateway by its own pings, and
 * correlates each command with its answer. Commands are never queued while offline.
 */
export function createMawsClient(options: MawsClientOptions): MawsClient {
  const found = options.WebSocket ?? (globalThis as { WebSocket?: SocketConstructor }).WebSocket;
  if (!found) throw new Error('no WebSocket: pass options.WebSocket (on Node 20, the `ws` package)');
  const Socket: SocketConstructor = found;
  const backoff = { minMs: 500, maxMs: 10_000, jitter: 0.2, ...options.backoff };
  const dialTimeoutMs = options.dialTimeoutMs ?? 10_000;
  const requestTimeoutMs = options.requestTimeoutMs ?? 15_000;
  const pingAfterMs = options.pingAfterMs ?? 15_000;
  const pongTimeoutMs = options.pongTimeoutMs ?? 10_000;
  const tokens = new TokenCache(options.getToken, options.tokenTimeoutMs ?? 10_000);
  const baseUrl = (): string => (typeof options.url === 'function' ? options.url() : options.url).replace(/\/+$/, '');

  const listeners = new Map<string, Set<Listener>>();
  const pending = new Map<string, Pending>();
  /**
   * The pings sent on this socket and not yet answered, oldest first: a `pong` names no ping
   * (its data is {}), and the gateway answers in order, so each pong answers the oldest.
   * Each by its id (a request's, or the client's own liveness ping's, which nobody awaits).
   */
  let pingsInFlight: string[] = [];
  const iterators = new Set<{ push: (f: AnyDurableFrame) => void; end: () => void }>();
  let ws: SocketLike | null = null;
  let status: ClientStatus = 'connecting';
  let lastSeq = options.lastSeq ?? 0;
  let snapshot: ReplyEventMap['session.snapshot'] | undefined;
  let attempt = 0;
  let closed = false;
  let adoptSnapshot = false;
  let resumeAsked = false;
  let idCounter = 0;
  let lastFrameAt = 0;
  let pingSentAt = 0;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let retryAt: number | undefined;
  let dialTimer: ReturnType<typeof setTimeout> | undefined;
  let livenessTimer: ReturnType<typeof setInterval> | undefined;

  function emit(event: string, data: unknown, frame?: unknown): void {
    for (const fn of listeners.get(event) ?? []) fn(data, frame);
  }

  function setStatus(next: ClientStatus): void {
    if (status === next) return;
    status = next;
    options.onStatus?.(next);
    emit('status', next);
  }

  async function dial(): Promise<void> {
    if (closed) return;
    setStatus(attempt === 0 && lastSeq === 0 && !snapshot ? 'connecting' : 'reconnecting');
    let token: string;
    try {
      token = await tokens.get();
    } catch {
      return retry();
    }
    if (closed) return;
    const url = `${baseUrl()}/ws/${encodeURIComponent(options.sessionId)}?token=${encodeURIComponent(token)}&lastSeq=${lastSeq}`;
    let socket: SocketLike;
    try {
      socket = new Socket(url);
    } catch {
      return retry();
    }
    ws = socket;
    let opened = false;
    let refusal = '';
    dialTimer = setTimeout(() => {
      // Not open in time (a gateway that accepts TCP and never answers): give up, try again.
      if (!opened) drop(socket, SILENT_CLOSE, 'dial timeout');
    }, dialTimeoutMs);
    socket.onopen = () => {
      opened = true;
      pingsInFlight = [];
      clearTimeout(dialTimer);
      lastFrameAt = Date.now();
      pingSentAt = 0;
      resumeAsked = false;
      retryAt = undefined;
      setStatus('open');
      emit('open', { lastSeq });
    };
    socket.onerror = (ev) => {
      // Node's `ws` says why an upgrade failed ("Unexpected server response: 401"); a browser never does.
      const message = (ev as { message?: unknown } | null)?.message;
      if (typeof message === 'string') refusal = message;
    };
    socket.onmessage = (ev) => {
      if (socket !== ws) return;
      lastFrameAt = Date.now();
      pingSentAt = 0;
      if (typeof ev.data === 'string') onText(ev.data);
      else if (ev.data instanceof ArrayBuffer) onText(new TextDecoder().decode(ev.data));
      else if (ArrayBuffer.isView(ev.data)) onText(new TextDecoder().decode(ev.data as Uint8Array));
    };
    socket.onclose = (ev) => {
      if (socket !== ws) return;
      ws = null;
      clearTimeout(dialTimer);
      failPending(
        'CONNECTION_LOST',
        'the connection was lost before the answer came; the command may have been carried out',
      );
      if (closed) return;
      const status = /Unexpected server response: (\d+)/.exec(refusal)?.[1];
      if (status === '401' || status === '400' || REFUSED_CLOSE.has(ev.code)) {
        const why = status ? `the server refused the connection (HTTP ${status})` : `closed ${ev.code}: ${ev.reason}`;
        setStatus('auth-failed');
        stopLiveness();
        emit('disconnect', { code: ev.code, reason: ev.reason, opened });
        options.onAuthError?.(why);
        return;
      }
      if (ev.code === TOKEN_EXPIRED_CLOSE) tokens.invalidate();
      retry();
      // Said once the next attempt is scheduled, so listeners can read `retryAt`.
      emit('disconnect', { code: ev.code, reason: ev.reason, opened });
    };
  }

  function retry(): void {
    if (closed) return;
    const delay = backoffDelay(attempt, backoff);
    attempt += 1;
    retryAt = Date.now() + delay;
    setStatus('reconnecting');
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => {
      retryAt = undefined;
      void dial();
    }, delay);
  }

  /** Closes a socket we give up on; its onclose (with this code) schedules the retry. */
  function drop(socket: SocketLike, code: number, reason: string): void {
    try {
      socket.close(code, reason);
    } catch {
      /* already closing */
    }
    // A half-open connection may never complete the close handshake: act now.
    if (socket === ws) socket.onclose?.({ code, reason });
  }

  function onText(text: string): void {
    let frame: ServerFrame;
    try {
      frame = JSON.parse(text) as ServerFrame;
    } catch {
      return;
    }
    if (!frame || typeof frame !== 'object' || typeof frame.event !== 'string') return;
    if ('seq' in frame && typeof frame.seq === 'number') return onDurable(frame);
    onReply(frame as AnyReplyFrame);
  }

  function onReply(frame: AnyReplyFrame): void {
    // The replies that change the client's own state; every frame then goes to its listeners.
    switch (frame.event) {
      case 'session.snapshot': {
        attempt = 0; // the session answered: the next drop starts the backoff over
        snapshot = frame.data;
        // The history restarted (behind us), or the server said it cannot resume us: the
        // snapshot is the new baseline (once: the snapshot after RESUME_UNAVAILABLE repeats it).
        const restarted = frame.data.lastSeq < lastSeq || (adoptSnapshot && frame.data.lastSeq !== lastSeq);
        adoptSnapshot = false;
        if (restarted) {
          lastSeq = frame.data.lastSeq;
          emit('reset', frame.data);
        }
        break;
      }
      case 'error':
        if (frame.data.code === 'RESUME_UNAVAILABLE') adoptSnapshot = true;
        // A refused ping (RATE_LIMITED) gets no pong: it no longer waits in line.
        if (frame.data.replyTo !== undefined) pingsInFlight = pingsInFlight.filter((id) => id !== frame.data.replyTo);
        settle(frame.data.replyTo, undefined, new MawsError(frame.data.code, frame.data.message));
        break;
      case 'ack':
        settle(frame.data.replyTo, frame.data);
        break;
      case 'pong':
        settle(pingsInFlight.shift(), {});
        break;
      case 'store.status':
        break;
    }
    emit(frame.event, frame.data, frame);
    emit('frame', frame);
  }

  function onDurable(frame: AnyDurableFrame): void {
    if (frame.seq <= lastSeq) return;
    if (frame.seq > lastSeq + 1) {
      // A gap: ask for what is missing (once until it comes), and drop this one (it comes again).
      if (!resumeAsked && ws?.readyState === OPEN) {
        resumeAsked = true;
        ws.send(JSON.stringify({ event: 'resume', data: { afterSeq: lastSeq } }));
      }
      return;
    }
    lastSeq = frame.seq;
    resumeAsked = false;
    emit(frame.event, frame.data, frame);
    emit('frame', frame);
    for (const it of iterators) it.push(frame);
  }

  function settle(replyTo: string | undefined, ack?: ReplyEventMap['ack'], error?: MawsError): void {
    const waiting = replyTo !== undefined ? pending.get(replyTo) : undefined;
    if (!waiting) return;
    pending.delete(replyTo!);
    clearTimeout(waiting.timer);
    if (error) waiting.reject(error);
    else waiting.resolve(ack!);
  }

  function failPending(code: 'CONNECTION_LOST' | 'CLOSED', message: string): void {
    for (const [id, waiting] of pending) {
      clearTimeout(waiting.timer);
      waiting.reject(new MawsError(code, message));
      pending.delete(id);
    }
  }

  function checkLiveness(): void {
    const socket = ws;
    if (!socket || socket.readyState !== OPEN) return;
    const now = Date.now();
    if (pingSentAt && now - pingSentAt > pongTimeoutMs) {
      // Nothing at all since the ping: the gateway is frozen or the connection half-open.
      drop(socket, SILENT_CLOSE, 'no answer to ping');
    } else if (!pingSentAt && now - lastFrameAt > pingAfterMs) {
      pingSentAt = now;
      // With an id, so that a refused one (RATE_LIMITED names it) leaves the line too.
      idCounter += 1;
      const id = `live-${idCounter.toString(36)}`;
      pingsInFlight.push(id);
      socket.send(JSON.stringify({ event: 'ping', data: {}, id }));
    }
  }

  function stopLiveness(): void {
    clearInterval(livenessTimer);
    livenessTimer = undefined;
  }

  livenessTimer = setInterval(checkLiveness, Math.max(50, Math.min(1_000, pingAfterMs / 4, pongTimeoutMs / 4)));
  void dial();

  const client: MawsClient = {
    on(event: string, fn: Listener) {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(fn);
      return () => set.delete(fn);
    },
    events(): AsyncIterableIterator<AnyDurableFrame> {
      const queue: AnyDurableFrame[] = [];
      let wake: (() => void) | undefined;
      let ended = closed;
      const it = {
        push(f: AnyDurableFrame) {
          queue.push(f);
          wake?.();
        },
        end() {
          ended = true;
          wake?.();
        },
      };
      iterators.add(it);
      const iterator: AsyncIterableIterator<AnyDurableFrame> = {
        async next() {
          while (queue.length === 0 && !ended) await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          const value = queue.shift();
          if (value) return { value, done: false };
          iterators.delete(it);
          return { value: undefined, done: true };
        },
        return() {
          iterators.delete(it);
          ended = true;
          return Promise.resolve({ value: undefined, done: true });
        },
        [Symbol.asyncIterator]() {
          return iterator;
        },
      };
      return iterator;
    },
    request(command, data, opts) {
      const socket = ws;
      if (closed) return Promise.reject(new MawsError('CLOSED', 'the client is closed'));
      if (!socket || socket.readyState !== OPEN || status !== 'open') {
        return Promise.reject(new MawsError('OFFLINE', `not connected (${status}): the command was not sent`));
      }
      idCounter += 1;
      const id = opts?.id ?? `c${idCounter.toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
      return new Promise<ReplyEventMap['ack']>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new MawsError('TIMEOUT', `no answer to ${command} within ${requestTimeoutMs} ms`));
        }, requestTimeoutMs);
        pending.set(id, { resolve, reject, timer });
        if (command === 'ping') pingsInFlight.push(id);
        socket.send(JSON.stringify({ event: command, data, id }));
      });
    },
    snapshot: () => snapshot,
    reconnectNow() {
      if (closed || ws || status !== 'reconnecting' || retryAt === undefined) return;
      clearTimeout(retryTimer);
      retryAt = undefined;
      void dial();
    },
    get retryAt() {
      return retryAt;
    },
    get status() {
      return status;
    },
    get lastSeq() {
      return lastSeq;
    },
    close() {
      if (closed) return;
      closed = true;
      clearTimeout(retryTimer);
      clearTimeout(dialTimer);
      stopLiveness();
      failPending('CLOSED', 'the client was closed');
      for (const it of iterators) it.end();
      const socket = ws;
      ws = null;
      socket?.close(1000, 'client closed');
      setStatus('closed');
    },
  } as MawsClient;
  return client;
}
