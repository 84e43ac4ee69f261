import type { RedisClient } from './redis-connection';
import { abortError } from '../common/abort';
import { logLine } from '../common/error-log';
import type { StoreRefusal } from '../contract';
import { WRITE_PROBE_KEY } from './redis-keys';
import { REFUSAL_MEANING, writeRefusalOf } from './write-refusal';

const PROBE_FIRST_MS = 100;
const PROBE_MAX_MS = 2_000;
const PROBE_TTL_MS = 60_000;
/** Writes taken for this long end a condition; a refusal sooner continues it (Redis at its limit flaps). */
const SETTLE_MS = 3_000;

interface Condition {
  refusal: StoreRefusal;
  since: number;
  /** When writes were last taken again, if they were. */
  recoveredAt?: number;
  /** Refusals again within SETTLE_MS of a recovery: one condition, one pair of lines. */
  relapses: number;
}

export interface WriteOptions {
  /** Stops waiting (rejecting with its reason): the run was cancelled, handed back or lost. */
  signal?: AbortSignal;
  /** Told each time the write is refused, before it waits. */
  onWait?: (refusal: StoreRefusal) => void;
}

/**
 * Whether Redis takes writes, as this process last saw it. The first refused write starts a
 * condition: one log line, then one small probe write, with backoff, until Redis takes writes
 * again, and one more line. Whatever waits for room (a run, a Clarifier answer) waits for the
 * probe, so an outage costs Redis one probe per process, not a retry per run.
 */
export class StoreWrites {
  private condition: Condition | null = null;
  /** A condition whose writes are taken again, not yet for SETTLE_MS. */
  private settling: { condition: Condition; timer: NodeJS.Timeout } | null = null;
  private readonly waiters = new Set<() => void>();
  private probeTimer: NodeJS.Timeout | null = null;
  private probeDelayMs = PROBE_FIRST_MS;
  private closed = false;
  /** Conditions begun since start: a counter for /metrics. */
  conditions = 0;

  constructor(
    private readonly redis: RedisClient,
    /** The log context the two lines of a condition go out under. */
    private readonly context: string,
    private readonly now: () => number = Date.now,
    private readonly settleMs = SETTLE_MS,
  ) {}

  /** The refusal under way, or null while Redis takes writes (as far as this process knows). */
  get refusal(): StoreRefusal | null {
    return this.condition?.refusal ?? null;
  }

  /** Looks at a failed write's error: a refusal starts (or continues) the condition and is returned. */
  noteError(err: unknown): StoreRefusal | undefined {
    const refusal = writeRefusalOf(err);
    if (!refusal) return undefined;
    if (this.condition) return refusal;
    if (this.settling) {
      clearTimeout(this.settling.timer);
      this.condition = this.settling.condition;
      this.condition.relapses++;
      this.settling = null;
    } else {
      this.condition = { refusal, since: this.now(), relapses: 0 };
      this.conditions++;
      logLine(
        this.context,
        `Redis refuses writes: ${REFUSAL_MEANING[refusal]}. Commands are answered UNAVAILABLE and runs ` +
          'wait where they are until it takes writes again.',
      );
    }
    this.probeDelayMs = PROBE_FIRST_MS;
    this.scheduleProbe();
    return refusal;
  }

  /** One small write now: ends the condition when taken, starts one when refused. */
  async probe(): Promise<StoreRefusal | null> {
    try {
      await this.redis.set(WRITE_PROBE_KEY, '1', 'PX', PROBE_TTL_MS);
      this.recovered();
    } catch (err) {
      if (!this.noteError(err)) throw err;
    }
    return this.refusal;
  }

  /**
   * Runs a write; while Redis refuses writes, waits for room and runs it again. A refused
   * write did nothing (see writeRefusalOf), so it takes effect once. Other errors are thrown.
   */
  async write<T>(op: () => Promise<T>, options: WriteOptions = {}): Promise<T> {
    for (;;) {
      try {
        return await op();
      } catch (err) {
        const refusal = this.noteError(err);
        if (!refusal) throw err;
        options.onWait?.(refusal);
        await this.untilWritable(options.signal);
      }
    }
  }

  /** Resolves when no condition is under way; rejects with the signal's reason when it aborts. */
  untilWritable(signal?: AbortSignal): Promise<void> {
    if (!this.condition) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiters.delete(wake);
        reject(abortError(signal));
      };
      const wake = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      this.waiters.add(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Stops probing; waiters are left to their signals (the process is stopping). */
  close(): void {
    this.closed = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = null;
    if (this.settling) clearTimeout(this.settling.timer);
    this.settling = null;
  }

  private recovered(): void {
    const condition = this.condition;
    if (!condition) return;
    this.condition = null;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = null;
    condition.recoveredAt = this.now();
    const timer = setTimeout(() => {
      this.settling = null;
      const seconds = ((condition.recoveredAt! - condition.since) / 1000).toFixed(1);
      const relapses = condition.relapses > 0 ? `, refused again ${condition.relapses} time(s) meanwhile` : '';
      logLine(this.context, `Redis takes writes again after ${seconds} s (${condition.refusal}${relapses})`, 'log');
    }, this.settleMs);
    timer.unref();
    this.settling = { condition, timer };
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }

  private scheduleProbe(): void {
    if (this.closed || this.probeTimer) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = null;
      // A probe that fails otherwise (Redis out of reach) is simply tried again.
      void this.probe()
        .catch(() => undefined)
        .then(() => {
          if (!this.condition) return;
          this.probeDelayMs = Math.min(this.probeDelayMs * 2, PROBE_MAX_MS);
          this.scheduleProbe();
        });
    }, this.probeDelayMs);
    this.probeTimer.unref();
  }
}
