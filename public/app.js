// MAWS web client: plain browser JavaScript, no build step.
// Wire contract: protocol.md (frames, events, states, error codes).
'use strict';

(() => {
  const PING_MS = 25000;
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 10000;
  const RESUME_RETRY_MS = 5000;
  const SESSION_RE = /^[A-Za-z0-9_-]{1,64}$/;
  const USER_KEY = 'maws.userId';
  const HINTS = {
    IDLE: 'start a task',
    EXECUTING: 'ask the Clarifier',
    REFINEMENT_READY: 'refine the report',
  };

  const $ = (id) => document.getElementById(id);
  const ui = {
    form: $('connect-form'),
    host: $('host'),
    session: $('session'),
    token: $('token'),
    connect: $('connect'),
    notice: $('notice'),
    status: $('status'),
    state: $('state'),
    log: $('log'),
    message: $('message'),
    send: $('send'),
    sendHint: $('send-hint'),
    cancel: $('cancel'),
    report: $('report'),
    copy: $('copy-report'),
    download: $('download-report'),
  };

  // ---------------------------------------------------------------------------
  // Connection and per-session state
  // ---------------------------------------------------------------------------

  const conn = {
    ws: null,
    open: false,
    wanted: false, // true from Connect until Disconnect: drops in between reconnect
    sessionId: '',
    attempt: 0, // consecutive failed attempts, drives the backoff
    generation: 0, // bumps on Disconnect so a late token fetch cannot reopen
    retryTimer: null,
    pingTimer: null,
    resumePending: false,
    resumeTimer: null,
    status: 'disconnected',
  };

  // A session is (user, sessionId): each keeps its own lastSeq, state, report and
  // log, so coming back to one resumes it without gaps or duplicates.
  const views = new Map();
  let view = newView('');

  function newView(key) {
    return {
      key,
      lastSeq: null,
      state: null,
      report: null,
      blocks: new Map(), // "runId/stepId" -> agent stream block
      parked: null, // log nodes kept while another session is shown
      adoptSnapshotSeq: false, // set by RESUME_UNAVAILABLE: trust the next snapshot
    };
  }

  function activateView(key) {
    if (view.key === key) return;
    if (view.key === '') {
      // The first session simply takes over the unnamed start-up view.
      view.key = key;
      views.set(key, view);
      return;
    }
    view.parked = document.createDocumentFragment();
    while (ui.log.firstChild) view.parked.appendChild(ui.log.firstChild);
    view = views.get(key) || newView(key);
    views.set(key, view);
    if (view.parked) ui.log.appendChild(view.parked);
    view.parked = null;
    renderState();
    renderReport();
    renderControls();
  }

  // ---------------------------------------------------------------------------
  // Identity and tokens
  // ---------------------------------------------------------------------------

  class NoDevTokens extends Error {}

  let memoryUserId = null;

  function randomHex(bytes) {
    const buf = new Uint8Array(bytes);
    crypto.getRandomValues(buf);
    return Array.from(buf, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  // Stable per browser so a reload finds the same sessions again.
  function browserUserId() {
    try {
      let id = localStorage.getItem(USER_KEY);
      if (!id) {
        id = 'web-' + randomHex(8);
        localStorage.setItem(USER_KEY, id);
      }
      return id;
    } catch {
      // Storage can be off (private mode): stay stable for this page at least.
      memoryUserId = memoryUserId || 'web-' + randomHex(8);
      return memoryUserId;
    }
  }

  async function obtainToken(ep) {
    const pasted = ui.token.value.trim();
    if (pasted) return pasted;
    const res = await fetch(ep.http + '/auth/dev-token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: browserUserId() }),
    });
    if (res.status === 404) throw new NoDevTokens('dev tokens are off');
    if (!res.ok) throw new Error(`dev token request failed: HTTP ${res.status}`);
    const body = await res.json();
    if (!body || typeof body.token !== 'string') throw new Error('dev token reply has no token');
    return body.token;
  }

  // The session belongs to the token's subject, so key views by it.
  function tokenSubject(token) {
    try {
      const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const sub = JSON.parse(atob(part.padEnd(Math.ceil(part.length / 4) * 4, '='))).sub;
      return typeof sub === 'string' ? sub : token;
    } catch {
      return token;
    }
  }

  // Accepts "host:port" or a URL with a scheme; the scheme picks ws or wss.
  function endpoint() {
    let raw = ui.host.value.trim() || location.host;
    let secure = location.protocol === 'https:';
    const scheme = raw.match(/^(https?|wss?):\/\//i);
    if (scheme) {
      secure = /^(https|wss)$/i.test(scheme[1]);
      raw = raw.slice(scheme[0].length);
    }
    raw = raw.replace(/\/+$/, '');
    return {
      http: (secure ? 'https://' : 'http://') + raw,
      ws: (secure ? 'wss://' : 'ws://') + raw,
    };
  }

  // ---------------------------------------------------------------------------
  // Connect, disconnect, reconnect
  // ---------------------------------------------------------------------------

  function userConnect() {
    const sessionId = ui.session.value.trim();
    if (!SESSION_RE.test(sessionId)) {
      showNotice('Session id: 1 to 64 characters of A-Z a-z 0-9 _ -');
      return;
    }
    hideNotice();
    conn.wanted = true;
    conn.attempt = 0;
    conn.sessionId = sessionId;
    lockFields(true);
    void openSocket();
  }

  function userDisconnect() {
    conn.wanted = false;
    conn.generation++;
    clearTimeout(conn.retryTimer);
    conn.retryTimer = null;
    const ws = conn.ws;
    dropSocket();
    if (ws) {
      ws.close(1000, 'client disconnect');
      logLine('system', '[CONN]', 'disconnected');
    }
    setStatus('disconnected');
    lockFields(false);
  }

  async function openSocket() {
    const gen = ++conn.generation;
    setStatus(conn.attempt === 0 ? 'connecting' : 'reconnecting');
    const ep = endpoint();
    let token;
    try {
      token = await obtainToken(ep);
    } catch (err) {
      if (gen !== conn.generation || !conn.wanted) return;
      if (err instanceof NoDevTokens) {
        showNotice('This server does not hand out dev tokens: paste a JWT into the Token field, then Connect.');
        logLine('error', '[ERROR]', 'AUTH: no dev tokens on this server; paste a token');
        userDisconnect();
        return;
      }
      logLine('system', '[CONN]', `could not get a token: ${err.message}`);
      scheduleReconnect();
      return;
    }
    if (gen !== conn.generation || !conn.wanted) return;

    activateView(`${tokenSubject(token)}/${conn.sessionId}`);
    let url = `${ep.ws}/ws/${encodeURIComponent(conn.sessionId)}?token=${encodeURIComponent(token)}`;
    if (view.lastSeq !== null) url += `&lastSeq=${view.lastSeq}`;

    let ws;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      // Only a malformed URL throws here; retrying cannot fix that.
      showNotice(`Cannot connect: ${err.message}`);
      userDisconnect();
      return;
    }
    conn.ws = ws;
    conn.open = false;
    ws.onopen = () => onOpen(ws);
    ws.onmessage = (ev) => onMessage(ws, ev);
    ws.onclose = (ev) => onClose(ws, ev);
    ws.onerror = () => {}; // a close event always follows; handled there
  }

  function onOpen(ws) {
    if (ws !== conn.ws) return;
    conn.open = true;
    hideNotice();
    setStatus('connected');
    const resumeNote = view.lastSeq !== null ? ` (resuming after seq ${view.lastSeq})` : '';
    logLine('system', '[CONN]', `connected to ${conn.sessionId}${resumeNote}`);
    conn.pingTimer = setInterval(() => sendFrame('ping', {}), PING_MS);
    renderControls();
  }

  function onClose(ws, ev) {
    if (ws !== conn.ws) return; // a socket we already let go of
    const wasOpen = conn.open;
    dropSocket();
    if (!conn.wanted) {
      setStatus('disconnected');
      return;
    }
    // The browser hides HTTP 401/400 on upgrade: a socket that never opened is the only clue.
    const why = wasOpen ? `connection lost (code ${ev.code})` : 'could not connect (server down, or token rejected)';
    logLine('system', '[CONN]', why);
    if (ev.code === 1009) logLine('error', '[ERROR]', 'frame too large: the server closed the socket');
    scheduleReconnect();
  }

  function dropSocket() {
    clearInterval(conn.pingTimer);
    clearTimeout(conn.resumeTimer);
    conn.pingTimer = null;
    conn.resumePending = false;
    conn.ws = null;
    conn.open = false;
    renderControls();
  }

  // Exponential backoff 0.5 s doubling to 10 s, with +-20% jitter so that many
  // tabs dropped by one gateway do not all come back in the same instant.
  function scheduleReconnect() {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** conn.attempt);
    const delay = Math.min(BACKOFF_MAX_MS, Math.round(base * (0.8 + Math.random() * 0.4)));
    conn.attempt++;
    setStatus('reconnecting');
    logLine('system', '[CONN]', `reconnecting in ${(delay / 1000).toFixed(1)} s`);
    clearTimeout(conn.retryTimer);
    conn.retryTimer = setTimeout(retryNow, delay);
  }

  function retryNow() {
    clearTimeout(conn.retryTimer);
    conn.retryTimer = null;
    if (conn.wanted && !conn.ws) void openSocket();
  }

  // ---------------------------------------------------------------------------
  // Sending
  // ---------------------------------------------------------------------------

  let idCounter = 0;

  function nextId() {
    idCounter++;
    return `c-${Date.now().toString(36)}-${idCounter.toString(36)}-${randomHex(3)}`;
  }

  function sendFrame(event, data, withId = false) {
    const ws = conn.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    const frame = { event, data };
    if (withId) frame.id = nextId();
    ws.send(JSON.stringify(frame));
    return true;
  }

  function sendMessage() {
    const text = ui.message.value.trim();
    if (!text) return;
    // The server routes "message" by session state, so one box does all three jobs.
    if (sendFrame('message', { text }, true)) ui.message.value = '';
  }

  function cancelTask() {
    sendFrame('task.cancel', {}, true);
  }

  // ---------------------------------------------------------------------------
  // Receiving
  // ---------------------------------------------------------------------------

  function onMessage(ws, ev) {
    if (ws !== conn.ws) return;
    let frame;
    try {
      frame = JSON.parse(ev.data);
    } catch {
      logLine('error', '[ERROR]', 'client: unreadable frame from server');
      return;
    }
    if (!frame || typeof frame !== 'object' || typeof frame.event !== 'string') return;
    if (typeof frame.seq === 'number' && !acceptSeq(frame.seq)) return;
    dispatch(frame.event, frame.data || {}, frame.seq);
  }

  // Durable frames are shown exactly once and in order: older ones are replay
  // overlap; a jump means we missed some, so ask the log for them again.
  function acceptSeq(seq) {
    if (view.lastSeq !== null) {
      if (seq <= view.lastSeq) return false;
      if (seq > view.lastSeq + 1) {
        requestResume();
        return false;
      }
    }
    view.lastSeq = seq;
    conn.resumePending = false;
    clearTimeout(conn.resumeTimer);
    return true;
  }

  function requestResume() {
    if (conn.resumePending) return;
    conn.resumePending = true;
    sendFrame('resume', { afterSeq: view.lastSeq });
    conn.resumeTimer = setTimeout(() => {
      conn.resumePending = false; // ask again on the next gap if no replay came
    }, RESUME_RETRY_MS);
  }

  function dispatch(event, d, seq) {
    switch (event) {
      case 'session.snapshot':
        return onSnapshot(d);
      case 'ack':
      case 'pong':
        return undefined;
      case 'error':
        return onError(d);
      case 'user.message':
        return onUserMessage(d, seq);
      case 'session.state':
        setState(d.state);
        return logLine('state', '[STATE]', String(d.state), seq);
      case 'run.queued':
        return logLine('run', '[RUN]', `queued ${d.mode || ''} ${shortId(d.runId)}`, seq);
      case 'run.started':
        return logLine('run', '[RUN]', `started ${d.mode || ''} ${shortId(d.runId)}`, seq);
      case 'run.completed':
        endRunBlocks(d.runId, 'incomplete');
        logLine('run run-completed', '[RUN]', `completed ${shortId(d.runId)}`, seq);
        if (typeof d.report === 'string') showReport(d.report);
        return undefined;
      case 'run.failed':
        return onRunFailed(d, seq);
      case 'run.cancelled':
        endRunBlocks(d.runId, 'cancelled');
        return logLine('run run-cancelled', '[RUN]', `cancelled ${shortId(d.runId)}`, seq);
      case 'agent.started':
        return onAgentStarted(d);
      case 'agent.delta':
        return onAgentDelta(d);
      case 'agent.finished':
        return onAgentFinished(d);
      case 'chat.response':
        return logLine('chat-response', '[CHAT_RESPONSE]', String(d.text ?? ''), seq);
      default:
        // Events added after v1 still show up, plainly.
        return logLine('system', `[${event}]`, JSON.stringify(d), seq);
    }
  }

  function onSnapshot(d) {
    const fresh = view.lastSeq === null || view.adoptSnapshotSeq;
    if (typeof d.lastSeq === 'number') {
      // A lower lastSeq than ours means the server's history restarted: follow it.
      if (fresh || d.lastSeq < view.lastSeq) view.lastSeq = d.lastSeq;
    }
    view.adoptSnapshotSeq = false;
    conn.attempt = 0; // the session answered, so the next drop starts the backoff over
    if (d.state) setState(d.state);
    // When resuming, the replayed run.completed brings the report; only a fresh
    // view (or lost history) takes it from the snapshot.
    if (fresh && typeof d.report === 'string' && d.report && d.report !== view.report) {
      showReport(d.report);
    }
  }

  function onError(d) {
    logLine('error', '[ERROR]', `${d.code || 'ERROR'}: ${d.message || ''}`);
    if (d.code === 'RESUME_UNAVAILABLE') {
      view.adoptSnapshotSeq = true; // the snapshot that follows is the new baseline
      conn.resumePending = false;
      logLine('system', '[CONN]', 'older events are gone from the server history; showing the latest state');
    }
  }

  function onUserMessage(d, seq) {
    const el = logLine('user', '[USER]', String(d.text ?? ''), seq);
    if (d.kind) {
      const tag = document.createElement('span');
      tag.className = 'tag';
      tag.textContent = d.kind;
      el.append(' ', tag);
    }
  }

  function onRunFailed(d, seq) {
    endRunBlocks(d.runId, 'failed');
    const err = d.error || {};
    const why = err.code || err.message ? ` (${err.code || 'ERROR'}: ${err.message || ''})` : '';
    logLine('run run-failed', '[RUN]', `failed ${shortId(d.runId)}${why}`, seq);
  }

  // ---------------------------------------------------------------------------
  // Agent stream blocks
  // ---------------------------------------------------------------------------

  function stepKey(d) {
    return `${d.runId}/${d.stepId}`;
  }

  function onAgentStarted(d) {
    const attempt = Number(d.attempt) || 1;
    let block = view.blocks.get(stepKey(d));
    if (!block) {
      block = createBlock(d);
    } else if (attempt > block.attempt) {
      // A worker took over a crashed step: its earlier output is void.
      block.text.data = '';
      block.plan.replaceChildren();
      block.plan.hidden = true;
      block.el.classList.add('restarted');
      block.restart.textContent = `restarted (attempt ${attempt})`;
      block.restart.hidden = false;
      setBlockStatus(block, 'streaming');
    }
    block.attempt = Math.max(block.attempt, attempt);
    if (d.title) block.title.textContent = String(d.title);
  }

  function onAgentDelta(d) {
    const block = view.blocks.get(stepKey(d)) || createBlock(d);
    const stick = nearBottom();
    block.text.appendData(String(d.text ?? ''));
    if (stick) scrollSoon();
  }

  function onAgentFinished(d) {
    const block = view.blocks.get(stepKey(d)) || createBlock(d);
    setBlockStatus(block, 'done');
    const output = d.output;
    const stick = nearBottom();
    if (d.agent === 'planner' && output && Array.isArray(output.plan)) {
      renderPlan(block, output.plan);
    } else if (!block.text.data) {
      // Nothing streamed (e.g. we joined late): show the output's text if it has one.
      const text = typeof output === 'string' ? output : firstString(output, ['text', 'result', 'answer', 'summary']);
      if (text) block.text.data = text;
    }
    if (stick) scrollSoon();
  }

  // Builds "[AGENT STREAM] <agent> <stepId>: <title>" with a live text body.
  function createBlock(d) {
    const el = document.createElement('div');
    el.className = `line agent-stream agent-${cssSafe(d.agent)}`;
    const head = document.createElement('div');
    head.className = 'agent-head';
    const title = span('title', d.title ? String(d.title) : '');
    const status = span('badge status-badge', 'streaming');
    const restart = span('badge restart-badge', '');
    restart.hidden = true;
    head.append(
      span('prefix', '[AGENT STREAM]'),
      ' ',
      span('agent-name', String(d.agent ?? '?')),
      ' ',
      span('step', String(d.stepId ?? '?')),
      ': ',
      title,
      ' ',
      status,
      ' ',
      restart,
    );
    const body = document.createElement('pre');
    body.className = 'agent-text';
    const text = document.createTextNode('');
    body.appendChild(text);
    const plan = document.createElement('ol');
    plan.className = 'plan';
    plan.hidden = true;
    el.append(head, body, plan);

    const block = { el, text, title, status, restart, plan, runId: d.runId, attempt: 0, done: false };
    view.blocks.set(stepKey(d), block);
    appendToLog(el);
    return block;
  }

  function setBlockStatus(block, status) {
    block.done = status !== 'streaming';
    block.status.textContent = status;
    block.el.dataset.status = status;
  }

  // Steps left open when a run ends will get no more output: say so.
  function endRunBlocks(runId, status) {
    for (const block of view.blocks.values()) {
      if (block.runId === runId && !block.done) setBlockStatus(block, status);
    }
  }

  function renderPlan(block, plan) {
    block.plan.replaceChildren();
    for (const item of plan) {
      const li = document.createElement('li');
      const title = typeof item === 'string' ? item : String(item?.title ?? '(untitled)');
      li.appendChild(span('plan-title', title));
      if (item && typeof item.description === 'string' && item.description) {
        li.append(' ', span('plan-desc', `— ${item.description}`));
      }
      block.plan.appendChild(li);
    }
    block.plan.hidden = plan.length === 0;
  }

  // ---------------------------------------------------------------------------
  // Report
  // ---------------------------------------------------------------------------

  function showReport(md) {
    view.report = md;
    renderReport();
    const el = document.createElement('div');
    el.className = 'line report';
    const body = document.createElement('div');
    body.className = 'markdown';
    fillMarkdown(body, md);
    el.append(span('prefix', '[REPORT]'), body);
    appendToLog(el);
  }

  function renderReport() {
    const has = typeof view.report === 'string' && view.report.length > 0;
    if (has) {
      fillMarkdown(ui.report, view.report);
    } else {
      const p = document.createElement('p');
      p.className = 'empty';
      p.textContent = 'No report yet.';
      ui.report.replaceChildren(p);
    }
    ui.copy.disabled = !has;
    ui.download.disabled = !has;
  }

  // Model output is untrusted: Markdown goes through marked, then DOMPurify.
  // Without both libraries it is shown as plain text, never as raw HTML.
  function fillMarkdown(el, md) {
    const html = window.marked && window.DOMPurify ? marked.parse(md) : null;
    if (typeof html === 'string') {
      el.innerHTML = DOMPurify.sanitize(html);
    } else {
      const pre = document.createElement('pre');
      pre.textContent = md;
      el.replaceChildren(pre);
    }
  }

  async function copyReport() {
    if (!view.report) return;
    try {
      await navigator.clipboard.writeText(view.report);
    } catch {
      // navigator.clipboard needs a secure context (not plain http on a LAN phone).
      const ta = document.createElement('textarea');
      ta.value = view.report;
      ta.setAttribute('readonly', '');
      ta.style.position = 'fixed';
      ta.style.opacity = '0';
      document.body.appendChild(ta);
      ta.select();
      document.execCommand('copy');
      ta.remove();
    }
    flashButton(ui.copy, 'Copied');
  }

  function downloadReport() {
    if (!view.report) return;
    const blob = new Blob([view.report], { type: 'text/markdown;charset=utf-8' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `maws-report-${conn.sessionId || ui.session.value.trim() || 'session'}.md`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  function flashButton(btn, label) {
    const original = btn.dataset.label || btn.textContent;
    btn.dataset.label = original;
    btn.textContent = label;
    setTimeout(() => {
      btn.textContent = original;
    }, 1500);
  }

  // ---------------------------------------------------------------------------
  // Rendering helpers
  // ---------------------------------------------------------------------------

  function span(className, text) {
    const el = document.createElement('span');
    el.className = className;
    el.textContent = text;
    return el;
  }

  // One log line: "<prefix> <text>", text inserted as text, never as HTML.
  function logLine(kind, prefix, text, seq) {
    const el = document.createElement('div');
    el.className = `line ${kind}`;
    if (seq !== undefined) el.dataset.seq = String(seq);
    el.append(span('prefix', prefix), ' ', text);
    appendToLog(el);
    return el;
  }

  function appendToLog(el) {
    const stick = nearBottom();
    ui.log.appendChild(el);
    if (stick) scrollSoon();
  }

  // Follow the stream only while the reader is at the bottom, so scrolling up to
  // read is not fought by incoming tokens.
  function nearBottom() {
    return ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 48;
  }

  let scrollQueued = false;
  function scrollSoon() {
    if (scrollQueued) return;
    scrollQueued = true;
    requestAnimationFrame(() => {
      scrollQueued = false;
      ui.log.scrollTop = ui.log.scrollHeight;
    });
  }

  function shortId(id) {
    return id === undefined || id === null ? '' : String(id);
  }

  function cssSafe(value) {
    return String(value ?? 'unknown').replace(/[^a-z0-9_-]/gi, '');
  }

  function firstString(obj, keys) {
    if (!obj || typeof obj !== 'object') return '';
    for (const k of keys) if (typeof obj[k] === 'string' && obj[k]) return obj[k];
    return '';
  }

  function setState(state) {
    view.state = typeof state === 'string' ? state : null;
    renderState();
    renderControls();
  }

  function renderState() {
    ui.state.textContent = view.state || '—';
    ui.state.dataset.state = view.state || '';
  }

  function setStatus(status) {
    conn.status = status;
    ui.status.textContent = status;
    ui.status.dataset.status = status;
    ui.connect.textContent = conn.wanted ? 'Disconnect' : 'Connect';
    ui.connect.classList.toggle('danger', conn.wanted);
    ui.connect.classList.toggle('primary', !conn.wanted);
    renderControls();
  }

  function renderControls() {
    const online = conn.open;
    const executing = view.state === 'EXECUTING';
    ui.send.disabled = !online;
    ui.sendHint.textContent = online ? HINTS[view.state] || 'send' : 'connect first';
    ui.cancel.hidden = !executing;
    ui.cancel.disabled = !online || !executing;
  }

  function lockFields(locked) {
    ui.host.disabled = locked;
    ui.session.disabled = locked;
    ui.token.disabled = locked;
  }

  function showNotice(text) {
    ui.notice.textContent = text;
    ui.notice.hidden = false;
  }

  function hideNotice() {
    ui.notice.hidden = true;
    ui.notice.textContent = '';
  }

  // ---------------------------------------------------------------------------
  // Wiring
  // ---------------------------------------------------------------------------

  function init() {
    ui.host.value = location.host;
    ui.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (conn.wanted) userDisconnect();
      else userConnect();
    });
    ui.send.addEventListener('click', sendMessage);
    ui.cancel.addEventListener('click', cancelTask);
    ui.message.addEventListener('keydown', (ev) => {
      // Enter sends, Shift+Enter is a newline; leave IME composition alone.
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
        ev.preventDefault();
        sendMessage();
      }
    });
    ui.copy.addEventListener('click', () => void copyReport());
    ui.download.addEventListener('click', downloadReport);
    // Back online: skip the rest of the backoff wait.
    window.addEventListener('online', () => {
      if (conn.wanted && conn.retryTimer) retryNow();
    });
    if (window.DOMPurify) {
      // Links in reports open in a new tab without handing it our window.
      DOMPurify.addHook('afterSanitizeAttributes', (node) => {
        if (node.tagName === 'A' && node.getAttribute('href')) {
          node.setAttribute('target', '_blank');
          node.setAttribute('rel', 'noopener noreferrer');
        }
      });
    }
    setStatus('disconnected');
    renderState();
    renderReport();
  }

  // Read-only view for browser tests.
  window.maws = Object.freeze({
    get state() {
      return view.state;
    },
    get lastSeq() {
      return view.lastSeq;
    },
    get reportMarkdown() {
      return view.report;
    },
    get status() {
      return conn.status;
    },
    get sessionId() {
      return conn.sessionId;
    },
  });

  init();
})();
