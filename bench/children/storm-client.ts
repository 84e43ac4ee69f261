/**
 * The reconnect storm's clients: many sockets, each of which, when its gateway drops it,
 * comes back by itself the way @maws/client does (its own backoffDelay: 500 ms doubling to
 * 10 s, ± 20% jitter), to the next gateway in its list, with `?lastSeq=` (MAWS) so the
 * gateway resumes it. Every durable frame's seq is checked (gaps, duplicates); a socket counts
 * as resumed once, after the storm began, it has the snapshot and every seq up to the
 * snapshot's. For the floor (a bare `ws` server) a socket counts as resumed when it is open.
 * A separate probe socket measures what a fresh client of the surviving gateway waits for a
 * ping's answer meanwhile. Driven over IPC by bench/workloads/storm.ts.
 */
import WebSocket from 'ws';
import { backoffDelay } from '../../packages/client/src/backoff';
import { signToken } from '../../test/support/tokens';
import { serve } from '../lib/ipc';
import { names } from '../lib/names';
import { hrUs, mapLimit, resetSocket } from '../lib/util';
import { command } from '../lib/wire';

/** @maws/client's defaults (packages/client/src/client.ts). */
const BACKOFF = { minMs: 500, maxMs: 10_000, jitter: 0.2 };
const GROUP_WARM = 'storm-warm';

interface StormSock {
  index: number;
  sessionId: string;
  token: string;
  ws?: WebSocket;
  urlIndex: number;
  attempt: number;
  lastSeq: number;
  /** After a (re)connect: the snapshot's lastSeq, which this socket must reach to be resumed. */
  target: number;
  /** Since the storm began: the snapshot came and every seq up to it. */
  resumed: boolean;
  resumedAtUs?: number;
  gaps: number;
  dups: number;
  runEnded: boolean;
}

interface OpenArgs {
  urls: string[];
  count: number;
  /** MAWS: tokens, lastSeq, snapshots. false: a bare ws server (open = resumed). */
  maws: boolean;
  concurrency: number;
  group: string;
}

let urls: string[] = [];
let maws = true;
let socks: StormSock[] = [];
let stopping = false;
let stormAtUs = 0;
const refusals = new Map<string, number>();
let unavailable = 0;
let connects = 0;

