/**
 * A bench client process: holds many WebSockets (to a MAWS gateway or a bare floor server)
 * and measures what arrives, so that the bench's own process never competes with them.
 * Driven over IPC by bench/run.ts.
 */
import WebSocket from 'ws';
import { signToken } from '../../test/support/tokens';
import { notify, serve } from '../lib/ipc';
import { SENT_MARK, names } from '../lib/names';
import { collectGarbage, errorText, hrUs, mapLimit, resetSocket, sleep } from '../lib/util';
import { command, isDurable, type RunCommandName, type ServerFrame } from '../lib/wire';

/** The bare relay's first frame, once it has subscribed (not MAWS's: the floor's own). */
interface BareReady {
  event: 'ready';
}

interface Sock {
  ws: WebSocket;
  index: number;
  lastSeq: number;
  onJson?: (frame: ServerFrame, tUs: number) => void;
}

const groups = new Map<string, Sock[]>();
const MARK = Buffer.from(SENT_MARK);

/** Relay counters: hot path, no JSON parsing. */
const relay = {
  on: false,
  received: 0,
  gaps: 0,
  dups: 0,
  latency: false,
  samples: [] as number[],
  closes: 0,
};
let progressTimer: NodeJS.Timeout | undefined;

/**
 * Tool rounds as a client sees them: a `tool.called` frame's arrival to its `tool.result`'s,
 * by toolCallId within the run (frames of sockets whose JSON is being read).
 */
const toolRounds = { calledAt: new Map<string, number>(), ms: [] as number[], toolMs: [] as number[] };

function noteToolRound(frame: ServerFrame, tUs: number): void {
  if (frame.event !== 'tool.called' && frame.event !== 'tool.result') return;
  const key = `${frame.data.runId}/${frame.data.toolCallId}`;
  if (frame.event === 'tool.called') toolRounds.calledAt.set(key, tUs);
  else {
    const at = toolRounds.calledAt.get(key);
    if (at !== undefined) toolRounds.ms.push((tUs - at) / 1000);
    toolRounds.calledAt.delete(key);
    // The call's own time, as the worker measured it (tool.result's ms).
    toolRounds.toolMs.push(frame.data.ms);
  }
}

function onMessage(sock: Sock, data: Buffer): void {
  // Durable frames start with {"seq": (MAWS writes them so; the bare relay's too).
  if (relay.on && data[2] === 115 /* s */ && data[3] === 101 /* e */ && data[4] === 113 /* q */) {
    let seq = 0;
    for (let i = 7; i < data.length; i++) {
      const c = data[i];
      if (c < 48 || c > 57) break;
      seq = seq * 10 + (c - 48);
    }
    relay.received++;
    if (seq === sock.lastSeq + 1) sock.lastSeq = seq;
    else if (seq > sock.lastSeq) {
      relay.gaps += seq - sock.lastSeq - 1;
      sock.lastSeq = seq;
    } else relay.dups++;
    if (relay.latency) {
      const at = data.indexOf(MARK);
      if (at >= 0) {
        let sent = 0;
        for (let i = at + MARK.length; i < data.length; i++) {
          const c = data[i];
          if (c < 48 || c > 57) break;
          sent = sent * 10 + (c - 48);
        }
        relay.samples.push(hrUs() - sent);
      }
    }
    return;
  }
  if (!sock.onJson) return;
  const t = hrUs();
  let frame: ServerFrame;
  try {
    frame = JSON.parse(data.toString('utf8')) as ServerFrame;
  } catch {
    return;
  }
  noteToolRound(frame, t);
  sock.onJson(frame, t);
}

interface OpenArgs {
  group: string;
  /** ws://host:port */
  url: string;
  from: number;
  to: number;
  /** Send a token (MAWS); the bare servers ignore it. */
  auth: boolean;
  /** Wait for the first frame (MAWS's snapshot, the bare relay's ready) before counting it open. */
  waitFirst: boolean;
  concurrency: number;
  timeoutMs?: number;
}

