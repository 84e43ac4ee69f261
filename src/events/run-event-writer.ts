import type { AgentName } from './event-types';
import { PendingEvent, durable } from './event-types';
import type { EventLog } from './event-log';

/** The run was cancelled or ended elsewhere: its worker stops without writing more. */
export class RunNotCurrentError extends Error {
  constructor(runId: string) {
    super(`run ${runId} is no longer the session's running run`);
  }
}

/**
 * Writes one run's events in order. Model tokens are coalesced for a few milliseconds
 * into one `agent.delta`, which cuts frames and Redis calls without visible delay; any
 * other event first flushes the pending text, so order is always kept.
 */
export class RunEventWriter {
  private pending: { agent: AgentName; stepId: string; text: string } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  private failure: Error | null = null;

  constructor(
    private readonly log: EventLog,
    private readonly sessionKey: string,
    private readonly runId: string,
    private readonly flushMs: number,
  ) {}

  delta(agent: AgentName, stepId: string, text: string): void {
    if (this.pending && (this.pending.stepId !== stepId || this.pending.agent !== agent)) {
      this.flushPending();
    }
    if (this.pending) this.pending.text += text;
    else this.pending = { agent, stepId, text };
    if (this.flushMs === 0) this.flushPending();
    else this.timer ??= setTimeout(() => this.flushPending(), this.flushMs);
  }

  /** Appends events (after any pending text) and stores checkpoint fields with them. */
  async emit(events: PendingEvent[], checkpoint?: Record<string, string>): Promise<void> {
    this.flushPending();
    this.enqueue(events, checkpoint);
    await this.drain();
  }

  /** Waits until everything written so far is stored; throws if the run stopped being current. */
  async drain(): Promise<void> {
    this.flushPending();
    await this.chain;
    if (this.failure) throw this.failure;
  }

  /** Drops pending text without writing it (the run was cancelled). */
  discard(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = null;
  }

  private flushPending(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.pending) return;
    const { agent, stepId, text } = this.pending;
    this.pending = null;
    this.enqueue([durable('agent.delta', { runId: this.runId, agent, stepId, text })]);
  }

  private enqueue(events: PendingEvent[], checkpoint?: Record<string, string>): void {
    this.chain = this.chain.then(async () => {
      if (this.failure) return;
      try {
        const seq = await this.log.append(this.sessionKey, events, {
          guardRunId: this.runId,
          checkpoint,
        });
        if (seq === null) this.failure = new RunNotCurrentError(this.runId);
      } catch (err) {
        this.failure = err instanceof Error ? err : new Error(String(err));
      }
    });
  }
}
