import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What a log line says about where it comes from, set once around a job, a step or a frame
 * and carried by every line logged inside it (AsyncLocalStorage), so nobody passes ids by hand.
 * `session` is the session's key (a hash of its user, then its id): never the user's `sub`.
 */
export interface LogContext {
  runId?: string;
  session?: string;
  stepId?: string;
  agent?: string;
  attempt?: number;
}

const storage = new AsyncLocalStorage<LogContext>();

/** Runs `fn` with `context` added to the current one (inner values win). */
export function withLogContext<T>(context: LogContext, fn: () => T): T {
  return storage.run({ ...storage.getStore(), ...context }, fn);
}

/** The context of the code running now (empty outside any). */
export function currentLogContext(): LogContext {
  return storage.getStore() ?? {};
}