function openOne(args: OpenArgs, index: number, token?: string): Promise<Sock> {
  const { sessionId } = names(args.group, index);
  const qs = token ? `?token=${token}` : '';
  const ws = new WebSocket(`${args.url}/ws/${sessionId}${qs}`, {
    perMessageDeflate: false,
    handshakeTimeout: args.timeoutMs ?? 30_000,
  });
  const sock: Sock = { ws, index, lastSeq: 0 };
  return new Promise<Sock>((resolve, reject) => {
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      ws.terminate();
      reject(err);
    };
    ws.on('error', (err) => fail(err));
    ws.on('unexpected-response', (_req, res) => fail(new Error(`HTTP ${res.statusCode} on upgrade`)));
    ws.on('close', (code) => {
      if (!settled) fail(new Error(`closed before ready (${code})`));
      else if (relay.on) relay.closes++;
    });
    const ready = (): void => {
      if (settled) return;
      settled = true;
      ws.on('message', (data: Buffer) => onMessage(sock, data));
      resolve(sock);
    };
    if (!args.waitFirst) ws.once('open', ready);
    else {
      ws.once('message', (data: Buffer) => {
        try {
          const first = JSON.parse(data.toString('utf8')) as ServerFrame | BareReady;
          if (first.event === 'session.snapshot') sock.lastSeq = first.data.lastSeq;
        } catch {
          /* a first frame that is not JSON still means the socket is set up */
        }
        ready();
      });
    }
  });
}

async function open(args: OpenArgs): Promise<{ opened: number; failed: number; ms: number; errors: string[] }> {
  const list = groups.get(args.group) ?? [];
  groups.set(args.group, list);
  const indices = Array.from({ length: args.to - args.from }, (_, k) => args.from + k);
  const errors: string[] = [];
  let failed = 0;
  // Signed before the clock starts: a client holds its token before it connects, and signing
  // is no part of the server's upgrade path (it only took CPU from the server being measured).
  const tokens = indices.map((i) =>
    args.auth ? signToken(names(args.group, i).user, undefined, { expiresInSec: 24 * 3600 }) : undefined,
  );
  const t0 = hrUs();
  await mapLimit(indices, args.concurrency, async (i, k) => {
    try {
      list.push(await openOne(args, i, tokens[k]));
    } catch (err) {
      failed++;
      if (errors.length < 3) errors.push(errorText(err));
    }
  });
  return { opened: indices.length - failed, failed, ms: (hrUs() - t0) / 1000, errors };
}

/** Closes a group's sockets (all with no group): a close handshake, or at once with `terminate`. */
async function close(args: { group?: string; terminate?: boolean }): Promise<void> {
  const names = args.group ? [args.group] : [...groups.keys()];
  const socks = names.flatMap((g) => groups.get(g) ?? []);
  for (const g of names) groups.delete(g);
  await Promise.all(
    socks.map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.ws.readyState === WebSocket.CLOSED) return resolve();
          if (args.terminate) {
            resetSocket(s.ws);
            return resolve();
          }
          const t = setTimeout(() => {
            s.ws.terminate();
            resolve();
          }, 3000);
          s.ws.once('close', () => {
            clearTimeout(t);
            resolve();
          });
          s.ws.close(1000);
        }),
    ),
  );
}

function relayStart(args: { latency: boolean; progressMs: number }): void {
  Object.assign(relay, { on: true, received: 0, gaps: 0, dups: 0, latency: args.latency, samples: [], closes: 0 });
  clearInterval(progressTimer);
  progressTimer = setInterval(() => notify('progress', { received: relay.received, t: hrUs() }), args.progressMs);
}

/** After warm-up: drop the latency samples so far; returns the count received so far. */
function relayMark(): { received: number; t: number } {
  relay.samples = [];
  return { received: relay.received, t: hrUs() };
}

function relayStop(): { received: number; gaps: number; dups: number; closes: number; samplesUs: number[] } {
  clearInterval(progressTimer);
  relay.on = false;
  const { received, gaps, dups, closes, samples } = relay;
  relay.samples = [];
  return { received, gaps, dups, closes, samplesUs: samples };
}

