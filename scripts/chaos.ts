/**
 * `npm run chaos` (issues 3 and 13): many concurrent runs through 2 gateways and 2 workers
 * while workers and gateways are SIGKILLed and restarted and workers and redis-server are
 * stalled (SIGSTOP, later SIGCONT), with clients that reconnect and resume.
 *
 *   npm run chaos                              200 runs, 6 kills, 4 stalls
 *   npm run chaos -- --runs 50 --kills 4       fewer runs, fewer kills
 *   node build-tools/scripts/chaos.js --help   every option
 *
 * It starts its own redis-server (appendonly yes), 2 gateways and 2 workers (node
 * dist/main.js), one session per run, each with an @maws/client (the SDK) that reconnects to a
 * random gateway and resumes by lastSeq whenever its socket drops. Every `--interval` ms it does the next fault of
 * the rotation: SIGKILL + restart of a worker, of a gateway, a stall of a worker (past its
 * lock), of redis-server. At the end it checks that every client holds a gap-free,
 * duplicate-free seq sequence equal to the session's stored log, that every run ended exactly
 * once, and that every step finished once with nothing written by a stale attempt after a
 * newer one began; it prints the figures and exits non-zero if a check failed. Everything it
 * started is continued and stopped at the end, also on failure or Ctrl-C.
 */
import * as path from 'node:path';

// The harness finds dist/main.js relative to its own folder, which for this compiled script is
// build-tools/test/support: point it at the repository's dist/ before it is loaded.
process.env.MAWS_MAIN_JS ||= path.resolve(__dirname, '..', '..', 'dist', 'main.js');

import Redis from 'ioredis';
import WebSocket from 'ws';
import { createMawsClient, type MawsClient, type SocketConstructor } from '../packages/client/src';
// The wire contract, for its types only: chaos stays black-box and loads nothing of MAWS.
import type { AnyDurableFrame, DurableEventName, ReplyEventMap, ServerFrame } from '../src/contract';
import { startMaws, stopAllMaws, type MawsEnv, type MawsProcess } from '../test/support/maws-process';
import { getFreePort, startRedis, stopAllRedis, type RedisServer } from '../test/support/redis-server';
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

interface Options {
  runs: number;
  kills: number;
  stalls: number;
  intervalMs: number;
  gateways: number;
  workers: number;
  tokenDelayMs: number;
  concurrency: number;
  lockMs: number;
  stalledMs: number;
  /** 0 until parsed: then `--worker-stall`, or the lock + 2 s. */
  workerStallMs: number;
  redisStallMs: number;
  timeoutMs: number;
}

const DEFAULTS: Options = {
  runs: 200,
  kills: 6,
  stalls: 4,
  intervalMs: 2_500,
  gateways: 2,
  workers: 2,
  tokenDelayMs: 2,
  concurrency: 16,
  lockMs: 3_000,
  stalledMs: 1_000,
  workerStallMs: 0,
  redisStallMs: 5_000,
  timeoutMs: 600_000,
};

/** A worker stall outlasts the lock by this much by default, so that its runs are taken over. */
const WORKER_STALL_PAST_LOCK_MS = 2_000;

