// Globals of the page that no module declares, for the type check (tsconfig.public.json).

// The vendor scripts index.html loads before the modules. /vendor/ serves them from
// node_modules/marked and node_modules/dompurify, so those packages' own types are the served
// ones. Either may have failed to load: the page then shows Markdown as plain text.
declare var marked: typeof import('marked') | undefined;
declare var DOMPurify: import('dompurify').DOMPurify | undefined;

interface Window {
  /** main.js's read-only view of the page, for the browser tests. */
  maws: Readonly<{
    state: import('../../src/contract').SessionState | null;
    lastSeq: number;
    reportMarkdown: string | null;
    status: import('./connection.js').ConnectionStatus;
    sessionId: string;
  }>;
}
