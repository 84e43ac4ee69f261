// @ts-check
// MAWS web client: wiring. Plain browser ES modules, no build step.
// Wire contract: /docs/protocol.md (frames, events, states, error codes). Its types are in
// src/contract; every module here is checked against them (`npm run typecheck`).
//
// On load the page joins the session named in the URL hash (#session=ID), else the last one
// used in this browser, else a new one, and replays its whole history from seq 0: a reload
// shows everything again, from the server.

import { createConnection, SESSION_RE } from './connection.js';
import { createLog } from './log.js';
import { createReport } from './report.js';
import { createSessionList } from './sessions.js';
import { createThread } from './thread.js';
import { randomHex, storageGet, storageSet } from './util.js';

/** @typedef {import('../../src/contract').DurableEventMap} DurableEventMap */
/** @typedef {import('../../src/contract').ReplyEventMap} ReplyEventMap */
/** @typedef {import('../../src/contract').ServerEventName} ServerEventName */
/** @typedef {import('../../src/contract').ServerFrame} ServerFrame */
/** @typedef {import('../../src/contract').SessionState} SessionState */
/** @typedef {import('../../src/contract').RunError} RunError */
/**
 * @template {ServerEventName} E
 * @typedef {import('../../src/contract').FrameOf<E>} FrameOf
 */
/** @typedef {import('./connection.js').ConnectionStatus} ConnectionStatus */
/** @typedef {import('./connection.js').StatusInfo} StatusInfo */
/** @typedef {import('./connection.js').FrameMeta} FrameMeta */

const USER_KEY = 'maws.userId';
const SESSION_KEY = 'maws.sessionId';
const TOKEN_KEY = 'maws.token'; // a pasted token, kept for this tab only (sessionStorage)

/** @type {Record<SessionState, { hint: string, placeholder: string }>} */
const MODES = {
  IDLE: { hint: 'Send: start a new task', placeholder: 'Describe a task for the agents…' },
  EXECUTING: {
    hint: 'Send: ask the Clarifier, or tell the run what to change (“skip Google”) · Steer: always an instruction',
    placeholder: 'Ask about the running task, or steer it…',
  },
  REFINEMENT_READY: { hint: 'Send: refine the report', placeholder: 'Ask for a change to the report…' },
};
/** @type {Record<SessionState, string>} */
const STATE_TITLE = { IDLE: 'Idle', EXECUTING: 'Running', REFINEMENT_READY: 'Report ready' };

/**
 * The element of index.html with this id, which is a `type`.
 * @template {HTMLElement} T
 * @param {string} id
 * @param {{ new (): T }} type
 * @returns {T}
 */
function $(id, type) {
  const node = document.getElementById(id);
  if (!(node instanceof type)) throw new Error(`index.html has no ${type.name} #${id}`);
  return node;
}
const ui = {
  form: $('connect-form', HTMLFormElement),
  host: $('host', HTMLInputElement),
  session: $('session', HTMLInputElement),
  token: $('token', HTMLInputElement),
  connect: $('connect', HTMLButtonElement),
  newSession: $('new-session', HTMLButtonElement),
  sessionsToggle: $('sessions-toggle', HTMLButtonElement),
  sessionsPanel: $('sessions-panel', HTMLElement),
  sessionList: $('session-list', HTMLUListElement),
  sessionsEmpty: $('sessions-empty', HTMLElement),
  aguiEndpoint: $('agui-endpoint', HTMLElement),
  connToggle: $('conn-toggle', HTMLButtonElement),
  connection: $('connection', HTMLElement),
  connSummary: $('conn-summary', HTMLElement),
  notice: $('notice', HTMLElement),
  status: $('status', HTMLElement),
  state: $('state', HTMLElement),
  banner: $('banner', HTMLElement),
  storeBanner: $('store-banner', HTMLElement),
  retry: $('retry-now', HTMLButtonElement),
  thread: $('thread', HTMLElement),
  log: $('log', HTMLElement),
  message: $('message', HTMLTextAreaElement),
  send: $('send', HTMLButtonElement),
  steer: $('steer', HTMLButtonElement),
  hint: $('send-hint', HTMLElement),
  cancel: $('cancel', HTMLButtonElement),
  reviewPlan: $('review-plan', HTMLInputElement),
  report: $('report', HTMLElement),
  reportMeta: $('report-meta', HTMLElement),
  reportCard: $('report-card', HTMLElement),
  copy: $('copy-report', HTMLButtonElement),
  download: $('download-report', HTMLButtonElement),
};