const HELP = `usage: node build-tools/scripts/chaos.js [options]
  --runs N          concurrent runs, one session and client each (default ${DEFAULTS.runs})
  --kills N         SIGKILL + restart events, alternately a random worker and a gateway (default ${DEFAULTS.kills})
  --stalls N        SIGSTOP + SIGCONT events, alternately a random worker and redis-server (default ${DEFAULTS.stalls})
  --worker-stall MS how long a worker stays stopped (default: --lock + ${WORKER_STALL_PAST_LOCK_MS})
  --redis-stall MS  how long redis-server stays stopped (default ${DEFAULTS.redisStallMs})
  --interval MS     time between faults, in the rotation kill worker, kill gateway, stall worker,
                    stall redis-server, ... (default ${DEFAULTS.intervalMs})
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
    '--stalls': ['stalls', 0, 1],
    '--worker-stall': ['workerStallMs', 100, 1],
    '--redis-stall': ['redisStallMs', 100, 1],
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
  o.workerStallMs ||= o.lockMs + WORKER_STALL_PAST_LOCK_MS;
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
  /** true from its SIGSTOP to its SIGCONT. */
  stalled: boolean;
  /** When it was last continued (0: never stalled). */
  continuedAt: number;
}

type FaultKind = 'kill worker' | 'kill gateway' | 'stall worker' | 'stall redis';

interface Fault {
  kind: 'kill' | 'stall';
  target: 'gateway' | 'worker' | 'redis-server';
  /** The slot's index (0 for redis-server). */
  index: number;
  at: number;
  /** Clients whose run was going (gateway: and whose socket was on that gateway). */
  affected: ChaosClient[];
  /** Each affected client's connection number at the fault. */
  connAtFault: Map<ChaosClient, number>;
  restartedAfterMs?: number;
}

let stopping = false;

/** Something chaos can signal: a MAWS process or the redis-server. */
interface Signalable {
  kill(signal: NodeJS.Signals): void;
}

/** Processes SIGSTOPped and not yet continued: a stopped process ignores SIGTERM until continued. */
const stoppedNow = new Set<Signalable>();

/** SIGSTOPs `target`, SIGCONTs it `ms` later (at once when chaos is stopping). */
async function stallFor(target: Signalable, ms: number): Promise<void> {
  target.kill('SIGSTOP');
  stoppedNow.add(target);
  try {
    const until = Date.now() + ms;
    while (Date.now() < until && !stopping) await sleep(50);
  } finally {
    target.kill('SIGCONT');
    stoppedNow.delete(target);
  }
}

function continueAllStopped(): void {
  for (const target of stoppedNow) target.kill('SIGCONT');
  stoppedNow.clear();
}

/** The faults in order, kills and stalls two by two: kill worker, kill gateway, stall worker, stall redis, ... */
function faultRotation(kills: number, stalls: number): FaultKind[] {
  const killKinds = Array.from({ length: kills }, (_, i): FaultKind => (i % 2 ? 'kill gateway' : 'kill worker'));
  const stallKinds = Array.from({ length: stalls }, (_, i): FaultKind => (i % 2 ? 'stall redis' : 'stall worker'));
  const rotation: FaultKind[] = [];
  while (killKinds.length || stallKinds.length) rotation.push(...killKinds.splice(0, 2), ...stallKinds.splice(0, 2));
  return rotation;
}

/**
 * One session, one run, one @maws/client that never gives up: whenever its socket drops it
 * reconnects (with its backoff) to a random gateway and resumes by lastSeq. What the client
 * hands on is recorded by seq and checked: the package promises each durable event once, in
 * order, so a gap or a duplicate here is its failure (or the server's).
 */
class ChaosClient {
  readonly sessionId: string;
  readonly token: string;
  /** Durable frames by seq as the client handed them on (JSON, as the server wrote them). */
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
  client: MawsClient | undefined;
  private taskSent = false;

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
    const client = createMawsClient({
      // Asked again for each attempt: a random gateway every time.
      url: () => {
        const slot = pick(this.gateways);
        this.gatewayIndex = slot.index;
        return `ws://127.0.0.1:${slot.port}`;
      },
      sessionId: this.sessionId,
      getToken: () => this.token,
      WebSocket: WebSocket as unknown as SocketConstructor,
      backoff: { minMs: 100, maxMs: 2_000, jitter: 0.5 },
    });
    this.client = client;
    client.on('open', () => {
      this.opened += 1;
      this.conn += 1;
    });
    client.on('frame', (f) => this.onFrame(f));
    client.on('session.snapshot', (snap) => this.onSnapshot(snap));
    client.on('error', (e) => {
      if (e.code === 'RESUME_UNAVAILABLE') this.unavailable += 1;
    });
  }

  /** Where the client stands, for a run that did not end: its connection and its last frame. */
  whereNow(): string {
    const last = this.arrivals.at(-1);
    const quiet = last ? `${((Date.now() - last.at) / 1000).toFixed(1)} s ago` : 'never';
    return `connection ${this.conn} to gateway ${this.gatewayIndex + 1} ${this.client?.status ?? 'none'}, last frame ${quiet}`;
  }

  /** whereNow() when chaos closed the client. */
  whereAtClose: string | undefined;

  close(): void {
    this.whereAtClose ??= this.whereNow();
    this.client?.close();
  }

  private onFrame(f: ServerFrame): void {
    if (!isDurable(f)) return;
    const seq = f.seq;
    this.arrivals.push({ at: Date.now(), written: Date.parse(f.ts) || 0, conn: this.conn });
    if (seq <= this.lastSeq) {
      this.duplicates += 1;
      return;
    }
    if (seq !== this.lastSeq + 1) this.gaps += seq - this.lastSeq - 1;
    this.lastSeq = seq;
    this.frames.set(seq, JSON.stringify(f));
    if (f.event === 'run.queued') this.runId ??= f.data.runId;
    if (f.event === 'run.started') this.started = true;
    if (isTerminal(f) && f.data.runId === this.runId) {
      this.terminalCount += 1;
      this.terminal = f.event;
    }
    if (f.event === 'session.state' && this.terminal && f.data.state !== 'EXECUTING') {
      this.done = true;
      this.close();
    }
  }

  private onSnapshot(snap: ReplyEventMap['session.snapshot']): void {
    // Start the task once; again only if no earlier attempt reached Redis (the gateway died
    // before it was taken).
    if (this.taskSent && !(snap.lastSeq === 0 && snap.state === 'IDLE' && !this.runId)) return;
    this.taskSent = true;
    this.client!.request('task.start', { text: QUERY }, { id: `start-${this.n}` }).then(
      (ack) => (this.runId ??= ack.runId),
      // Lost with its connection: the next snapshot says whether it reached Redis.
      () => undefined,
    );
  }
}

