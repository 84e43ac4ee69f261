/**
 * `npm run chaos` (issue 3): many concurrent runs through 2 gateways and 2 workers while
 * workers and gateways are SIGKILLed and restarted, with clients that reconnect and resume.
 *
 *   npm run chaos                              200 runs, 6 kills
 *   npm run chaos -- --runs 50 --kills 4       fewer runs, fewer kills
 *   node build-tools/scripts/chaos.js --help   every option
 *
 * It starts its own redis-server (appendonly yes), 2 gateways and 2 workers (node
 * dist/main.js), one session per run, each with a client that reconnects with ?lastSeq= to a
 * random gateway whenever its socket drops. Every `--interval` ms it SIGKILLs a random worker
 * or gateway (alternately) and starts it again. At the end it checks that every client holds
 * a gap-free, duplicate-free seq sequence equal to the session's stored log, and that every
 * run ended exactly once; it prints the figures and exits non-zero if a check failed.
 * Everything it started is stopped at the end, also on failure or Ctrl-C.
 */
import * as path from 'node:path';

// The harness finds dist/main.js relative to its own folder, which for this compiled script is
// build-tools/test/support: point it at the repository's dist/ before it is loaded.
process.env.MAWS_MAIN_JS ||= path.resolve(__dirname, '..', '..', 'dist', 'main.js');

import Redis from 'ioredis';
import WebSocket from 'ws';
// The wire contract, for its types only: chaos stays black-box and loads nothing of MAWS.
import type {
  AnyDurableFrame,
  ClientCommandMap,
  ClientCommandName,
  ClientFrame,
  DurableEventName,
  ReplyEventMap,
  ServerFrame,
} from '../src/contract';
import { startMaws, stopAllMaws, type MawsEnv, type MawsProcess } from '../test/support/maws-process';
import { getFreePort, startRedis, stopAllRedis } from '../test/support/redis-server';
import { signToken } from '../test/support/tokens';

const QUERY =
  'Analyze the stock performance of Apple, Google, and Tesla over the last month and summarize the key findings.';

/** The events that end a run. */
const TERMINAL_EVENTS = ['run.completed', 'run.failed', 'run.cancelled'] as const satisfies readonly DurableEventName[];
type TerminalEvent = (typeof TERMINAL_EVENTS)[number];
type TerminalFrame = Extract<AnyDurableFrame, { event: TerminalEvent }>;

function isTerminal(frame: AnyDurableFrame): frame is TerminalFrame {
  return (TERMINAL_EVENTS as readonly DurableEventName[]).includes(frame.event);
}

/** A parsed server frame: durable ones carry a seq, replies none. */
function isDurable(frame: ServerFrame): frame is AnyDurableFrame {
  return typeof (frame as { seq?: unknown }).seq === 'number';
}

/** A client frame's text, its data the command's own shape. */
function command<C extends ClientCommandName>(event: C, data: ClientCommandMap[C], id?: string): string {
  return JSON.stringify({ event, data, id } satisfies ClientFrame<C>);
}

interface Options {
  runs: number;
  kills: number;
  intervalMs: number;
  gateways: number;
  workers: number;
  tokenDelayMs: number;
  concurrency: number;
  lockMs: number;
  stalledMs: number;
  timeoutMs: number;
}

const DEFAULTS: Options = {
  runs: 200,
  kills: 6,
  intervalMs: 2_500,
  gateways: 2,
  workers: 2,
  tokenDelayMs: 2,
  concurrency: 16,
  lockMs: 3_000,
  stalledMs: 1_000,
  timeoutMs: 600_000,
};

const HELP = `usage: node build-tools/scripts/chaos.js [options]
  --runs N          concurrent runs, one session and client each (default ${DEFAULTS.runs})
  --kills N         SIGKILL + restart events, alternately a random worker and a gateway (default ${DEFAULTS.kills})
  --interval MS     time between kills (default ${DEFAULTS.intervalMs})
  --gateways N      gateway processes (default ${DEFAULTS.gateways})
  --workers N       worker processes (default ${DEFAULTS.workers})
  --token-delay MS  OFFLINE_TOKEN_DELAY_MS (default ${DEFAULTS.tokenDelayMs})
  --concurrency N   WORKER_CONCURRENCY of each worker (default ${DEFAULTS.concurrency})
  --lock MS         WORKER_LOCK_MS (default ${DEFAULTS.lockMs})
  --stalled MS      WORKER_STALLED_INTERVAL_MS (default ${DEFAULTS.stalledMs})
  --timeout S       give up when the runs have not all ended after this long (default ${DEFAULTS.timeoutMs / 1000})`;

