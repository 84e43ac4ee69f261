/**
 * Browser: script, `onerror` and `javascript:` payloads in what a user types and in what the
 * model writes never run. The offline model echoes the task into the report's title and
 * summary, the refinement into the refined report's title, and the question into the
 * Clarifier's answer, so typing the payloads puts them into user text, model text and
 * Markdown alike.
 */
import type { Browser, Page } from 'playwright-core';
import {
  launchBrowser,
  openClient,
  typeAndSend,
  waitConnected,
  waitForRunEnd,
  waitForState,
  type ClientPage,
} from '../support/browser';
import type { MawsProcess } from '../support/maws-process';
import { unique } from '../support/scenario';
import { setUpSuite, startStack } from '../support/suite';

// page.evaluate callbacks run in the page. tsconfig has no DOM lib, so the page's globals are
// declared here, for this file only.
declare const document: any;
declare const window: any;

jest.setTimeout(180_000);

const TASK =
  'Analyze the stock volatility of Tesla <img src=x onerror="window.__pwned=1;alert(1)"> ' +
  '<script>window.__pwned=2;alert(2)</script> [x](javascript:window.__pwned=3) ' +
  '![p](javascript:window.__pwned=4) <a href="javascript:window.__pwned=5">y</a> ' +
  '<svg onload="window.__pwned=6"></svg> <iframe src="javascript:window.parent.__pwned=7"></iframe>';
const CHAT = 'Status? <img src=x onerror="window.__pwned=8;alert(8)"><script>window.__pwned=9</script>';
const REFINE = 'Focus on Tesla <img src=x onerror="window.__pwned=10"> [z](javascript:window.__pwned=11)';

let maws: MawsProcess;
let browser: Browser;
let client: ClientPage;

setUpSuite(async () => {
  [maws] = (await startStack(['all'], { AUTH_DEV_TOKENS: 'true', OFFLINE_TOKEN_DELAY_MS: '5' })).procs;
  browser = await launchBrowser();
});

/** Everything that would show that a payload ran or could run. */
async function inspect(page: Page) {
  return page.evaluate(() => {
    const areas = ['thread', 'report', 'log'].map((id) => document.getElementById(id)!);
    const inAreas = (selector: string) => areas.reduce((n, a) => n + a.querySelectorAll(selector).length, 0);
    const handlers: string[] = [];
    for (const a of areas) {
      for (const node of Array.from(a.querySelectorAll('*') as ArrayLike<any>)) {
        for (const attr of Array.from(node.attributes as ArrayLike<any>)) {
          if (/^on/i.test(attr.name)) handlers.push(`${node.tagName} ${attr.name}`);
        }
      }
    }
    const badUrls = Array.from(document.querySelectorAll('[href], [src], [action], [formaction]') as ArrayLike<any>)
      .flatMap((n) => ['href', 'src', 'action', 'formaction'].map((k) => n.getAttribute(k) ?? ''))
      .filter((v) => /^\s*(javascript|vbscript|data:text\/html)/i.test(v));
    return {
      pwned: window.__pwned,
      scripts: inAreas('script'),
      embeds: inAreas('img, iframe, svg, object, embed, frame'),
      handlers,
      badUrls,
      reportLinks: Array.from(document.querySelectorAll('#report a') as ArrayLike<any>).map((a) =>
        a.getAttribute('href'),
      ),
    };
  });
}

function expectClean(found: Awaited<ReturnType<typeof inspect>>): void {
  expect(found.pwned).toBeUndefined();
  expect(found.scripts).toBe(0);
  expect(found.embeds).toBe(0);
  expect(found.handlers).toEqual([]);
  expect(found.badUrls).toEqual([]);
  for (const href of found.reportLinks) expect(href ?? '').not.toMatch(/javascript:/i);
}

describe('no payload ever runs', () => {
  it('user text, Clarifier answers and reports with script/onerror/javascript: payloads stay text', async () => {
    client = await openClient(browser, maws.url!, { sessionId: unique('xss') });
    const { page } = client;
    await waitConnected(page);
    await waitForState(page, 'IDLE');

    await typeAndSend(page, TASK);
    await waitForState(page, 'EXECUTING');
    await typeAndSend(page, CHAT);
    const run = await waitForRunEnd(page, 1);
    expect(run.status).toBe('completed');
    await waitForState(page, 'REFINEMENT_READY');
    await page.waitForSelector('#thread .msg.clarifier');

    // Nothing ran; the report was rendered as Markdown, with the payloads in it shown as text.
    expectClean(await inspect(page));
    const h1 = (await page.textContent('#report h1'))!;
    expect(h1).toMatch(/^Report: /);
    expect(h1).toContain('<img src=x onerror="window.__pwned=1;alert(1)">');
    expect(h1).toContain('<script>window.__pwned=2;alert(2)</script>');
    expect(await page.$$('#report a')).not.toHaveLength(0); // the [x](javascript:...) link, defused

    // The user's own words are shown exactly as typed.
    const userTexts = await page.$$eval('#thread .msg.user .msg-text', (els) => els.map((e) => e.textContent));
    expect(userTexts).toEqual([TASK, CHAT]);
    const answer = (await page.textContent('#thread .msg.clarifier .msg-text'))!;
    expect(answer).toContain('<img src=x onerror=');

    // A refinement whose title (an h1 of the new report) carries payloads too.
    await typeAndSend(page, REFINE);
    await waitForRunEnd(page, 2);
    await waitForState(page, 'REFINEMENT_READY');
    expectClean(await inspect(page));
    const refined = (await page.textContent('#report h1'))!;
    expect(refined).toMatch(/^Refined report: /);
    expect(refined).toContain('<img src=x onerror="window.__pwned=10">');

    // Clicking every link of the report runs nothing either.
    for (const link of await page.$$('#report a:not([href^="http"])')) await link.click();

    // Nor does the history, replayed into a fresh page by a reload.
    await page.reload({ waitUntil: 'load' });
    await waitConnected(page);
    await waitForState(page, 'REFINEMENT_READY');
    await page.waitForFunction(() => document.querySelectorAll('#thread .report-ready').length === 2);
    expectClean(await inspect(page));
    expect(await page.evaluate(() => window.__pwned)).toBeUndefined();

    expect(client.dialogs).toEqual([]);
    expect(client.pageErrors).toEqual([]);
  });
});