/** The deployment the faults are done on. */
interface Deployment {
  redis: RedisServer;
  gateways: Slot[];
  workers: Slot[];
  start(role: 'gateway' | 'worker', port?: number): Promise<MawsProcess>;
}

/**
 * Does the faults of the rotation, one every `--interval` ms, each on a target that is up and
 * not stalled, until every run has ended. Restarts and stalls go on in the background.
 */
class FaultInjector {
  readonly faults: Fault[] = [];
  /** Restarts that failed and processes that exited on their own. */
  readonly problems: string[] = [];
  /** Every worker process started, killed ones included (their output is kept). */
  readonly workerProcs: MawsProcess[] = [];
  /** When the last stalled process was continued. */
  lastContinuedAt = 0;
  private readonly background: Promise<void>[] = [];
  private redisStalled = false;
  private redisContinuedAt = 0;

  constructor(
    private readonly o: Options,
    private readonly d: Deployment,
    private readonly clients: ChaosClient[],
    private readonly log: (msg: string) => void,
  ) {
    for (const slot of [...d.gateways, ...d.workers]) this.watchExit(slot, slot.proc);
  }

  async run(): Promise<void> {
    const first = Date.now();
    for (const [k, kind] of faultRotation(this.o.kills, this.o.stalls).entries()) {
      const due = first + (k + 1) * this.o.intervalMs;
      while ((Date.now() < due || !this.possible(kind)) && !this.over()) await sleep(50);
      if (this.over()) return;
      this.inject(kind);
    }
  }

  /** Waits for the restarts and the stalls still going. */
  async settle(): Promise<void> {
    await Promise.all(this.background);
  }

  private over(): boolean {
    return stopping || this.clients.every((c) => c.done);
  }

  private available(pool: Slot[]): Slot[] {
    return pool.filter((s) => s.up && !s.stalled);
  }

  /** Stalled again at once, a process would have one long stall: it runs for an interval first. */
  private rested(continuedAt: number): boolean {
    return Date.now() - continuedAt >= this.o.intervalMs;
  }

  private stallable(pool: Slot[]): Slot[] {
    return this.available(pool).filter((s) => this.rested(s.continuedAt));
  }

  private possible(kind: FaultKind): boolean {
    switch (kind) {
      case 'kill worker':
        return this.available(this.d.workers).length > 0;
      case 'kill gateway':
        return this.available(this.d.gateways).length > 0;
      case 'stall worker':
        return this.stallable(this.d.workers).length > 0;
      case 'stall redis':
        return !this.redisStalled && this.rested(this.redisContinuedAt);
    }
  }

  private inject(kind: FaultKind): void {
    switch (kind) {
      case 'kill worker':
        return this.kill(pick(this.available(this.d.workers)));
      case 'kill gateway':
        return this.kill(pick(this.available(this.d.gateways)));
      case 'stall worker':
        return this.stallWorker(pick(this.stallable(this.d.workers)));
      case 'stall redis':
        return this.stallRedis();
    }
  }

  private record(
    kind: Fault['kind'],
    target: Fault['target'],
    index: number,
    affects: (c: ChaosClient) => boolean,
  ): Fault {
    const affected = this.clients.filter((c) => c.running && affects(c));
    const fault: Fault = {
      kind,
      target,
      index,
      at: Date.now(),
      affected,
      connAtFault: new Map(affected.map((c) => [c, c.conn])),
    };
    this.faults.push(fault);
    return fault;
  }

  /** SIGKILL, then a new process in the same slot (a gateway on the same port). */
  private kill(slot: Slot): void {
    slot.proc.kill('SIGKILL');
    slot.up = false;
    const fault = this.record(
      'kill',
      slot.role,
      slot.index,
      (c) => slot.role === 'worker' || c.gatewayIndex === slot.index,
    );
    const through = slot.role === 'gateway' ? ' through it' : '';
    this.log(`SIGKILL ${slot.role} ${slot.index + 1} with ${fault.affected.length} runs going${through}`);
    this.background.push(this.restart(slot, fault));
  }

