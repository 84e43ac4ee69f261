/**
 * Fault tolerance (issue 18): a reconnect storm. 1,000 @maws/client sessions (one user each)
 * are open on gateway A, 10 of them streaming a run, the rest idle; A is SIGKILLed mid-run.
 * Every client comes back by itself, with the SDK's own backoff and jitter, to gateway B and
 * resumes from its lastSeq:
 * - all 1,000 are resumed on B (open, with B's snapshot) within RESUME_BOUND_MS, each on its
 *   first attempt there, from the lastSeq it had when A died;
 * - each streaming client's events() yields seqs 1..N exactly once, in order, equal to the
 *   history stored (read over HTTP from B), with the run completed after the kill;
 * - the idle ones get no durable event and no error, and keep lastSeq 0;
 * - a plain client on B has every ping answered throughout (round trips logged, not asserted);
 * - once everyone has closed, B's maws_connected_sockets gauge is back to 0.
 */
import WebSocket from 'ws';
import {
  createMawsClient,
  type AnyDurableFrame,
  type ClientStatus,
  type MawsClient,
  type ReplyEventMap,
  type SocketConstructor,
} from '../../packages/client/src';
import { expectEvent, isEvent, TERMINAL } from '../support/frames';
import { httpJson } from '../support/http';
import type { MawsProcess } from '../support/maws-process';
import { sample } from '../support/metrics';
import { QUERY, unique } from '../support/scenario';
import { connect } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';
import { eventually, sleep } from '../support/timing';
import { signToken } from '../support/tokens';

// Past the sum of the steps' own bounds, so a slow step fails with its own message.
jest.setTimeout(180_000);

const CLIENTS = 1000;
/** Every STREAM_EVERY-th client runs a task: 10 of the 1,000. */
const STREAM_EVERY = 100;
/** Clients opened at once on A. */
const OPEN_CONCURRENCY = 100;
/** From the kill until every client has B's snapshot (the first retry comes after 400–600 ms). */
const RESUME_BOUND_MS = 10_000;
const RUN_TIMEOUT_MS = 30_000;

let gatewayA: MawsProcess;
let gatewayB: MawsProcess;
/** Set just before A is killed: from then on every connection attempt goes to B. */
let aKilled = false;
/** The ping loop on B goes on while this is true. */
let pinging = false;

setUpSuite(async () => {
  ({
    procs: [gatewayA, gatewayB],
  } = await startStack(['gateway', 'gateway', 'worker'], {
    OFFLINE_TOKEN_DELAY_MS: '15',
    // All ten runs at once, so every one of them is streaming when A dies.
    WORKER_CONCURRENCY: String(CLIENTS / STREAM_EVERY),
  }));
});

/** One session's client and what it lived through, as its user would see it. */
interface Session {
  client: MawsClient;
  sessionId: string;
  token: string;
  streaming: boolean;
  runId?: string;
  /** The gateway each connection attempt was sent to. */
  dialed: string[];
  /** Each socket that opened: where, and the lastSeq it resumed from. */
  opens: { url: string; lastSeq: number }[];
  /** Each socket that closed, with the client's lastSeq then. */
  disconnects: { code: number; opened: boolean; lastSeq: number }[];
  statuses: ClientStatus[];
  snapshots: ReplyEventMap['session.snapshot'][];
  errors: ReplyEventMap['error'][];
  resets: number;
  /** Durable frames handed on through `on('frame')`. */
  durable: AnyDurableFrame[];
  /** What `events()` yielded (streaming sessions), until the run ended. */
  received: AnyDurableFrame[];
  reading?: Promise<void>;
}

const sessions: Session[] = [];

afterEach(() => {
  pinging = false;
  for (const s of sessions) s.client.close();
});

