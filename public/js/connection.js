// @ts-check
// The page's connection: which session, with which token, on @maws/client (served by the
// gateway as /sdk/index.mjs), which keeps the socket open (reconnect with backoff and jitter,
// its own ping after silence), hands on every durable frame once in seq order (resume by
// lastSeq, gap repair) and says when the history restarted (a reset to the snapshot). What
// stays here is the page's: tokens (pasted, or a dev token), the status line, and telling the
// person when the server refuses the connection (a browser cannot see the HTTP status).

import { claimsOf, createMawsClient } from '@maws/client';
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

/** A dev token request answers within this, or counts as failed. */
const TOKEN_TIMEOUT_MS = 10000;
/** Without the first token, the next try comes this much later. */
const TOKEN_RETRY_MS = 2000;

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
  const sub = claimsOf(token).sub;
  return typeof sub === 'string' ? sub : '';
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
    /** @type {import('@maws/client').MawsClient | null} */
    client: null,
    wanted: false, // true from Connect until Disconnect: drops in between reconnect
    host: '',
    sessionId: '',
    key: '',
    /** The token the socket last connected with (the HTTP API's requests reuse it). */
    token: '',
    /** Where a new client resumes from: what the session's frames so far reached. */
    lastSeq: 0,
    generation: 0, // bumps on every connect and on Disconnect so late callbacks do nothing
    /** @type {ConnectionStatus} */
    status: 'disconnected',
    idCounter: 0,
    failedOpens: 0,
    /** The next snapshot replaces what is shown (the history restarted). */
    baseline: false,
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
      signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS),
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
    if (conn.client) {
      conn.client.close();
      conn.client = null;
    }
    conn.wanted = true;
    conn.failedOpens = 0;
    conn.host = host;
    conn.sessionId = sessionId;
    void start(++conn.generation);
  }

  function disconnect() {
    conn.wanted = false;
    conn.generation++;
    const client = conn.client;
    conn.client = null;
    if (client) {
      client.close();
      handlers.onLog('system', 'disconnected');
    }
    setStatus('disconnected');
  }

  /**
   * A client for the session: the first token decides the session's key (user, id), and with
   * it whether the history shown so far still holds.
   * @param {number} gen
   */
  async function start(gen) {
    setStatus('connecting');
    const ep = endpointOf(conn.host);
    let token;
    try {
      token = await obtainToken(ep);
    } catch (err) {
      if (gen !== conn.generation || !conn.wanted) return;
      if (err instanceof NoDevTokens) return noDevTokens();
      handlers.onLog('system', `could not get a token: ${errorMessage(err)}`);
      // Without a first token the session's key is unknown: ask again in a moment.
      const retryAt = Date.now() + TOKEN_RETRY_MS;
      setStatus('reconnecting', { retryAt });
      setTimeout(() => {
        if (gen === conn.generation && conn.wanted) void start(gen);
      }, TOKEN_RETRY_MS);
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
    /** @type {string | undefined} */
    let first = token;
    const client = createMawsClient({
      url: ep.ws,
      sessionId: conn.sessionId,
      lastSeq: conn.lastSeq,
      getToken: async () => {
        const given = first ?? (await obtainToken(ep).catch(onTokenError));
        first = undefined;
        conn.token = given;
        return given;
      },
      onStatus: (status) => {
        if (gen !== conn.generation) return;
        if (status === 'open') setStatus('connected');
        else if (status === 'reconnecting') setStatus('reconnecting', { retryAt: client.retryAt });
        else if (status === 'connecting') setStatus('connecting');
      },
    });
    conn.client = client;
    client.on('open', ({ lastSeq }) => {
      conn.failedOpens = 0;
      handlers.onLog('system', `connected to ${conn.sessionId}${lastSeq ? ` (resuming after seq ${lastSeq})` : ''}`);
    });
    client.on('disconnect', ({ code, opened }) => {
      if (gen !== conn.generation || !conn.wanted) return;
      if (opened) {
        handlers.onLog('system', `connection lost (code ${code})`);
        if (code === 1009) handlers.onLog('error', 'frame too large: the server closed the socket');
        // Deleted (from this tab or another): coming back finds it empty, and the view resets.
        if (code === 4404) handlers.onLog('system', 'this session was deleted');
        if (code === 4000) handlers.onLog('system', 'no answer from the server: reconnecting');
      } else {
        // The browser hides the HTTP status of a refused upgrade: ask the server whether it is up.
        conn.failedOpens++;
        handlers.onLog('system', 'could not connect');
        if (conn.failedOpens >= 2) void probeRefusal(gen);
      }
      const retryAt = client.retryAt;
      if (retryAt) {
        setStatus('reconnecting', { retryAt });
        handlers.onLog('system', `reconnecting in ${((retryAt - Date.now()) / 1000).toFixed(1)} s`);
      }
    });
    client.on('reset', () => {
      conn.baseline = true;
    });
    client.on('frame', (frame) => {
      if (gen !== conn.generation) return;
      if ('seq' in frame && typeof frame.seq === 'number') conn.lastSeq = frame.seq;
      if (frame.event === 'session.snapshot') {
        const baseline = conn.baseline || frame.data.lastSeq < conn.lastSeq;
        conn.baseline = false;
        if (baseline) conn.lastSeq = frame.data.lastSeq;
        handlers.onFrame(frame, { baseline });
        return;
      }
      if (!frame.data || typeof frame.data !== 'object') return;
      handlers.onFrame(frame, {});
    });
  }

  /** @param {unknown} err @returns {never} */
  function onTokenError(err) {
    if (err instanceof NoDevTokens) noDevTokens();
    else handlers.onLog('system', `could not get a token: ${errorMessage(err)}`);
    throw err;
  }

  function noDevTokens() {
    handlers.onAuthProblem('This server does not hand out dev tokens: paste a token (JWT) and press Connect.');
    handlers.onLog('error', 'AUTH: this server has no dev tokens; paste a token');
    disconnect();
  }

  /** @param {number} gen */
  async function probeRefusal(gen) {
    try {
      const res = await fetch(endpointOf(conn.host).http + '/health/live', { cache: 'no-store' });
      if (gen !== conn.generation || !res.ok || conn.status === 'connected') return;
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

  /** Skips the rest of the backoff wait (back online, tab visible again, "Retry now"). */
  function retryNow() {
    conn.client?.reconnectNow();
  }

  function nextId() {
    conn.idCounter++;
    return `c-${Date.now().toString(36)}-${conn.idCounter.toString(36)}-${randomHex(3)}`;
  }

  /**
   * Sends a command; returns its id ('' without one), or null when not connected. Its answer
   * (ack or error) arrives as a frame like any other.
   * @template {ClientCommandName} E
   * @param {E} event
   * @param {ClientCommandMap[E]} data
   * @returns {string | null}
   */
  function send(event, data, withId = false) {
    const client = conn.client;
    if (!client || client.status !== 'open') return null;
    const id = withId ? nextId() : undefined;
    // The answer is handled as a frame (onFrame); the promise only must not go unhandled.
    client.request(event, data, id ? { id } : {}).catch(() => undefined);
    return id ?? '';
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
      return conn.client?.status === 'open';
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