  private async restart(slot: Slot, fault: Fault): Promise<void> {
    try {
      await slot.proc.exited;
      if (stopping) return;
      const proc = await this.d.start(slot.role, slot.port);
      if (stopping) return void proc.kill('SIGKILL');
      slot.proc = proc;
      slot.up = true;
      this.watchExit(slot, proc);
      fault.restartedAfterMs = Date.now() - fault.at;
      this.log(`${slot.role} ${slot.index + 1} restarted ${fault.restartedAfterMs} ms after its kill`);
    } catch (err: unknown) {
      if (!stopping) this.problems.push(`restarting ${slot.role} ${slot.index + 1}: ${String(err).split('\n')[0]}`);
    }
  }

  /** SIGSTOP past the lock: its runs are taken over, and when it wakes it must write nothing more. */
  private stallWorker(slot: Slot): void {
    const proc = slot.proc;
    slot.stalled = true;
    const fault = this.record('stall', 'worker', slot.index, () => true);
    this.log(
      `SIGSTOP worker ${slot.index + 1} for ${this.o.workerStallMs} ms with ${fault.affected.length} runs going`,
    );
    this.background.push(
      stallFor(proc, this.o.workerStallMs).then(() => {
        slot.stalled = false;
        slot.continuedAt = Date.now();
        this.continued(`worker ${slot.index + 1}`, fault);
      }),
    );
  }

  /** SIGSTOP redis-server: every client and lock waits, and the locks expire meanwhile. */
  private stallRedis(): void {
    this.redisStalled = true;
    const fault = this.record('stall', 'redis-server', 0, () => true);
    this.log(`SIGSTOP redis-server for ${this.o.redisStallMs} ms with ${fault.affected.length} runs going`);
    this.background.push(
      stallFor(this.d.redis, this.o.redisStallMs).then(() => {
        this.redisStalled = false;
        this.redisContinuedAt = Date.now();
        this.continued('redis-server', fault);
      }),
    );
  }

  private continued(what: string, fault: Fault): void {
    this.lastContinuedAt = Date.now();
    this.log(`SIGCONT ${what} after ${this.lastContinuedAt - fault.at} ms`);
  }

  /** A MAWS process ends only by chaos's SIGKILL: a stall must not make it exit. */
  private watchExit(slot: Slot, proc: MawsProcess): void {
    if (slot.role === 'worker') this.workerProcs.push(proc);
    void proc.exited.then(({ code, signal }) => {
      if (stopping || signal === 'SIGKILL') return;
      const tail = proc.output().trim().split('\n').slice(-3).join(' | ');
      this.problems.push(`${slot.role} ${slot.index + 1} exited by itself (code ${code}, signal ${signal}): ${tail}`);
    });
  }
}

/** What the step checks found in one run's stored log. */
interface StepFindings {
  /** `agent.started` frames with attempt > 1. */
  restarted: number;
  /** Steps started again after their `agent.finished`. */
  rerun: string[];
  /** Steps with no `agent.finished` (in a completed run) or more than one. */
  notFinishedOnce: string[];
  /** Frames of an attempt older than one already started: a stale writer's. */
  staleWrites: string[];
  /** Steps whose output is not what their latest attempt streamed. */
  unlikeOutput: string[];
}

/** The text a step's output says was streamed: an executor's text, the aggregator's report. */
function streamedOutput(output: unknown): string | undefined {
  const o = output as { text?: unknown; report?: unknown } | null;
  const text = o?.text ?? o?.report;
  return typeof text === 'string' ? text : undefined;
}

/**
 * Checks a run's steps in its stored log: each finished once (at most once if the run did not
 * complete) and never started after that; nothing of an earlier attempt once a later one
 * began; each output equal to what the step's latest attempt streamed.
 */
