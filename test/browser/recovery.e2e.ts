/**
 * Browser: the gateway dies (SIGKILL) mid-run and comes back on the same port; a separate
 * worker keeps the run going meanwhile. The page reconnects by itself (backoff, ?lastSeq=N)
 * and ends with the same text as an undisturbed run of the same query (the offline model is
 * deterministic), with no gap and no duplicated text in any step. The same when the network
 * to the gateway goes silent without a FIN (the page's own ping notices), when a worker dies
 * mid-step, and when Redis is full for a while mid-run (the page says the run waits). And when
 * the page's gateway freezes (SIGSTOP) behind a health-checking balancer with a second gateway:
 * the page notices by itself and shows the report from the other gateway, once.
 */
import type { Browser, BrowserContext } from 'playwright-core';
import {
  DESKTOP,
  hook,
  launchBrowser,
  openClient,
  readRuns,
  screenshot,
  typeAndSend,
  waitConnected,
  waitForRunEnd,
  waitForState,
  waitForStep,
  type RunView,
} from '../support/browser';
import { startMaws, type MawsEnv, type MawsProcess } from '../support/maws-process';
import { adminRedis } from '../support/redis-admin';
import type { RedisServer } from '../support/redis-server';
import { QUERY, unique } from '../support/scenario';
import { setUpSuite, startStack } from '../support/suite';
import { startTcpBalancer } from '../support/tcp-balancer';
import { startTcpProxy } from '../support/tcp-proxy';
import { sleep } from '../support/timing';

jest.setTimeout(240_000);

let env: MawsEnv;
let redis: RedisServer;
let gateway: MawsProcess;
let worker: MawsProcess;
let browser: Browser;
let context: BrowserContext;

setUpSuite(async () => {
  // Slow enough tokens that the run is still going when the gateway comes back.
  ({
    env,
    redis,
    procs: [gateway, worker],
  } = await startStack(['gateway', 'worker'], { AUTH_DEV_TOKENS: 'true', OFFLINE_TOKEN_DELAY_MS: '15' }));
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: DESKTOP });
});

/** What must be equal between two runs of the same query: every step and the report. */
function essence(run: RunView): unknown {
  return run.steps.map(({ agent, stepId, state, title, text }) => ({ agent, stepId, state, title, text }));
}

async function logStreams(page: import('playwright-core').Page): Promise<Record<string, string>> {
  return page.$$eval('#log .agent-stream', (blocks) =>
    Object.fromEntries(blocks.map((b) => [b.dataset.stepId ?? '', b.querySelector('.agent-text')?.textContent ?? ''])),
  );
}

// The undisturbed run, to compare the others with.
let calmRun: RunView;
let calmReport: string | null;

describe('gateway killed and restarted mid-run', () => {
  it('the page reconnects by itself and ends with the same text as an undisturbed run', async () => {
    // --- an undisturbed run of the same query, in its own session
    const calm = await openClient(browser, gateway.url!, { sessionId: unique('calm'), context });
    await waitConnected(calm.page);
    await waitForState(calm.page, 'IDLE');
    await typeAndSend(calm.page, QUERY);
    calmRun = await waitForRunEnd(calm.page, 1, 120_000);
    expect(calmRun.status).toBe('completed');
    calmReport = (await hook(calm.page)).reportMarkdown;
    const calmStreams = await logStreams(calm.page);
    await calm.page.close();

    // --- the disturbed run
    const client = await openClient(browser, gateway.url!, { sessionId: unique('crash'), context });
    const { page } = client;
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    await waitConnected(page);
    await waitForState(page, 'IDLE');
    await typeAndSend(page, QUERY);

    // Kill the gateway while the second executor step streams.
    await waitForStep(page, 'exec-2', 'running', { withText: true });
    const seqAtKill = (await hook(page)).lastSeq!;
    expect(seqAtKill).toBeGreaterThan(0);
    const port = gateway.port!;
    gateway.kill('SIGKILL');
    await gateway.exited;
    await page.waitForSelector('#status[data-status="reconnecting"]', { timeout: 30_000 });
    expect(await page.isVisible('#banner')).toBe(true);
    await screenshot(page, 'desktop-reconnecting');

    // The worker keeps writing the run's events while no gateway is up.
    await sleep(1_000);
    gateway = await startMaws('gateway', { ...env, PORT: String(port) });

    await waitConnected(page, 60_000);
    expect(await page.isVisible('#banner')).toBe(false);
    const run = await waitForRunEnd(page, 1, 120_000);
    await waitForState(page, 'REFINEMENT_READY');

    // It resumed where it was, rather than starting over.
    // (`sockets` holds those opened after the first: the reconnect attempts.)
    const resumed = sockets.map((u) => Number(new URL(u).searchParams.get('lastSeq')));
    expect(resumed.length).toBeGreaterThan(0);
    expect(resumed[resumed.length - 1]).toBeGreaterThanOrEqual(seqAtKill);

    // Same steps, same streamed text (nothing lost, nothing twice), same report.
    expect(run.status).toBe('completed');
    expect(essence(run)).toEqual(essence(calmRun));
    expect(await logStreams(page)).toEqual(calmStreams);
    expect((await hook(page)).reportMarkdown).toBe(calmReport);
    expect(await page.textContent('#report h1')).toMatch(/^Report: /);
    expect((await readRuns(page)).length).toBe(1);

    // No logged event shows up twice.
    const seqs = await page.$$eval('#log > .line[data-seq]', (lines) => lines.map((l) => Number(l.dataset.seq)));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(client.pageErrors).toEqual([]);
  });
});

