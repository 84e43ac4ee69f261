// @ts-check
// The conversation: the user's messages, each run as a card with its plan as a checklist
// (planner, one row per executor step, aggregator) and the Clarifier's answers, in the order
// they happened. Rebuilt from the session's history on every page load.

import { copyText, el, cssToken, flash, followBottom, reportTitle } from './util.js';
import { createToolList } from './tools.js';
import { createInputCard } from './input-card.js';

/** @typedef {import('../../src/contract').DurableEventMap} DurableEventMap */
/** @typedef {import('../../src/contract').AgentName} AgentName */
/** @typedef {import('../../src/contract').RunMode} RunMode */
/** @typedef {import('../../src/contract').PlanItem} PlanItem */
/** @typedef {import('../../src/contract').RunError} RunError */
/** @typedef {'waiting' | 'running' | 'restarted' | 'done' | 'failed' | 'cancelled' | 'skipped'} StepState */
/** @typedef {'queued' | 'running' | 'completed' | 'failed' | 'cancelled'} RunStatus */
/**
 * What the agent.started, agent.delta and agent.finished events say about their step.
 * @typedef {{ runId: string, agent: AgentName, stepId: string, title?: string }} StepEvent
 */

/**
 * A row of a run's checklist.
 * @typedef {object} Step
 * @property {HTMLLIElement} node
 * @property {AgentName} agent
 * @property {string | null} stepId null until an event names the row's step
 * @property {HTMLSpanElement} titleEl
 * @property {HTMLDivElement} descEl
 * @property {HTMLSpanElement} stateEl
 * @property {HTMLButtonElement} toggle
 * @property {Text} text
 * @property {import('./tools.js').ToolList} tools the step's tool calls (its latest attempt's)
 * @property {number} attempt
 * @property {StepState} state
 * @property {boolean} userToggled
 */

/**
 * A run's card.
 * @typedef {object} Run
 * @property {string} id
 * @property {HTMLElement} node
 * @property {HTMLSpanElement} kind
 * @property {HTMLSpanElement} status
 * @property {HTMLSpanElement} progress
 * @property {HTMLSpanElement} bar
 * @property {HTMLOListElement} list
 * @property {Step[]} steps
 * @property {RunMode} mode
 * @property {RunStatus} state
 */