function checkSteps(frames: AnyDurableFrame[], completed: boolean): StepFindings {
  const found: StepFindings = { restarted: 0, rerun: [], notFinishedOnce: [], staleWrites: [], unlikeOutput: [] };
  const newest = new Map<string, number>(); // step → the highest attempt started so far
  const streamed = new Map<string, string>(); // step → what its newest attempt streamed
  const outputs = new Map<string, unknown[]>(); // step → its agent.finished outputs
  for (const f of frames) {
    if (f.event === 'agent.started') {
      const { stepId, attempt } = f.data;
      if (outputs.has(stepId)) found.rerun.push(`${stepId} (attempt ${attempt})`);
      if (attempt > 1) found.restarted += 1;
      if (attempt < (newest.get(stepId) ?? 0)) {
        found.staleWrites.push(
          `seq ${f.seq}: agent.started ${stepId} attempt ${attempt} after attempt ${newest.get(stepId)}`,
        );
      } else if (attempt > (newest.get(stepId) ?? 0)) {
        newest.set(stepId, attempt);
        streamed.set(stepId, '');
      }
    } else if (f.event === 'agent.delta') {
      const { stepId, attempt } = f.data;
      if (attempt < (newest.get(stepId) ?? 0)) {
        found.staleWrites.push(
          `seq ${f.seq}: agent.delta ${stepId} attempt ${attempt} after attempt ${newest.get(stepId)}`,
        );
      } else if (attempt === newest.get(stepId)) {
        streamed.set(stepId, (streamed.get(stepId) ?? '') + f.data.text);
      }
    } else if (f.event === 'agent.finished') {
      outputs.set(f.data.stepId, [...(outputs.get(f.data.stepId) ?? []), f.data.output]);
    }
  }
  for (const stepId of new Set([...newest.keys(), ...outputs.keys()])) {
    const finishes = outputs.get(stepId) ?? [];
    if (finishes.length > 1 || (completed && finishes.length === 0)) {
      found.notFinishedOnce.push(`${stepId} finished ${finishes.length} times`);
    }
    const said = finishes.length === 1 ? streamedOutput(finishes[0]) : undefined;
    if (said !== undefined && said.trim() !== (streamed.get(stepId) ?? '').trim()) {
      found.unlikeOutput.push(`${stepId}: its output is not what attempt ${newest.get(stepId)} streamed`);
    }
  }
  return found;
}

/**
 * A run's tool calls (v2 "Tools"): each toolCallId has exactly one tool.called, then exactly
 * one tool.result of the same attempt. Returns the number of calls and what is wrong.
 */
function checkToolCalls(frames: AnyDurableFrame[]): { calls: number; recorded: number; problems: string[] } {
  const called = new Map<string, { at: number; attempt: number; n: number }>();
  const results = new Map<string, { at: number; attempt: number; n: number }>();
  let recorded = 0;
  frames.forEach((f, at) => {
    if (f.event !== 'tool.called' && f.event !== 'tool.result') return;
    const into = f.event === 'tool.called' ? called : results;
    const seen = into.get(f.data.toolCallId);
    into.set(f.data.toolCallId, { at: seen?.at ?? at, attempt: f.data.attempt, n: (seen?.n ?? 0) + 1 });
    if (f.event === 'tool.result' && f.data.recorded) recorded += 1;
  });
  const problems: string[] = [];
  for (const [id, c] of called) {
    const r = results.get(id);
    if (c.n !== 1 || r?.n !== 1) problems.push(`tool call ${id}: ${c.n} tool.called, ${r?.n ?? 0} tool.result`);
    else if (r.at < c.at || r.attempt !== c.attempt) problems.push(`tool call ${id}: its result is out of place`);
  }
  for (const id of results.keys()) if (!called.has(id)) problems.push(`tool call ${id}: a result without its call`);
  return { calls: called.size, recorded, problems };
}

/** A worker's log lines saying it stopped a run it no longer held without writing more. */
const STOOD_DOWN = /stopped it without writing more|while this one failed it: wrote nothing/g;

function standDowns(workers: MawsProcess[]): number {
  return workers.reduce((n, w) => n + (w.output().match(STOOD_DOWN)?.length ?? 0), 0);
}

/** A fault's target as the figures name it. */
function targetName(f: Fault): string {
  return f.target === 'redis-server' ? f.target : `${f.target} ${f.index + 1}`;
}

/**
 * The longest time from a fault to the next event delivered to one of its affected clients:
 * after a gateway kill, the first event on the client's next connection; after any other
 * fault, the first event written after it (the run moving again).
 */
function longestRecovery(faults: Fault[], t0: number): { ms: number; what: string } | undefined {
  let longest: { ms: number; what: string } | undefined;
  for (const f of faults) {
    for (const c of f.affected) {
      const connAtFault = f.connAtFault.get(c) ?? 0;
      const next = c.arrivals.find(
        (a) => a.at > f.at && (f.target === 'gateway' ? a.conn > connAtFault : a.written > f.at),
      );
      if (next === undefined || next.at - f.at <= (longest?.ms ?? -1)) continue;
      const verb = f.kind === 'kill' ? 'killed' : 'stalled';
      longest = { ms: next.at - f.at, what: `${targetName(f)} ${verb} at ${((f.at - t0) / 1000).toFixed(1)} s` };
    }
  }
  return longest;
}

/** A stalled worker that wakes after the runs ended gets this long to (wrongly) write before the checks read the logs. */
const STALE_WAKE_GRACE_MS = 1_000;

