// @ts-check
// A step's tool calls on the page: one collapsible entry per call (tool, input, then its
// result or error and how long it took), inside the step that made it. A step restarted
// elsewhere drops its earlier attempt's calls, as it drops their text. Text only, never HTML.

import { el, cssToken } from './util.js';

/** @typedef {import('../../src/contract').DurableEventMap} DurableEventMap */

/** Longest input or output shown in a call's one-line summary. */
const SUMMARY_CHARS = 60;

/**
 * @typedef {object} ToolList
 * @property {HTMLDivElement} node
 * @property {(d: DurableEventMap['tool.called']) => void} called
 * @property {(d: DurableEventMap['tool.result']) => void} result
 * @property {() => void} clear
 */

/** @returns {ToolList} */
export function createToolList() {
  const node = el('div', 'step-tools');
  node.hidden = true;
  /** @type {Map<string, { node: HTMLDetailsElement, status: HTMLSpanElement, body: HTMLDivElement }>} */
  const calls = new Map();

  /** @param {DurableEventMap['tool.called']} d */
  function entry(d) {
    let call = calls.get(String(d.toolCallId));
    if (call) return call;
    const status = el('span', 'tool-status', 'running…');
    const body = el('div', 'tool-body');
    const details = /** @type {HTMLDetailsElement} */ (
      el(
        'details',
        'tool-call',
        undefined,
        el(
          'summary',
          undefined,
          undefined,
          el('span', 'tool-name', String(d.tool)),
          el('span', 'tool-input', short(inputText(d.input))),
          status,
        ),
        body,
      )
    );
    details.dataset.tool = cssToken(d.tool);
    details.dataset.toolCallId = String(d.toolCallId);
    details.dataset.state = 'running';
    body.append(el('div', 'tool-label', 'Input'), el('pre', 'tool-json', pretty(d.input)));
    call = { node: details, status, body };
    calls.set(String(d.toolCallId), call);
    node.append(details);
    node.hidden = false;
    return call;
  }

  return {
    node,
    called(d) {
      entry(d);
    },
    result(d) {
      const call = entry({ ...d, input: undefined });
      const ms = Number(d.ms) || 0;
      const flags = [d.truncated ? 'cut to the output cap' : '', d.recorded ? 'recorded result, not run again' : '']
        .filter(Boolean)
        .join('; ');
      call.node.dataset.state = d.ok ? 'ok' : 'error';
      if (d.ok) {
        call.status.textContent = `→ ${short(inputText(d.output))} · ${ms} ms`;
        call.body.append(el('div', 'tool-label', 'Result'), el('pre', 'tool-json', pretty(d.output)));
      } else {
        const code = d.error?.code ?? 'TOOL_FAILED';
        call.status.textContent = `${code} · ${ms} ms`;
        call.body.append(
          el('div', 'tool-label', 'Error'),
          el('pre', 'tool-json tool-error', `${code}: ${d.error?.message ?? ''}`),
        );
      }
      if (flags) call.body.append(el('div', 'tool-note', flags));
    },
    clear() {
      calls.clear();
      node.replaceChildren();
      node.hidden = true;
    },
  };
}

/**
 * A value as one line: a string as it is, anything else as JSON; `{expression}` shows the expression.
 * @param {unknown} value
 */
function inputText(value) {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const fields = Object.values(value);
    if (fields.length === 1 && typeof fields[0] === 'string') return fields[0];
  }
  return JSON.stringify(value) ?? '';
}

/** @param {string} text */
function short(text) {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > SUMMARY_CHARS ? `${line.slice(0, SUMMARY_CHARS - 1)}…` : line;
}

/** @param {unknown} value */
function pretty(value) {
  return typeof value === 'string' ? value : (JSON.stringify(value, null, 2) ?? '');
}
