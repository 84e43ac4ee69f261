// @ts-check
// The report panel: the latest report rendered as Markdown (marked, then DOMPurify), a live
// draft while the aggregator writes, earlier reports on request, and Copy / Download .md.

import { copyText, el, flash, renderMarkdown, reportTitle } from './util.js';

/** @typedef {import('../../src/contract').RunMode} RunMode */
/** @typedef {{ runId: string, md: string, mode: RunMode }} ReportEntry */
/** @typedef {ReportEntry & { draft: boolean }} ShownReport  a draft is the aggregator's text so far */
/**
 * @typedef {object} ReportUi
 * @property {HTMLElement} body
 * @property {HTMLElement} meta
 * @property {HTMLButtonElement} copy
 * @property {HTMLButtonElement} download
 */

/**
 * @param {ReportUi} ui
 * @param {(shown: ShownReport) => string} fileName the download's file name
 */
export function createReport(ui, fileName) {
  /** @type {Map<string, ReportEntry>} runId -> report */
  const reports = new Map();
  /** @type {ReportEntry | null} the newest finished report */
  let latest = null;
  /** @type {ShownReport | null} what the panel shows now */
  let shown = null;
  /** @type {number | null} */
  let draftQueued = null;

  function render() {
    const view = shown; // a const, so that the checks below narrow it
    const has = !!(view && view.md);
    ui.body.dataset.draft = view && view.draft ? 'true' : 'false';
    ui.body.dataset.runId = view ? String(view.runId ?? '') : '';
    if (has) {
      renderMarkdown(ui.body, view.md);
    } else {
      ui.body.replaceChildren(
        el(
          'div',
          'empty',
          undefined,
          el('p', 'empty-title', 'No report yet'),
          el(
            'p',
            undefined,
            'Start a task: the planner splits it into steps, executors work through them, and the aggregator writes the report here.',
          ),
        ),
      );
    }
    const final = has && !view.draft;
    ui.copy.disabled = !final;
    ui.download.disabled = !final;
    let meta = '';
    if (view && view.draft) meta = 'writing…';
    else if (has) {
      const older = latest && view.runId !== latest.runId;
      meta = [view.mode === 'refinement' ? 'refined' : '', older ? 'earlier version' : ''].filter(Boolean).join(' · ');
    }
    ui.meta.textContent = meta;
    ui.meta.dataset.kind = view && view.draft ? 'draft' : 'final';
  }

  /**
   * @param {string} runId
   * @param {string} md
   * @param {RunMode} [mode]
   */
  function showFinal(runId, md, mode) {
    const entry = { runId, md, mode: mode || 'task' };
    if (runId !== undefined && runId !== null) reports.set(String(runId), entry);
    latest = entry;
    shown = { ...entry, draft: false };
    render();
  }

  /**
   * Aggregator deltas: redrawn at most once a frame however fast tokens come.
   * @param {string} runId
   * @param {string} md
   * @param {RunMode} [mode]
   */
  function showDraft(runId, md, mode) {
    shown = { runId, md, mode: mode || 'task', draft: true };
    if (draftQueued) return;
    draftQueued = requestAnimationFrame(() => {
      draftQueued = null;
      render();
    });
  }

  /**
   * A run ended without a report: go back to the last finished one.
   * @param {string} runId
   */
  function dropDraft(runId) {
    if (!shown || !shown.draft || String(shown.runId) !== String(runId)) return;
    shown = latest ? { ...latest, draft: false } : null;
    render();
  }

  /** @param {string} runId */
  function showRun(runId) {
    const entry = reports.get(String(runId));
    if (!entry) return false;
    shown = { ...entry, draft: false };
    render();
    return true;
  }

  async function copy() {
    if (!shown || shown.draft || !shown.md) return;
    await copyText(shown.md);
    flash(ui.copy, 'Copied');
  }

  function download() {
    if (!shown || shown.draft || !shown.md) return;
    const blob = new Blob([shown.md], { type: 'text/markdown;charset=utf-8' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = fileName(shown);
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  ui.copy.addEventListener('click', () => void copy());
  ui.download.addEventListener('click', download);
  render();

  return {
    showFinal,
    showDraft,
    dropDraft,
    showRun,
    title: () => (latest ? reportTitle(latest.md) : ''),
    get markdown() {
      return latest ? latest.md : null;
    },
    clear() {
      reports.clear();
      latest = null;
      shown = null;
      render();
    },
  };
}
