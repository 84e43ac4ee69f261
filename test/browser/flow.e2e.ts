/**
 * Browser: the web client driven the way a person uses it, in headless Chromium against a real
 * MAWS (gateway + worker in one process, offline model). Connect, the seed's three scenarios
 * (task, chat while running, refinement), a reload that restores the history, and screenshots
 * at desktop and phone width (test-artifacts/screenshots/).
 */
import type { Browser, BrowserContext } from 'playwright-core';
import {
  DESKTOP,
  hook,
  launchBrowser,
  logLines,
  openClient,
  PHONE,
  readRuns,
  screenshot,
  threadMessages,
  typeAndSend,
  waitConnected,
  waitForRunEnd,
  waitForState,
  waitForStep,
  type ClientPage,
  type RunView,
} from '../support/browser';
import type { MawsProcess } from '../support/maws-process';
import { CHAT, QUERY, REFINE, unique } from '../support/scenario';
import { setUpSuite, startStack } from '../support/suite';

// page.evaluate callbacks run in the page. tsconfig has no DOM lib, so the page's globals are
// declared here, for this file only.
declare const document: any;
declare const window: any;
declare const navigator: any;
declare function getComputedStyle(el: unknown, pseudo?: string): any;

jest.setTimeout(180_000);

let maws: MawsProcess;
let browser: Browser;
let context: BrowserContext;
let client: ClientPage;
const sessionId = unique('browser');

// Filled in by the scenario tests, checked by the later ones.
let firstRun: RunView;
let firstReport = '';
let refinedReport = '';

setUpSuite(async () => {
  [maws] = (await startStack(['all'], { AUTH_DEV_TOKENS: 'true', OFFLINE_TOKEN_DELAY_MS: '5' })).procs;
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: DESKTOP });
});

afterEach(() => {
  // Nothing the page did may have thrown.
  if (client) expect(client.pageErrors).toEqual([]);
});

