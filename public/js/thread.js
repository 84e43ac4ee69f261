// The conversation: the user's messages, each run as a card with its plan as a checklist
// (planner, one row per executor step, aggregator) and the Clarifier's answers, in the order
// they happened. Rebuilt from the session's history on every page load.

import { el, cssToken, followBottom, reportTitle } from './util.js';

const AGENT_LABEL = { planner: 'planner', executor: 'executor', aggregator: 'aggregator', clarifier: 'clarifier' };
const STATE_LABEL = {
  waiting: 'waiting',
  running: 'running',
  restarted: 'restarted',
  done: 'done',
  failed: 'failed',
  cancelled: 'cancelled',
};
const RUN_LABEL = {
  queued: 'Queued',
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

/**
 * root: the thread container (scrolls on wide screens).
 * opts.onShowReport(runId): a "Show report" button was pressed.
 */
export function createThread(root, opts) {
  const runs = new Map();
  const empty = root.querySelector('.empty-state');

  // Follow new output while the reader is at the bottom; stop when they scroll up to read.
  const follow = followBottom(root, 80);

  function append(node) {
    if (empty) empty.hidden = true;
    root.appendChild(node);
    follow.grew();
    return node;
  }

  function grew(fn) {
    fn();
    follow.grew();
  }

  // ------------------------------------------------------------------------------------------
  // Messages and notes

  function userMessage(d, seq) {
    const kind = ['task', 'refinement', 'chat'].includes(d.kind) ? d.kind : 'message';
    const label = { task: 'New task', refinement: 'Refinement', chat: 'Question', message: 'Message' }[kind];
    const node = el(
      'div',
      `msg user kind-${kind}`,
      undefined,
      el('div', 'msg-label', label),
      el('div', 'msg-text', d.text),
    );
    if (seq !== undefined) node.dataset.seq = String(seq);
    return append(node);
  }

  function chatResponse(d, seq) {
    const node = el(
      'div',
      'msg assistant clarifier',
      undefined,
      el('div', 'msg-label', 'Clarifier'),
      el('div', 'msg-text', d.text ?? ''),
    );
    if (seq !== undefined) node.dataset.seq = String(seq);
    return append(node);
  }

  /** kind: 'error' | 'info' | 'warn' */
  function note(kind, text) {
    return append(el('div', `note note-${cssToken(kind)}`, text));
  }

  // ------------------------------------------------------------------------------------------
  // Runs

  function getRun(runId, mode) {
    const id = String(runId ?? '');
    let run = runs.get(id);
    if (run) {
      if (mode && run.mode !== mode) setMode(run, mode);
      return run;
    }
    const node = el('article', 'run-card');
    node.dataset.runId = id;
    const kind = el('span', 'run-kind');
    const status = el('span', 'run-status');
    const progress = el('span', 'run-progress');
    const bar = el('span', 'run-bar-fill');
    const list = el('ol', 'checklist');
    node.append(
      el('header', 'run-head', undefined, kind, status, progress),
      el('div', 'run-bar', undefined, bar),
      list,
    );
    run = { id, node, kind, status, progress, bar, list, steps: [], mode: '', state: '' };
    runs.set(id, run);
    setMode(run, mode || 'task');
    setRunStatus(run, 'queued');
    // Known from the start: the planner first, the aggregator last; the executors come with the plan.
    addStep(run, { agent: 'planner', title: 'Plan the work' });
    addStep(run, { agent: 'aggregator', title: 'Write the report' });
    append(node);
    return run;
  }

  function setMode(run, mode) {
    run.mode = mode === 'refinement' ? 'refinement' : 'task';
    run.node.dataset.mode = run.mode;
    run.kind.textContent = run.mode === 'refinement' ? 'Refinement' : 'Task';
  }

  function setRunStatus(run, state) {
    run.state = state;
    run.node.dataset.status = state;
    run.status.textContent = RUN_LABEL[state] || state;
    updateProgress(run);
  }

  function updateProgress(run) {
    const total = run.steps.length;
    const done = run.steps.filter((s) => s.state === 'done').length;
    run.progress.textContent = `${done} of ${total} steps`;
    run.bar.style.width = `${total ? Math.round((done / total) * 100) : 0}%`;
  }

  // A step row. `before`: insert before this step (executors go before the aggregator).
  function addStep(run, { agent, stepId, title, description }, before) {
    const node = el('li', 'task-step');
    const titleEl = el('span', 'step-title', title || '');
    const descEl = el('div', 'step-desc', description || '');
    const stateEl = el('span', 'step-state');
    const toggle = el('button', 'step-toggle', 'Output');
    toggle.type = 'button';
    toggle.setAttribute('aria-expanded', 'false');
    const text = document.createTextNode('');
    const pre = el('pre', 'step-text', undefined, text);
    node.append(
      el(
        'div',
        'step-row',
        undefined,
        el('span', 'step-icon'),
        el(
          'div',
          'step-main',
          undefined,
          el('div', 'step-line', undefined, titleEl, el('span', 'step-agent', AGENT_LABEL[agent] || agent)),
          descEl,
        ),
        stateEl,
        toggle,
      ),
      pre,
    );
    node.dataset.agent = cssToken(agent);
    const step = { node, agent, stepId: stepId ?? null, titleEl, descEl, stateEl, toggle, text, attempt: 0, state: '' };
    step.userToggled = false;
    toggle.addEventListener('click', () => {
      step.userToggled = true;
      setOpen(step, node.dataset.open !== 'true');
    });
    if (stepId) node.dataset.stepId = String(stepId);
    setStepState(step, 'waiting');
    setOpen(step, false);
    const beforeStep = before ? before.node : null;
    run.list.insertBefore(node, beforeStep);
    if (before) run.steps.splice(run.steps.indexOf(before), 0, step);
    else run.steps.push(step);
    updateProgress(run);
    return step;
  }

  function setOpen(step, open) {
    step.node.dataset.open = open ? 'true' : 'false';
    step.toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
  }

  function setStepState(step, state, attempt) {
    step.state = state;
    step.node.dataset.state = state;
    let label = STATE_LABEL[state] || state;
    if (state === 'restarted' && attempt) label = `restarted · attempt ${attempt}`;
    else if (state === 'done' && step.node.dataset.restarted) label = 'done · restarted';
    step.stateEl.textContent = label;
  }

  /** The row for an event's step: by stepId, else the first unbound row of that agent. */
  function findStep(run, d, create) {
    const stepId = String(d.stepId ?? '');
    let step = run.steps.find((s) => s.stepId === stepId);
    if (step || !create) return step;
    const free = run.steps.filter((s) => s.stepId === null && s.agent === d.agent);
    step = free.find((s) => d.title && s.titleEl.textContent === String(d.title)) || free[0];
    if (!step) {
      const aggregator = run.steps.find((s) => s.agent === 'aggregator');
      step = addStep(run, { agent: d.agent, title: d.title }, d.agent === 'aggregator' ? undefined : aggregator);
    }
    step.stepId = stepId;
    step.node.dataset.stepId = stepId;
    return step;
  }

  function agentStarted(d) {
    if (d.agent === 'clarifier') return;
    const run = getRun(d.runId);
    if (run.state === 'queued') setRunStatus(run, 'running');
    const step = findStep(run, d, true);
    const attempt = Number(d.attempt) || 1;
    if (d.title) step.titleEl.textContent = String(d.title);
    grew(() => {
      if (step.attempt && attempt > step.attempt) {
        // A worker took over a crashed step: its earlier output is void.
        step.text.data = '';
        step.node.classList.remove('has-text');
        step.node.dataset.restarted = 'true';
        setStepState(step, 'restarted', attempt);
      } else if (step.state !== 'done') {
        setStepState(step, step.node.dataset.restarted ? 'restarted' : 'running', attempt);
      }
      step.attempt = Math.max(step.attempt, attempt);
      if (!step.userToggled) setOpen(step, true);
    });
    updateProgress(run);
  }

  function agentDelta(d, text) {
    if (d.agent === 'clarifier' || !text) return;
    const run = getRun(d.runId);
    const step = findStep(run, d, true);
    grew(() => {
      step.text.appendData(text);
      step.node.classList.add('has-text');
    });
  }

  function agentFinished(d, fallbackText) {
    if (d.agent === 'clarifier') return;
    const run = getRun(d.runId);
    const step = findStep(run, d, true);
    if (!step.text.data && fallbackText) {
      step.text.data = fallbackText;
      step.node.classList.add('has-text');
    }
    setStepState(step, 'done');
    if (!step.userToggled) setOpen(step, false);
    const plan = d.agent === 'planner' && d.output && Array.isArray(d.output.plan) ? d.output.plan : null;
    if (plan) addPlan(run, plan);
    updateProgress(run);
  }

  // The planner's plan becomes one waiting row per executor step, between planner and aggregator.
  function addPlan(run, plan) {
    const aggregator = run.steps.find((s) => s.agent === 'aggregator');
    const executors = run.steps.filter((s) => s.agent === 'executor');
    grew(() => {
      plan.forEach((item, i) => {
        const title = typeof item === 'string' ? item : String(item?.title ?? `Step ${i + 1}`);
        const description = item && typeof item.description === 'string' ? item.description : '';
        const existing = executors[i];
        if (existing) {
          if (!existing.titleEl.textContent) existing.titleEl.textContent = title;
          if (!existing.descEl.textContent) existing.descEl.textContent = description;
        } else {
          addStep(run, { agent: 'executor', title, description }, aggregator);
        }
      });
    });
  }

  function endRun(run, state) {
    for (const step of run.steps) {
      if (step.state !== 'done') {
        setStepState(step, state === 'completed' ? 'done' : state);
        if (!step.userToggled) setOpen(step, false);
      }
    }
    setRunStatus(run, state);
  }

  function runCompleted(d) {
    const run = getRun(d.runId);
    endRun(run, 'completed');
    const report = typeof d.report === 'string' ? d.report : '';
    const show = el('button', 'btn small', 'Show report');
    show.type = 'button';
    show.addEventListener('click', () => opts.onShowReport(run.id));
    append(
      el(
        'div',
        'msg assistant report-ready',
        undefined,
        el('div', 'msg-label', run.mode === 'refinement' ? 'Refined report ready' : 'Report ready'),
        el('div', 'msg-text', reportTitle(report) || 'Report'),
        el('div', 'msg-actions', undefined, show),
      ),
    ).dataset.runId = run.id;
  }

  function runFailed(d) {
    const run = getRun(d.runId);
    endRun(run, 'failed');
    const err = d.error || {};
    note('error', `Run failed${err.code ? ` (${err.code})` : ''}${err.message ? `: ${err.message}` : ''}`);
  }

  function runCancelled(d) {
    endRun(getRun(d.runId), 'cancelled');
    note('warn', 'Run cancelled');
  }

  return {
    userMessage,
    chatResponse,
    note,
    runQueued: (d) => getRun(d.runId, d.mode),
    runStarted: (d) => {
      const run = getRun(d.runId, d.mode);
      if (run.state === 'queued') setRunStatus(run, 'running');
    },
    agentStarted,
    agentDelta,
    agentFinished,
    runCompleted,
    runFailed,
    runCancelled,
    runMode: (runId) => runs.get(String(runId))?.mode,
    scrollToEnd() {
      follow.pin(true);
    },
    clear() {
      runs.clear();
      follow.pin();
      root.replaceChildren(...(empty ? [empty] : []));
      if (empty) empty.hidden = false;
    },
  };
}