/** Open-loop chat on `socks`: each asks every `intervalMs`; latency chat.send → chat.response. */
function chatProbe(socks: Sock[], intervalMs: number, text: string) {
  const pending = new Map<string, number>();
  const latMs: number[] = [];
  const errors: string[] = [];
  const timers: NodeJS.Timeout[] = [];
  let n = 0;
  for (const [k, sock] of socks.entries()) {
    sock.onJson = (f, t) => {
      if (f.event !== 'chat.response' && f.event !== 'error') return;
      const id = f.data.replyTo;
      if (id === undefined || !pending.has(id)) return;
      if (f.event === 'chat.response') latMs.push((t - pending.get(id)!) / 1000);
      else errors.push(f.data.code);
      pending.delete(id);
    };
    const ask = (): void => {
      const id = `c${k}-${n++}`;
      pending.set(id, hrUs());
      sock.ws.send(command('chat.send', { text }, id));
    };
    timers.push(
      setTimeout(
        () => {
          ask();
          timers.push(setInterval(ask, intervalMs));
        },
        Math.floor((k * intervalMs) / socks.length),
      ),
    );
  }
  return {
    stop: async (): Promise<{ latMs: number[]; missing: number; errors: string[] }> => {
      for (const t of timers) clearTimeout(t);
      const deadline = Date.now() + 5000;
      while (pending.size > 0 && Date.now() < deadline) await sleep(20);
      for (const s of socks) s.onJson = undefined;
      return { latMs, missing: pending.size, errors };
    },
  };
}

export interface BatchArgs {
  group: string;
  /** The command each socket sends to start its run. */
  event: RunCommandName;
  text: string;
  timeoutMs: number;
  chatGroup?: string;
  chatIntervalMs?: number;
  chatText?: string;
}

/** Every socket of `group` starts a run at once; resolves when every run has ended. */
async function runsBatch(args: BatchArgs) {
  const socks = groups.get(args.group) ?? [];
  const chatSocks = args.chatGroup ? (groups.get(args.chatGroup) ?? []) : [];
  const chat = chatSocks.length > 0 ? chatProbe(chatSocks, args.chatIntervalMs ?? 200, args.chatText ?? '?') : null;
  let completed = 0;
  let failed = 0;
  let events = 0;
  const runMs: number[] = [];
  const errors: string[] = [];
  const t0 = hrUs();
  let tLast = t0;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, args.timeoutMs);
    const ended = (): void => {
      if (completed + failed === socks.length) {
        clearTimeout(timer);
        resolve();
      }
    };
    for (const [k, sock] of socks.entries()) {
      const id = `b${k}`;
      const sent = hrUs();
      let done = false;
      sock.onJson = (f, t) => {
        if (isDurable(f)) events++;
        if (done) return;
        if (f.event === 'run.completed') {
          completed++;
          runMs.push((t - sent) / 1000);
          tLast = t;
        } else if (f.event === 'run.failed') {
          failed++;
          if (errors.length < 5) errors.push(`${f.event} ${JSON.stringify(f.data.error)}`);
        } else if (f.event === 'run.cancelled') {
          failed++;
          if (errors.length < 5) errors.push(f.event);
        } else if (f.event === 'error' && f.data.replyTo === id) {
          failed++;
          if (errors.length < 5) errors.push(`${f.data.code}: ${f.data.message}`);
        } else return;
        done = true;
        ended();
      };
      sock.ws.send(command(args.event, { text: args.text }, id));
    }
  });
  for (const s of socks) s.onJson = undefined;
  const chatResult = chat ? await chat.stop() : null;
  return {
    runs: socks.length,
    completed,
    failed,
    events,
    ms: (tLast - t0) / 1000,
    runMs,
    errors,
    chat: chatResult,
  };
}

export interface SingleRunsArgs {
  group: string;
  text: string;
  pauseMs: number;
  timeoutMs: number;
  /**
   * Moments to time in each run, from the command: an event name, or `<event>:<stepId>`
   * (`agent.finished:plan`); the first frame that matches counts.
   */
  marks?: string[];
}

