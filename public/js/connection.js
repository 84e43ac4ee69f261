// @ts-check
// The WebSocket side of the client: tokens, connect, reconnect with backoff, and the session's
// sequence numbers (protocol.md: Connecting, Frames, Resuming).
//
// Every durable frame is handed on exactly once and in seq order. A reconnect carries
// ?lastSeq=N so the server replays what was missed; frames at or below N (replay overlap) are
// dropped, and a jump past N+1 asks for the gap with `resume`.

import { randomHex } from './util.js';

/** @typedef {import('../../src/contract').ServerFrame} ServerFrame */
/** @typedef {import('../../src/contract').ReplyEventMap} ReplyEventMap */
/** @typedef {import('../../src/contract').ClientCommandMap} ClientCommandMap */
/** @typedef {import('../../src/contract').ClientCommandName} ClientCommandName */
/**
 * @template {ClientCommandName} E
 * @typedef {import('../../src/contract').ClientFrame<E>} ClientFrame
 */
/** @typedef {'disconnected' | 'connecting' | 'connected' | 'reconnecting'} ConnectionStatus */
/** @typedef {{ retryAt?: number }} StatusInfo */
/** @typedef {{ baseline?: boolean }} FrameMeta  baseline: a snapshot that replaces history */
/** @typedef {{ http: string, ws: string }} Endpoint */

const PING_MS = 25000;
const STALE_MS = PING_MS + 10000; // no frame (not even a pong) for this long: the socket is dead
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10000;
const RESUME_RETRY_MS = 5000;

export const SESSION_RE = /^[A-Za-z0-9_-]{1,64}$/;

export class NoDevTokens extends Error {}

/**
 * Accepts "host:port" or a URL with a scheme; the scheme picks ws or wss.
 * @param {string} hostField
 * @returns {Endpoint}
 */
export function endpointOf(hostField) {
  let raw = String(hostField || '').trim() || location.host;
  let secure = location.protocol === 'https:';
  const scheme = raw.match(/^(https?|wss?):\/\//i);
  if (scheme) {
    secure = /^(https|wss)$/i.test(scheme[1]);
    raw = raw.slice(scheme[0].length);
  }
  raw = raw.replace(/\/+$/, '');
  return { http: (secure ? 'https://' : 'http://') + raw, ws: (secure ? 'wss://' : 'ws://') + raw };
}

/**
 * The `sub` of a JWT (not verified: only used to tell sessions apart).
 * @param {string} token
 * @returns {string}
 */
export function tokenSubject(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const sub = JSON.parse(atob(part.padEnd(Math.ceil(part.length / 4) * 4, '='))).sub;
    return typeof sub === 'string' ? sub : '';
  } catch {
    return '';
  }
}

/**
 * @typedef {object} ConnectionHandlers
 * @property {() => string} pastedToken the Token field ('' = ask for a dev token)
 * @property {() => string} userId the user a dev token is asked for
 * @property {(status: ConnectionStatus, info: StatusInfo) => void} onStatus
 * @property {(key: string) => void} onSession the (user, session) about to be joined; a new key starts from seq 0
 * @property {(frame: ServerFrame, meta: FrameMeta) => void} onFrame every frame to show. Typed as the
 *   contract's, checked only for its shape: an event newer than this page arrives here too.
 * @property {(kind: 'system' | 'error', text: string) => void} onLog connection notes for the log
 * @property {(text: string) => void} onAuthProblem the server seems up but refuses us (token), or has no dev tokens
 */

