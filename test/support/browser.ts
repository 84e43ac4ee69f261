/**
 * Test support: drive the web client in a real headless Chromium (Debian's `chromium`) through
 * playwright-core. Nothing is downloaded: the browser binary must already be installed
 * (CHROMIUM_PATH overrides /usr/bin/chromium).
 *
 * Every page opened here records what must never happen in the XSS tests (dialogs) and what
 * helps when a test fails (page errors, console errors).
 */
import { existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { registerCleanup } from './cleanup';
import { stopEach } from './stop-all';

// page.evaluate callbacks run in the page. tsconfig has no DOM lib, so the page's globals are
// declared here, for this file only.
declare const document: any;
declare const window: any;

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const SCREENSHOT_DIR = path.resolve(__dirname, '../../test-artifacts/screenshots');

export const DESKTOP = { width: 1280, height: 800 } as const;
export const PHONE = { width: 390, height: 844 } as const;

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--disable-dev-shm-usage',
];

const browsers = new Set<Browser>();

/** Launches headless Chromium; closeAllBrowsers() or cleanupAll (which runs it first) closes it. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `No Chromium at ${CHROMIUM_PATH}: install Debian's \`chromium\` package, or set CHROMIUM_PATH ` +
        '(playwright-core drives it; `npx playwright install` is not used).',
    );
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
  });
  browsers.add(browser);
  registerCleanup(closeAllBrowsers);
  return browser;
}

/** Closes every browser launched here. Never throws. */
export async function closeAllBrowsers(): Promise<void> {
  await stopEach(browsers, (b) => b.close());
}

export interface ClientPage {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Uncaught exceptions in the page. */
  readonly pageErrors: string[];
  /** console.error output of the page. */
  readonly consoleErrors: string[];
  /** Every alert/confirm/prompt the page tried to open (each is dismissed). */
  readonly dialogs: string[];
}

export interface OpenClientOptions {
  /** Session id, put into the URL hash (`#session=ID`) so the page connects to it. */
  sessionId?: string;
  viewport?: { width: number; height: number };
  /** A context to open the page in (shares localStorage, hence the dev-token user); a new one if absent. */
  context?: BrowserContext;
  /** Accept the page's confirm() dialogs (default: dismiss them). Either way they are recorded. */
  acceptDialogs?: boolean;
}

/** Opens the web client of `baseUrl` in a new page and waits until its script has started. */
export async function openClient(browser: Browser, baseUrl: string, opts: OpenClientOptions = {}): Promise<ClientPage> {
  const context = opts.context ?? (await browser.newContext({ viewport: opts.viewport ?? DESKTOP }));
  const page = await context.newPage();
  if (opts.viewport && opts.context) await page.setViewportSize(opts.viewport);
  page.setDefaultTimeout(30_000);
  const pageErrors: string[] = [];
  const consoleErrors: string[] = [];
  const dialogs: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('dialog', (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void (opts.acceptDialogs ? dialog.accept() : dialog.dismiss()).catch(() => undefined);
  });
  const hash = opts.sessionId ? `#session=${encodeURIComponent(opts.sessionId)}` : '';
  await page.goto(`${baseUrl}/${hash}`, { waitUntil: 'load' });
  await page.waitForFunction(() => typeof window.maws === 'object');
  return { context, page, pageErrors, consoleErrors, dialogs };
}

/** Saves a PNG (the whole page unless fullPage is false) as test-artifacts/screenshots/NAME.png. */
export async function screenshot(page: Page, name: string, fullPage = true): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  return file;
}

/** The page's read-only test hook (window.maws). */
export interface MawsHook {
  state: string | null;
  lastSeq: number | null;
  reportMarkdown: string | null;
  status: string;
  sessionId: string;
}

export async function hook(page: Page): Promise<MawsHook> {
  return page.evaluate(() => {
    const m = window.maws;
    return {
      state: m.state,
      lastSeq: m.lastSeq,
      reportMarkdown: m.reportMarkdown,
      status: m.status,
      sessionId: m.sessionId,
    };
  });
}

/** Waits until the page's socket is open (the status pill is green). */
export async function waitConnected(page: Page, timeoutMs = 30_000): Promise<void> {
  await page.waitForSelector('#status[data-status="connected"]', { timeout: timeoutMs });
}

/** Waits until the session state shown on the page is `state`. */
export async function waitForState(page: Page, state: string, timeoutMs = 60_000): Promise<void> {
  await page.waitForFunction((s) => document.getElementById('state')?.textContent === s, state, {
    timeout: timeoutMs,
  });
}

/** Types `text` into the message box and presses Enter, as a person does; waits until it was sent. */
export async function typeAndSend(page: Page, text: string): Promise<void> {
  await page.waitForSelector('#send:not([disabled])');
  await page.fill('#message', text);
  await page.press('#message', 'Enter');
  await page.waitForFunction(() => document.getElementById('message').value === '');
}