/** One run at a time on an idle system: message → run.started, and → run.completed. */
async function singleRuns(args: SingleRunsArgs) {
  const startedMs: number[] = [];
  const wholeMs: number[] = [];
  const errors: string[] = [];
  /** Per completed run: each mark's time (ms from the command). */
  const marksMs: Record<string, number>[] = [];
  for (const [k, sock] of (groups.get(args.group) ?? []).entries()) {
    const id = `m${k}`;
    const t0 = hrUs();
    const marks: Record<string, number> = {};
    const outcome = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), args.timeoutMs);
      sock.onJson = (f, t) => {
        for (const mark of args.marks ?? []) {
          const [event, stepId] = mark.split(':');
          const data = f.data as { stepId?: string };
          if (f.event === event && (!stepId || data.stepId === stepId) && marks[mark] === undefined) {
            marks[mark] = (t - t0) / 1000;
          }
        }
        if (f.event === 'run.started') startedMs.push((t - t0) / 1000);
        else if (f.event === 'run.completed') {
          wholeMs.push((t - t0) / 1000);
          clearTimeout(timer);
          resolve('ok');
        } else if (f.event === 'run.failed' || (f.event === 'error' && f.data.replyTo === id)) {
          clearTimeout(timer);
          resolve(`${f.event} ${JSON.stringify(f.data)}`);
        }
      };
      sock.ws.send(command('message', { text: args.text }, id));
    });
    sock.onJson = undefined;
    if (outcome === 'ok') marksMs.push(marks);
    if (outcome !== 'ok' && errors.length < 5) errors.push(outcome);
    await sleep(args.pauseMs);
  }
  return { startedMs, wholeMs, errors, marksMs };
}

export interface ReviewRunsArgs {
  group: string;
  text: string;
  pauseMs: number;
  timeoutMs: number;
}

/**
 * One reviewed run at a time (v2 plan review): task.start with review, then, once the request
 * arrives (and its job has had time to park), run.respond approving it; the time from sending
 * the answer to the first executor's agent.started.
 */
async function reviewRuns(args: ReviewRunsArgs) {
  const wakeMs: number[] = [];
  const errors: string[] = [];
  for (const [k, sock] of (groups.get(args.group) ?? []).entries()) {
    const outcome = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), args.timeoutMs);
      let answeredAt = 0;
      sock.onJson = (f, t) => {
        if (f.event === 'run.input_requested') {
          const { requestId } = f.data;
          // Parked by then: what is timed is waking a parked run, not catching an active one.
          setTimeout(() => {
            answeredAt = hrUs();
            sock.ws.send(command('run.respond', { requestId, answer: { approve: true } }, `a${k}`));
          }, 20);
        } else if (f.event === 'agent.started' && f.data.agent === 'executor' && answeredAt && !wakeMs[k]) {
          wakeMs[k] = (t - answeredAt) / 1000;
        } else if (f.event === 'run.completed') {
          clearTimeout(timer);
          resolve('ok');
        } else if (f.event === 'run.failed' || f.event === 'error') {
          clearTimeout(timer);
          resolve(`${f.event} ${JSON.stringify(f.data)}`);
        }
      };
      sock.ws.send(command('task.start', { text: args.text, review: 'plan' }, `r${k}`));
    });
    sock.onJson = undefined;
    if (outcome !== 'ok' && errors.length < 5) errors.push(outcome);
    await sleep(args.pauseMs);
  }
  return { wakeMs: wakeMs.filter((x) => x !== undefined), errors };
}

/** Every socket of the group starts a reviewed run; resolves once each has its request (the runs wait). */
async function parkMany(args: { group: string; text: string; timeoutMs: number }) {
  const socks = groups.get(args.group) ?? [];
  let waiting = 0;
  const errors: string[] = [];
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, args.timeoutMs);
    for (const [k, sock] of socks.entries()) {
      sock.onJson = (f) => {
        if (f.event === 'run.input_requested') waiting++;
        else if (f.event === 'error' && errors.length < 5) errors.push(`${f.data.code}: ${f.data.message}`);
        else return;
        if (waiting + errors.length >= socks.length) {
          clearTimeout(timer);
          resolve();
        }
      };
      sock.ws.send(command('task.start', { text: args.text, review: 'plan' }, `p${k}`));
    }
  });
  for (const sock of socks) sock.onJson = undefined;
  return { waiting, errors };
}

/** Every socket of the group cancels its run. */
function cancelAll(args: { group: string }): Record<string, never> {
  for (const [k, sock] of (groups.get(args.group) ?? []).entries()) sock.ws.send(command('task.cancel', {}, `c${k}`));
  return {};
}

export interface ChatIdleArgs {
  group: string;
  n: number;
  text: string;
  pauseMs: number;
}