function parseArgs(argv: string[]): Options {
  const o = { ...DEFAULTS };
  const flags: Record<string, [keyof Options, number, number]> = {
    '--runs': ['runs', 1, 1],
    '--kills': ['kills', 0, 1],
    '--interval': ['intervalMs', 100, 1],
    '--gateways': ['gateways', 1, 1],
    '--workers': ['workers', 1, 1],
    '--token-delay': ['tokenDelayMs', 0, 1],
    '--concurrency': ['concurrency', 1, 1],
    '--lock': ['lockMs', 1000, 1],
    '--stalled': ['stalledMs', 500, 1],
    '--timeout': ['timeoutMs', 1, 1000],
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    if (flag === '--help' || flag === '-h') {
      console.log(HELP);
      process.exit(0);
    }
    const spec = flags[flag];
    if (!spec) throw new Error(`unknown option ${flag}\n${HELP}`);
    const raw = inline ?? argv[++i];
    const n = Number(raw);
    if (!Number.isInteger(n) || n < spec[1]) throw new Error(`${flag} needs a whole number ≥ ${spec[1]}, not ${raw}`);
    o[spec[0]] = n * spec[2];
  }
  return o;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)];

/** One slot of the deployment: a process that is killed and started again in place. */
interface Slot {
  role: 'gateway' | 'worker';
  index: number;
  port?: number;
  proc: MawsProcess;
  /** false from the kill until the replacement printed `MAWS ready`. */
  up: boolean;
}

interface Kill {
  at: number;
  role: 'gateway' | 'worker';
  index: number;
  /** Clients whose run was going (gateway: and whose socket was on that gateway). */
  affected: ChaosClient[];
  /** Each affected client's connection number at the kill. */
  connAtKill: Map<ChaosClient, number>;
  restartedAfterMs?: number;
}

let stopping = false;

/**
 * One session, one run, one client that never gives up: it reconnects with ?lastSeq= to a
 * random gateway whenever its socket drops, and records every durable frame by seq.
 */
class ChaosClient {
  readonly sessionId: string;
  readonly token: string;
  /** Raw durable frames by seq (the first copy received). */
  readonly frames = new Map<number, string>();
  /** Every durable frame received: when, when it was written (its ts) and on which connection. */
  readonly arrivals: { at: number; written: number; conn: number }[] = [];
  /** Connections opened so far (the current one's number). */
  conn = 0;
  lastSeq = 0;
  gaps = 0;
  duplicates = 0;
  unavailable = 0;
  /** Connections that opened (the first one included). */
  opened = 0;
  runId: string | undefined;
  terminal: TerminalEvent | undefined;
  terminalCount = 0;
  /** The run ended and the session.state after it arrived. */
  done = false;
  started = false;
  gatewayIndex = -1;
  ws: WebSocket | undefined;
  private taskSent = false;
  private connecting = false;

  constructor(
    readonly n: number,
    private readonly gateways: Slot[],
  ) {
    this.sessionId = `chaos-${process.pid}-${n}`;
    this.token = signToken(`chaos-user-${process.pid}-${n}`);
  }

  get running(): boolean {
    return this.started && !this.done;
  }

  connect(): void {
    if (stopping || this.done || this.connecting) return;
    this.connecting = true;
    const slot = pick(this.gateways);
    this.gatewayIndex = slot.index;
    this.conn += 1;
    const conn = this.conn;
    const params = new URLSearchParams({ token: this.token });
    if (this.lastSeq > 0) params.set('lastSeq', String(this.lastSeq));
    const ws = new WebSocket(`ws://127.0.0.1:${slot.port}/ws/${this.sessionId}?${params.toString()}`, {
      handshakeTimeout: 10_000,
    });
    this.ws = ws;
    let first = true;
    ws.on('message', (data: WebSocket.RawData) => {
      const text = Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
      if (first) {
        first = false;
        this.connecting = false;
      }
      this.onFrame(ws, text, conn);
    });
    ws.on('open', () => (this.opened += 1));
    ws.on('error', () => undefined);
    ws.on('close', () => {
      this.connecting = false;
      if (this.ws !== ws || stopping || this.done) return;
      setTimeout(() => this.connect(), 50 + Math.random() * 200);
    });
  }

  close(): void {
    try {
      this.ws?.terminate();
    } catch {
      /* already gone */
    }
  }