function note(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function resumedNow(sock: StormSock): void {
  if (sock.resumed || stormAtUs === 0) return;
  sock.resumed = true;
  sock.resumedAtUs = hrUs();
}

function onFrame(sock: StormSock, data: Buffer): void {
  const frame = JSON.parse(data.toString('utf8')) as {
    seq?: number;
    event: string;
    data: { lastSeq?: number; code?: string };
  };
  if (typeof frame.seq === 'number') {
    if (frame.seq === sock.lastSeq + 1) sock.lastSeq = frame.seq;
    else if (frame.seq > sock.lastSeq) {
      sock.gaps += frame.seq - sock.lastSeq - 1;
      sock.lastSeq = frame.seq;
    } else sock.dups++;
    if (frame.event === 'run.completed' || frame.event === 'run.failed' || frame.event === 'run.cancelled') {
      sock.runEnded = true;
    }
  } else if (frame.event === 'session.snapshot') {
    // Every connect asks for what follows the socket's own lastSeq: the replay follows the snapshot.
    sock.target = frame.data.lastSeq ?? 0;
  } else if (frame.event === 'error' && frame.data.code === 'RESUME_UNAVAILABLE') {
    unavailable++;
  }
  if (sock.lastSeq >= sock.target) resumedNow(sock);
}

/** Dials the socket's current gateway; resolves once it is set up (or failed: it retries by itself). */
function dial(sock: StormSock): Promise<void> {
  return new Promise((resolve) => {
    if (stopping) return resolve();
    connects++;
    const qs = maws ? `?token=${sock.token}&lastSeq=${sock.lastSeq}` : '';
    const ws = new WebSocket(`${urls[sock.urlIndex]}/ws/${sock.sessionId}${qs}`, {
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
    });
    sock.ws = ws;
    sock.target = Number.MAX_SAFE_INTEGER;
    let settled = false;
    const ready = (): void => {
      if (settled) return;
      settled = true;
      sock.attempt = 0;
      resolve();
    };
    ws.on('error', () => undefined);
    ws.on('unexpected-response', (_req, res) => {
      note(refusals, `HTTP ${res.statusCode}`);
      ws.terminate();
    });
    if (maws) {
      ws.on('message', (data: Buffer) => {
        onFrame(sock, data);
        if (sock.target !== Number.MAX_SAFE_INTEGER) ready();
      });
    } else {
      ws.once('open', () => {
        resumedNow(sock);
        ready();
      });
    }
    ws.once('close', () => {
      if (!settled) {
        settled = true;
        resolve();
      }
      if (stopping || sock.ws !== ws) return;
      // As @maws/client: wait (backoff, jitter), then the next gateway, from where it was.
      const delay = backoffDelay(sock.attempt++, BACKOFF);
      sock.urlIndex = (sock.urlIndex + 1) % urls.length;
      setTimeout(() => void dial(sock), delay);
    });
  });
}

async function open(args: OpenArgs): Promise<{ ms: number }> {
  ({ urls, maws } = args);
  stopping = false;
  stormAtUs = 0;
  unavailable = 0;
  connects = 0;
  refusals.clear();
  socks = Array.from({ length: args.count }, (_, index) => {
    const { user, sessionId } = names(args.group, index);
    return {
      index,
      sessionId,
      // Signed before the clock starts: a client holds its token already when its gateway drops it.
      token: maws ? signToken(user, undefined, { expiresInSec: 24 * 3600 }) : '',
      urlIndex: 0,
      attempt: 0,
      lastSeq: 0,
      target: 0,
      resumed: false,
      gaps: 0,
      dups: 0,
      runEnded: false,
    };
  });
  const t0 = hrUs();
  await mapLimit(socks, args.concurrency, (sock) => dial(sock));
  return { ms: (hrUs() - t0) / 1000 };
}

/** Opens and closes `count` sockets on `url` (their own sessions): a gateway's code is warm before it is measured. */
async function warm(args: { url: string; maws: boolean; count: number }): Promise<void> {
  await mapLimit(
    Array.from({ length: args.count }, (_, i) => i),
    50,
    (i) =>
      new Promise<void>((resolve) => {
        const { user, sessionId } = names(`${GROUP_WARM}${args.url.length}`, i);
        const qs = args.maws ? `?token=${signToken(user, undefined, { expiresInSec: 3600 })}&lastSeq=0` : '';
        const ws = new WebSocket(`${args.url}/ws/${sessionId}${qs}`, { perMessageDeflate: false });
        const done = (): void => {
          resetSocket(ws);
          resolve();
        };
        ws.once(args.maws ? 'message' : 'open', done);
        ws.once('error', done);
      }),
  );
}

/** The first `count` sockets start a task each: the runs that stream through the storm. */
function startRuns(args: { count: number; text: string }): { started: number } {
  for (const sock of socks.slice(0, args.count)) sock.ws?.send(command('task.start', { text: args.text }, 'storm'));
  return { started: Math.min(args.count, socks.length) };
}

/** Frames each streaming socket has seen so far (the bench waits for the runs to be under way). */
function streamed(args: { count: number }): { minLastSeq: number } {
  return { minLastSeq: Math.min(...socks.slice(0, args.count).map((s) => s.lastSeq)) };
}

/** The storm begins now (the bench kills the gateway next): every socket must be resumed again. */
function mark(): { at: number } {
  stormAtUs = hrUs();
  for (const sock of socks) {
    sock.resumed = false;
    sock.resumedAtUs = undefined;
    // Only a snapshot on a new connection counts: frames from the old gateway until it dies do not.
    sock.target = Number.MAX_SAFE_INTEGER;
  }
  return { at: stormAtUs };
}

function status() {
  const resumeMs = socks.filter((s) => s.resumedAtUs !== undefined).map((s) => (s.resumedAtUs! - stormAtUs) / 1000);
  return {
    sockets: socks.length,
    resumed: resumeMs.length,
    resumeMs: resumeMs.sort((a, b) => a - b),
    gaps: socks.reduce((n, s) => n + s.gaps, 0),
    dups: socks.reduce((n, s) => n + s.dups, 0),
    unavailable,
    connects,
    refusals: Object.fromEntries(refusals),
    onSecond: socks.filter((s) => s.urlIndex === 1 && s.ws?.readyState === WebSocket.OPEN).length,
  };
}

/** The streaming sockets' ends: what each saw, for the bench's audit against the log. */
function finals(args: { count: number }) {
  return socks
    .slice(0, args.count)
    .map((s) => ({ sessionId: s.sessionId, lastSeq: s.lastSeq, gaps: s.gaps, dups: s.dups, runEnded: s.runEnded }));
}

function closeAll(): void {
  stopping = true;
  for (const sock of socks) if (sock.ws) resetSocket(sock.ws);
  socks = [];
}

/** A fresh client on the surviving gateway: a ping every `intervalMs`, each answer's wait recorded. */
const prober = { ws: undefined as WebSocket | undefined, timer: undefined as NodeJS.Timeout | undefined };
const probeSamples: { atUs: number; ms: number }[] = [];
const sentAt = new Map<string, number>();
let refused = 0;
let probeClosed = false;

async function probeStart(args: { url: string; maws: boolean; group: string; intervalMs: number }): Promise<void> {
  probeSamples.length = 0;
  sentAt.clear();
  refused = 0;
  probeClosed = false;
  const { user, sessionId } = names(`${args.group}-probe`, 0);
  const qs = args.maws ? `?token=${signToken(user, undefined, { expiresInSec: 3600 })}` : '';
  const ws = new WebSocket(`${args.url}/ws/${sessionId}${qs}`, { perMessageDeflate: false });
  prober.ws = ws;
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let n = 0;
  const answered = (key: string): void => {
    const at = sentAt.get(key);
    if (at === undefined) return;
    sentAt.delete(key);
    const now = hrUs();
    probeSamples.push({ atUs: now, ms: (now - at) / 1000 });
  };
  // MAWS: the contract's `ping` command, answered by the gateway's command path with a `pong`
  // that names no ping (its data is {}): pongs come in order, so each answers the oldest ping.
  // The floor: a ws ping frame.
  ws.on('message', (data: Buffer) => {
    const f = JSON.parse(data.toString('utf8')) as { event: string; data: { replyTo?: string } };
    const oldest = sentAt.keys().next();
    if (f.event === 'pong' && !oldest.done) answered(oldest.value);
    // A refused ping names itself: it gets no pong, and stays counted as unanswered.
    else if (f.event === 'error' && f.data.replyTo && sentAt.delete(f.data.replyTo)) refused++;
  });
  ws.on('close', () => (probeClosed = true));
  ws.on('pong', (data: Buffer) => answered(data.toString()));
  prober.timer = setInterval(() => {
    const key = `p${n++}`;
    sentAt.set(key, hrUs());
    if (args.maws) ws.send(command('ping', {}, key));
    else ws.ping(key);
  }, args.intervalMs);
}

/** The probe's waits (ms) since `fromUs` (the storm's start); pings unanswered or refused; whether its socket closed. */
function probeStop(args: { fromUs: number }): { ms: number[]; unanswered: number; closed: boolean } {
  clearInterval(prober.timer);
  const closed = probeClosed;
  prober.ws?.terminate();
  return {
    ms: probeSamples.filter((s) => s.atUs >= args.fromUs).map((s) => s.ms),
    unanswered: sentAt.size + refused,
    closed,
  };
}

serve({ open, warm, startRuns, streamed, mark, status, finals, closeAll, probeStart, probeStop });