/** The figures and problems of the checks against the stored logs. */
interface Findings {
  problems: string[];
  events: number;
  mismatched: number;
  notOnce: number;
  rerunSteps: number;
  restartedSteps: number;
  notFinishedOnce: number;
  staleWrites: number;
  unlikeOutput: number;
  toolCalls: number;
  recordedToolResults: number;
  unpairedToolCalls: number;
  outcomes: Partial<Record<TerminalEvent, number>>;
}

/** Every session's stream key, by session id. */
async function logKeysBySession(admin: Redis): Promise<Map<string, string>> {
  const logKeys = new Map<string, string>();
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', 'maws:{*}:log', 'COUNT', 1000);
    cursor = next;
    for (const key of keys) logKeys.set(/\.([^.}]+)\}:log$/.exec(key)?.[1] ?? key, key);
  } while (cursor !== '0');
  return logKeys;
}

/**
 * For the runs that did not end, asked while their sockets are still open: is any gateway still
 * subscribed to the session's channel, and what pub/sub connections does redis-server have.
 */
async function describeStuck(redisUrl: string, clients: ChaosClient[], gateways: Slot[]): Promise<string[]> {
  const stuck = clients.filter((c) => !c.done);
  if (stuck.length === 0) return [];
  const admin = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
  admin.on('error', () => undefined);
  try {
    const logKeys = await logKeysBySession(admin);
    const list = String(await admin.call('CLIENT', 'LIST'));
    const field = (line: string, name: string): string => new RegExp(` ${name}=(\\S*)`).exec(line)?.[1] ?? '?';
    const connections = list
      .trim()
      .split('\n')
      .map((line) => `${field(line, 'name') || '(no name)'} sub=${field(line, 'sub')} age=${field(line, 'age')}`);
    const lines = [`stuck: redis-server's connections: ${connections.join(', ')}`];
    for (const g of gateways) {
      const tail = g.proc.output().trim().split('\n').slice(-4).join(' | ');
      lines.push(`stuck: gateway ${g.index + 1} (pid ${g.proc.pid}) said: ${tail}`);
    }
    for (const c of stuck) {
      const channel = (logKeys.get(c.sessionId) ?? '').replace(/:log$/, ':live');
      const [, listeners] = (await admin.pubsub('NUMSUB', channel)) as [string, number];
      lines.push(`stuck: client ${c.n}, ${c.whereNow()}; its channel has ${listeners} subscribers`);
    }
    return lines;
  } finally {
    admin.disconnect();
  }
}

/** Checks each client against its session's stored log, and each run's steps in that log. */
async function checkAgainstRedis(redisUrl: string, clients: ChaosClient[]): Promise<Findings> {
  const admin = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
  admin.on('error', () => undefined);
  const logKeys = await logKeysBySession(admin);
  const found: Findings = {
    problems: [],
    events: 0,
    mismatched: 0,
    notOnce: 0,
    rerunSteps: 0,
    restartedSteps: 0,
    notFinishedOnce: 0,
    staleWrites: 0,
    unlikeOutput: 0,
    toolCalls: 0,
    recordedToolResults: 0,
    unpairedToolCalls: 0,
    outcomes: {},
  };
  const { problems, outcomes } = found;
  for (const c of clients) {
    found.events += c.frames.size;
    if (!c.done)
      problems.push(
        `client ${c.n}: its run did not end (last seq ${c.lastSeq}, run ${c.runId ?? 'unknown'}; ${c.whereAtClose})`,
      );
    if (c.gaps) problems.push(`client ${c.n}: ${c.gaps} seqs missing`);
    if (c.duplicates) problems.push(`client ${c.n}: ${c.duplicates} duplicate frames`);
    if (c.unavailable) problems.push(`client ${c.n}: ${c.unavailable} RESUME_UNAVAILABLE`);
    const key = logKeys.get(c.sessionId);
    const entries = key ? ((await admin.xrange(key, '-', '+')) as [string, string[]][]) : [];
    const stored = entries.map(([, fields]) => fields[1]);
    const received = [...c.frames.entries()].sort((a, b) => a[0] - b[0]).map(([, raw]) => raw);
    if (stored.length !== received.length || stored.some((s, i) => s !== received[i])) {
      found.mismatched += 1;
      problems.push(`client ${c.n}: ${received.length} frames received, ${stored.length} stored, not the same`);
    }
    // Exactly one terminal event for the run, in the log.
    const parsed = stored.map((s) => JSON.parse(s) as AnyDurableFrame);
    const terminals = parsed.filter(isTerminal);
    if (terminals.length !== 1 || c.terminalCount !== 1) {
      found.notOnce += 1;
      problems.push(`client ${c.n}: ${terminals.length} terminal events stored, ${c.terminalCount} received`);
    }
    for (const t of terminals) outcomes[t.event] = (outcomes[t.event] ?? 0) + 1;
    const steps = checkSteps(parsed, terminals.length === 1 && terminals[0].event === 'run.completed');
    found.restartedSteps += steps.restarted;
    found.rerunSteps += steps.rerun.length;
    found.notFinishedOnce += steps.notFinishedOnce.length;
    found.staleWrites += steps.staleWrites.length;
    found.unlikeOutput += steps.unlikeOutput.length;
    for (const p of steps.rerun) problems.push(`client ${c.n}: finished step ${p} started again`);
    for (const p of [...steps.notFinishedOnce, ...steps.unlikeOutput]) problems.push(`client ${c.n}: step ${p}`);
    for (const p of steps.staleWrites) problems.push(`client ${c.n}: stale write, ${p}`);
    const tools = checkToolCalls(parsed);
    found.toolCalls += tools.calls;
    found.recordedToolResults += tools.recorded;
    found.unpairedToolCalls += tools.problems.length;
    for (const p of tools.problems) problems.push(`client ${c.n}: ${p}`);
  }
  admin.disconnect();
  return found;
}