describe('the network to the gateway goes silent mid-run (no FIN)', () => {
  it('the page notices by its own ping, comes back once the network heals, and ends with the same text', async () => {
    const proxy = await startTcpProxy(gateway.port!, { holdCloses: true });
    const client = await openClient(browser, proxy.url.replace('redis://', 'http://'), {
      sessionId: unique('silent'),
      context,
    });
    try {
      const { page } = client;
      await waitConnected(page);
      await waitForState(page, 'IDLE');
      await typeAndSend(page, QUERY);
      await waitForStep(page, 'exec-2', 'running', { withText: true });
      // The connection stays open at both ends; nothing moves, not even a close (a dropped
      // route): only the page's own ping can tell.
      proxy.cut();
      const cutAt = Date.now();
      await page.waitForSelector('#status[data-status="reconnecting"]', { timeout: 40_000 });
      const noticedMs = Date.now() - cutAt;
      // The client's ping goes after 15 s of silence, and it gives up 10 s later.
      expect(noticedMs).toBeLessThan(30_000);
      console.log(`silent network: the page noticed after ${noticedMs} ms`);
      proxy.heal();
      await waitConnected(page, 60_000);
      const run = await waitForRunEnd(page, 1, 120_000);
      expect(run.status).toBe('completed');
      expect(essence(run)).toEqual(essence(calmRun));
      expect((await hook(page)).reportMarkdown).toBe(calmReport);
      expect(client.pageErrors).toEqual([]);
    } finally {
      await client.page.close();
      await proxy.close();
    }
  });
});

describe('worker killed mid-step', () => {
  it('the step that another worker starts again shows as restarted, its earlier text dropped', async () => {
    expect(calmRun).toBeDefined();
    // Workers that notice a dead one quickly; the first one is the only one when the run starts.
    const fast = { ...env, WORKER_LOCK_MS: '2000', WORKER_STALLED_INTERVAL_MS: '1000', OFFLINE_TOKEN_DELAY_MS: '30' };
    await worker.stop();
    const doomed = await startMaws('worker', fast);

    const client = await openClient(browser, gateway.url!, { sessionId: unique('worker'), context });
    const { page } = client;
    await waitConnected(page);
    await waitForState(page, 'IDLE');
    await typeAndSend(page, QUERY);
    await waitForStep(page, 'exec-2', 'running', { withText: true });
    worker = await startMaws('worker', fast);
    doomed.kill('SIGKILL');

    // The step that was running when the worker died starts again, with attempt 2.
    await page.waitForSelector('#thread .task-step[data-restarted="true"]', { timeout: 60_000 });
    if (await page.$('#thread .task-step[data-state="restarted"]')) await screenshot(page, 'desktop-step-restarted');
    const run = await waitForRunEnd(page, 1, 120_000);
    expect(run.status).toBe('completed');
    const restarted = run.steps.filter((s) => s.restarted);
    expect(restarted).toHaveLength(1);
    expect(restarted[0].state).toBe('done');
    // Its text is the second attempt's alone: the same as in the undisturbed run.
    expect(essence(run)).toEqual(essence(calmRun));
    expect((await hook(page)).reportMarkdown).toBe(calmReport);
    expect(await page.$eval('#log .agent-stream .restart-badge:not([hidden])', (b) => b.textContent)).toMatch(
      /restarted \(attempt 2\)/,
    );
    expect(client.pageErrors).toEqual([]);
  });
});