  private onFrame(ws: WebSocket, text: string, conn: number): void {
    let f: ServerFrame;
    try {
      f = JSON.parse(text) as ServerFrame;
    } catch {
      return;
    }
    if (!isDurable(f)) {
      if (f.event === 'session.snapshot') this.onSnapshot(ws, f.data);
      else if (f.event === 'ack' && typeof f.data.runId === 'string') this.runId ??= f.data.runId;
      else if (f.event === 'error' && f.data.code === 'RESUME_UNAVAILABLE') this.unavailable += 1;
      return;
    }
    const seq = f.seq;
    this.arrivals.push({ at: Date.now(), written: Date.parse(f.ts) || 0, conn });
    if (seq <= this.lastSeq) {
      this.duplicates += 1;
      return;
    }
    if (seq !== this.lastSeq + 1) this.gaps += seq - this.lastSeq - 1;
    this.lastSeq = seq;
    this.frames.set(seq, text);
    if (f.event === 'run.queued') this.runId ??= f.data.runId;
    if (f.event === 'run.started') this.started = true;
    if (isTerminal(f) && f.data.runId === this.runId) {
      this.terminalCount += 1;
      this.terminal = f.event;
    }
    if (f.event === 'session.state' && this.terminal && f.data.state !== 'EXECUTING') {
      this.done = true;
      ws.close(1000);
    }
  }

  private onSnapshot(ws: WebSocket, snap: ReplyEventMap['session.snapshot']): void {
    // Start the task once; again only if no earlier attempt reached Redis (the gateway died
    // before it was taken).
    if (!this.taskSent || (snap.lastSeq === 0 && snap.state === 'IDLE' && !this.runId)) {
      this.taskSent = true;
      ws.send(command('task.start', { text: QUERY }, `start-${this.n}`));
    }
  }
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const log = (msg: string): void =>
    console.log(`[chaos ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}`);
  log(
    `${o.runs} runs, ${o.kills} kills every ${o.intervalMs} ms; ${o.gateways} gateways, ${o.workers} workers ` +
      `(WORKER_CONCURRENCY ${o.concurrency}, OFFLINE_TOKEN_DELAY_MS ${o.tokenDelayMs}, WORKER_LOCK_MS ${o.lockMs})`,
  );

  const redis = await startRedis({ appendonly: true });
  const env: MawsEnv = {
    REDIS_URL: redis.url,
    OFFLINE_TOKEN_DELAY_MS: String(o.tokenDelayMs),
    WORKER_CONCURRENCY: String(o.concurrency),
    WORKER_LOCK_MS: String(o.lockMs),
    WORKER_STALLED_INTERVAL_MS: String(o.stalledMs),
    LOG_LEVEL: 'error',
  };
  const start = async (role: 'gateway' | 'worker', port?: number): Promise<MawsProcess> =>
    startMaws(role, env, { port, readyTimeoutMs: 60_000 });
  const gatewayPorts = await Promise.all(Array.from({ length: o.gateways }, () => getFreePort()));
  const [gatewayProcs, workerProcs] = await Promise.all([
    Promise.all(gatewayPorts.map((port) => start('gateway', port))),
    Promise.all(Array.from({ length: o.workers }, () => start('worker'))),
  ]);
  const gateways: Slot[] = gatewayProcs.map((proc, index) => ({
    role: 'gateway',
    index,
    port: gatewayPorts[index],
    proc,
    up: true,
  }));
  const workers: Slot[] = workerProcs.map((proc, index) => ({ role: 'worker', index, proc, up: true }));
  log(`redis-server :${redis.port}, gateways :${gatewayPorts.join(', :')}, ${o.workers} workers ready`);
  const startupMs = Date.now() - t0;

  const clients = Array.from({ length: o.runs }, (_, i) => new ChaosClient(i + 1, gateways));
  for (const c of clients) c.connect();