/** Chat answers on an idle system, one at a time across the group's sockets. */
async function chatIdle(args: ChatIdleArgs) {
  const socks = groups.get(args.group) ?? [];
  const latMs: number[] = [];
  let missing = 0;
  for (let k = 0; k < args.n && socks.length > 0; k++) {
    const sock = socks[k % socks.length];
    const id = `i${k}`;
    const t0 = hrUs();
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 10_000);
      sock.onJson = (f, t) => {
        if ((f.event !== 'chat.response' && f.event !== 'error') || f.data.replyTo !== id) return;
        clearTimeout(timer);
        if (f.event === 'chat.response') latMs.push((t - t0) / 1000);
        resolve(f.event === 'chat.response');
      };
      sock.ws.send(command('chat.send', { text: args.text }, id));
    });
    sock.onJson = undefined;
    if (!ok) missing++;
    await sleep(args.pauseMs);
  }
  return { latMs, missing };
}

export interface CommandLatencyArgs {
  group: string;
  /** Commands each socket sends, one after another. */
  perSession: number;
  /** Pause after each answer before the socket's next command. */
  pauseMs: number;
  text: string;
  timeoutMs: number;
}

/**
 * Every socket of `socks` sends `perSession` commands (`send`), each after the previous one's
 * answer (`answers`: an `error` with its id answers any) and a pause, the sockets staggered
 * over the pause: the latency to each answer, and the answers by name (or error code).
 */
async function answerLatency(
  socks: Sock[],
  opts: { perSession: number; pauseMs: number; timeoutMs: number; idPrefix: string },
  send: (sock: Sock, id: string) => void,
  answers: (f: ServerFrame, id: string) => boolean,
): Promise<{ latMs: number[]; answers: Record<string, number> }> {
  const latMs: number[] = [];
  const counts: Record<string, number> = {};
  await Promise.all(
    socks.map(async (sock, k) => {
      await sleep((k * opts.pauseMs) / Math.max(1, socks.length));
      for (let i = 0; i < opts.perSession; i++) {
        const id = `${opts.idPrefix}${k}-${i}`;
        const t0 = hrUs();
        const answer = await new Promise<string>((resolve) => {
          const timer = setTimeout(() => resolve('no answer'), opts.timeoutMs);
          sock.onJson = (f, t) => {
            if (!(f.event === 'error' ? f.data.replyTo === id : answers(f, id))) return;
            clearTimeout(timer);
            latMs.push((t - t0) / 1000);
            resolve(f.event === 'error' ? f.data.code : f.event);
          };
          send(sock, id);
        });
        sock.onJson = undefined;
        counts[answer] = (counts[answer] ?? 0) + 1;
        await sleep(opts.pauseMs);
      }
    }),
  );
  return { latMs, answers: counts };
}

export interface CommandLatencyArgs {
  group: string;
  /** Commands each socket sends, one after another. */
  perSession: number;
  /** Pause after each answer before the socket's next command. */
  pauseMs: number;
  text: string;
  timeoutMs: number;
}

/** Every socket of `group` sends `message` `perSession` times: latency to its `error` or `ack`. */
function commandLatency(args: CommandLatencyArgs) {
  return answerLatency(
    groups.get(args.group) ?? [],
    { ...args, idPrefix: 'u' },
    (sock, id) => sock.ws.send(command('message', { text: args.text }, id)),
    (f, id) => f.event === 'ack' && f.data.replyTo === id,
  );
}

/** CommandLatencyArgs, with what each socket sends (v2 steering). */
export interface SteerLatencyArgs extends CommandLatencyArgs {
  /**
   * `steer` (run.steer → its ack), `ping` (→ pong, the floor), `instruction` or `question`
   * (a `message` → its chat.response).
   */
  kind: 'steer' | 'ping' | 'instruction' | 'question';
}

/** Every socket of `group` (each with a run going) sends commands of one kind (v2 steering). */
function steerLatency(args: SteerLatencyArgs) {
  const { kind, text } = args;
  return answerLatency(
    groups.get(args.group) ?? [],
    { ...args, idPrefix: `s${kind[0]}` },
    (sock, id) =>
      sock.ws.send(
        kind === 'ping'
          ? command('ping', {}, id)
          : kind === 'steer'
            ? command('run.steer', { text }, id)
            : command('message', { text }, id),
      ),
    (f, id) =>
      kind === 'ping'
        ? f.event === 'pong'
        : kind === 'steer'
          ? f.event === 'ack' && f.data.replyTo === id
          : f.event === 'chat.response' && f.data.replyTo === id,
  );
}

