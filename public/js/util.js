// @ts-check
// Small DOM and storage helpers shared by the client's modules. Plain browser ES modules, no build step.
//
// Safety rule of the whole client: model and user text only ever goes into the DOM as text
// (textContent, Text nodes). The one exception is Markdown, which goes through marked and then
// DOMPurify in renderMarkdown() below; nothing else assigns innerHTML.

/**
 * Creates an element with a class and, optionally, text content and children.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {string} [className]
 * @param {string | number | null} [text] set as text content unless undefined, null or ''
 * @param {...(Node | string)} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, className, text, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null && text !== '') node.textContent = String(text);
  if (children.length) node.append(...children);
  return node;
}

/** @param {number} bytes */
export function randomHex(bytes) {
  const buf = new Uint8Array(bytes);
  crypto.getRandomValues(buf);
  return Array.from(buf, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** @param {unknown} value */
export function cssToken(value) {
  return String(value ?? 'unknown').replace(/[^a-z0-9_-]/gi, '');
}

// Storage can be off (private mode, blocked cookies): fall back to memory for this page.
/** @typedef {'localStorage' | 'sessionStorage'} StorageArea */

/** @type {Map<string, string>} */
const memory = new Map();

/**
 * @param {StorageArea} area
 * @param {string} key
 * @returns {string | null}
 */
export function storageGet(area, key) {
  try {
    return window[area].getItem(key);
  } catch {
    return memory.get(`${area}:${key}`) ?? null;
  }
}

/**
 * @param {StorageArea} area
 * @param {string} key
 * @param {string | null} value null removes the key
 */
export function storageSet(area, key, value) {
  try {
    if (value === null) window[area].removeItem(key);
    else window[area].setItem(key, value);
  } catch {
    if (value === null) memory.delete(`${area}:${key}`);
    else memory.set(`${area}:${key}`, value);
  }
}

// ---------------------------------------------------------------------------------------------
// Markdown: marked, then DOMPurify. Without both libraries the text is shown as plain text.
//
// Two layers: our marked instance shows raw HTML found in the Markdown as text (a model or a
// user who writes `<img onerror=...>` sees exactly that, as text) and turns images into links
// (nothing loads by itself); DOMPurify then removes anything unsafe that is left, such as
// `javascript:` link targets.

/** @param {unknown} text */
export function escapeHtml(text) {
  return String(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/**
 * Both libraries, set up once both have loaded.
 * @type {{ parser: import('marked').Marked, purify: import('dompurify').DOMPurify } | null}
 */
let markdown = null;

function markdownTools() {
  const { marked, DOMPurify } = window;
  if (markdown || !marked || !DOMPurify) return markdown;
  const parser = new marked.Marked({
    gfm: true,
    breaks: false,
    async: false,
    renderer: {
      html(token) {
        const text = escapeHtml(token.text);
        return token.block ? `<p>${text}</p>\n` : text;
      },
      image(token) {
        const label = `[${escapeHtml(token.text || 'image')}]`;
        const href = String(token.href || '');
        return /^https?:\/\//i.test(href) ? `<a href="${escapeHtml(href)}">${label}</a>` : label;
      },
    },
  });
  DOMPurify.addHook('afterSanitizeAttributes', (node) => {
    // Links open in a new tab without handing it this window.
    if (node.tagName === 'A' && node.getAttribute('href')) {
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer nofollow');
    }
  });
  markdown = { parser, purify: DOMPurify };
  return markdown;
}

/** @type {import('dompurify').Config} */
const PURIFY_CONFIG = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: [
    'img',
    'style',
    'form',
    'input',
    'button',
    'textarea',
    'select',
    'iframe',
    'object',
    'embed',
    'svg',
    'math',
  ],
  FORBID_ATTR: ['style', 'class', 'id', 'srcset'],
};

/**
 * Renders untrusted Markdown into `target` (its children are replaced).
 * @param {HTMLElement} target
 * @param {string} md
 */
export function renderMarkdown(target, md) {
  const tools = markdownTools();
  /** @type {string | Promise<string> | null} */
  let html = null;
  if (tools) {
    try {
      html = tools.parser.parse(String(md));
    } catch {
      html = null;
    }
  }
  if (tools && typeof html === 'string') {
    // A fragment: the sanitized nodes are moved in, no HTML string is parsed a second time.
    target.replaceChildren(tools.purify.sanitize(html, { ...PURIFY_CONFIG, RETURN_DOM_FRAGMENT: true }));
  } else {
    target.replaceChildren(el('pre', 'plain', md));
  }
}

/**
 * The text of the first h1 of a Markdown report (or its first line).
 * @param {string} md
 */
export function reportTitle(md) {
  const m = /^#\s+(.+)$/m.exec(String(md));
  const line = m
    ? m[1]
    : String(md)
        .split('\n')
        .find((l) => l.trim()) || '';
  return line.trim().slice(0, 200);
}

/**
 * Keeps a scrolling container at its bottom while it grows, but only while the reader is
 * there: scrolling up to read unpins it (tracked on scroll, not measured per token, so a
 * long replay does not force a layout for every delta). `slack` is how near the bottom
 * counts as at it.
 * @param {HTMLElement} root
 * @param {number} slack
 */
export function followBottom(root, slack) {
  let pinned = true;
  let lastTop = 0;
  root.addEventListener('scroll', () => {
    // Only the reader scrolling up unpins: our own scrolling goes down, and growth alone
    // does not fire a scroll event.
    const top = root.scrollTop;
    if (root.scrollHeight - top - root.clientHeight < slack) pinned = true;
    else if (top < lastTop) pinned = false;
    lastTop = top;
  });
  let scrollQueued = false;
  const scrollSoon = () => {
    if (scrollQueued) return;
    scrollQueued = true;
    requestAnimationFrame(() => {
      scrollQueued = false;
      root.scrollTop = root.scrollHeight;
    });
  };
  return {
    /** The content grew: follow it if pinned. */
    grew() {
      if (pinned) scrollSoon();
    },
    /** Pin to the bottom again (and go there now, with `scroll`). */
    pin(scroll = false) {
      pinned = true;
      if (scroll) scrollSoon();
    },
  };
}

/**
 * Puts text on the clipboard; where navigator.clipboard is missing (it needs a secure
 * context: plain http on a LAN phone), through a hidden textarea.
 * @param {string} text
 */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const ta = el('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.style.position = 'fixed';
    ta.style.opacity = '0';
    document.body.appendChild(ta);
    ta.select();
    document.execCommand('copy');
    ta.remove();
  }
}

/**
 * Shows `label` on a button for a moment ("Copied"), then its own text again.
 * @param {HTMLButtonElement} btn
 * @param {string} label
 */
export function flash(btn, label) {
  const original = btn.dataset.label || btn.textContent;
  btn.dataset.label = original;
  btn.textContent = label;
  setTimeout(() => {
    btn.textContent = original;
  }, 1500);
}