describe('Redis full mid-run', () => {
  it('the page says the run waits and gives back a refused message; then the same text and report', async () => {
    expect(calmRun).toBeDefined();
    const admin = adminRedis(redis);
    const client = await openClient(browser, gateway.url!, { sessionId: unique('full'), context });
    const { page } = client;
    await waitConnected(page);
    await waitForState(page, 'IDLE');
    await typeAndSend(page, QUERY);
    await waitForStep(page, 'exec-2', 'running', { withText: true });
    // Below what it uses: Redis refuses every write until maxmemory is lifted.
    await admin.config('SET', 'maxmemory', '1');
    try {
      await page.waitForSelector('#store-banner:not([hidden])', { timeout: 20_000 });
      expect(await page.textContent('#store-banner')).toMatch(/out of memory.*goes on by itself/);
      // A question asked now is refused with UNAVAILABLE, and its text is back in the box (so
      // soon, maybe, that the box is never seen empty: not typeAndSend, which waits for that).
      await page.fill('#message', 'Are you still there?');
      await page.press('#message', 'Enter');
      await page.waitForSelector('#thread .note-error', { timeout: 10_000 });
      expect(await page.textContent('#thread .note-error')).toMatch(/^UNAVAILABLE: Redis is out of memory/);
      expect(await page.inputValue('#message')).toBe('Are you still there?');
      await screenshot(page, 'desktop-store-full');
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
    await page.waitForSelector('#store-banner', { state: 'hidden', timeout: 20_000 });
    const run = await waitForRunEnd(page, 1, 120_000);
    expect(run.status).toBe('completed');
    expect(essence(run)).toEqual(essence(calmRun));
    expect((await hook(page)).reportMarkdown).toBe(calmReport);
    expect(client.pageErrors).toEqual([]);
  });
});

describe("the page's gateway freezes mid-run (SIGSTOP), a second gateway behind the same balancer", () => {
  it('the page notices by itself and shows the report from the other gateway within a minute, once', async () => {
    // The gateway the page is on (first in the balancer's list) and a second one.
    const second = await startMaws('gateway', env);
    const balancer = await startTcpBalancer([gateway.port!, second.port!], {
      healthCheck: { intervalMs: 500, timeoutMs: 1_000 },
    });
    const client = await openClient(browser, `http://${balancer.host}`, { sessionId: unique('frozen'), context });
    const frozen = gateway;
    try {
      const { page } = client;
      await waitConnected(page);
      await waitForState(page, 'IDLE');
      expect(balancer.lastBackend).toBe(frozen.port);
      await typeAndSend(page, QUERY);
      await waitForStep(page, 'exec-2', 'running', { withText: true });
      frozen.kill('SIGSTOP');
      const frozenAt = Date.now();
      // Nothing tells the page: its socket stays open to a process that no longer answers.
      await page.waitForSelector('#status[data-status="reconnecting"]', { timeout: 40_000 });
      const noticedMs = Date.now() - frozenAt;
      await waitConnected(page, 60_000);
      const run = await waitForRunEnd(page, 1, 60_000);
      const reportMs = Date.now() - frozenAt;
      console.log(`frozen gateway: the page noticed after ${noticedMs} ms and showed the report after ${reportMs} ms`);
      expect(reportMs).toBeLessThan(60_000);
      expect(balancer.lastBackend).toBe(second.port);
      // The report once, the run once, every step's text as in an undisturbed run.
      expect(run.status).toBe('completed');
      expect(essence(run)).toEqual(essence(calmRun));
      expect((await hook(page)).reportMarkdown).toBe(calmReport);
      expect((await readRuns(page)).length).toBe(1);
      expect(await page.$$eval('#report h1', (h) => h.length)).toBe(1);
      const seqs = await page.$$eval('#log > .line[data-seq]', (lines) => lines.map((l) => Number(l.dataset.seq)));
      expect(new Set(seqs).size).toBe(seqs.length);
      expect(client.pageErrors).toEqual([]);
    } finally {
      frozen.kill('SIGCONT');
      await client.page.close();
      await balancer.close();
    }
  });
});