function openSession(index: number): Session {
  const sessionId = unique(`storm-${index}`);
  // One user per session: no per-user socket limit applies.
  const token = signToken(unique(`storm-user-${index}`));
  const dialed: string[] = [];
  const c = createMawsClient({
    url: () => {
      const url = aKilled ? gatewayB.wsUrl! : gatewayA.wsUrl!;
      dialed.push(url);
      return url;
    },
    sessionId,
    getToken: () => token,
    WebSocket: WebSocket as unknown as SocketConstructor,
  });
  const s: Session = {
    client: c,
    sessionId,
    token,
    streaming: index % STREAM_EVERY === 0,
    dialed,
    opens: [],
    disconnects: [],
    statuses: [],
    snapshots: [],
    errors: [],
    resets: 0,
    durable: [],
    received: [],
  };
  // The socket that opens is the one of the latest attempt (one attempt at a time).
  c.on('open', ({ lastSeq }) => s.opens.push({ url: s.dialed[s.dialed.length - 1], lastSeq }));
  c.on('disconnect', ({ code, opened }) => s.disconnects.push({ code, opened, lastSeq: c.lastSeq }));
  c.on('status', (status) => s.statuses.push(status));
  c.on('session.snapshot', (data) => s.snapshots.push(data));
  c.on('error', (data) => s.errors.push(data));
  c.on('reset', () => (s.resets += 1));
  c.on('frame', (frame) => {
    if ('seq' in frame) s.durable.push(frame);
  });
  if (s.streaming) {
    const events = c.events();
    s.reading = (async () => {
      let ended = false;
      for await (const frame of events) {
        s.received.push(frame);
        if (isEvent(frame, TERMINAL)) ended = true;
        // The run's end, then the session's new state: the last event of the run.
        if (ended && frame.event === 'session.state') return;
      }
    })();
  }
  sessions.push(s);
  return s;
}

async function socketsOn(gateway: MawsProcess): Promise<number | undefined> {
  const res = await fetch(`${gateway.url}/metrics`, { signal: AbortSignal.timeout(5_000) });
  return sample(await res.text(), 'maws_connected_sockets');
}

/** The durable frames of the session's whole history, over HTTP, page by page. */
async function storedHistory(gateway: MawsProcess, s: Session): Promise<AnyDurableFrame[]> {
  const all: AnyDurableFrame[] = [];
  for (;;) {
    const after = all.length ? all[all.length - 1].seq : 0;
    const res = await httpJson(
      'GET',
      `${gateway.url}/sessions/${s.sessionId}/events?afterSeq=${after}&limit=1000`,
      undefined,
      { authorization: `Bearer ${s.token}` },
    );
    expect(res.status).toBe(200);
    const { events } = res.body as { events: AnyDurableFrame[] };
    all.push(...events);
    if (events.length < 1000) return all;
  }
}

