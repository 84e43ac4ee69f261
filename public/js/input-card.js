// @ts-check
// A run's question to the person (v2 "People in the loop"), as a card in the conversation.
// A plan review shows the plan as an editable list (rename, reorder, remove, add subtasks)
// with Approve, and a box for feedback instead; the card says how long it waits, and once the
// request is resolved (answered, expired, cancelled) it says so and locks. Text only, never HTML.

import { el } from './util.js';

/** @typedef {import('../../src/contract').DurableEventMap} DurableEventMap */
/** @typedef {import('../../src/contract').InputRequest} InputRequest */
/** @typedef {import('../../src/contract').PlanItem} PlanItem */
/** @typedef {import('../../src/contract').PlanReviewAnswer} PlanReviewAnswer */
/** @typedef {PlanReviewAnswer | import('../../src/contract').QuestionAnswer | import('../../src/contract').ToolApprovalAnswer} InputAnswer */

/**
 * @typedef {object} InputCard
 * @property {HTMLElement} node
 * @property {(d: DurableEventMap['run.input_resolved']) => void} resolved
 */

/**
 * @param {InputRequest & { runId?: string }} request
 * @param {{ onRespond(requestId: string, answer: InputAnswer): void }} opts
 * @returns {InputCard}
 */
export function createInputCard(request, opts) {
  const node = el('div', 'msg assistant input-card');
  node.dataset.requestId = request.requestId;
  node.dataset.kind = request.kind;
  node.dataset.status = 'open';
  const waiting = el('span', 'input-waiting');
  const label = el('div', 'msg-label', undefined, el('span', undefined, 'Waiting for you'), waiting);
  const prompt = el('div', 'msg-text', request.prompt);
  node.append(label, prompt);

  const original = (request.plan ?? []).map(({ title, description }) => ({ title, description }));
  const list = el('ol', 'review-plan');
  const feedback = /** @type {HTMLTextAreaElement} */ (el('textarea', 'review-feedback'));
  feedback.rows = 2;
  feedback.placeholder = 'Or say what should change…';
  const approve = /** @type {HTMLButtonElement} */ (el('button', 'btn primary small review-approve', 'Approve'));
  const send = /** @type {HTMLButtonElement} */ (el('button', 'btn small review-send', 'Send feedback'));
  const add = /** @type {HTMLButtonElement} */ (el('button', 'btn small review-add', 'Add subtask'));
  for (const b of [approve, send, add]) b.type = 'button';
  /** @type {(HTMLButtonElement | HTMLInputElement | HTMLTextAreaElement)[]} */
  const controls = [approve, send, add, feedback];

  /** @param {PlanItem} item */
  function row(item) {
    const title = /** @type {HTMLInputElement} */ (el('input', 'review-title'));
    title.value = item.title;
    title.setAttribute('aria-label', 'Subtask');
    const up = /** @type {HTMLButtonElement} */ (el('button', 'btn small review-up', '↑'));
    const remove = /** @type {HTMLButtonElement} */ (el('button', 'btn small review-remove', '×'));
    up.type = remove.type = 'button';
    up.title = 'Move up';
    remove.title = 'Remove';
    const li = el('li', 'review-item', undefined, title, up, remove);
    li.dataset.description = item.description ?? '';
    up.addEventListener('click', () => li.previousElementSibling?.before(li));
    remove.addEventListener('click', () => li.remove());
    controls.push(title, up, remove);
    return li;
  }

  /** @returns {PlanItem[]} */
  function edited() {
    return Array.from(list.querySelectorAll('.review-item')).map((li) => ({
      title: /** @type {HTMLInputElement} */ (li.querySelector('.review-title')).value.trim(),
      description: /** @type {HTMLElement} */ (li).dataset.description ?? '',
    }));
  }

  if (request.kind === 'plan_review') {
    for (const item of original) list.append(row(item));
    add.addEventListener('click', () => {
      const li = row({ title: '', description: '' });
      list.append(li);
      /** @type {HTMLInputElement} */ (li.querySelector('.review-title')).focus();
    });
    approve.addEventListener('click', () => {
      const plan = edited().filter((p) => p.title);
      const same = JSON.stringify(plan) === JSON.stringify(original);
      opts.onRespond(request.requestId, same ? { approve: true } : { approve: true, plan });
    });
    send.addEventListener('click', () => {
      const text = feedback.value.trim();
      if (text) opts.onRespond(request.requestId, { approve: false, feedback: text });
    });
    node.append(
      list,
      el('div', 'msg-actions', undefined, add, approve),
      feedback,
      el('div', 'msg-actions', undefined, send),
    );
  } else if (request.kind === 'question') {
    feedback.placeholder = 'Your answer…';
    const answer = /** @type {HTMLButtonElement} */ (el('button', 'btn primary small question-answer', 'Answer'));
    answer.type = 'button';
    controls.push(answer);
    answer.addEventListener('click', () => {
      const text = feedback.value.trim();
      if (text) opts.onRespond(request.requestId, { text });
    });
    node.append(feedback, el('div', 'msg-actions', undefined, answer));
  } else if (request.kind === 'tool_approval') {
    const allow = /** @type {HTMLButtonElement} */ (el('button', 'btn primary small approval-allow', 'Allow'));
    const deny = /** @type {HTMLButtonElement} */ (el('button', 'btn danger small approval-deny', 'Deny'));
    allow.type = deny.type = 'button';
    controls.push(allow, deny);
    allow.addEventListener('click', () => opts.onRespond(request.requestId, { approve: true }));
    deny.addEventListener('click', () => opts.onRespond(request.requestId, { approve: false }));
    const call = request.toolCall;
    node.append(
      el(
        'div',
        'approval-call',
        undefined,
        el('code', 'tool-name', call?.tool ?? ''),
        el('pre', 'approval-input', JSON.stringify(call?.input ?? {}, null, 2)),
      ),
      el('div', 'msg-actions', undefined, allow, deny),
    );
  }

  const expires = Date.parse(request.expiresAt);
  const tick = () => {
    if (node.dataset.status !== 'open') return;
    waiting.textContent = ` · ${timeLeft(expires - Date.now())} left`;
  };
  tick();
  const timer = setInterval(
    () => (node.isConnected || node.dataset.status !== 'open' ? tick() : clearInterval(timer)),
    30_000,
  );

  return {
    node,
    resolved(d) {
      node.dataset.status = d.status;
      clearInterval(timer);
      for (const c of controls) c.disabled = true;
      const answer = /** @type {{ approve?: boolean, plan?: unknown[], text?: string } | undefined} */ (d.answer);
      const said =
        d.status !== 'answered'
          ? d.status === 'expired'
            ? 'Expired: nobody answered in time'
            : 'Cancelled'
          : request.kind === 'question'
            ? `Answered: ${answer?.text ?? ''}`
            : request.kind === 'tool_approval'
              ? answer?.approve
                ? 'Allowed'
                : 'Denied'
              : answer?.approve
                ? answer.plan
                  ? 'Approved, edited'
                  : 'Approved'
                : 'Feedback sent';
      label.replaceChildren(el('span', undefined, said));
    },
  };
}

/** @param {number} ms */
function timeLeft(ms) {
  if (ms <= 0) return 'no time';
  const minutes = Math.ceil(ms / 60_000);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  return `${hours} h ${minutes % 60} min`;
}