  // Kills every `interval` ms: alternately a random worker and a random gateway (one that is
  // up), each started again at once, in place (a gateway on its own port).
  const kills: Kill[] = [];
  const restarts: Promise<void>[] = [];
  const restartErrors: string[] = [];
  const allDone = (): boolean => clients.every((c) => c.done);
  const killer = (async (): Promise<void> => {
    const first = Date.now();
    for (let k = 0; k < o.kills; k++) {
      const role = k % 2 === 0 ? 'worker' : 'gateway';
      const pool = role === 'worker' ? workers : gateways;
      const due = first + (k + 1) * o.intervalMs;
      while ((Date.now() < due || !pool.some((s) => s.up)) && !allDone() && !stopping) await sleep(50);
      if (allDone() || stopping) return;
      const slot = pick(pool.filter((s) => s.up));
      const at = Date.now();
      slot.proc.kill('SIGKILL');
      slot.up = false;
      const affected = clients.filter((c) => c.running && (role === 'worker' || c.gatewayIndex === slot.index));
      const kill: Kill = {
        at,
        role,
        index: slot.index,
        affected,
        connAtKill: new Map(affected.map((c) => [c, c.conn])),
      };
      kills.push(kill);
      log(
        `SIGKILL ${role} ${slot.index + 1} with ${affected.length} runs going${role === 'gateway' ? ' through it' : ''}`,
      );
      restarts.push(
        (async () => {
          await slot.proc.exited;
          if (stopping) return;
          slot.proc = await start(slot.role, slot.port);
          if (stopping) return void slot.proc.kill('SIGKILL');
          slot.up = true;
          kill.restartedAfterMs = Date.now() - at;
          log(`${role} ${slot.index + 1} restarted ${kill.restartedAfterMs} ms after its kill`);
        })().catch((err: unknown) => {
          if (!stopping) restartErrors.push(`restarting ${role} ${slot.index + 1}: ${String(err).split('\n')[0]}`);
        }),
      );
    }
  })();

  const deadline = t0 + o.timeoutMs;
  let lastReport = 0;
  while (!allDone() && Date.now() < deadline && !stopping) {
    await sleep(200);
    if (Date.now() - lastReport > 5_000) {
      lastReport = Date.now();
      const ended = clients.filter((c) => c.done).length;
      const running = clients.filter((c) => c.running).length;
      log(`${ended}/${o.runs} runs ended, ${running} running, ${kills.length} kills so far`);
    }
  }
  await killer;
  await Promise.all(restarts);
  const endedAll = allDone();
  const totalMs = Date.now() - t0;
  for (const c of clients) c.close();