/** Waits for `check`; on timeout says how far it got (`progress`). Resolves with the ms it took. */
async function within(ms: number, what: string, check: () => boolean, progress: () => string): Promise<number> {
  const start = Date.now();
  try {
    await eventually(() => Promise.resolve(check()), ms, what);
  } catch (err) {
    throw new Error(`${(err as Error).message} (${progress()})`);
  }
  return Date.now() - start;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const hasEnded = (s: Session): boolean => s.received.some((f) => isEvent(f, TERMINAL));

describe('a reconnect storm', () => {
  it('1,000 clients of a SIGKILLed gateway all resume on the other one, gap-free, while it keeps answering', async () => {
    const a = gatewayA.wsUrl!;
    const b = gatewayB.wsUrl!;
    // The plain client that pings B throughout; B's only socket before the storm.
    const { client: pinger } = await connect(gatewayB, unique('storm-ping'), signToken(unique('storm-ping-user')));

    // 1,000 clients on A, OPEN_CONCURRENCY at a time.
    const openStart = Date.now();
    for (let first = 0; first < CLIENTS; first += OPEN_CONCURRENCY) {
      const batch = Array.from({ length: Math.min(OPEN_CONCURRENCY, CLIENTS - first) }, (_, k) =>
        openSession(first + k),
      );
      await within(
        15_000,
        `clients ${first}..${first + batch.length - 1} to open on A`,
        () => batch.every((s) => s.snapshots.length === 1 && s.client.status === 'open'),
        () => `${batch.filter((s) => s.snapshots.length === 1).length} of ${batch.length} have their snapshot`,
      );
    }
    const openMs = Date.now() - openStart;
    expect(await socketsOn(gatewayA)).toBe(CLIENTS);
    expect(await socketsOn(gatewayB)).toBe(1);

    const streaming = sessions.filter((s) => s.streaming);
    const idle = sessions.filter((s) => !s.streaming);
    await Promise.all(
      streaming.map(async (s) => {
        s.runId = (await s.client.request('task.start', { text: QUERY })).runId;
        expect(s.runId).toEqual(expect.any(String));
      }),
    );
    // Mid-run: every run is streaming its text, and none has ended.
    await within(
      RUN_TIMEOUT_MS,
      'every run to stream',
      () => streaming.every((s) => s.received.some((f) => f.event === 'agent.delta')),
      () => `${streaming.filter((s) => s.received.some((f) => f.event === 'agent.delta')).length} streaming`,
    );
    expect(streaming.filter(hasEnded)).toEqual([]);

    // B answers pings throughout the storm, one at a time (a pong names no ping).
    const pongs: { sent: number; answered: number }[] = [];
    const pingFailures: string[] = [];
    pinging = true;
    const pings = (async () => {
      while (pinging) {
        const sent = performance.now();
        try {
          await pinger.flush(10_000);
        } catch (err) {
          pingFailures.push((err as Error).message);
          return;
        }
        pongs.push({ sent, answered: performance.now() });
        await sleep(50);
      }
    })();
    await sleep(300);

    aKilled = true;
    const killedAt = performance.now();
    gatewayA.kill('SIGKILL');
    const resumeMs = await within(
      RESUME_BOUND_MS,
      'every client to be resumed on B',
      () => sessions.every((s) => s.snapshots.length === 2 && s.client.status === 'open'),
      () =>
        `${sessions.filter((s) => s.snapshots.length === 2 && s.client.status === 'open').length} of ${CLIENTS} resumed`,
    );
    expect(await gatewayA.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(await socketsOn(gatewayB)).toBe(CLIENTS + 1);

    await within(
      RUN_TIMEOUT_MS,
      'every run to end',
      () => streaming.every(hasEnded),
      () => `${streaming.filter(hasEnded).length} ended`,
    );
    await Promise.all(streaming.map((s) => s.reading ?? Promise.resolve()));
    const allBackAt = killedAt + resumeMs;
    // The pings span the storm: one sent before the kill, one answered after everyone was back.
    await within(
      10_000,
      'a ping answered after the storm',
      () => pingFailures.length > 0 || pongs.some((p) => p.answered > allBackAt),
      () => `${pongs.length} pongs`,
    );
    pinging = false;
    await pings;

    const rtts = pongs.map((p) => p.answered - p.sent);
    const inStorm = pongs.filter((p) => p.answered >= killedAt && p.sent <= allBackAt).map((p) => p.answered - p.sent);
    console.log(
      `storm: ${CLIENTS} clients opened on A in ${openMs} ms, resumed on B ${resumeMs} ms after A was killed; B answered ${rtts.length} ` +
        `pings (${pingFailures.length} unanswered), round trip p50 ${percentile(rtts, 50).toFixed(1)} ms, ` +
        `p99 ${percentile(rtts, 99).toFixed(1)} ms, max ${Math.max(...rtts).toFixed(1)} ms; ` +
        `${inStorm.length} during the resumption, p99 ${percentile(inStorm, 99).toFixed(1)} ms`,
    );
    expect(pingFailures).toEqual([]);
    expect(pongs.some((p) => p.sent < killedAt)).toBe(true);
    expect(pongs.some((p) => p.answered > allBackAt)).toBe(true);
    expect(pinger.events('error')).toEqual([]);

    // Every client, as its user saw it: one socket on A, one drop, one socket on B (its first
    // attempt there), resumed from the lastSeq it had; no error, no reset of the history.
    const lived = (s: Session) => ({
      dialed: s.dialed,
      opens: s.opens.map((o) => o.url),
      resumedFrom: s.opens[1]?.lastSeq,
      dropped: s.disconnects.map((d) => ({ code: d.code, opened: d.opened, lastSeq: d.lastSeq })),
      statuses: s.statuses,
      snapshots: s.snapshots.length,
      errors: s.errors,
      resets: s.resets,
    });
    const expected = (s: Session) => ({
      dialed: [a, b],
      opens: [a, b],
      resumedFrom: s.disconnects[0]?.lastSeq,
      // 1006: the connection died with A, no close frame.
      dropped: [{ code: 1006, opened: true, lastSeq: s.disconnects[0]?.lastSeq }],
      statuses: ['open', 'reconnecting', 'open'],
      snapshots: 2,
      errors: [],
      resets: 0,
    });
    const astray = sessions.filter((s) => JSON.stringify(lived(s)) !== JSON.stringify(expected(s)));
    expect(astray.slice(0, 3).map((s) => ({ sessionId: s.sessionId, ...lived(s) }))).toEqual(
      astray.slice(0, 3).map((s) => ({ sessionId: s.sessionId, ...expected(s) })),
    );
    expect(astray).toHaveLength(0);

    // Idle sessions: nothing happened in them, and nothing was replayed into them.
    for (const s of idle) {
      expect(s.durable).toEqual([]);
      expect(s.client.lastSeq).toBe(0);
      expect(s.disconnects[0].lastSeq).toBe(0);
      expect(s.snapshots).toEqual([
        { state: 'IDLE', lastSeq: 0 },
        { state: 'IDLE', lastSeq: 0 },
      ]);
    }

    // Streaming sessions: seqs 1..N once each, in order, exactly the stored history; the run
    // completed after the kill, so part of it came by resume on B and the rest live there.
    const positions: string[] = [];
    for (const s of streaming) {
      const stored = await storedHistory(gatewayB, s);
      const n = stored[stored.length - 1].seq;
      expect(stored.map((f) => f.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      expect(s.received.map((f) => f.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      expect(s.received).toEqual(stored);
      expect(s.durable).toEqual(stored);
      expect(s.client.lastSeq).toBe(n);
      const ends = s.received.filter((f) => isEvent(f, TERMINAL));
      expect(ends.map((f) => f.event)).toEqual(['run.completed']);
      const done = expectEvent(ends[0], 'run.completed');
      expect(done.data.runId).toBe(s.runId);
      expect(done.data.report.length).toBeGreaterThan(0);
      const seqAtKill = s.disconnects[0].lastSeq;
      expect(seqAtKill).toBeGreaterThan(0);
      expect(done.seq).toBeGreaterThan(seqAtKill);
      expect(s.snapshots[1]).toMatchObject({ state: 'EXECUTING', runId: s.runId });
      expect(s.snapshots[1].lastSeq).toBeGreaterThanOrEqual(seqAtKill);
      positions.push(`${seqAtKill}/${n}`);
    }
    console.log(
      `storm: where each run was when A died (its client's lastSeq / the run's last seq): ${positions.join(', ')}`,
    );

    // Everyone leaves: B holds nothing of them.
    for (const s of sessions) s.client.close();
    await pinger.close();
    let left: number | undefined;
    await eventually(
      async () => (left = await socketsOn(gatewayB)) === 0,
      10_000,
      "B's socket gauge to return to 0",
    ).catch((err: Error) => {
      throw new Error(`${err.message} (maws_connected_sockets ${left})`);
    });
    expect(left).toBe(0);
  });
});