/**
 * @type {{
 *   state: SessionState | null,
 *   runId: string | null,
 *   cancelling: boolean,
 *   pending: Map<string, string>,
 *   draft: { runId: string, stepId: string, attempt: number, text: string } | null,
 *   attempts: Map<string, number>,
 *   waiting: string | null,
 * }}
 */
const session = {
  state: null,
  runId: null,
  cancelling: false,
  pending: new Map(), // frame id -> text we sent, to give it back if the server refuses it
  draft: null, // { runId, stepId, attempt, text } of the aggregator writing now
  attempts: new Map(), // "runId/stepId" -> the step's latest attempt: deltas of earlier ones are dropped
  waiting: null, // the open input request's id: the run waits on the person
};

const log = createLog(ui.log);
const thread = createThread(ui.thread, {
  onShowReport(runId) {
    if (report.showRun(runId)) ui.reportCard.scrollIntoView({ behavior: 'smooth', block: 'start' });
  },
  onRespond(requestId, answer) {
    conn.send('run.respond', { requestId, answer }, true);
  },
});
const report = createReport(
  { body: ui.report, meta: ui.reportMeta, copy: ui.copy, download: ui.download },
  () => `maws-report-${conn.sessionId || 'session'}.md`,
);
const sessions = createSessionList({
  toggle: ui.sessionsToggle,
  panel: ui.sessionsPanel,
  list: ui.sessionList,
  empty: ui.sessionsEmpty,
  aguiEndpoint: ui.aguiEndpoint,
  fetchAuthorized: (path, init) => conn.fetchAuthorized(path, init),
  currentSession: () => conn.sessionId,
  onOpen: (sessionId) => {
    if (sessionId === conn.sessionId) return;
    if (conn.wanted) conn.disconnect();
    connectTo(sessionId);
  },
  onDeleted: (sessionId) => {
    // The session on screen is gone: start a new, empty one.
    if (sessionId !== conn.sessionId) return;
    if (conn.wanted) conn.disconnect();
    connectTo(newSessionId());
  },
  onError: (text) => log.line('error', '[ERROR]', text),
});
const conn = createConnection({
  pastedToken: () => ui.token.value,
  userId: browserUserId,
  onStatus: renderStatus,
  onSession: resetView,
  onFrame: dispatch,
  onLog: (kind, text) => log.line(kind, kind === 'error' ? '[ERROR]' : '[CONN]', text),
  onAuthProblem: (text) => {
    showNotice(text);
    setConnectionOpen(true);
  },
});

// ---------------------------------------------------------------------------------------------
// Identity and the session id

// Stable per browser, so a reload (or another tab) finds the same sessions again.
function browserUserId() {
  let id = storageGet('localStorage', USER_KEY);
  if (!id) {
    id = `web-${randomHex(8)}`;
    storageSet('localStorage', USER_KEY, id);
  }
  return id;
}

function newSessionId() {
  return `s-${randomHex(5)}`;
}