export interface StepView {
  agent: string;
  stepId: string | null;
  state: string;
  restarted: boolean;
  title: string;
  text: string;
  /** The step's tool calls as the page shows them. */
  tools: ToolCallView[];
  /** Struck through: a revised plan dropped it. */
  dropped: boolean;
  /** Why it failed for good, as the page says it (empty when it did not). */
  error: string;
}

export interface ToolCallView {
  tool: string;
  /** running, ok or error */
  state: string;
  /** The one-line summary: the input, then the result (or the error code) and its time. */
  input: string;
  status: string;
  /** Input and result (or error), as the opened entry shows them. */
  body: string;
}

export interface RunView {
  runId: string;
  mode: string;
  status: string;
  /** "Plan version N, revised ..." once the plan changed (empty before). */
  planVersion: string;
  steps: StepView[];
}

/** The runs shown in the conversation, each with its checklist. */
export async function readRuns(page: Page): Promise<RunView[]> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll('#thread .run-card') as ArrayLike<any>).map((run) => ({
      runId: run.dataset.runId ?? '',
      mode: run.dataset.mode ?? '',
      status: run.dataset.status ?? '',
      planVersion: run.querySelector('.plan-version')?.textContent ?? '',
      steps: Array.from(run.querySelectorAll('.task-step') as ArrayLike<any>).map((s) => ({
        agent: s.dataset.agent ?? '',
        stepId: s.dataset.stepId ?? null,
        state: s.dataset.state ?? '',
        restarted: s.dataset.restarted === 'true',
        title: s.querySelector('.step-title')?.textContent ?? '',
        text: s.querySelector('.step-text')?.textContent ?? '',
        tools: Array.from(s.querySelectorAll('.tool-call') as ArrayLike<any>).map((t) => ({
          tool: t.querySelector('.tool-name')?.textContent ?? '',
          state: t.dataset.state ?? '',
          input: t.querySelector('.tool-input')?.textContent ?? '',
          status: t.querySelector('.tool-status')?.textContent ?? '',
          body: t.querySelector('.tool-body')?.textContent ?? '',
        })),
        dropped: s.classList.contains('dropped'),
        error: s.querySelector('.step-error')?.textContent ?? '',
      })),
    })),
  );
}

/** Waits until the page shows `count` runs and the last one has ended; returns it. */
export async function waitForRunEnd(page: Page, count: number, timeoutMs = 90_000): Promise<RunView> {
  await page.waitForFunction(
    (n) => {
      const runs = document.querySelectorAll('#thread .run-card');
      const last = runs[n - 1];
      return runs.length >= n && !!last && ['completed', 'failed', 'cancelled'].includes(last.dataset.status ?? '');
    },
    count,
    { timeout: timeoutMs },
  );
  return (await readRuns(page))[count - 1];
}

/** The text of every line of the output log, in order. */
export async function logLines(page: Page): Promise<string[]> {
  return page.$$eval('#log > .line', (lines) => lines.map((l) => l.textContent ?? ''));
}

/** The thread's messages (user, Clarifier, report-ready) as "kind: text", in order. */
export async function threadMessages(page: Page): Promise<string[]> {
  return page.$$eval('#thread > .msg, #thread > .note', (items) =>
    items.map((m) => `${m.className}: ${m.querySelector('.msg-text')?.textContent ?? m.textContent ?? ''}`),
  );
}

/**
 * Waits until the checklist step `stepId` of the newest run is in `state` (and, with
 * `withText`, has streamed text). A MutationObserver in the page checks on every DOM change,
 * so a state that lasts only a few tokens is still seen.
 */
export async function waitForStep(
  page: Page,
  stepId: string,
  state: string,
  opts: { withText?: boolean; timeoutMs?: number } = {},
): Promise<void> {
  const key = `${stepId}/${state}/${Date.now()}/${Math.random()}`;
  await page.evaluate(
    ({ id, st, text, flag }) => {
      const seen = (window.__mawsSeen = window.__mawsSeen || {});
      const thread = document.getElementById('thread');
      const check = (): boolean => {
        const runs = thread.querySelectorAll('.run-card');
        const step = runs[runs.length - 1]?.querySelector(`.task-step[data-step-id="${id}"]`);
        return !!step && step.dataset.state === st && (!text || step.classList.contains('has-text'));
      };
      if (check()) {
        seen[flag] = true;
        return;
      }
      const observer = new window.MutationObserver(() => {
        if (!check()) return;
        seen[flag] = true;
        observer.disconnect();
      });
      observer.observe(thread, { subtree: true, childList: true, attributes: true, characterData: true });
    },
    { id: stepId, st: state, text: opts.withText ?? false, flag: key },
  );
  await page.waitForFunction((flag) => window.__mawsSeen?.[flag] === true, key, { timeout: opts.timeoutMs ?? 60_000 });
}
