/** One naming scheme for benchmark users and sessions, shared by the bench and its clients. */
import { sessionKeyOf } from '../../src/store/redis-keys';

/** Socket i of group `prefix`: its own user (so per-user limits never bite) and session. */
export function names(prefix: string, i: number): { user: string; sessionId: string } {
  return { user: `${prefix}-u${i}`, sessionId: `${prefix}-s${i}` };
}

/** The Redis session key MAWS derives for socket i of group `prefix`. */
export function sessionKeyFor(prefix: string, i: number): string {
  const { user, sessionId } = names(prefix, i);
  return sessionKeyOf(user, sessionId);
}

/** The bare relay's channel for a session id. */
export function bareChannel(sessionId: string): string {
  return `bench:live:${sessionId}`;
}

/** Marker in front of the send time (µs, CLOCK_MONOTONIC) inside relayed events' text. */
export const SENT_MARK = '"text":"t';