/** Starts redis-server, the gateways (each on a port of its own) and the workers. */
async function startDeployment(o: Options): Promise<Deployment> {
  const redis = await startRedis({ appendonly: true });
  const env: MawsEnv = {
    REDIS_URL: redis.url,
    OFFLINE_TOKEN_DELAY_MS: String(o.tokenDelayMs),
    WORKER_CONCURRENCY: String(o.concurrency),
    WORKER_LOCK_MS: String(o.lockMs),
    WORKER_STALLED_INTERVAL_MS: String(o.stalledMs),
    LOG_LEVEL: 'error',
  };
  // Workers log at warn: the one line a stale worker writes when it stands down is counted.
  const start = async (role: 'gateway' | 'worker', port?: number): Promise<MawsProcess> =>
    startMaws(role, { ...env, LOG_LEVEL: role === 'worker' ? 'warn' : 'error' }, { port, readyTimeoutMs: 60_000 });
  const gatewayPorts = await Promise.all(Array.from({ length: o.gateways }, () => getFreePort()));
  const [gatewayProcs, workerProcs] = await Promise.all([
    Promise.all(gatewayPorts.map((port) => start('gateway', port))),
    Promise.all(Array.from({ length: o.workers }, () => start('worker'))),
  ]);
  const slot = (role: Slot['role'], proc: MawsProcess, index: number, port?: number): Slot => ({
    role,
    index,
    port,
    proc,
    up: true,
    stalled: false,
    continuedAt: 0,
  });
  return {
    redis,
    gateways: gatewayProcs.map((proc, index) => slot('gateway', proc, index, gatewayPorts[index])),
    workers: workerProcs.map((proc, index) => slot('worker', proc, index)),
    start,
  };
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const log = (msg: string): void =>
    console.log(`[chaos ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}`);
  log(
    `${o.runs} runs, ${o.kills} kills and ${o.stalls} stalls (worker ${o.workerStallMs} ms, redis-server ` +
      `${o.redisStallMs} ms), a fault every ${o.intervalMs} ms; ${o.gateways} gateways, ${o.workers} workers ` +
      `(WORKER_CONCURRENCY ${o.concurrency}, OFFLINE_TOKEN_DELAY_MS ${o.tokenDelayMs}, WORKER_LOCK_MS ${o.lockMs})`,
  );

  const deployment = await startDeployment(o);
  const { redis, gateways } = deployment;
  log(`redis-server :${redis.port}, gateways :${gateways.map((g) => g.port).join(', :')}, ${o.workers} workers ready`);
  const startupMs = Date.now() - t0;

  const clients = Array.from({ length: o.runs }, (_, i) => new ChaosClient(i + 1, gateways));
  for (const c of clients) c.connect();

  const injector = new FaultInjector(o, deployment, clients, log);
  const injecting = injector.run();
  const allDone = (): boolean => clients.every((c) => c.done);
  const deadline = t0 + o.timeoutMs;
  let lastReport = 0;
  while (!allDone() && Date.now() < deadline && !stopping) {
    await sleep(200);
    if (Date.now() - lastReport > 5_000) {
      lastReport = Date.now();
      const ended = clients.filter((c) => c.done).length;
      const running = clients.filter((c) => c.running).length;
      log(`${ended}/${o.runs} runs ended, ${running} running, ${injector.faults.length} faults so far`);
    }
  }
  await injecting;
  await injector.settle();
  const endedAll = allDone();
  const totalMs = Date.now() - t0;
  const stuck = await describeStuck(redis.url, clients, gateways);
  for (const c of clients) c.close();
  // A worker continued just now may still try a stale write: give it the time to show.
  await sleep(Math.max(0, injector.lastContinuedAt + STALE_WAKE_GRACE_MS - Date.now()));

  const found = await checkAgainstRedis(redis.url, clients);
  const problems = [...injector.problems, ...stuck, ...found.problems];
  const ok = endedAll && problems.length === 0;
  const stoodDown = standDowns(injector.workerProcs);
  printFigures(o, clients, injector.faults, { ...found, stoodDown }, { t0, totalMs, startupMs });
  if (!ok) {
    console.log(`\nFAILED: ${problems.length} problems`);
    for (const p of problems.slice(0, 40)) console.log(`  - ${p}`);
    if (problems.length > 40) console.log(`  ... and ${problems.length - 40} more`);
  } else {
    console.log(
      '\nOK: every client holds a gap-free, duplicate-free history equal to the stored log; every run ended once; ' +
        'every step finished once, with no stale write',
    );
  }
  return ok ? 0 : 1;
}

