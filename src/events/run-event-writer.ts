import type { AgentName } from '../contract';
import type { RunFields } from '../store/run-record';
import { durable, type PendingEvent } from './frames';
import type { EventLog } from './event-log';

/** The run was cancelled or ended elsewhere: its worker stops without writing more. */
export class RunNotCurrentError extends Error {
  override readonly name = 'RunNotCurrentError';

  constructor(runId: string) {
    super(`run ${runId} is no longer the session's running run`);
  }
}

/**
 * Another worker has taken the run over (this worker stalled past its lock: a long pause, a
 * frozen VM, Redis out of reach): this worker's writes are refused, and it stops at once.
 */
export class RunTakenOverError extends Error {
  override readonly name = 'RunTakenOverError';

  constructor(runId: string, fence: number) {
    super(`run ${runId} was taken over by another worker (this worker's activation ${fence} is no longer current)`);
  }
}

/**
 * How an append reaches Redis: by default at once; a worker passes one that waits while Redis
 * refuses writes and tries again (see StoreWrites), so that a run keeps its place.
 */
export type StoreWrite = <T>(write: () => Promise<T>) => Promise<T>;

const AT_ONCE: StoreWrite = (write) => write();

interface Batch {
  events: PendingEvent[];
  checkpoint: RunFields;
}

/**
 * Writes one run's events in order, without making the run wait for Redis:
 * - model tokens are coalesced for a few milliseconds into one `agent.delta`;
 * - while one append is in flight, whatever is written meanwhile is gathered and sent as
 *   the next single append (group commit), checkpoint fields included.
 * Order is always kept, and a step's checkpoint is stored with its `agent.finished`, before
 * anything of the next step. Every append carries the activation's fencing token. A refused
 * append surfaces at the next write or drain: RunNotCurrentError when the run was cancelled
 * or ended, RunTakenOverError when another worker holds the run now.
 */
export class RunEventWriter {
  private pendingDelta: { agent: AgentName; stepId: string; attempt: number; text: string } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private batch: Batch | null = null;
  private inFlight: Promise<void> | null = null;
  private failure: Error | null = null;

  constructor(
    private readonly log: EventLog,
    private readonly sessionKey: string,
    private readonly runId: string,
    /** The fencing token of this worker's activation of the run. */
    private readonly fence: number,
    private readonly flushMs: number,
    /** Told at the first refused append, so that the run's model call can stop at once. */
    private readonly onRefused: (err: Error) => void = () => undefined,
    private readonly storeWrite: StoreWrite = AT_ONCE,
  ) {}

  /** Streamed text of a step's attempt, coalesced with what follows it for `flushMs`. */
  delta(agent: AgentName, stepId: string, attempt: number, text: string): void {
    const pending = this.pendingDelta;
    if (pending && (pending.stepId !== stepId || pending.attempt !== attempt || pending.agent !== agent)) {
      this.flushDelta();
    }
    if (this.pendingDelta) this.pendingDelta.text += text;
    else this.pendingDelta = { agent, stepId, attempt, text };
    if (this.flushMs === 0) this.flushDelta();
    else this.timer ??= setTimeout(() => this.flushDelta(), this.flushMs);
  }

  /** Queues events (after any pending text) with checkpoint fields stored in the same append. */
  write(events: PendingEvent[], checkpoint?: RunFields): void {
    if (this.failure) throw this.failure;
    this.flushDelta();
    this.queue(events, checkpoint);
  }

  /** Writes and waits until it is stored. */
  async emit(events: PendingEvent[], checkpoint?: RunFields): Promise<void> {
    this.write(events, checkpoint);
    await this.drain();
  }

  /** Waits until everything written so far is stored; throws if the run stopped being current. */
  async drain(): Promise<void> {
    this.flushDelta();
    while (!this.failure && (this.inFlight || this.batch)) await (this.inFlight ?? this.send());
    if (this.failure) throw this.failure;
  }

  private flushDelta(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.pendingDelta) return;
    const { agent, stepId, attempt, text } = this.pendingDelta;
    this.pendingDelta = null;
    this.queue([durable('agent.delta', { runId: this.runId, agent, stepId, attempt, text })]);
  }

  private queue(events: PendingEvent[], checkpoint?: RunFields): void {
    if (this.failure) return;
    this.batch ??= { events: [], checkpoint: {} };
    this.batch.events.push(...events);
    if (checkpoint) Object.assign(this.batch.checkpoint, checkpoint);
    if (!this.inFlight) void this.send();
  }

  private send(): Promise<void> {
    const batch = this.batch;
    this.batch = null;
    if (!batch || this.failure) return Promise.resolve();
    // While this append waits for Redis to take writes, what is written meanwhile gathers in
    // the next batch: the order holds, and the refused append, which did nothing, goes again.
    this.inFlight = this.storeWrite(() =>
      this.log.append(this.sessionKey, batch.events, {
        guardRunId: this.runId,
        fence: this.fence,
        checkpoint: batch.checkpoint,
      }),
    )
      .then(
        (result) => {
          if (result === 'not-running') this.failure = new RunNotCurrentError(this.runId);
          if (result === 'superseded') this.failure = new RunTakenOverError(this.runId, this.fence);
          if (this.failure) this.onRefused(this.failure);
        },
        (err: unknown) => {
          this.failure = err instanceof Error ? err : new Error(String(err));
        },
      )
      .finally(() => {
        this.inFlight = null;
        if (this.batch && !this.failure) void this.send();
      });
    return this.inFlight;
  }
}