function sessionFromHash() {
  const raw = location.hash.replace(/^#/, '');
  if (!raw) return '';
  let id = '';
  try {
    id = new URLSearchParams(raw).get('session') ?? (raw.includes('=') ? '' : decodeURIComponent(raw));
  } catch {
    return ''; // a malformed %-escape
  }
  return SESSION_RE.test(id || '') ? id : '';
}

/** @param {string} id */
function rememberSession(id) {
  storageSet('localStorage', SESSION_KEY, id);
  const hash = `#session=${encodeURIComponent(id)}`;
  if (location.hash !== hash) history.replaceState(null, '', hash);
}

// ---------------------------------------------------------------------------------------------
// Connect, disconnect

/** @param {string} sessionId */
function connectTo(sessionId) {
  if (!SESSION_RE.test(sessionId)) {
    showNotice('Session id: 1 to 64 characters of A-Z a-z 0-9 _ -');
    setConnectionOpen(true);
    return;
  }
  hideNotice();
  ui.session.value = sessionId;
  rememberSession(sessionId);
  const pasted = ui.token.value.trim();
  storageSet('sessionStorage', TOKEN_KEY, pasted || null);
  conn.connect(ui.host.value.trim(), sessionId);
}

// A new (user, session) pair: forget what is shown and replay its history from seq 0.
function resetView() {
  session.state = null;
  session.runId = null;
  session.cancelling = false;
  session.pending.clear();
  session.attempts.clear();
  session.draft = null;
  thread.clear();
  log.clear();
  report.clear();
  renderState();
}

// ---------------------------------------------------------------------------------------------
// Sending

function sendMessage() {
  const text = ui.message.value.trim();
  if (!text || !conn.online) return;
  // The server routes "message" by session state, so one box starts, asks, answers and
  // refines; a task whose plan is to be reviewed first starts with task.start.
  const review = ui.reviewPlan.checked && session.state !== 'EXECUTING';
  const id = review ? conn.send('task.start', { text, review: 'plan' }, true) : conn.send('message', { text }, true);
  if (id === null) return;
  session.pending.set(id, ui.message.value);
  ui.message.value = '';
  autosize();
  thread.scrollToEnd();
}

/** The box's text as an instruction for the running task (`run.steer`), applied before its next step. */
function steerRun() {
  const text = ui.message.value.trim();
  if (!text || !conn.online || session.state !== 'EXECUTING') return;
  const id = conn.send('run.steer', { text }, true);
  if (id === null) return;
  session.pending.set(id, ui.message.value);
  ui.message.value = '';
  autosize();
  thread.scrollToEnd();
}

function cancelRun() {
  if (conn.send('task.cancel', {}, true) === null) return;
  session.cancelling = true;
  renderControls();
}

// ---------------------------------------------------------------------------------------------
// Receiving: every frame the connection accepts, in order, exactly once

/**
 * What the page does with each event of the contract, by name: each handler gets its event's
 * frame, and a misspelt, missing or unknown event name does not compile.
 * @type {{ [E in ServerEventName]: (frame: FrameOf<E>, meta: FrameMeta) => void }}
 */
const ON_FRAME = {
  'session.snapshot': ({ data }, meta) => onSnapshot(data, meta.baseline),
  ack: ({ data }) => {
    if (data.replyTo) session.pending.delete(data.replyTo);
  },
  pong: () => {},
  error: ({ data }) => onError(data),
  'user.message': ({ data: d, seq }) => {
    thread.userMessage(d, seq);
    log.line('user', '[USER]', `${d.text ?? ''}${d.kind ? ` (${d.kind})` : ''}`, seq);
  },
  'session.state': ({ data: d, seq }) => {
    setState(d.state, d.runId);
    log.line('state', '[STATE]', String(d.state), seq);
  },
  'run.queued': ({ data: d, seq }) => {
    thread.runQueued(d);
    log.line('run', '[RUN]', `queued ${d.mode || ''} ${d.runId ?? ''}`, seq);
  },
  'run.started': ({ data: d, seq }) => {
    thread.runStarted(d);
    log.line('run', '[RUN]', `started ${d.mode || ''} ${d.runId ?? ''}`, seq);
  },
  'agent.started': ({ data }) => onAgentStarted(data),
  'agent.delta': ({ data }) => onAgentDelta(data),
  'agent.finished': ({ data }) => onAgentFinished(data),
  'tool.called': ({ data: d, seq }) => {
    if (isEarlierAttempt(d)) return;
    thread.toolCalled(d);
    log.line('tool', '[TOOL]', `${d.tool} ${JSON.stringify(d.input)}`, seq);
  },
  'tool.result': ({ data: d, seq }) => {
    if (isEarlierAttempt(d)) return;
    thread.toolResult(d);
    const said = d.ok ? JSON.stringify(d.output) : `${d.error?.code}: ${d.error?.message}`;
    log.line('tool', '[TOOL]', `${d.tool} → ${said} (${d.ms} ms)`, seq);
  },
  'agent.failed': ({ data: d, seq }) => {
    thread.agentFailed(d);
    log.line('plan', '[STEP]', `${d.stepId} failed for good (${d.error?.code}: ${d.error?.message})`, seq);
  },
  'plan.updated': ({ data: d, seq }) => {
    thread.planUpdated(d);
    const dropped = d.dropped.length > 0 ? `, dropped ${d.dropped.join(', ')}` : '';
    log.line(
      'plan',
      '[PLAN]',
      `version ${d.version} (${d.reason}): ${d.plan.map((s) => s.stepId).join(', ')}${dropped}`,
      seq,
    );
  },
  'agent.skipped': ({ data: d, seq }) => {
    thread.agentSkipped(d);
    log.line('plan', '[STEP]', `${d.stepId} skipped: ${d.reason}`, seq);
  },
  'run.steered': ({ data: d, seq }) => {
    thread.runSteered(d, seq);
    log.line('plan', '[STEER]', `before ${d.appliedBefore}: ${d.text}`, seq);
  },
  'run.input_requested': ({ data: d, seq }) => {
    thread.inputRequested(d, seq);
    session.waiting = d.requestId;
    renderControls();
    log.line('plan', '[WAIT]', `${d.kind} ${d.requestId}: ${d.prompt}`, seq);
  },
  'run.input_resolved': ({ data: d, seq }) => {
    thread.inputResolved(d);
    if (session.waiting === d.requestId) session.waiting = null;
    renderControls();
    log.line('plan', '[WAIT]', `${d.requestId} ${d.status}`, seq);
  },
  'run.completed': onRunEnded,
  'run.failed': onRunEnded,
  'run.cancelled': onRunEnded,
  'store.status': ({ data }) => onStoreStatus(data),
  'chat.response': ({ data: d, seq }) => {
    thread.chatResponse(d, seq);
    log.line('chat-response', '[CHAT_RESPONSE]', d.text ?? '', seq);
  },
};

/**
 * @param {ServerFrame} frame
 * @param {FrameMeta} meta
 */
function dispatch(frame, meta) {
  if (Object.prototype.hasOwnProperty.call(ON_FRAME, frame.event)) {
    handle(frame.event, frame, meta);
  } else {
    // Events added after v1 still show up, plainly.
    log.line('system', `[${frame.event}]`, JSON.stringify(frame.data), 'seq' in frame ? frame.seq : undefined);
  }
}

/**
 * @template {ServerEventName} E
 * @param {E} event
 * @param {FrameOf<E>} frame
 * @param {FrameMeta} meta
 */
function handle(event, frame, meta) {
  ON_FRAME[event](frame, meta);
}

/**
 * @param {ReplyEventMap['session.snapshot']} d
 * @param {boolean} [baseline]
 */
function onSnapshot(d, baseline) {
  if (d.state) setState(d.state, d.runId);
  // A request the history no longer holds (the card is drawn once either way).
  if (d.pendingInput) {
    thread.inputRequested(d.pendingInput);
    session.waiting = d.pendingInput.requestId;
    renderControls();
  }
  // The history replay brings every report; only a snapshot that replaces the history
  // (older events gone from the server) is the place to take it from.
  if (baseline && typeof d.report === 'string' && d.report) {
    report.showFinal(d.runId ?? 'snapshot', d.report, 'task');
    thread.note('info', 'The latest report, from the session snapshot.');
  }
}

/**
 * Redis refuses writes (or takes them again): the run waits where it is, and says so, so that
 * a quiet run does not look stuck. Nothing of it is lost.
 * @param {ReplyEventMap['store.status']} d
 */
function onStoreStatus(d) {
  log.line('system', '[STORE]', `${d.writable ? 'writable' : `refusing writes (${d.reason ?? '?'})`}: ${d.message}`);
  ui.storeBanner.textContent = d.message;
  ui.storeBanner.hidden = d.writable;
  if (d.writable) thread.note('info', d.message);
}

/** @param {ReplyEventMap['error']} d */
function onError(d) {
  const code = d.code || 'ERROR';
  log.line('error', '[ERROR]', `${code}: ${d.message || ''}`);
  if (code === 'RESUME_UNAVAILABLE') {
    thread.note('warn', 'Older events of this session are gone from the server; showing the latest state.');
    return;
  }
  const text = d.replyTo ? session.pending.get(d.replyTo) : undefined;
  if (d.replyTo) session.pending.delete(d.replyTo);
  if (text !== undefined && !ui.message.value.trim()) {
    // The server refused what we sent: give the text back so it is not lost.
    ui.message.value = text;
    autosize();
  }
  session.cancelling = false;
  thread.note('error', `${code}: ${d.message || 'the server refused this'}`);
  renderControls();
}

/**
 * The text of a step's output (the contract leaves it open): a string, or a text field of an object.
 * @param {DurableEventMap['agent.finished']} d
 * @returns {string}
 */
function outputText(d) {
  const o = d.output;
  if (typeof o === 'string') return o;
  if (!o || typeof o !== 'object') return '';
  const fields = /** @type {Record<string, unknown>} */ (o);
  for (const k of ['text', 'report', 'answer', 'result', 'summary']) {
    const value = fields[k];
    if (typeof value === 'string') return value;
  }
  return '';
}

/** @param {DurableEventMap['agent.started']} d */
function onAgentStarted(d) {
  const attempt = Number(d.attempt) || 1;
  const key = `${d.runId}/${d.stepId}`;
  session.attempts.set(key, Math.max(session.attempts.get(key) ?? 0, attempt));
  thread.agentStarted(d);
  log.agentStarted(d, attempt);
  if (d.agent === 'aggregator') {
    const draft = session.draft;
    const same = draft && draft.runId === d.runId && draft.stepId === d.stepId;
    if (!same || attempt > draft.attempt) session.draft = { runId: d.runId, stepId: d.stepId, attempt, text: '' };
  }
}

/**
 * A step restarted elsewhere (a worker taken over) voids its earlier attempt's text and tool calls.
 * @param {{ runId: string, stepId: string, attempt: number }} d
 */
function isEarlierAttempt(d) {
  return d.attempt < (session.attempts.get(`${d.runId}/${d.stepId}`) ?? 0);
}

/** @param {DurableEventMap['agent.delta']} d */
function onAgentDelta(d) {
  if (isEarlierAttempt(d)) return;
  const text = String(d.text ?? '');
  thread.agentDelta(d, text);
  log.agentDelta(d, text);
  const draft = session.draft;
  if (d.agent === 'aggregator' && draft && draft.runId === d.runId && draft.stepId === d.stepId) {
    draft.text += text;
    report.showDraft(d.runId, draft.text, thread.runMode(d.runId));
  }
}

/** @param {DurableEventMap['agent.finished']} d */
function onAgentFinished(d) {
  const text = d.agent === 'planner' ? '' : outputText(d);
  thread.agentFinished(d, text);
  log.agentFinished(d, text);
}

/** @typedef {'run.completed' | 'run.failed' | 'run.cancelled'} RunEndEvent */

/**
 * What a run's log blocks still open (no agent.finished came) say when the run ends.
 * @type {Record<RunEndEvent, 'incomplete' | 'failed' | 'cancelled'>}
 */
const LOG_END = { 'run.completed': 'incomplete', 'run.failed': 'failed', 'run.cancelled': 'cancelled' };

/** @param {FrameOf<RunEndEvent>} frame */
function onRunEnded(frame) {
  const { runId } = frame.data;
  const seq = frame.seq;
  log.endRun(runId, LOG_END[frame.event]);
  ui.storeBanner.hidden = true;
  if (session.draft && session.draft.runId === runId) session.draft = null;
  switch (frame.event) {
    case 'run.completed': {
      const d = frame.data;
      const md = typeof d.report === 'string' ? d.report : '';
      thread.runCompleted(d);
      report.showFinal(runId, md, thread.runMode(runId));
      log.line('run run-completed', '[RUN]', `completed ${runId ?? ''}`, seq);
      log.line('report-line', '[REPORT]', report.title() || `${md.length} characters`);
      break;
    }
    case 'run.failed': {
      thread.runFailed(frame.data);
      report.dropDraft(runId);
      /** @type {Partial<RunError>} */
      const err = frame.data.error || {};
      log.line('run run-failed', '[RUN]', `failed ${runId ?? ''} (${err.code || 'ERROR'}: ${err.message || ''})`, seq);
      break;
    }
    case 'run.cancelled':
      thread.runCancelled(frame.data);
      report.dropDraft(runId);
      log.line('run run-cancelled', '[RUN]', `cancelled ${runId ?? ''}`, seq);
      break;
  }
  if (session.runId === runId) session.cancelling = false;
  // An open session list shows the new state and time.
  if (!ui.sessionsPanel.hidden) void sessions.refresh();
}

// ---------------------------------------------------------------------------------------------
// Rendering

/**
 * @param {SessionState} state
 * @param {string} [runId]
 */
function setState(state, runId) {
  session.state = typeof state === 'string' ? state : null;
  if (runId) session.runId = runId;
  if (session.state !== 'EXECUTING') session.cancelling = false;
  renderState();
}

function renderState() {
  ui.state.textContent = session.state || '—';
  ui.state.dataset.state = session.state || '';
  ui.state.title = (session.state && STATE_TITLE[session.state]) || '';
  document.title = session.state === 'EXECUTING' ? 'MAWS · running…' : 'MAWS';
  renderControls();
}

/**
 * @param {ConnectionStatus} status
 * @param {StatusInfo} info
 */
function renderStatus(status, info) {
  const label =
    status === 'reconnecting' && info.retryAt
      ? `reconnecting in ${Math.max(1, Math.round((info.retryAt - Date.now()) / 1000))} s`
      : status;
  ui.status.textContent = label;
  ui.status.dataset.status = status;
  ui.connect.textContent = conn.wanted ? 'Disconnect' : 'Connect';
  ui.connect.classList.toggle('danger', conn.wanted);
  ui.connect.classList.toggle('primary', !conn.wanted);
  const locked = conn.wanted;
  ui.host.disabled = locked;
  ui.session.disabled = locked;
  ui.token.disabled = locked;
  ui.banner.hidden = status !== 'reconnecting';
  ui.connSummary.textContent = `${conn.sessionId || ui.session.value || '—'} · ${status}`;
  if (status === 'connected') {
    hideNotice();
    setConnectionOpen(false);
  }
  renderControls();
}

function renderControls() {
  const online = conn.online;
  const mode = (session.state && MODES[session.state]) || MODES.IDLE;
  const executing = session.state === 'EXECUTING';
  ui.send.disabled = !online;
  const hint =
    executing && session.waiting
      ? 'the run waits for you: answer in its card, or here · Steer: an instruction for when it goes on'
      : mode.hint;
  ui.hint.textContent = online ? hint : conn.wanted ? 'waiting for the connection…' : 'connect first';
  ui.reviewPlan.disabled = !online || executing;
  ui.hint.dataset.mode = online ? session.state || '' : 'offline';
  ui.message.placeholder =
    executing && session.waiting ? 'Your answer (to a plan or a tool: "yes" approves)…' : mode.placeholder;
  ui.steer.hidden = !executing;
  ui.steer.disabled = !online || !executing;
  ui.cancel.hidden = !executing;
  ui.cancel.disabled = !online || !executing || session.cancelling;
  ui.cancel.textContent = session.cancelling ? 'Cancelling…' : 'Cancel';
}

/** @param {string} text */
function showNotice(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = false;
}

function hideNotice() {
  ui.notice.hidden = true;
  ui.notice.textContent = '';
}

/**
 * On narrow screens the connection fields fold away once connected.
 * @param {boolean} open
 */
function setConnectionOpen(open) {
  ui.connection.dataset.open = open ? 'true' : 'false';
  ui.connToggle.setAttribute('aria-expanded', open ? 'true' : 'false');
}

function autosize() {
  ui.message.style.height = 'auto';
  ui.message.style.height = `${Math.min(ui.message.scrollHeight + 2, 200)}px`;
}

// ---------------------------------------------------------------------------------------------
// Wiring

function init() {
  ui.host.value = location.host;
  ui.token.value = storageGet('sessionStorage', TOKEN_KEY) || '';
  const initial = sessionFromHash() || storageGet('localStorage', SESSION_KEY) || newSessionId();
  ui.session.value = SESSION_RE.test(initial) ? initial : newSessionId();

  ui.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (conn.wanted) conn.disconnect();
    else connectTo(ui.session.value.trim());
  });
  ui.newSession.addEventListener('click', () => {
    if (conn.wanted) conn.disconnect();
    connectTo(newSessionId());
  });
  ui.connToggle.addEventListener('click', () => setConnectionOpen(ui.connection.dataset.open !== 'true'));
  ui.retry.addEventListener('click', () => conn.retryNow());
  ui.send.addEventListener('click', sendMessage);
  ui.steer.addEventListener('click', steerRun);
  ui.cancel.addEventListener('click', cancelRun);
  ui.message.addEventListener('input', autosize);
  ui.message.addEventListener('keydown', (ev) => {
    // Enter sends, Shift+Enter is a newline; leave IME composition alone.
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
      ev.preventDefault();
      sendMessage();
    }
  });
  for (const chip of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('[data-example]'))) {
    chip.addEventListener('click', () => {
      ui.message.value = chip.dataset.example ?? '';
      autosize();
      ui.message.focus();
    });
  }
  // Another session typed into the address bar: switch to it.
  window.addEventListener('hashchange', () => {
    const id = sessionFromHash();
    if (id && id !== conn.sessionId) {
      if (conn.wanted) conn.disconnect();
      connectTo(id);
    }
  });
  // Back online, or the tab is visible again: skip the rest of the backoff wait.
  window.addEventListener('online', () => conn.retryNow());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') conn.retryNow();
  });

  setConnectionOpen(false);
  renderStatus('disconnected', {});
  renderState();
  connectTo(ui.session.value);
}

// Read-only view for browser tests.
window.maws = Object.freeze({
  get state() {
    return session.state;
  },
  get lastSeq() {
    return conn.lastSeq;
  },
  get reportMarkdown() {
    return report.markdown;
  },
  get status() {
    return conn.status;
  },
  get sessionId() {
    return conn.sessionId;
  },
});

init();