function printFigures(
  o: Options,
  clients: ChaosClient[],
  faults: Fault[],
  found: Findings & { stoodDown: number },
  time: { t0: number; totalMs: number; startupMs: number },
): void {
  const sum = (f: (c: ChaosClient) => number): number => clients.reduce((n, c) => n + f(c), 0);
  const count = (kind: Fault['kind'], target: Fault['target']): number =>
    faults.filter((f) => f.kind === kind && f.target === target).length;
  const kills = faults.filter((f) => f.kind === 'kill');
  const stalls = faults.filter((f) => f.kind === 'stall');
  const recovery = (of: Fault[]): string => {
    const longest = longestRecovery(of, time.t0);
    return longest ? `${longest.ms} ms (${longest.what})` : 'n/a (none affected a run)';
  };
  const outcomes = Object.entries(found.outcomes).map(([e, n]) => `${n} ${e.replace('run.', '')}`);
  const rows: [string, string][] = [
    ['runs', `${o.runs} (${outcomes.join(', ') || 'none ended'})`],
    [
      'kills',
      `${kills.length} (${count('kill', 'worker')} worker, ${count('kill', 'gateway')} gateway), SIGKILL + restart`,
    ],
    [
      'stalls',
      `${stalls.length} (${count('stall', 'worker')} worker for ${o.workerStallMs} ms, ` +
        `${count('stall', 'redis-server')} redis-server for ${o.redisStallMs} ms), SIGSTOP + SIGCONT`,
    ],
    ['events', `${found.events} durable events delivered (and matched against the stored log)`],
    [
      'reconnects',
      `${sum((c) => Math.max(0, c.opened - 1))} (@maws/client: backoff, resume by lastSeq, a random gateway)`,
    ],
    ['gaps (seqs missing)', String(sum((c) => c.gaps))],
    ['duplicates', String(sum((c) => c.duplicates))],
    ['RESUME_UNAVAILABLE replies', `${sum((c) => c.unavailable)} (the history is all kept: each one is wrong)`],
    ['log mismatches', String(found.mismatched)],
    ['runs not ended exactly once', String(found.notOnce + clients.filter((c) => !c.done).length)],
    ['steps not finished once', String(found.notFinishedOnce)],
    ['finished steps rerun', String(found.rerunSteps)],
    ['steps restarted (attempt > 1)', String(found.restartedSteps)],
    ['stale writes', `${found.staleWrites} (frames of an attempt after a later one began)`],
    ['runs a stale worker let go', `${found.stoodDown} (its log: stopped without writing more)`],
    ['outputs unlike their stream', String(found.unlikeOutput)],
    [
      'tool calls',
      `${found.toolCalls} (${found.recordedToolResults} answered from their record after a restart; ${found.unpairedToolCalls} not one call and one result)`,
    ],
    ['longest recovery', kills.length ? recovery(kills) : 'n/a (no kills)'],
    ['longest stall recovery', stalls.length ? recovery(stalls) : 'n/a (no stalls)'],
    [
      'total time',
      `${(time.totalMs / 1000).toFixed(1)} s (${(time.startupMs / 1000).toFixed(1)} s of it starting the processes)`,
    ],
  ];
  console.log('\nchaos figures');
  for (const [k, v] of rows) console.log(`  ${k.padEnd(30)} ${v}`);
}

let cleaning: Promise<void> | undefined;

/**
 * Stops every process chaos started (SIGCONT to the stalled ones first, then MAWS, then
 * redis-server); once, however often called.
 */
function cleanup(): Promise<void> {
  stopping = true;
  cleaning ??= (async () => {
    continueAllStopped();
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
