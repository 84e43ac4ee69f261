import { ThrottledErrorLog } from '../common/error-log';

/** Records held at most while writes fail for a passing reason. */
const MAX_HELD = 10_000;

/**
 * Collects counts (model calls' usage, what runs did) and hands them on in batches, at most
 * one write per interval: a run makes several model calls, and a Redis transaction for each
 * one was a tenth of a busy worker's CPU. `flush` hands on what is held (at shutdown nothing
 * is left behind).
 */
export class CountBatcher<T> {
  private held: T[] = [];
  private timer?: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();
  private readonly writeErrors: ThrottledErrorLog;

  constructor(
    private readonly write: (records: T[]) => Promise<void>,
    private readonly intervalMs: number,
    /** Errors after which the records are kept for the next write (Redis refusing writes for now). */
    private readonly passing: (err: unknown) => boolean = () => false,
    /** What is counted, for the log line when it cannot be. */
    what = 'model usage',
  ) {
    this.writeErrors = new ThrottledErrorLog('Metrics', `${what} could not be counted`);
  }

  readonly add = (record: T): void => {
    this.held.push(record);
    this.schedule();
  };

  /** Writes what is held; resolves when every earlier write has settled. Never throws. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const records = this.held;
    this.held = [];
    if (records.length > 0) {
      // Counting is best-effort: records that cannot be written are dropped, and the logs say so.
      this.writing = this.writing
        .then(() => this.write(records))
        .catch((err: unknown) => {
          if (!this.passing(err)) return void this.writeErrors.report(err);
          // Kept, oldest first, up to a bound: a long outage costs counts, never memory.
          this.held = [...records, ...this.held].slice(-MAX_HELD);
          this.schedule();
        });
    }
    return this.writing;
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => void this.flush(), this.intervalMs);
    // Counting never keeps a process alive.
    this.timer.unref();
  }
}
