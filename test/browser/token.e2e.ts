/**
 * Browser: with dev tokens off the page says so and lets a person paste a token; a token the
 * server refuses is reported, and the fields unlock for another one.
 */
import type { Browser } from 'playwright-core';
import { launchBrowser, openClient, waitConnected, waitForState } from '../support/browser';
import type { MawsProcess } from '../support/maws-process';
import { unique } from '../support/scenario';
import { setUpSuite, startStack } from '../support/suite';
import { signToken } from '../support/tokens';

// page.waitForFunction callbacks run in the page. tsconfig has no DOM lib, so the page's
// `document` is declared here, for this file only.
declare const document: any;

jest.setTimeout(120_000);

let maws: MawsProcess;
let browser: Browser;

setUpSuite(async () => {
  [maws] = (await startStack(['all'], { AUTH_DEV_TOKENS: 'false' })).procs;
  browser = await launchBrowser();
});

describe('tokens when dev tokens are off', () => {
  it('asks for a token, and connects with a pasted one', async () => {
    const { page, pageErrors } = await openClient(browser, maws.url!, {
      sessionId: unique('paste'),
    });
    await page.waitForSelector('#notice:not([hidden])');
    expect(await page.textContent('#notice')).toMatch(/paste a token/i);
    await page.waitForSelector('#status[data-status="disconnected"]');
    expect(await page.isEnabled('#token')).toBe(true);

    await page.fill('#token', signToken(unique('paster')));
    await page.click('#connect');
    await waitConnected(page);
    await waitForState(page, 'IDLE');
    expect(await page.isHidden('#notice')).toBe(true);
    expect(await page.textContent('#connect')).toBe('Disconnect');

    // The pasted token stays for this tab: a reload connects again by itself.
    await page.reload({ waitUntil: 'load' });
    await waitConnected(page);
    await waitForState(page, 'IDLE');
    expect(pageErrors).toEqual([]);
  });

  it('says so when the server refuses the pasted token, and lets a person paste another', async () => {
    const { page, pageErrors } = await openClient(browser, maws.url!, {
      sessionId: unique('refused'),
    });
    await page.waitForSelector('#notice:not([hidden])');
    await page.fill('#token', signToken('late-user', undefined, { expiresInSec: -60 }));
    await page.click('#connect');
    await page.waitForFunction(
      () => /refuses this token/.test(document.getElementById('notice')?.textContent ?? ''),
      null,
      {
        timeout: 30_000,
      },
    );
    await page.waitForSelector('#status[data-status="disconnected"]');
    expect(await page.isEnabled('#token')).toBe(true);

    await page.fill('#token', signToken('good-user'));
    await page.click('#connect');
    await waitConnected(page);
    await waitForState(page, 'IDLE');
    expect(pageErrors).toEqual([]);
  });
});