/** A streaming run per socket: when its durable frames and its store.status notices arrived. */
interface Stream {
  startedUs?: number;
  endedUs?: number;
  end?: string;
  durableUs: number[];
  refusedNotices: number;
  writableNotices: number;
}

const streams = new Map<string, Stream[]>();

/** Every socket of `group` starts a run (`task.start`) and records what arrives. */
function streamStart(args: { group: string; text: string }): Record<string, never> {
  const list: Stream[] = [];
  streams.set(args.group, list);
  for (const [k, sock] of (groups.get(args.group) ?? []).entries()) {
    const st: Stream = { durableUs: [], refusedNotices: 0, writableNotices: 0 };
    list.push(st);
    const id = `s${k}`;
    sock.onJson = (f, t) => {
      if (f.event === 'store.status') {
        if (f.data.writable) st.writableNotices++;
        else st.refusedNotices++;
        return;
      }
      if (f.event === 'error' && f.data.replyTo === id && st.end === undefined) {
        st.end = `error ${f.data.code}`;
        st.endedUs = t;
        return;
      }
      if (!isDurable(f)) return;
      st.durableUs.push(t);
      if (f.event === 'run.started') st.startedUs ??= t;
      else if (f.event === 'run.completed' || f.event === 'run.failed' || f.event === 'run.cancelled') {
        st.end ??= f.event;
        st.endedUs ??= t;
      }
    };
    sock.ws.send(command('task.start', { text: args.text }, id));
  }
  return {};
}

/** Where each run of `group` is: started, ended, durable frames so far. */
function streamState(args: { group: string }) {
  return (streams.get(args.group) ?? []).map((st) => ({
    started: st.startedUs !== undefined,
    ended: st.end !== undefined,
    end: st.end,
    durable: st.durableUs.length,
    refusedNotices: st.refusedNotices,
  }));
}

/**
 * For each run of `group` not ended at `afterUs`: the time from `afterUs` to its first durable
 * frame after it (null when none came within timeoutMs).
 */
async function streamFirstAfter(args: { group: string; afterUs: number; timeoutMs: number }) {
  const list = (streams.get(args.group) ?? []).filter((st) => st.endedUs === undefined || st.endedUs > args.afterUs);
  const first = (st: Stream): number | undefined => st.durableUs.find((t) => t > args.afterUs);
  const deadline = Date.now() + args.timeoutMs;
  while (list.some((st) => first(st) === undefined) && Date.now() < deadline) await sleep(5);
  return list.map((st) => {
    const t = first(st);
    return {
      ms: t === undefined ? null : (t - args.afterUs) / 1000,
      refusedNotices: st.refusedNotices,
      writableNotices: st.writableNotices,
    };
  });
}

/** Waits until every run of `group` ended; how they ended. */
async function streamEnd(args: { group: string; timeoutMs: number }) {
  const list = streams.get(args.group) ?? [];
  const deadline = Date.now() + args.timeoutMs;
  while (list.some((st) => st.end === undefined) && Date.now() < deadline) await sleep(20);
  for (const s of groups.get(args.group) ?? []) s.onJson = undefined;
  streams.delete(args.group);
  const ends: Record<string, number> = {};
  for (const st of list) ends[st.end ?? 'not ended'] = (ends[st.end ?? 'not ended'] ?? 0) + 1;
  return { ends, runMs: list.map((st) => ((st.endedUs ?? NaN) - (st.startedUs ?? NaN)) / 1000) };
}

serve({
  open,
  close,
  relayStart,
  relayMark,
  relayStop,
  runsBatch,
  singleRuns,
  reviewRuns,
  parkMany,
  cancelAll,
  chatIdle,
  commandLatency,
  steerLatency,
  streamStart,
  streamState,
  streamFirstAfter,
  streamEnd,
  gc: () => {
    collectGarbage();
    return {};
  },
  /** The tool rounds seen since the last call (and forgets them). */
  toolRounds: () => {
    const { ms, toolMs } = toolRounds;
    toolRounds.ms = [];
    toolRounds.toolMs = [];
    toolRounds.calledAt.clear();
    return { ms, toolMs };
  },
  count: () => ({ sockets: [...groups.values()].reduce((n, g) => n + g.length, 0) }),
  memory: () => process.memoryUsage(),
});
