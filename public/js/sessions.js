// @ts-check
// The person's sessions (v2 "Sessions over HTTP"): GET /sessions lists them, newest first; a
// row opens its session; Delete removes it (DELETE /sessions/{id}, after a confirm). The panel
// also names the current session's AG-UI address (v2 "AG-UI"), for an AG-UI front end.

/** @typedef {{ sessionId: string, title: string, state: string, lastSeq: number, createdAt: string, updatedAt: string }} SessionSummary */

/**
 * @typedef {object} SessionListOptions
 * @property {HTMLButtonElement} toggle the button that opens and closes the list
 * @property {HTMLElement} panel
 * @property {HTMLUListElement} list
 * @property {HTMLElement} empty shown when there is no session to list
 * @property {HTMLElement} aguiEndpoint where the current session's AG-UI address is shown
 * @property {(path: string, init?: RequestInit) => Promise<Response>} fetchAuthorized a request with the page's token
 * @property {() => string} currentSession
 * @property {(sessionId: string) => void} onOpen
 * @property {(sessionId: string) => void} onDeleted
 * @property {(text: string) => void} onError
 */

/** @param {SessionListOptions} opts */
export function createSessionList(opts) {
  const { toggle, panel, list, empty } = opts;

  toggle.addEventListener('click', () => {
    const open = panel.hidden;
    panel.hidden = !open;
    toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
    if (open) {
      opts.aguiEndpoint.textContent = `${location.origin}/agui/${encodeURIComponent(opts.currentSession())}`;
      void refresh();
    }
  });

  async function refresh() {
    let sessions;
    try {
      const res = await opts.fetchAuthorized('/sessions');
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      sessions = /** @type {{ sessions: SessionSummary[] }} */ (await res.json()).sessions;
    } catch (err) {
      opts.onError(`could not list your sessions: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    list.replaceChildren(...sessions.map(row));
    empty.hidden = sessions.length > 0;
  }

  /** @param {SessionSummary} s */
  function row(s) {
    const item = document.createElement('li');
    item.className = 'session-row';
    item.dataset.sessionId = s.sessionId;
    item.dataset.current = String(s.sessionId === opts.currentSession());
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'session-open';
    open.title = `Open session ${s.sessionId}`;
    const title = document.createElement('span');
    title.className = 'session-title';
    title.textContent = s.title;
    const meta = document.createElement('span');
    meta.className = 'session-meta';
    meta.textContent = `${STATE_LABEL[s.state] ?? s.state} · ${ago(s.updatedAt)} · ${s.sessionId}`;
    open.append(title, meta);
    open.addEventListener('click', () => {
      panel.hidden = true;
      toggle.setAttribute('aria-expanded', 'false');
      opts.onOpen(s.sessionId);
    });
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'btn small danger session-delete';
    remove.textContent = 'Delete';
    remove.addEventListener('click', () => void removeSession(s));
    item.append(open, remove);
    return item;
  }

  /** @param {SessionSummary} s */
  async function removeSession(s) {
    if (!window.confirm(`Delete "${s.title}"? Its history and report are gone for good.`)) return;
    try {
      const res = await opts.fetchAuthorized(`/sessions/${encodeURIComponent(s.sessionId)}`, { method: 'DELETE' });
      if (!res.ok && res.status !== 404) throw new Error(`HTTP ${res.status}`);
    } catch (err) {
      opts.onError(`could not delete the session: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    opts.onDeleted(s.sessionId);
    await refresh();
  }

  return { refresh };
}

/** @type {Record<string, string>} */
const STATE_LABEL = { IDLE: 'Idle', EXECUTING: 'Running', REFINEMENT_READY: 'Report ready' };

/** "just now", "5 min ago", "3 h ago", or the date. @param {string} iso */
function ago(iso) {
  const ms = Date.now() - Date.parse(iso);
  if (!(ms >= 0)) return iso;
  if (ms < 60_000) return 'just now';
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ago`;
  if (ms < 86_400_000) return `${Math.floor(ms / 3_600_000)} h ago`;
  return new Date(iso).toLocaleDateString();
}
