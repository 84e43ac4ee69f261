/**
 * Browser: the page served hardened and accessible (issue 16). `GET /` carries a strict
 * Content-Security-Policy (scripts and styles from the gateway's origin only, no inline
 * script, `frame-ancestors 'none'`), `X-Content-Type-Options: nosniff` and a Referrer-Policy;
 * the page works in Chromium with it on (a run to its report, with no policy violation), and a
 * script slipped into the page does not run. axe-core finds no WCAG violation on the page
 * mid-run and with a report, at 1280 and at 390 px. The deployment traces its runs (to a
 * loopback OTLP sink), so the run cards carry their trace button, which copies the trace id.
 */
import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import {
  DESKTOP,
  PHONE,
  launchBrowser,
  openClient,
  screenshot,
  typeAndSend,
  waitConnected,
  waitForRunEnd,
  waitForState,
  waitForStep,
} from '../support/browser';
import type { MawsProcess } from '../support/maws-process';
import { startOtlpSink, type OtlpSink } from '../support/otlp-sink';
import { QUERY, unique } from '../support/scenario';
import { setUpSuite, startStack } from '../support/suite';
import { eventually } from '../support/timing';

declare const document: any;
declare const window: any;
declare const navigator: any;

jest.setTimeout(240_000);

const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

let maws: MawsProcess;
let browser: Browser;
let sink: OtlpSink;

setUpSuite(async () => {
  sink = await startOtlpSink();
  const tracing = { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_BSP_SCHEDULE_DELAY: '100' };
  [maws] = (await startStack(['all'], { AUTH_DEV_TOKENS: 'true', OFFLINE_TOKEN_DELAY_MS: '40', ...tracing })).procs;
  browser = await launchBrowser();
});

interface AxeFinding {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/**
 * axe-core's WCAG 2 A/AA rules (and its best practices) on the page as it is now. axe is put in
 * by the test driver, as a browser extension would be: the page's own policy rightly refuses
 * inline scripts.
 */
async function axeViolations(page: Page): Promise<AxeFinding[]> {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const results = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
    });
    return results.violations.map((v: any) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((n: any) => String(n.target)),
    }));
  });
}

describe('the page, hardened and accessible', () => {
  it('is served with a strict Content-Security-Policy, nosniff and a Referrer-Policy', async () => {
    const res = await fetch(`${maws.url}/`);
    const csp = res.headers.get('content-security-policy') ?? '';
    const directives = Object.fromEntries(
      csp.split(';').map((d) => {
        const [name, ...values] = d.trim().split(/\s+/);
        return [name, values];
      }),
    );
    expect(directives['default-src']).toEqual(["'self'"]);
    expect(directives['script-src']).toEqual(["'self'", expect.stringMatching(/^'sha256-[A-Za-z0-9+/]+=*'$/)]);
    expect(directives['style-src']).toEqual(["'self'"]);
    expect(directives['frame-ancestors']).toEqual(["'none'"]);
    expect(directives['object-src']).toEqual(["'none'"]);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    // The page's scripts and styles come with the same headers.
    const script = await fetch(`${maws.url}/js/main.js`);
    expect(script.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('works with the policy on, refuses a slipped-in script, and has no axe violations at 1280 and 390 px', async () => {
    const client = await openClient(browser, maws.url!, { sessionId: unique('a11y'), viewport: DESKTOP });
    const { page } = client;
    const violations: string[] = [];
    await page.exposeFunction('__reportViolation', (v: string) => violations.push(v));
    await page.evaluate(() =>
      document.addEventListener('securitypolicyviolation', (e: any) =>
        window.__reportViolation(`${e.violatedDirective} ${e.blockedURI}`),
      ),
    );
    await waitConnected(page);
    await waitForState(page, 'IDLE');
    // Every state's findings, reported together.
    const found: Record<string, AxeFinding[]> = {};
    found['new session, 1280 px'] = await axeViolations(page);
    await typeAndSend(page, QUERY);
    await waitForStep(page, 'exec-1', 'running');
    found['mid-run, 1280 px'] = await axeViolations(page);
    await page.setViewportSize(PHONE);
    found['mid-run, 390 px'] = await axeViolations(page);
    await screenshot(page, 'a11y-mid-run-390');
    await waitForRunEnd(page, 1);
    await waitForState(page, 'REFINEMENT_READY');
    found['with a report, 390 px'] = await axeViolations(page);
    await page.setViewportSize(DESKTOP);
    found['with a report, 1280 px'] = await axeViolations(page);
    await screenshot(page, 'a11y-report-1280');
    expect(found).toEqual({
      'new session, 1280 px': [],
      'mid-run, 1280 px': [],
      'mid-run, 390 px': [],
      'with a report, 390 px': [],
      'with a report, 1280 px': [],
    });

    // The page ran a whole task under the policy without one refusal.
    expect(violations).toEqual([]);
    expect(client.consoleErrors.filter((e) => /Content Security Policy/i.test(e))).toEqual([]);
    // A script slipped into the page (as a sanitizer bug would let one through) does not run.
    await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.__injected = 1';
      document.body.append(s);
      const img = document.createElement('img');
      img.src = 'http://127.0.0.2:9/pixel.png';
      document.body.append(img);
    });
    await page.waitForFunction(() => document.querySelector('img[src*="pixel"]')?.complete === true);
    expect(await page.evaluate(() => window.__injected)).toBeUndefined();
    expect(violations).toEqual(['script-src-elem inline', 'img-src http://127.0.0.2:9/pixel.png']);
    expect(client.pageErrors).toEqual([]);
  });

  it("a run shows its trace: the button names the trace's first characters and copies its whole id", async () => {
    const client = await openClient(browser, maws.url!, { sessionId: unique('trace') });
    const { page, context } = client;
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: maws.url! });
    await waitConnected(page);
    await waitForState(page, 'IDLE');
    await typeAndSend(page, QUERY);
    await page.waitForSelector('#thread .run-card .run-trace');
    const runId = await page.getAttribute('#thread .run-card', 'data-run-id');
    const traceId = await page.getAttribute('#thread .run-card .run-trace', 'data-trace-id');
    // The id is the trace of the command that started the run (its span ends first).
    const started = () =>
      sink.spans.find((s) => s.name === 'maws.command message' && s.attributes['maws.run_id'] === runId);
    await eventually(() => Promise.resolve(started() !== undefined), 10_000, 'the command span');
    expect(started()!.traceId).toBe(traceId);
    expect(await page.textContent('#thread .run-card .run-trace')).toBe(`Trace ${traceId!.slice(0, 8)}`);
    await page.click('#thread .run-card .run-trace');
    await page.waitForFunction(() => document.querySelector('.run-trace')?.textContent === 'Copied');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(traceId);
    await page.click('#cancel');
    expect((await waitForRunEnd(page, 1)).status).toBe('cancelled');
    expect(client.pageErrors).toEqual([]);
  });
});
