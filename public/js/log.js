// @ts-check
// The output log: one line per event, told apart by a prefix ([USER], [STATE], [RUN],
// [AGENT STREAM], [CHAT_RESPONSE], [REPORT], [ERROR], [CONN]). An agent's step is one
// [AGENT STREAM] block whose text grows as its deltas arrive. Text only, never HTML.

import { el, cssToken, followBottom } from './util.js';

/** @typedef {import('../../src/contract').DurableEventMap} DurableEventMap */
/** @typedef {import('./thread.js').StepEvent} StepEvent */

/**
 * An agent's step in the log.
 * @typedef {object} Block
 * @property {HTMLDivElement} node
 * @property {Text} text
 * @property {HTMLSpanElement} title
 * @property {HTMLSpanElement} status
 * @property {HTMLSpanElement} restart
 * @property {string} runId
 * @property {number} attempt
 * @property {boolean} done
 */

/** @param {HTMLElement} root */
export function createLog(root) {
  /** @type {Map<string, Block>} "runId/stepId" -> block */
  const blocks = new Map();

  const follow = followBottom(root, 48);

  /**
   * @template {Node} N
   * @param {N} node
   */
  function append(node) {
    root.appendChild(node);
    follow.grew();
    return node;
  }

  /**
   * "<prefix> <text>", the text inserted as text.
   * @param {string} kind the line's classes
   * @param {string} prefix
   * @param {string} text
   * @param {number} [seq]
   */
  function line(kind, prefix, text, seq) {
    const node = el('div', `line ${kind}`);
    if (seq !== undefined) node.dataset.seq = String(seq);
    node.append(el('span', 'prefix', prefix), ' ', String(text ?? ''));
    return append(node);
  }

  /** @param {StepEvent} d */
  function block(d) {
    const key = `${d.runId}/${d.stepId}`;
    let b = blocks.get(key);
    if (b) return b;
    const node = el('div', `line agent-stream agent-${cssToken(d.agent)}`);
    node.dataset.agent = String(d.agent ?? '');
    node.dataset.stepId = String(d.stepId ?? '');
    const title = el('span', 'title', d.title ? String(d.title) : '');
    const status = el('span', 'badge status-badge', 'streaming');
    const restart = el('span', 'badge restart-badge');
    restart.hidden = true;
    const head = el(
      'div',
      'agent-head',
      undefined,
      el('span', 'prefix', '[AGENT STREAM]'),
      ' ',
      el('span', 'agent-name', String(d.agent ?? '?')),
      ' ',
      el('span', 'step-id', String(d.stepId ?? '?')),
      ': ',
      title,
      ' ',
      status,
      ' ',
      restart,
    );
    const text = document.createTextNode('');
    node.append(head, el('pre', 'agent-text', undefined, text));
    node.dataset.status = 'streaming';
    b = { node, text, title, status, restart, runId: d.runId, attempt: 0, done: false };
    blocks.set(key, b);
    append(node);
    return b;
  }

  /**
   * @param {Block} b
   * @param {string} status 'streaming', 'done', or how the run ended
   */
  function setBlockStatus(b, status) {
    b.done = status !== 'streaming';
    b.status.textContent = status;
    b.node.dataset.status = status;
  }

  return {
    line,
    clear() {
      blocks.clear();
      root.replaceChildren();
      follow.pin();
    },
    /**
     * @param {DurableEventMap['agent.started']} d
     * @param {number} attempt
     */
    agentStarted(d, attempt) {
      const b = block(d);
      if (b.attempt && attempt > b.attempt) {
        // A worker took over a crashed step: its earlier output is void.
        b.text.data = '';
        b.restart.textContent = `restarted (attempt ${attempt})`;
        b.restart.hidden = false;
        setBlockStatus(b, 'streaming');
      }
      b.attempt = Math.max(b.attempt, attempt);
      if (d.title) b.title.textContent = String(d.title);
    },
    /**
     * @param {DurableEventMap['agent.delta']} d
     * @param {string} text
     */
    agentDelta(d, text) {
      block(d).text.appendData(text);
      follow.grew();
    },
    /**
     * @param {DurableEventMap['agent.finished']} d
     * @param {string} fallbackText shown if no delta brought any text
     */
    agentFinished(d, fallbackText) {
      const b = block(d);
      if (!b.text.data && fallbackText) b.text.data = fallbackText;
      setBlockStatus(b, 'done');
    },
    /**
     * Steps left open when a run ends will get no more output: say so.
     * @param {string} runId
     * @param {'incomplete' | 'failed' | 'cancelled'} status
     */
    endRun(runId, status) {
      for (const b of blocks.values()) if (b.runId === runId && !b.done) setBlockStatus(b, status);
    },
  };
}
