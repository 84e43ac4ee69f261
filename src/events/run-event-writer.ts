import type { AgentName } from '../contract';
import { durable, type PendingEvent } from './frames';
import type { EventLog } from './event-log';

/** The run was cancelled or ended elsewhere: its worker stops without writing more. */
export class RunNotCurrentError extends Error {
  override readonly name = 'RunNotCurrentError';

  constructor(runId: string) {
    super(`run ${runId} is no longer the session's running run`);
  }
}

interface Batch {
  events: PendingEvent[];
  checkpoint: Record<string, string>;
}

/**
 * Writes one run's events in order, without making the run wait for Redis:
 * - model tokens are coalesced for a few milliseconds into one `agent.delta`;
 * - while one append is in flight, whatever is written meanwhile is gathered and sent as
 *   the next single append (group commit), checkpoint fields included.
 * Order is always kept, and a step's checkpoint is stored with its `agent.finished`, before
 * anything of the next step. A refused append (the run was cancelled or ended) surfaces
 * as RunNotCurrentError at the next write or drain.
 */
export class RunEventWriter {
  private pendingDelta: { agent: AgentName; stepId: string; text: string } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private batch: Batch | null = null;
  private inFlight: Promise<void> | null = null;
  private failure: Error | null = null;

  constructor(
    private readonly log: EventLog,
    private readonly sessionKey: string,
    private readonly runId: string,
    private readonly flushMs: number,
  ) {}

  delta(agent: AgentName, stepId: string, text: string): void {
    if (this.pendingDelta && (this.pendingDelta.stepId !== stepId || this.pendingDelta.agent !== agent)) {
      this.flushDelta();
    }
    if (this.pendingDelta) this.pendingDelta.text += text;
    else this.pendingDelta = { agent, stepId, text };
    if (this.flushMs === 0) this.flushDelta();
    else this.timer ??= setTimeout(() => this.flushDelta(), this.flushMs);
  }

  /** Queues events (after any pending text) with checkpoint fields stored in the same append. */
  write(events: PendingEvent[], checkpoint?: Record<string, string>): void {
    if (this.failure) throw this.failure;
    this.flushDelta();
    this.queue(events, checkpoint);
  }

  /** Writes and waits until it is stored. */
  async emit(events: PendingEvent[], checkpoint?: Record<string, string>): Promise<void> {
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
    const { agent, stepId, text } = this.pendingDelta;
    this.pendingDelta = null;
    this.queue([durable('agent.delta', { runId: this.runId, agent, stepId, text })]);
  }

  private queue(events: PendingEvent[], checkpoint?: Record<string, string>): void {
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
    this.inFlight = this.log
      .append(this.sessionKey, batch.events, { guardRunId: this.runId, checkpoint: batch.checkpoint })
      .then(
        (seq) => {
          if (seq === null) this.failure = new RunNotCurrentError(this.runId);
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