  // ------------------------------------------------------------------ checks against Redis
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 3 });
  admin.on('error', () => undefined);
  const logKeys = new Map<string, string>();
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', 'maws:{*}:log', 'COUNT', 1000);
    cursor = next;
    for (const key of keys) logKeys.set(/\.([^.}]+)\}:log$/.exec(key)?.[1] ?? key, key);
  } while (cursor !== '0');

  const problems: string[] = [...restartErrors];
  let events = 0;
  let mismatched = 0;
  let notOnce = 0;
  let rerunSteps = 0;
  let restartedSteps = 0;
  const outcomes: Partial<Record<TerminalEvent, number>> = {};
  for (const c of clients) {
    events += c.frames.size;
    if (!c.done)
      problems.push(`client ${c.n}: its run did not end (last seq ${c.lastSeq}, run ${c.runId ?? 'unknown'})`);
    if (c.gaps) problems.push(`client ${c.n}: ${c.gaps} seqs missing`);
    if (c.duplicates) problems.push(`client ${c.n}: ${c.duplicates} duplicate frames`);
    if (c.unavailable) problems.push(`client ${c.n}: ${c.unavailable} RESUME_UNAVAILABLE`);
    const key = logKeys.get(c.sessionId);
    const entries = key ? ((await admin.xrange(key, '-', '+')) as [string, string[]][]) : [];
    const stored = entries.map(([, fields]) => fields[1]);
    const received = [...c.frames.entries()].sort((a, b) => a[0] - b[0]).map(([, raw]) => raw);
    if (stored.length !== received.length || stored.some((s, i) => s !== received[i])) {
      mismatched += 1;
      problems.push(`client ${c.n}: ${received.length} frames received, ${stored.length} stored, not the same`);
    }
    // Exactly one terminal event for the run, in the log; finished steps never run again.
    const parsed = stored.map((s) => JSON.parse(s) as AnyDurableFrame);
    const terminals = parsed.filter(isTerminal);
    if (terminals.length !== 1 || c.terminalCount !== 1) {
      notOnce += 1;
      problems.push(`client ${c.n}: ${terminals.length} terminal events stored, ${c.terminalCount} received`);
    }
    for (const t of terminals) outcomes[t.event] = (outcomes[t.event] ?? 0) + 1;
    const finished = new Set<string>();
    for (const f of parsed) {
      if (f.event === 'agent.finished') finished.add(f.data.stepId);
      if (f.event === 'agent.started') {
        if (finished.has(f.data.stepId)) {
          rerunSteps += 1;
          problems.push(`client ${c.n}: finished step ${f.data.stepId} started again`);
        }
        if (f.data.attempt > 1) restartedSteps += 1;
      }
    }
  }
  admin.disconnect();

  // Recovery: from a kill to the next event delivered to each affected client; the longest.
  // After a worker kill that is the first event written after the kill (the run moving
  // again); after a gateway kill, the first event on the client's next connection.
  let longest = { ms: 0, what: 'no kill affected a run' };
  for (const k of kills) {
    for (const c of k.affected) {
      const connAtKill = k.connAtKill.get(c) ?? 0;
      const next = c.arrivals.find(
        (a) => a.at > k.at && (k.role === 'worker' ? a.written > k.at : a.conn > connAtKill),
      );
      if (next === undefined) continue;
      if (next.at - k.at > longest.ms) {
        longest = {
          ms: next.at - k.at,
          what: `${k.role} ${k.index + 1} killed at ${((k.at - t0) / 1000).toFixed(1)} s`,
        };
      }
    }
  }

  const gaps = clients.reduce((n, c) => n + c.gaps, 0);
  const unavailable = clients.reduce((n, c) => n + c.unavailable, 0);
  const duplicates = clients.reduce((n, c) => n + c.duplicates, 0);
  const reconnects = clients.reduce((n, c) => n + Math.max(0, c.opened - 1), 0);
  const workerKills = kills.filter((k) => k.role === 'worker').length;
  const ok = endedAll && problems.length === 0;
  const rows: [string, string][] = [
    [
      'runs',
      `${o.runs} (${
        Object.entries(outcomes)
          .map(([e, n]) => `${n} ${e.replace('run.', '')}`)
          .join(', ') || 'none ended'
      })`,
    ],
    ['kills', `${kills.length} (${workerKills} worker, ${kills.length - workerKills} gateway), SIGKILL + restart`],
    ['events', `${events} durable events delivered (and matched against the stored log)`],
    ['reconnects', `${reconnects} (with ?lastSeq=, to a random gateway)`],
    ['gaps (seqs missing)', String(gaps)],
    ['duplicates', String(duplicates)],
    ['RESUME_UNAVAILABLE replies', `${unavailable} (the history is all kept: each one is wrong)`],
    ['log mismatches', String(mismatched)],
    ['runs not ended exactly once', String(notOnce + clients.filter((c) => !c.done).length)],
    ['finished steps rerun', String(rerunSteps)],
    ['steps restarted (attempt > 1)', String(restartedSteps)],
    ['longest recovery', kills.length ? `${longest.ms} ms (${longest.what})` : 'n/a (no kills)'],
    [
      'total time',
      `${(totalMs / 1000).toFixed(1)} s (${(startupMs / 1000).toFixed(1)} s of it starting the processes)`,
    ],
  ];
  console.log('\nchaos figures');
  for (const [k, v] of rows) console.log(`  ${k.padEnd(30)} ${v}`);
  if (!ok) {
    console.log(`\nFAILED: ${problems.length} problems`);
    for (const p of problems.slice(0, 40)) console.log(`  - ${p}`);
    if (problems.length > 40) console.log(`  ... and ${problems.length - 40} more`);
  } else {
    console.log(
      '\nOK: every client holds a gap-free, duplicate-free history equal to the stored log; every run ended once',
    );
  }
  return ok ? 0 : 1;
}

let cleaning: Promise<void> | undefined;

/** Stops every process chaos started (MAWS first, then redis-server); once, however often called. */
function cleanup(): Promise<void> {
  stopping = true;
  cleaning ??= (async () => {
    await stopAllMaws().catch(() => undefined);
    await stopAllRedis().catch(() => undefined);
  })();
  return cleaning;
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    console.log(`\n${signal}: stopping everything chaos started`);
    void cleanup().finally(() => process.exit(130));
  });
}

// Whatever goes wrong, the processes chaos started are stopped before it exits.
process.on('unhandledRejection', (err: unknown) => {
  console.error('unhandled rejection:', err);
  void cleanup().finally(() => process.exit(interrupted ? 130 : 1));
});

main().then(
  async (code) => {
    if (interrupted) return; // the signal handler stops everything and exits
    await cleanup();
    process.exit(code);
  },
  async (err: unknown) => {
    if (interrupted) return;
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    await cleanup();
    process.exit(1);
  },
);