describe('the web client in a browser', () => {
  it('connects by itself with a dev token: the status turns green and the state is IDLE', async () => {
    client = await openClient(browser, maws.url!, { sessionId, context });
    const { page } = client;
    await waitConnected(page);
    await waitForState(page, 'IDLE');
    expect(await page.textContent('#status')).toBe('connected');
    const color = await page.$eval('#status', (el) => getComputedStyle(el, '::before').backgroundColor);
    expect(color).toBe('rgb(34, 197, 94)'); // green
    expect(await page.inputValue('#session')).toBe(sessionId);
    expect(page.url()).toContain(`#session=${sessionId}`);
    expect(await page.textContent('#send-hint')).toMatch(/start a new task/);
    expect(await page.isVisible('#cancel')).toBe(false);
  });

  it('Shift+Enter adds a line and does not send', async () => {
    const { page } = client;
    await page.fill('#message', 'first line');
    await page.press('#message', 'Shift+Enter');
    await page.type('#message', 'second line');
    expect(await page.inputValue('#message')).toBe('first line\nsecond line');
    expect(await page.$$('#thread .msg')).toHaveLength(0);
    await page.fill('#message', '');
  });

  it('runs a task: a checklist of 4 executor steps that all end done, agent streams in the log, the report as Markdown; a chat is answered while it runs', async () => {
    const { page } = client;
    await typeAndSend(page, QUERY);
    await waitForState(page, 'EXECUTING');
    expect(await page.isVisible('#cancel')).toBe(true);
    expect(await page.textContent('#send-hint')).toMatch(/ask the Clarifier/);

    // While it runs, the same box asks the Clarifier.
    await typeAndSend(page, CHAT);
    const run = await waitForRunEnd(page, 1);
    await waitForState(page, 'REFINEMENT_READY');

    expect(run.mode).toBe('task');
    expect(run.status).toBe('completed');
    expect(run.steps.map((s) => s.agent)).toEqual([
      'planner',
      'executor',
      'executor',
      'executor',
      'executor',
      'aggregator',
    ]);
    expect(run.steps.every((s) => s.state === 'done')).toBe(true);
    const executors = run.steps.filter((s) => s.agent === 'executor');
    expect(executors.map((s) => s.title)).toEqual([
      expect.stringContaining('Apple'),
      expect.stringContaining('Google'),
      expect.stringContaining('Tesla'),
      expect.stringMatching(/^Compare/),
    ]);
    for (const s of run.steps) expect(s.text.length).toBeGreaterThan(0);

    // The comparing step computed the spread with the calculator: the call shows inside it,
    // with its input and result, and its finding states the value.
    for (const s of executors.slice(0, -1)) expect(s.tools).toEqual([]);
    const compare = executors[executors.length - 1];
    expect(compare.tools).toEqual([
      {
        tool: 'calculator',
        state: 'ok',
        input: expect.stringMatching(/^(\(-[\d.]+\)|[\d.]+) - (\(-[\d.]+\)|[\d.]+)$/),
        status: expect.stringMatching(/^→ -?[\d.]+ · \d+ ms$/),
        body: expect.stringMatching(/^Input.*"expression".*Result/s),
      },
    ]);
    const value = /^→ (-?[\d.]+)/.exec(compare.tools[0].status)![1];
    expect(compare.text).toContain(`computed with the calculator: ${compare.tools[0].input} = ${value})`);

    // The log tells agent streams and chat responses apart.
    const lines = await logLines(page);
    for (const agent of ['planner', 'executor', 'aggregator']) {
      expect(lines.some((l) => l.startsWith(`[AGENT STREAM] ${agent}`))).toBe(true);
    }
    expect(lines.filter((l) => l.startsWith('[TOOL] calculator'))).toHaveLength(2);
    const chatAt = lines.findIndex((l) => l.startsWith('[CHAT_RESPONSE]'));
    const reportAt = lines.findIndex((l) => l.startsWith('[REPORT]'));
    expect(chatAt).toBeGreaterThanOrEqual(0);
    expect(reportAt).toBeGreaterThan(chatAt);
    expect(lines.some((l) => l.startsWith('[USER]') && l.includes(CHAT))).toBe(true);

    // The conversation: task, question, the Clarifier's answer, then the report.
    const messages = await threadMessages(page);
    const clarifierAt = messages.findIndex((m) => m.includes('clarifier'));
    const readyAt = messages.findIndex((m) => m.includes('report-ready'));
    expect(clarifierAt).toBeGreaterThan(0);
    expect(readyAt).toBeGreaterThan(clarifierAt);

    // The report, rendered from Markdown.
    const h1 = await page.textContent('#report h1');
    expect(h1).toMatch(/^Report: /);
    expect(h1).toContain('Apple');
    expect(await page.$$('#report h2')).not.toHaveLength(0);
    expect(await page.$$('#report li strong')).not.toHaveLength(0);
    expect(await page.isEnabled('#copy-report')).toBe(true);
    expect(await page.isEnabled('#download-report')).toBe(true);
    expect(await page.isVisible('#cancel')).toBe(false);
    expect(await page.textContent('#send-hint')).toMatch(/refine/);

    firstRun = run;
    firstReport = (await hook(page)).reportMarkdown!;
    expect(firstReport.startsWith('# Report: ')).toBe(true);
  });

  it('downloads the report as Markdown', async () => {
    const { page } = client;
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-report')]);
    expect(download.suggestedFilename()).toBe(`maws-report-${sessionId}.md`);
    const stream = await download.createReadStream();
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString('utf8')).toBe(firstReport);
  });

  it('copies the report as Markdown', async () => {
    const { page } = client;
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: maws.url! });
    await page.click('#copy-report');
    await page.waitForFunction(() => document.getElementById('copy-report')?.textContent === 'Copied');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(firstReport);
  });

  it('refines the report from the same box', async () => {
    const { page } = client;
    await typeAndSend(page, REFINE);
    const run = await waitForRunEnd(page, 2);
    await waitForState(page, 'REFINEMENT_READY');
    expect(run.mode).toBe('refinement');
    expect(run.status).toBe('completed');
    expect(run.steps.every((s) => s.state === 'done')).toBe(true);
    expect(run.steps.filter((s) => s.agent === 'executor').length).toBeGreaterThanOrEqual(2);
    const h1 = await page.textContent('#report h1');
    expect(h1).toMatch(/^Refined report: /);
    expect(h1).toContain('Tesla');
    refinedReport = (await hook(page)).reportMarkdown!;
    expect(refinedReport).not.toBe(firstReport);

    // The earlier report is still one click away.
    await page.click(`#thread .report-ready[data-run-id="${firstRun.runId}"] button`);
    expect(await page.textContent('#report h1')).toMatch(/^Report: /);
    expect(await page.textContent('#report-meta')).toContain('earlier');
    await page.click(`#thread .report-ready[data-run-id="${run.runId}"] button`);
    expect(await page.textContent('#report h1')).toMatch(/^Refined report: /);
  });

  it('a reload after the runs restores the whole history from the server', async () => {
    const { page } = client;
    const before = {
      runs: await readRuns(page),
      messages: await threadMessages(page),
      lastSeq: (await hook(page)).lastSeq,
      report: await page.textContent('#report'),
    };
    await page.reload({ waitUntil: 'load' });
    await waitConnected(page);
    await page.waitForFunction((n) => window.maws.lastSeq === n, before.lastSeq);
    await waitForState(page, 'REFINEMENT_READY');
    expect(await readRuns(page)).toEqual(before.runs);
    expect(await threadMessages(page)).toEqual(before.messages);
    expect(await page.textContent('#report')).toBe(before.report);
    expect((await hook(page)).reportMarkdown).toBe(refinedReport);
  });

  it('a reload mid-run restores what was streamed and ends with the same report and checklist', async () => {
    const other = await openClient(browser, maws.url!, { sessionId: `${sessionId}-mid`, context });
    try {
      const { page } = other;
      await waitConnected(page);
      await waitForState(page, 'IDLE');
      await typeAndSend(page, QUERY);
      // Reload while the second executor step streams.
      await waitForStep(page, 'exec-2', 'running', { withText: true });
      await page.reload({ waitUntil: 'load' });
      await waitConnected(page);
      // Right after the reload the history is back: the finished steps are there again.
      await page.waitForSelector('#thread .task-step[data-step-id="exec-1"][data-state="done"]');
      const run = await waitForRunEnd(page, 1);
      expect(run.status).toBe('completed');
      expect(run.steps.map(({ agent, state, title, text }) => ({ agent, state, title, text }))).toEqual(
        firstRun.steps.map(({ agent, state, title, text }) => ({ agent, state, title, text })),
      );
      expect((await hook(page)).reportMarkdown).toBe(firstReport);
      expect(await page.textContent('#report h1')).toMatch(/^Report: /);
      expect(other.pageErrors).toEqual([]);
    } finally {
      await other.page.close();
    }
  });

  it('a step that fails for good: marked failed, the revised plan shown (the dropped step struck through, the new one added), also after a reload', async () => {
    const other = await openClient(browser, maws.url!, { sessionId: `${sessionId}-replan`, context });
    try {
      const { page } = other;
      await waitConnected(page);
      await waitForState(page, 'IDLE');
      // The offline model's fault switch fails the Google step (docs/protocol.md, "Replanning").
      await typeAndSend(page, `[offline-fail: of Google] ${QUERY}`);
      const run = await waitForRunEnd(page, 1);
      expect(run.status).toBe('completed');
      expect(run.planVersion).toBe('Plan version 2, revised after a step failed');
      expect(run.steps.map(({ stepId, agent, state, dropped }) => ({ stepId, agent, state, dropped }))).toEqual([
        { stepId: 'plan', agent: 'planner', state: 'done', dropped: false },
        { stepId: 'exec-1', agent: 'executor', state: 'done', dropped: false },
        { stepId: 'exec-2', agent: 'executor', state: 'failed', dropped: false },
        { stepId: 'exec-3', agent: 'executor', state: 'done', dropped: false },
        { stepId: 'exec-4', agent: 'executor', state: 'skipped', dropped: true },
        { stepId: 'replan-1', agent: 'planner', state: 'done', dropped: false },
        { stepId: 'exec-5', agent: 'executor', state: 'done', dropped: false },
        { stepId: 'aggregate', agent: 'aggregator', state: 'done', dropped: false },
      ]);
      expect(run.steps[2].error).toMatch(/^MODEL_UNAVAILABLE: the offline model's fault switch/);
      expect(run.steps[6].title).toBe('Compare what was found');
      expect(await page.textContent('#report')).toContain('Not covered');
      expect(
        (await logLines(page)).some((l) =>
          /^\[PLAN\] version 2 \(step_failed\): exec-1, exec-3, exec-5, dropped exec-4/.test(l),
        ),
      ).toBe(true);
      await screenshot(page, 'replanned-run');
      await page.reload({ waitUntil: 'load' });
      await waitConnected(page);
      await waitForState(page, 'REFINEMENT_READY');
      await waitForRunEnd(page, 1); // the history replayed after the snapshot
      expect(await readRuns(page)).toEqual([run]);
      expect(other.pageErrors).toEqual([]);
    } finally {
      await other.page.close();
    }
  });

  it('review the plan first: the card shows the plan, a step removed and one renamed, approved; the run follows it; a reload restores the card', async () => {
    const other = await openClient(browser, maws.url!, { sessionId: `${sessionId}-review`, context });
    try {
      const { page } = other;
      await waitConnected(page);
      await waitForState(page, 'IDLE');
      await page.check('#review-plan');
      await typeAndSend(page, QUERY);
      await page.waitForSelector('.input-card[data-status="open"] .review-item');
      expect(await page.textContent('#send-hint')).toMatch(/waits for you/);
      const titles = () =>
        page.$$eval('.input-card .review-title', (inputs) =>
          inputs.map((i) => (i as unknown as { value: string }).value),
        );
      expect(await titles()).toEqual([
        'Examine stock performance of Apple',
        'Examine stock performance of Google',
        'Examine stock performance of Tesla',
        'Compare Apple, Google and Tesla',
      ]);
      expect(await page.textContent('.input-card .msg-label')).toMatch(/Waiting for you · \d+ h \d+ min left/);
      await screenshot(page, 'plan-review-open');
      // Remove Google, rename the comparison, approve.
      await page.click('.input-card .review-item:nth-child(2) .review-remove');
      await page.fill('.input-card .review-item:nth-child(3) .review-title', 'Compare Apple and Tesla');
      await page.click('.input-card .review-approve');
      const run = await waitForRunEnd(page, 1);
      expect(run.status).toBe('completed');
      expect(run.planVersion).toBe('Plan version 2, revised after your review');
      const executors = run.steps.filter((s) => s.agent === 'executor');
      expect(executors.filter((s) => !s.dropped).map((s) => [s.title, s.state])).toEqual([
        ['Examine stock performance of Apple', 'done'],
        ['Examine stock performance of Tesla', 'done'],
        ['Compare Apple and Tesla', 'done'],
      ]);
      expect(executors.filter((s) => s.dropped).map((s) => s.title)).toEqual([
        'Examine stock performance of Google',
        'Compare Apple, Google and Tesla',
      ]);
      expect(await page.getAttribute('.input-card', 'data-status')).toBe('answered');
      expect(await page.textContent('.input-card .msg-label')).toBe('Approved, edited');
      await screenshot(page, 'plan-review-approved');
      await page.reload({ waitUntil: 'load' });
      await waitConnected(page);
      await waitForState(page, 'REFINEMENT_READY');
      await waitForRunEnd(page, 1); // the history replayed after the snapshot
      expect(await readRuns(page)).toEqual([run]);
      expect(await page.getAttribute('.input-card', 'data-status')).toBe('answered');
      expect(other.pageErrors).toEqual([]);
    } finally {
      await other.page.close();
    }
  });

  it('an agent asks: the question card takes the answer, the run goes on with it', async () => {
    const other = await openClient(browser, maws.url!, { sessionId: `${sessionId}-question`, context });
    try {
      const { page } = other;
      await waitConnected(page);
      await waitForState(page, 'IDLE');
      await typeAndSend(page, 'Plan the team offsite, ask me "Which city should it be in?"');
      await page.waitForSelector('.input-card[data-kind="question"][data-status="open"]');
      expect(await page.textContent('.input-card[data-kind="question"] .msg-text')).toBe('Which city should it be in?');
      await screenshot(page, 'question-open');
      await page.fill('.input-card[data-kind="question"] .review-feedback', 'Lisbon');
      await page.click('.input-card[data-kind="question"] .question-answer');
      const run = await waitForRunEnd(page, 1);
      expect(run.status).toBe('completed');
      expect(await page.textContent('.input-card[data-kind="question"] .msg-label')).toBe('Answered: Lisbon');
      const first = run.steps.find((s) => s.stepId === 'exec-1')!;
      expect(first.text).toContain('The person answered: Lisbon.');
      expect(first.tools.map((t) => [t.tool, t.state])).toEqual([['ask_user', 'ok']]);
      expect(other.pageErrors).toEqual([]);
    } finally {
      await other.page.close();
    }
  });

  it('steering from the box: an instruction given while the run waits is applied when it goes on; the note and the dropped step stay after a reload', async () => {
    const other = await openClient(browser, maws.url!, { sessionId: `${sessionId}-steer`, context });
    try {
      const { page } = other;
      await waitConnected(page);
      await waitForState(page, 'IDLE');
      expect(await page.isVisible('#steer')).toBe(false);
      await page.check('#review-plan');
      await typeAndSend(page, QUERY);
      await page.waitForSelector('.input-card[data-status="open"] .review-item');
      await page.fill('#message', 'Skip Google');
      await page.click('#steer');
      await page.waitForSelector('.msg.user.kind-steer');
      expect(await page.textContent('.msg.user.kind-steer .msg-label')).toBe('Instruction');
      await page.click('.input-card .review-approve');
      const run = await waitForRunEnd(page, 1);
      expect(run.status).toBe('completed');
      expect(run.planVersion).toBe('Plan version 2, revised as you asked');
      const executors = run.steps.filter((s) => s.agent === 'executor');
      expect(executors.filter((s) => s.dropped).map((s) => s.title)).toEqual(['Examine stock performance of Google']);
      expect(executors.filter((s) => !s.dropped).every((s) => s.state === 'done')).toBe(true);
      const note = 'Applied your instruction before the next step (replan-1): "Skip Google"';
      expect(await page.textContent('.steer-note')).toBe(note);
      expect((await logLines(page)).some((l) => l.startsWith('[STEER] before replan-1: Skip Google'))).toBe(true);
      await page.locator('.steer-note').scrollIntoViewIfNeeded();
      await screenshot(page, 'steered-run');
      await page.reload({ waitUntil: 'load' });
      await waitConnected(page);
      await waitForState(page, 'REFINEMENT_READY');
      await waitForRunEnd(page, 1); // the history replayed after the snapshot
      expect(await readRuns(page)).toEqual([run]);
      expect(await page.textContent('.steer-note')).toBe(note);
      expect(other.pageErrors).toEqual([]);
    } finally {
      await other.page.close();
    }
  });

  it("the session list shows this person's sessions; one opens, Delete removes another and the one on screen", async () => {
    const other = await openClient(browser, maws.url!, {
      sessionId: `${sessionId}-list`,
      context,
      acceptDialogs: true,
    });
    try {
      const { page } = other;
      await waitConnected(page);
      await waitForState(page, 'IDLE');
      await page.click('#sessions-toggle');
      await page.waitForSelector('#session-list .session-row');
      const rows = () =>
        page.$$eval('#session-list .session-row', (items) => items.map((i: any) => i.dataset.sessionId));
      const listed: string[] = await rows();
      // Newest first: the steering run was the last to start in this browser, before Cancel's.
      expect(listed).toEqual(expect.arrayContaining([sessionId, `${sessionId}-review`, `${sessionId}-steer`]));
      expect(listed).not.toContain(`${sessionId}-list`); // no task yet
      expect(
        await page.textContent(`#session-list .session-row[data-session-id="${sessionId}-review"] .session-meta`),
      ).toMatch(/^Report ready · /);
      // The panel names this session's AG-UI address.
      expect(await page.textContent('#agui-endpoint')).toBe(
        `${maws.url}/agui/${encodeURIComponent(`${sessionId}-list`)}`,
      );
      await screenshot(page, 'session-list');
      // Open one: the page switches to it and shows its history.
      await page.click(`#session-list .session-row[data-session-id="${sessionId}-review"] .session-open`);
      await waitForState(page, 'REFINEMENT_READY');
      expect(await page.inputValue('#session')).toBe(`${sessionId}-review`);
      // The state comes with the snapshot; the run card with the history replayed after it.
      expect((await waitForRunEnd(page, 1)).status).toBe('completed');
      expect((await readRuns(page)).map((r) => r.status)).toEqual(['completed']);
      // Delete another (after the confirm): it leaves the list.
      await page.click('#sessions-toggle');
      await page.waitForSelector(`#session-list .session-row[data-session-id="${sessionId}-question"]`);
      await page.click(`#session-list .session-row[data-session-id="${sessionId}-question"] .session-delete`);
      await page.waitForSelector(`#session-list .session-row[data-session-id="${sessionId}-question"]`, {
        state: 'detached',
      });
      expect(other.dialogs).toEqual([expect.stringMatching(/^confirm: Delete "Plan the team offsite/)]);
      // Delete the one on screen: the page moves to a new, empty session.
      await page.click(`#session-list .session-row[data-session-id="${sessionId}-review"] .session-delete`);
      await page.waitForFunction((id) => window.maws.sessionId !== id, `${sessionId}-review`);
      await waitConnected(page);
      await waitForState(page, 'IDLE');
      expect(await rows()).not.toContain(`${sessionId}-review`);
      expect(other.pageErrors).toEqual([]);
    } finally {
      await other.page.close();
    }
  });

  it('Cancel stops a running task', async () => {
    const other = await openClient(browser, maws.url!, { sessionId: `${sessionId}-cancel`, context });
    try {
      const { page } = other;
      await waitConnected(page);
      await waitForState(page, 'IDLE');
      await typeAndSend(page, QUERY);
      await page.waitForSelector('#cancel:not([hidden]):not([disabled])');
      await page.click('#cancel');
      const run = await waitForRunEnd(page, 1);
      expect(run.status).toBe('cancelled');
      expect(run.steps.some((s) => s.state === 'cancelled')).toBe(true);
      await waitForState(page, 'IDLE'); // no earlier report in this session
      expect(await page.isVisible('#cancel')).toBe(false);
      expect(await page.textContent('#thread .note-warn')).toMatch(/cancelled/i);
      expect((await logLines(page)).some((l) => l.startsWith('[RUN] cancelled'))).toBe(true);
      expect(other.pageErrors).toEqual([]);
    } finally {
      await other.page.close();
    }
  });

  it('screenshots of a finished run at desktop and phone width; on a phone the box and Send fit the screen', async () => {
    const { page } = client;
    // Show the first run's checklist and the refined report.
    await page.$eval('#thread', (t) => (t.scrollTop = 0));
    await screenshot(page, 'desktop-finished-run');

    const phone = await openClient(browser, maws.url!, { sessionId, context, viewport: PHONE });
    try {
      const p = phone.page;
      await waitConnected(p);
      await waitForState(p, 'REFINEMENT_READY');
      await p.waitForSelector('#report h1');
      // Screen-sized shots: a whole-page one would paint the fixed composer mid-page.
      await screenshot(p, 'phone-finished-run', false);
      const fit = await p.evaluate(() => {
        const box = (id: string) => document.getElementById(id)!.getBoundingClientRect();
        const message = box('message');
        const send = box('send');
        return {
          scrollWidth: document.documentElement.scrollWidth,
          innerWidth: window.innerWidth,
          innerHeight: window.innerHeight,
          message: { left: message.left, right: message.right, top: message.top, bottom: message.bottom },
          send: { left: send.left, right: send.right, top: send.top, bottom: send.bottom },
        };
      });
      expect(fit.innerWidth).toBe(PHONE.width);
      expect(fit.scrollWidth).toBeLessThanOrEqual(fit.innerWidth);
      for (const b of [fit.message, fit.send]) {
        expect(b.left).toBeGreaterThanOrEqual(0);
        expect(b.right).toBeLessThanOrEqual(fit.innerWidth);
        expect(b.top).toBeGreaterThanOrEqual(0);
        expect(b.bottom).toBeLessThanOrEqual(fit.innerHeight);
      }
      expect(await p.isVisible('#message')).toBe(true);
      expect(await p.isVisible('#send')).toBe(true);
      // Still there after scrolling down to the report.
      await p.$eval('#report-card', (el) => el.scrollIntoView());
      const sendTop = await p.$eval('#send', (el) => el.getBoundingClientRect().top);
      expect(sendTop).toBeLessThan(PHONE.height);
      await screenshot(p, 'phone-finished-run-report', false);
      expect(phone.pageErrors).toEqual([]);
    } finally {
      await phone.page.close();
    }
  });
});