/** @type {Record<AgentName, string>} */
const AGENT_LABEL = { planner: 'planner', executor: 'executor', aggregator: 'aggregator', clarifier: 'clarifier' };
/** @type {Record<StepState, string>} */
const STATE_LABEL = {
  waiting: 'waiting',
  running: 'running',
  restarted: 'restarted',
  done: 'done',
  failed: 'failed',
  cancelled: 'cancelled',
  skipped: 'dropped',
};
/** @type {Record<RunStatus, string>} */
const RUN_LABEL = {
  queued: 'Queued',
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

/**
 * @param {HTMLElement} root the thread container (scrolls on wide screens)
 * @param {{ onShowReport(runId: string): void, onRespond(requestId: string, answer: import('./input-card.js').InputAnswer): void }} opts
 *   onShowReport: a "Show report" button was pressed; onRespond: an input card was answered
 */
export function createThread(root, opts) {
  /** @type {Map<string, Run>} */
  const runs = new Map();
  /** @type {HTMLElement | null} */
  const empty = root.querySelector('.empty-state');

  // Follow new output while the reader is at the bottom; stop when they scroll up to read.
  const follow = followBottom(root, 80);

  /**
   * @template {HTMLElement} N
   * @param {N} node
   */
  function append(node) {
    if (empty) empty.hidden = true;
    root.appendChild(node);
    follow.grew();
    return node;
  }

  /** @param {() => void} fn */
  function grew(fn) {
    fn();
    follow.grew();
  }

  // ------------------------------------------------------------------------------------------
  // Messages and notes

  /**
   * @param {DurableEventMap['user.message']} d
   * @param {number} [seq]
   */
  function userMessage(d, seq) {
    const kind = ['task', 'refinement', 'chat', 'answer', 'steer'].includes(d.kind) ? d.kind : 'message';
    const label = {
      task: 'New task',
      refinement: 'Refinement',
      chat: 'Question',
      answer: 'Answer',
      steer: 'Instruction',
      message: 'Message',
    }[kind];
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

  /**
   * @param {DurableEventMap['chat.response']} d
   * @param {number} [seq]
   */
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

  /**
   * @param {'error' | 'info' | 'warn'} kind
   * @param {string} text
   */
  function note(kind, text) {
    return append(el('div', `note note-${cssToken(kind)}`, text));
  }

  // ------------------------------------------------------------------------------------------
  // Runs

  /**
   * @param {string} runId
   * @param {RunMode} [mode]
   * @returns {Run}
   */
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
    run = { id, node, kind, status, progress, bar, list, steps: [], mode: 'task', state: 'queued' };
    runs.set(id, run);
    setMode(run, mode || 'task');
    setRunStatus(run, 'queued');
    // Known from the start: the planner first, the aggregator last; the executors come with the plan.
    addStep(run, { agent: 'planner', title: 'Plan the work' });
    addStep(run, { agent: 'aggregator', title: 'Write the report' });
    append(node);
    return run;
  }

  /**
   * The run's OpenTelemetry trace (when the deployment traces): its id, shortened, on a button
   * that copies the whole id for the operator's trace viewer.
   * @param {Run} run
   * @param {string} traceId
   */
  function showTrace(run, traceId) {
    if (run.node.querySelector('.run-trace')) return;
    const label = `Trace ${traceId.slice(0, 8)}`;
    const button = el('button', 'run-trace', label);
    button.type = 'button';
    button.dataset.traceId = traceId;
    button.title = `Trace ${traceId}: click to copy`;
    // The visible text first: what a person sees is what a voice user says.
    button.setAttribute('aria-label', `${label}: copy the whole trace id`);
    button.addEventListener('click', () => {
      void copyText(traceId).then(() => flash(button, 'Copied'));
    });
    run.node.querySelector('.run-head')?.append(button);
  }

  /**
   * @param {Run} run
   * @param {RunMode} mode
   */
  function setMode(run, mode) {
    run.mode = mode === 'refinement' ? 'refinement' : 'task';
    run.node.dataset.mode = run.mode;
    run.kind.textContent = run.mode === 'refinement' ? 'Refinement' : 'Task';
  }

  /**
   * @param {Run} run
   * @param {RunStatus} state
   */
  function setRunStatus(run, state) {
    run.state = state;
    run.node.dataset.status = state;
    run.status.textContent = RUN_LABEL[state] || state;
    updateProgress(run);
  }

  /** @param {Run} run */
  function updateProgress(run) {
    const total = run.steps.filter((s) => s.state !== 'skipped').length;
    const done = run.steps.filter((s) => s.state === 'done').length;
    run.progress.textContent = `${done} of ${total} steps`;
    run.bar.style.width = `${total ? Math.round((done / total) * 100) : 0}%`;
  }

  /**
   * A step row. `before`: insert before this step (executors go before the aggregator).
   * @param {Run} run
   * @param {{ agent: AgentName, stepId?: string, title?: string, description?: string }} step
   * @param {Step} [before]
   * @returns {Step}
   */
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
    const tools = createToolList();
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
      tools.node,
      pre,
    );
    node.dataset.agent = cssToken(agent);
    /** @type {Step} */
    const step = {
      node,
      agent,
      stepId: stepId ?? null,
      titleEl,
      descEl,
      stateEl,
      toggle,
      text,
      tools,
      attempt: 0,
      state: 'waiting',
      userToggled: false,
    };
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

  /**
   * @param {Step} step
   * @param {boolean} open
   */
  function setOpen(step, open) {
    step.node.dataset.open = open ? 'true' : 'false';
    step.toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
  }

  /**
   * @param {Step} step
   * @param {StepState} state
   * @param {number} [attempt]
   */
  function setStepState(step, state, attempt) {
    step.state = state;
    step.node.dataset.state = state;
    let label = STATE_LABEL[state] || state;
    if (state === 'restarted' && attempt) label = `restarted · attempt ${attempt}`;
    else if (state === 'done' && step.node.dataset.restarted) label = 'done · restarted';
    step.stateEl.textContent = label;
  }

  /**
   * The row for an event's step: by stepId, else the first unbound row of that agent, else a new row.
   * @param {Run} run
   * @param {StepEvent} d
   * @returns {Step}
   */
  function findStep(run, d) {
    const stepId = String(d.stepId ?? '');
    let step = run.steps.find((s) => s.stepId === stepId);
    if (step) return step;
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

  /** @param {DurableEventMap['agent.started']} d */
  function agentStarted(d) {
    if (d.agent === 'clarifier') return;
    const run = getRun(d.runId);
    if (run.state === 'queued') setRunStatus(run, 'running');
    const step = findStep(run, d);
    const attempt = Number(d.attempt) || 1;
    if (d.title) step.titleEl.textContent = String(d.title);
    grew(() => {
      if (step.attempt && attempt > step.attempt) {
        // A worker took over a crashed step: its earlier output is void.
        step.text.data = '';
        step.tools.clear();
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

  /**
   * @param {DurableEventMap['agent.delta']} d
   * @param {string} text
   */
  function agentDelta(d, text) {
    if (d.agent === 'clarifier' || !text) return;
    const run = getRun(d.runId);
    const step = findStep(run, d);
    grew(() => {
      step.text.appendData(text);
      step.node.classList.add('has-text');
    });
  }

  /** @param {DurableEventMap['tool.called']} d */
  function toolCalled(d) {
    const step = findStep(getRun(d.runId), { ...d, agent: 'executor' });
    grew(() => step.tools.called(d));
  }

  /** @param {DurableEventMap['tool.result']} d */
  function toolResult(d) {
    const step = findStep(getRun(d.runId), { ...d, agent: 'executor' });
    grew(() => step.tools.result(d));
  }

  /**
   * @param {DurableEventMap['agent.finished']} d
   * @param {string} fallbackText shown if no delta brought any text
   */
  function agentFinished(d, fallbackText) {
    if (d.agent === 'clarifier') return;
    const run = getRun(d.runId);
    const step = findStep(run, d);
    if (!step.text.data && fallbackText) {
      step.text.data = fallbackText;
      step.node.classList.add('has-text');
    }
    setStepState(step, 'done');
    if (!step.userToggled) setOpen(step, false);
    // The planner's own plan (a revision comes as plan.updated).
    const plan = d.agent === 'planner' && d.stepId === 'plan' ? planOf(d.output) : null;
    if (plan) addPlan(run, plan);
    updateProgress(run);
  }

  /**
   * The planner's plan becomes one waiting row per executor step (`exec-1` ...), between
   * planner and aggregator.
   * @param {Run} run
   * @param {unknown[]} plan
   */
  function addPlan(run, plan) {
    const aggregator = run.steps.find((s) => s.agent === 'aggregator');
    const executors = run.steps.filter((s) => s.agent === 'executor');
    grew(() => {
      plan.forEach((item, i) => {
        const { title, description } = planItem(item, i);
        const stepId = `exec-${i + 1}`;
        const existing = executors.find((s) => s.stepId === stepId) || executors.filter((s) => s.stepId === null)[0];
        if (existing) {
          if (!existing.titleEl.textContent) existing.titleEl.textContent = title;
          if (!existing.descEl.textContent) existing.descEl.textContent = description;
          bind(existing, stepId);
        } else {
          addStep(run, { agent: 'executor', stepId, title, description }, aggregator);
        }
      });
    });
  }

  /**
   * @param {Step} step
   * @param {string} stepId
   */
  function bind(step, stepId) {
    step.stepId = stepId;
    step.node.dataset.stepId = stepId;
  }

  /**
   * A step that failed for good: marked failed, with why.
   * @param {DurableEventMap['agent.failed']} d
   */
  function agentFailed(d) {
    const run = getRun(d.runId);
    const step = findStep(run, d);
    grew(() => {
      setStepState(step, 'failed');
      step.node.querySelector('.step-error')?.remove();
      const why = `${d.error?.code ?? 'FAILED'}: ${d.error?.message ?? ''}`;
      step.node.querySelector('.step-main')?.append(el('div', 'step-error', why));
      if (!step.userToggled) setOpen(step, false);
    });
    updateProgress(run);
  }

  /**
   * A revised plan: its version on the card, the dropped steps struck through, the new steps
   * added in the plan's order before the aggregator.
   * @param {DurableEventMap['plan.updated']} d
   */
  function planUpdated(d) {
    const run = getRun(d.runId);
    const aggregator = run.steps.find((s) => s.agent === 'aggregator');
    grew(() => {
      let version = run.node.querySelector('.plan-version');
      if (!version) {
        version = el('div', 'plan-version');
        run.list.before(version);
      }
      const why = { step_failed: 'after a step failed', steer: 'as you asked', review: 'after your review' }[d.reason];
      version.textContent = `Plan version ${d.version}${why ? `, revised ${why}` : ''}`;
      for (const id of d.dropped) {
        const step = run.steps.find((s) => s.stepId === id);
        if (step) dropStep(step);
      }
      for (const item of d.plan) {
        if (run.steps.some((s) => s.stepId === item.stepId)) continue;
        addStep(run, { agent: 'executor', ...item }, aggregator);
      }
    });
    updateProgress(run);
  }

  /**
   * The person's instruction, taken into the run before a step: a note on the run's card,
   * above its steps (the planner's revision that follows shows what changed).
   * @param {DurableEventMap['run.steered']} d
   * @param {number} [seq]
   */
  function runSteered(d, seq) {
    const run = getRun(d.runId);
    grew(() => {
      const note = el(
        'div',
        'steer-note',
        // Before the planner's revision (a step boundary), or into a step between its tool rounds.
        `Applied your instruction ${d.appliedBefore.startsWith('replan-') ? 'before the next step' : 'within the running step'} (${d.appliedBefore}): "${d.text}"`,
      );
      note.dataset.step = d.appliedBefore;
      if (seq !== undefined) note.dataset.seq = String(seq);
      const version = run.node.querySelector('.plan-version');
      (version ?? run.list).before(note);
    });
  }

  /** @type {Map<string, import('./input-card.js').InputCard>} */
  const inputCards = new Map();

  /**
   * A run asks the person: its card, once per request (the history and a snapshot may both bring it).
   * @param {import('../../src/contract').InputRequest & { runId?: string }} d
   * @param {number} [seq]
   */
  function inputRequested(d, seq) {
    if (inputCards.has(d.requestId)) return;
    const card = createInputCard(d, { onRespond: opts.onRespond });
    inputCards.set(d.requestId, card);
    if (seq !== undefined) card.node.dataset.seq = String(seq);
    append(card.node);
  }

  /** @param {DurableEventMap['run.input_resolved']} d */
  function inputResolved(d) {
    inputCards.get(d.requestId)?.resolved(d);
  }

  /** @param {DurableEventMap['agent.skipped']} d */
  function agentSkipped(d) {
    const run = getRun(d.runId);
    const step = run.steps.find((s) => s.stepId === d.stepId);
    if (step) grew(() => dropStep(step));
    updateProgress(run);
  }

  /** @param {Step} step */
  function dropStep(step) {
    step.node.classList.add('dropped');
    setStepState(step, 'skipped');
  }

  /**
   * @param {Run} run
   * @param {'completed' | 'failed' | 'cancelled'} state
   */
  function endRun(run, state) {
    for (const step of run.steps) {
      if (step.state !== 'done' && step.state !== 'skipped' && !(state === 'completed' && step.state === 'failed')) {
        setStepState(step, state === 'completed' ? 'done' : state);
        if (!step.userToggled) setOpen(step, false);
      }
    }
    setRunStatus(run, state);
  }

  /** @param {DurableEventMap['run.completed']} d */
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

  /** @param {DurableEventMap['run.failed']} d */
  function runFailed(d) {
    const run = getRun(d.runId);
    endRun(run, 'failed');
    /** @type {Partial<RunError>} */
    const err = d.error || {};
    note('error', `Run failed${err.code ? ` (${err.code})` : ''}${err.message ? `: ${err.message}` : ''}`);
  }

  /** @param {DurableEventMap['run.cancelled']} d */
  function runCancelled(d) {
    endRun(getRun(d.runId), 'cancelled');
    note('warn', 'Run cancelled');
  }

  return {
    userMessage,
    chatResponse,
    note,
    /** @param {DurableEventMap['run.queued']} d */
    runQueued: (d) => getRun(d.runId, d.mode),
    /** @param {DurableEventMap['run.started']} d */
    runStarted: (d) => {
      const run = getRun(d.runId, d.mode);
      if (run.state === 'queued') setRunStatus(run, 'running');
      if (d.traceId) showTrace(run, d.traceId);
    },
    agentStarted,
    agentDelta,
    agentFinished,
    agentFailed,
    planUpdated,
    agentSkipped,
    runSteered,
    inputRequested,
    inputResolved,
    toolCalled,
    toolResult,
    runCompleted,
    runFailed,
    runCancelled,
    /** @param {string} runId */
    runMode: (runId) => runs.get(String(runId))?.mode,
    scrollToEnd() {
      follow.pin(true);
    },
    clear() {
      runs.clear();
      inputCards.clear();
      follow.pin();
      root.replaceChildren(...(empty ? [empty] : []));
      if (empty) empty.hidden = false;
    },
  };
}

/**
 * The plan in a planner's output, if it has one (the contract leaves `output` open).
 * @param {unknown} output
 * @returns {unknown[] | null}
 */
function planOf(output) {
  const plan = output && typeof output === 'object' && 'plan' in output ? output.plan : null;
  return Array.isArray(plan) ? plan : null;
}

/**
 * One item of a plan: a PlanItem, or a bare title.
 * @param {unknown} item
 * @param {number} i its index
 * @returns {PlanItem}
 */
function planItem(item, i) {
  if (typeof item === 'string') return { title: item, description: '' };
  /** @type {{ title?: unknown, description?: unknown }} */
  const fields = item && typeof item === 'object' ? item : {};
  return {
    title: String(fields.title ?? `Step ${i + 1}`),
    description: typeof fields.description === 'string' ? fields.description : '',
  };
}
