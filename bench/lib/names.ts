/**
 * One naming scheme for benchmark users and sessions, shared by the bench and its clients.
 * Plain strings only: the bare floor server imports this too, so nothing of MAWS is loaded
 * here (the relay derives MAWS's session keys from these names with the built sessionKeyOf).
 */

/** Socket i of group `prefix`: its own user (so per-user limits never bite) and session. */
export function names(prefix: string, i: number): { user: string; sessionId: string } {
  return { user: `${prefix}-u${i}`, sessionId: `${prefix}-s${i}` };
}

/** The bare relay's channel for a session id. */
export function bareChannel(sessionId: string): string {
  return `bench:live:${sessionId}`;
}

/** Marker in front of the send time (µs, CLOCK_MONOTONIC) inside relayed events' text. */
export const SENT_MARK = '"text":"t';
