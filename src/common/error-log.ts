import { redact } from './redact';

/** How much a line matters: Nest's names for them. */
export type LineLevel = 'error' | 'warn' | 'log';

/** Where lines go: `(context, message, level)`. The process's logger, once main has set it. */
export type ErrorSink = (context: string, message: string, level: LineLevel) => void;

let sink: ErrorSink = (context, message, level) =>
  (level === 'error' ? console.error : console.log)(`[${context}] ${message}`);

/**
 * Routes every ThrottledErrorLog through the process's logger (main sets Nest's). Kept here
 * rather than importing Nest, so that lower layers and their unit specs stay free of it.
 */
export function setErrorSink(next: ErrorSink): void {
  sink = next;
}

/** One line, redacted, through the same sink: for conditions logged once, not per error. */
export function logLine(context: string, message: string, level: LineLevel = 'warn'): void {
  sink(context, redact(message), level);
}

/** During an outage the same error repeats on every reconnect: one line per this long, at most. */
const DEFAULT_INTERVAL_MS = 30_000;

/**
 * Logs a source's errors without flooding: the first at once, then at most one line per
 * interval, saying how many were left out meanwhile. A Redis outage is a few lines, not
 * thousands, and never none.
 */
export class ThrottledErrorLog {
  private lastAt = -Infinity;
  private suppressed = 0;

  constructor(
    private readonly context: string,
    private readonly what: string,
    private readonly intervalMs = DEFAULT_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Call with every error; returns whether this one was logged. */
  readonly report = (err: unknown): boolean => {
    const at = this.now();
    if (at - this.lastAt < this.intervalMs) {
      this.suppressed++;
      return false;
    }
    const more = this.suppressed > 0 ? ` (and ${this.suppressed} more since the last line)` : '';
    this.lastAt = at;
    this.suppressed = 0;
    sink(this.context, redact(`${this.what}: ${messageOf(err)}${more}`), 'error');
    return true;
  };
}

/** Something that emits 'error' (a Redis connection, a BullMQ queue or worker, a socket server). */
interface ErrorEmitter {
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/**
 * Listens to an emitter's 'error' (without a listener Node would crash the process) and logs
 * what it says, throttled. Returns the emitter.
 */
export function logErrorsOf<T extends ErrorEmitter>(
  emitter: T,
  context: string,
  what: string,
  /** Errors logged elsewhere, once per condition (Redis refusing writes: see StoreWrites). */
  loggedElsewhere: (err: Error) => boolean = () => false,
): T {
  const log = new ThrottledErrorLog(context, what);
  emitter.on('error', (err: Error) => {
    if (!loggedElsewhere(err)) log.report(err);
  });
  return emitter;
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