/** @param {ConnectionHandlers} handlers */
export function createConnection(handlers) {
  const conn = {
    /** @type {WebSocket | null} */
    ws: null,
    open: false,
    wanted: false, // true from Connect until Disconnect: drops in between reconnect
    host: '',
    sessionId: '',
    key: '',
    /** The token the socket last connected with (the HTTP API's requests reuse it). */
    token: '',
    lastSeq: 0,
    attempt: 0, // consecutive failed attempts, drives the backoff
    generation: 0, // bumps on every (re)open and on Disconnect so late callbacks do nothing
    /** @type {number | undefined} */
    retryTimer: undefined,
    retryAt: 0,
    /** @type {number | undefined} */
    pingTimer: undefined,
    lastFrameAt: 0,
    resumePending: false,
    /** @type {number | undefined} */
    resumeTimer: undefined,
    adoptSnapshot: false,
    /** @type {ConnectionStatus} */
    status: 'disconnected',
    idCounter: 0,
    failedOpens: 0,
  };

  /**
   * @param {ConnectionStatus} status
   * @param {StatusInfo} [info]
   */
  function setStatus(status, info = {}) {
    conn.status = status;
    handlers.onStatus(status, info);
  }

  /**
   * @param {Endpoint} ep
   * @returns {Promise<string>}
   */
  async function obtainToken(ep) {
    const pasted = handlers.pastedToken().trim();
    if (pasted) return pasted;
    const res = await fetch(ep.http + '/auth/dev-token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: handlers.userId() }),
    });
    if (res.status === 404) throw new NoDevTokens('dev tokens are off');
    if (!res.ok) throw new Error(`dev token request failed: HTTP ${res.status}`);
    const body = await res.json();
    if (!body || typeof body.token !== 'string') throw new Error('dev token reply has no token');
    return body.token;
  }

  /**
   * @param {string} host
   * @param {string} sessionId
   */
  function connect(host, sessionId) {
    conn.generation++;
    clearTimeout(conn.retryTimer);
    if (conn.ws) {
      const old = conn.ws;
      dropSocket();
      old.close(1000, 'switching session');
    }
    conn.wanted = true;
    conn.attempt = 0;
    conn.failedOpens = 0;
    conn.host = host;
    conn.sessionId = sessionId;
    void openSocket();
  }

  function disconnect() {
    conn.wanted = false;
    conn.generation++;
    clearTimeout(conn.retryTimer);
    conn.retryTimer = undefined;
    const ws = conn.ws;
    dropSocket();
    if (ws) {
      ws.close(1000, 'client disconnect');
      handlers.onLog('system', 'disconnected');
    }
    setStatus('disconnected');
  }

  async function openSocket() {
    const gen = ++conn.generation;
    setStatus(conn.attempt === 0 ? 'connecting' : 'reconnecting');
    const ep = endpointOf(conn.host);
    let token;
    try {
      token = await obtainToken(ep);
    } catch (err) {
      if (gen !== conn.generation || !conn.wanted) return;
      if (err instanceof NoDevTokens) {
        handlers.onAuthProblem('This server does not hand out dev tokens: paste a token (JWT) and press Connect.');
        handlers.onLog('error', 'AUTH: this server has no dev tokens; paste a token');
        disconnect();
        return;
      }
      handlers.onLog('system', `could not get a token: ${errorMessage(err)}`);
      scheduleReconnect();
      return;
    }
    if (gen !== conn.generation || !conn.wanted) return;
    conn.token = token;

    // A session is (token subject, session id): another one starts its history from scratch.
    const key = `${tokenSubject(token) || token.slice(-16)}/${conn.sessionId}`;
    if (key !== conn.key) {
      conn.key = key;
      conn.lastSeq = 0;
      handlers.onSession(key);
    }

    const url =
      `${ep.ws}/ws/${encodeURIComponent(conn.sessionId)}` +
      `?token=${encodeURIComponent(token)}&lastSeq=${conn.lastSeq}`;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      // Only a malformed URL throws here; retrying cannot fix that.
      handlers.onAuthProblem(`Cannot connect: ${errorMessage(err)}`);
      disconnect();
      return;
    }
    conn.ws = ws;
    conn.open = false;
    ws.onopen = () => onOpen(ws);
    ws.onmessage = (ev) => onMessage(ws, ev);
    ws.onclose = (ev) => onClose(ws, ev);
    ws.onerror = () => {}; // a close event always follows; handled there
  }

  /** @param {WebSocket} ws */
  function onOpen(ws) {
    if (ws !== conn.ws) return;
    conn.open = true;
    conn.failedOpens = 0;
    conn.lastFrameAt = Date.now();
    setStatus('connected');
    handlers.onLog(
      'system',
      `connected to ${conn.sessionId}${conn.lastSeq ? ` (resuming after seq ${conn.lastSeq})` : ''}`,
    );
    conn.pingTimer = setInterval(heartbeat, PING_MS);
  }

  // Browsers answer the server's pings but cannot see a dead path themselves: our own ping
  // gets a pong, and a socket silent for too long is given up and reopened.
  function heartbeat() {
    if (Date.now() - conn.lastFrameAt > STALE_MS) {
      const ws = conn.ws;
      handlers.onLog('system', 'no answer from the server: reconnecting');
      dropSocket();
      if (ws) ws.close(4000, 'stale');
      scheduleReconnect();
      return;
    }
    send('ping', {});
  }

  /**
   * @param {WebSocket} ws
   * @param {CloseEvent} ev
   */
  function onClose(ws, ev) {
    if (ws !== conn.ws) return; // a socket we already let go of
    const wasOpen = conn.open;
    dropSocket();
    if (!conn.wanted) {
      setStatus('disconnected');
      return;
    }
    if (wasOpen) {
      handlers.onLog('system', `connection lost (code ${ev.code})`);
      if (ev.code === 1009) handlers.onLog('error', 'frame too large: the server closed the socket');
      // Deleted (from this tab or another): coming back finds it empty, and the view resets.
      if (ev.code === 4404) handlers.onLog('system', 'this session was deleted');
    } else {
      // The browser hides the HTTP status of a refused upgrade: ask the server whether it is up.
      conn.failedOpens++;
      handlers.onLog('system', 'could not connect');
      if (conn.failedOpens >= 2) void probeRefusal(conn.generation);
    }
    scheduleReconnect();
  }

  /** @param {number} gen */
  async function probeRefusal(gen) {
    try {
      const res = await fetch(endpointOf(conn.host).http + '/health/live', { cache: 'no-store' });
      if (gen !== conn.generation || !res.ok || conn.open) return;
      if (handlers.pastedToken().trim()) {
        // Retrying with the same token cannot help: unlock the fields for a new one.
        handlers.onAuthProblem('The server refuses this token (wrong or expired?): paste a new one and press Connect.');
        handlers.onLog('error', 'AUTH: the server refused the connection with the pasted token');
        disconnect();
      } else {
        handlers.onAuthProblem('The server is up but refuses the connection: paste a token, or try again later.');
      }
    } catch {
      /* the server is down: the backoff keeps trying */
    }
  }

  function dropSocket() {
    clearInterval(conn.pingTimer);
    clearTimeout(conn.resumeTimer);
    conn.pingTimer = undefined;
    conn.resumePending = false;
    conn.ws = null;
    conn.open = false;
  }

  // Exponential backoff 0.5 s doubling to 10 s, with +-20% jitter so that many tabs dropped by
  // one gateway do not all come back in the same instant.
  function scheduleReconnect() {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** conn.attempt);
    const delay = Math.min(BACKOFF_MAX_MS, Math.round(base * (0.8 + Math.random() * 0.4)));
    conn.attempt++;
    conn.retryAt = Date.now() + delay;
    setStatus('reconnecting', { retryAt: conn.retryAt });
    handlers.onLog('system', `reconnecting in ${(delay / 1000).toFixed(1)} s`);
    clearTimeout(conn.retryTimer);
    conn.retryTimer = setTimeout(retryNow, delay);
  }

  /** Skips the rest of the backoff wait (back online, tab visible again, "Retry now"). */
  function retryNow() {
    clearTimeout(conn.retryTimer);
    conn.retryTimer = undefined;
    if (conn.wanted && !conn.ws) void openSocket();
  }

  function nextId() {
    conn.idCounter++;
    return `c-${Date.now().toString(36)}-${conn.idCounter.toString(36)}-${randomHex(3)}`;
  }

  /**
   * Sends a frame; returns its id ('' without one), or null when not connected.
   * @template {ClientCommandName} E
   * @param {E} event
   * @param {ClientCommandMap[E]} data
   * @returns {string | null}
   */
  function send(event, data, withId = false) {
    const ws = conn.ws;
    if (!ws || !conn.open || ws.readyState !== WebSocket.OPEN) return null;
    /** @type {ClientFrame<E>} */
    const frame = { event, data };
    if (withId) frame.id = nextId();
    ws.send(JSON.stringify(frame));
    return frame.id || '';
  }

  /**
   * @param {WebSocket} ws
   * @param {MessageEvent} ev
   */
  function onMessage(ws, ev) {
    if (ws !== conn.ws) return;
    conn.lastFrameAt = Date.now();
    /** @type {any} the server's JSON, checked for its shape below */
    let parsed;
    try {
      parsed = JSON.parse(ev.data);
    } catch {
      handlers.onLog('error', 'unreadable frame from the server');
      return;
    }
    if (!parsed || typeof parsed !== 'object' || typeof parsed.event !== 'string') return;
    if (!parsed.data || typeof parsed.data !== 'object') parsed.data = {};
    /** @type {ServerFrame} */
    const frame = parsed;
    if ('seq' in frame && typeof frame.seq === 'number') {
      if (!acceptSeq(frame.seq)) return;
      handlers.onFrame(frame, {});
      return;
    }
    if (frame.event === 'session.snapshot') {
      handlers.onFrame(frame, { baseline: onSnapshot(frame.data) });
      return;
    }
    if (frame.event === 'error' && frame.data.code === 'RESUME_UNAVAILABLE') {
      conn.adoptSnapshot = true; // the snapshot that follows is the new baseline
      conn.resumePending = false;
    }
    handlers.onFrame(frame, {});
  }

  /** @param {number} seq */
  function acceptSeq(seq) {
    if (seq <= conn.lastSeq) return false;
    if (seq > conn.lastSeq + 1) {
      requestResume();
      return false;
    }
    conn.lastSeq = seq;
    conn.resumePending = false;
    clearTimeout(conn.resumeTimer);
    return true;
  }

  function requestResume() {
    if (conn.resumePending) return;
    conn.resumePending = true;
    send('resume', { afterSeq: conn.lastSeq });
    conn.resumeTimer = setTimeout(() => {
      conn.resumePending = false; // ask again on the next gap if no replay came
    }, RESUME_RETRY_MS);
  }

  /**
   * Returns true when the snapshot replaces what we have (history gone or restarted).
   * @param {ReplyEventMap['session.snapshot']} d
   */
  function onSnapshot(d) {
    conn.attempt = 0; // the session answered, so the next drop starts the backoff over
    let baseline = false;
    if (typeof d.lastSeq === 'number') {
      if (conn.adoptSnapshot || d.lastSeq < conn.lastSeq) {
        conn.lastSeq = d.lastSeq;
        baseline = true;
      }
    }
    conn.adoptSnapshot = false;
    return baseline;
  }

  /**
   * A request to the server's HTTP API with the page's token (the one the socket uses, or a
   * fresh one), as `Authorization: Bearer`; at most 10 s.
   * @param {string} path
   * @param {RequestInit} [init]
   */
  async function fetchAuthorized(path, init = {}) {
    const ep = endpointOf(conn.host);
    const token = conn.token || (await obtainToken(ep));
    return fetch(ep.http + path, {
      ...init,
      headers: { ...init.headers, Authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(10_000),
    });
  }

  return {
    connect,
    disconnect,
    retryNow,
    send,
    fetchAuthorized,
    get status() {
      return conn.status;
    },
    get online() {
      return conn.open;
    },
    get wanted() {
      return conn.wanted;
    },
    get sessionId() {
      return conn.sessionId;
    },
    get lastSeq() {
      return conn.lastSeq;
    },
  };
}

/** @param {unknown} err */
function errorMessage(err) {
  return err instanceof Error ? err.message : String(err);
}
